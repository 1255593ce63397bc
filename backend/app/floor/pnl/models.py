"""Tables of the P&L ledger: open FIFO lots, closed (realised) lots, equity snapshots.

Rules: lots are written in the transaction that books the trade (`book.record_trades`), so
the ledger never disagrees with the trades table; `pnl_totals` adds each newly closed lot in
the same transaction, so it is always the exact sum of `pnl_closed_lots`. Amounts are NUMERIC at full precision;
rounding to cents happens only when shown. One equity snapshot per deployment and
5-minute bar (primary key), upserted, so a bar snapshotted twice is still one row; the
account's series is the sum over deployments per bar.
"""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import DateTime, Index, Numeric
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def _num() -> Decimal:
    return Field(sa_type=Numeric())


class PnlOpenLot(SQLModel, table=True):
    __tablename__ = "pnl_open_lots"
    __table_args__ = (Index("ix_pnl_open_lots_deployment_coin", "deployment_id", "coin", "seq"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", ondelete="CASCADE", index=True)
    deployment_id: uuid.UUID = Field(foreign_key="deployed_algorithms.id", ondelete="CASCADE")
    coin: str = Field(max_length=20)
    seq: int  # FIFO order within (deployment, coin)
    opened_at: datetime = Field(sa_type=DateTime(timezone=True))
    quantity: Decimal = _num()
    price: Decimal = _num()
    fee: Decimal = _num()
    gst: Decimal = _num()


class PnlClosedLot(SQLModel, table=True):
    __tablename__ = "pnl_closed_lots"
    __table_args__ = (
        Index("ix_pnl_closed_lots_user_closed", "user_id", "closed_at"),
        Index("ix_pnl_closed_lots_deployment", "deployment_id", "closed_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", ondelete="CASCADE")
    deployment_id: uuid.UUID = Field(foreign_key="deployed_algorithms.id", ondelete="CASCADE")
    coin: str = Field(max_length=20)
    opened_at: datetime = Field(sa_type=DateTime(timezone=True))
    closed_at: datetime = Field(sa_type=DateTime(timezone=True))
    quantity: Decimal = _num()
    buy_price: Decimal = _num()
    sell_price: Decimal = _num()
    buy_fee: Decimal = _num()
    buy_gst: Decimal = _num()
    sell_fee: Decimal = _num()
    sell_gst: Decimal = _num()
    gross: Decimal = _num()
    fees: Decimal = _num()
    net: Decimal = _num()


class PnlTotal(SQLModel, table=True):
    """All-time realised sums per deployment and coin, kept with the closed lots (so an
    all-time summary reads a few rows instead of every lot)."""

    __tablename__ = "pnl_totals"

    deployment_id: uuid.UUID = Field(
        foreign_key="deployed_algorithms.id", ondelete="CASCADE", primary_key=True
    )
    coin: str = Field(max_length=20, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", ondelete="CASCADE", index=True)
    gross: Decimal = _num()
    fees: Decimal = _num()
    net: Decimal = _num()
    gst: Decimal = _num()
    lots: int = 0


class EquitySnapshot(SQLModel, table=True):
    __tablename__ = "equity_snapshots"
    __table_args__ = (Index("ix_equity_snapshots_user_bar", "user_id", "bar"),)

    deployment_id: uuid.UUID = Field(
        foreign_key="deployed_algorithms.id", ondelete="CASCADE", primary_key=True
    )
    bar: datetime = Field(sa_type=DateTime(timezone=True), primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", ondelete="CASCADE")
    cash: Decimal = _num()
    holdings: Decimal = _num()  # coins at the bid
    equity: Decimal = _num()
