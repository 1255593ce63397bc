"""The Floor's records of money: orders, trades (fills), positions and execution runs.

Rules:
- Every amount is NUMERIC (exact Decimal in Python); quantities, prices and fees are kept
  at full precision (paper fills are the backtest's numbers, not rounded to 8 decimals).
- An order row is written in state `intent` and committed before anything is sent; its
  status only moves along the transitions of `orders.TRANSITIONS`, each stamped with a
  time (`<state>_at`).
- An order-book order that re-prices the unfilled rest of a cancelled one points at it
  (`replaces_id`); `expires_at` is when a resting order's time-out falls due.
- A trade belongs to one order. `match_key` (coin, side, exchange time, amount, rate of an
  exchange fill) is unique per user, so one exchange fill is never booked twice.
- A position is one deployment's sleeve of one coin: the coin held and the sleeve's cash
  (the deployment's capital times the coin's allocation, moved by every trade), plus the
  target last acted on (orders are placed only when the target changes, as in the backtest).
- An execution run is unique per (deployment, bar): no bar is ever decided twice.
"""

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, Index, Numeric, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class OrderStatus(StrEnum):
    INTENT = "intent"
    SUBMITTING = "submitting"
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    UNKNOWN = "unknown"


FINAL_STATUSES = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED})
# Orders that block new orders on their coin until they are settled.
PENDING_STATUSES = frozenset(
    {
        OrderStatus.INTENT,
        OrderStatus.SUBMITTING,
        OrderStatus.OPEN,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.UNKNOWN,
    }
)


class TradeSource(StrEnum):
    EXCHANGE = "exchange"
    PAPER = "paper"
    RECONCILIATION = "reconciliation"


def _money() -> Any:
    return Field(sa_type=Numeric())


def _money_opt() -> Any:
    return Field(default=None, sa_type=Numeric())


def _ts_opt() -> Any:
    return Field(default=None, sa_type=DateTime(timezone=True))


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_deployment_created", "deployment_id", "created_at"),
        Index("ix_orders_user_created", "user_id", "created_at"),
        Index(
            "ix_orders_pending",
            "deployment_id",
            "coin",
            postgresql_where=text(
                "status IN ('intent', 'submitting', 'open', 'partially_filled', 'unknown')"
            ),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    deployment_id: uuid.UUID = Field(foreign_key="deployed_algorithms.id", ondelete="CASCADE")
    user_id: uuid.UUID = Field(foreign_key="user.id", ondelete="CASCADE")
    execution_run_id: uuid.UUID | None = Field(
        default=None, foreign_key="execution_runs.id", ondelete="SET NULL"
    )
    mode: str = Field(max_length=8)
    coin: str = Field(max_length=20)
    side: str = Field(max_length=4)
    style: str = Field(max_length=16)
    requested_quantity: Decimal = _money()
    requested_notional: Decimal = _money()
    limit_rate: Decimal | None = _money_opt()  # guard rate (instant) or order rate (book)
    threshold_pct: Decimal | None = _money_opt()
    target: Decimal = _money()
    status: str = Field(default=OrderStatus.INTENT.value, max_length=20)
    filled_quantity: Decimal = Field(default=Decimal(0), sa_type=Numeric())
    average_price: Decimal | None = _money_opt()
    exchange_order_id: str | None = Field(default=None, max_length=64)
    reason: str = Field(max_length=500)
    error: str | None = Field(default=None, sa_type=Text)
    resolution: str | None = Field(default=None, max_length=500)
    # Order-book style: the order this one re-prices (its cancelled predecessor), and when
    # a resting order's time-out falls due (it is then cancelled and maybe re-priced).
    replaces_id: uuid.UUID | None = Field(
        default=None, foreign_key="orders.id", ondelete="SET NULL"
    )
    expires_at: datetime | None = _ts_opt()
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    submitting_at: datetime | None = _ts_opt()
    open_at: datetime | None = _ts_opt()
    partially_filled_at: datetime | None = _ts_opt()
    filled_at: datetime | None = _ts_opt()
    cancelled_at: datetime | None = _ts_opt()
    rejected_at: datetime | None = _ts_opt()
    unknown_at: datetime | None = _ts_opt()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class Trade(SQLModel, table=True):
    __tablename__ = "trades"
    __table_args__ = (
        Index("ix_trades_deployment_time", "deployment_id", "created_at"),
        Index("ix_trades_order", "order_id"),
        Index(
            "uq_trades_user_match_key",
            "user_id",
            "match_key",
            unique=True,
            postgresql_where=text("match_key IS NOT NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    order_id: uuid.UUID = Field(foreign_key="orders.id", ondelete="CASCADE")
    deployment_id: uuid.UUID = Field(foreign_key="deployed_algorithms.id", ondelete="CASCADE")
    user_id: uuid.UUID = Field(foreign_key="user.id", ondelete="CASCADE")
    coin: str = Field(max_length=20)
    side: str = Field(max_length=4)
    quantity: Decimal = _money()
    price: Decimal = _money()
    fee: Decimal = _money()  # AUD, excluding GST
    gst: Decimal = _money()
    total_aud: Decimal = _money()  # paid (buy, fee included) or received (sell, fee deducted)
    exchange_time: datetime | None = _ts_opt()
    source: str = Field(max_length=16)
    match_key: str | None = Field(default=None, max_length=200)
    bar: datetime | None = _ts_opt()  # the decision's bar
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class Position(SQLModel, table=True):
    __tablename__ = "positions"

    deployment_id: uuid.UUID = Field(
        foreign_key="deployed_algorithms.id", ondelete="CASCADE", primary_key=True
    )
    coin: str = Field(max_length=20, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", ondelete="CASCADE", index=True)
    quantity: Decimal = Field(default=Decimal(0), sa_type=Numeric())
    average_price: Decimal = Field(default=Decimal(0), sa_type=Numeric())
    cost_basis: Decimal = Field(default=Decimal(0), sa_type=Numeric())
    cash: Decimal = _money()  # the coin's sleeve of the deployment's cash, AUD
    last_target: Decimal | None = _money_opt()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ExecutionRun(SQLModel, table=True):
    __tablename__ = "execution_runs"
    __table_args__ = (
        UniqueConstraint("deployment_id", "bar", name="uq_execution_runs_deployment_bar"),
        Index("ix_execution_runs_deployment_started", "deployment_id", "started_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    deployment_id: uuid.UUID = Field(foreign_key="deployed_algorithms.id", ondelete="CASCADE")
    user_id: uuid.UUID = Field(foreign_key="user.id", ondelete="CASCADE")
    bar: datetime = Field(sa_type=DateTime(timezone=True))
    trigger: str = Field(max_length=16)
    node: str = Field(max_length=80)
    status: str = Field(default=RunStatus.RUNNING.value, max_length=16)
    targets: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    decisions: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    order_ids: list[str] = Field(default_factory=list, sa_type=JSONB)
    timings: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    outcome: str | None = Field(default=None, max_length=500)
    error: str | None = Field(default=None, sa_type=Text)
    started_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    finished_at: datetime | None = _ts_opt()
