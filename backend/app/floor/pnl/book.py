"""Keeping the lots in step with the trades: called in the transaction that books a fill.

Rules: the FIFO rules are `ledger.py`'s (one implementation); this module only loads the
open lots of (deployment, coin) under a row lock, applies the new fills through a
`CoinLedger`, and writes back the open lots and the newly closed ones. A sell of more than
the lots hold (possible only when a position was adopted from Coinspot by reconciliation)
closes what is held and logs the difference; it never fails the booking of a real fill.
"""

import logging
import uuid
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.floor.pnl.ledger import CoinLedger, LedgerFill, Lot
from app.floor.pnl.models import PnlClosedLot, PnlOpenLot

logger = logging.getLogger(__name__)


class TradeLike(Protocol):
    deployment_id: uuid.UUID
    user_id: uuid.UUID
    coin: str
    side: str
    quantity: Decimal
    price: Decimal
    fee: Decimal
    gst: Decimal
    exchange_time: datetime | None
    created_at: datetime


def fill_time(trade: TradeLike) -> datetime:
    return trade.exchange_time or trade.created_at or datetime.now(UTC)


def record_trades(session: Session, trades: Sequence[TradeLike]) -> None:
    groups: dict[tuple[uuid.UUID, str], list[TradeLike]] = {}
    for trade in trades:
        groups.setdefault((trade.deployment_id, trade.coin), []).append(trade)
    for (deployment_id, coin), group in groups.items():
        _record(session, deployment_id, coin, group)


def _record(session: Session, deployment_id: uuid.UUID, coin: str, trades: list[TradeLike]) -> None:
    rows = session.exec(
        select(PnlOpenLot)
        .where(col(PnlOpenLot.deployment_id) == deployment_id, col(PnlOpenLot.coin) == coin)
        .order_by(col(PnlOpenLot.seq))
        .with_for_update()
    ).all()
    ledger = CoinLedger(
        open_lots=deque(Lot(r.opened_at, r.quantity, r.price, r.fee, r.gst) for r in rows)
    )
    next_seq = (rows[-1].seq + 1) if rows else 0
    user_id = trades[0].user_id
    for trade in sorted(trades, key=fill_time):
        quantity = trade.quantity
        if trade.side == "sell" and quantity > ledger.quantity:
            logger.warning(
                "sell larger than the lots hold; closing what is held",
                extra={
                    "deployment": str(deployment_id),
                    "coin": coin,
                    "sold": str(quantity),
                    "held": str(ledger.quantity),
                },
            )
            quantity = ledger.quantity
        if quantity <= 0:
            continue
        ledger.apply(
            LedgerFill(
                fill_time(trade),
                "buy" if trade.side == "buy" else "sell",
                quantity,
                trade.price,
                trade.fee,
                trade.gst,
            )
        )
    session.execute(
        sa.delete(PnlOpenLot).where(
            col(PnlOpenLot.deployment_id) == deployment_id, col(PnlOpenLot.coin) == coin
        )
    )
    for i, lot in enumerate(ledger.open_lots):
        session.add(
            PnlOpenLot(
                user_id=user_id,
                deployment_id=deployment_id,
                coin=coin,
                seq=next_seq + i,
                opened_at=lot.opened,
                quantity=lot.quantity,
                price=lot.price,
                fee=lot.fee,
                gst=lot.gst,
            )
        )
    _add_totals(session, user_id, deployment_id, coin, ledger)
    for closed in ledger.closed:
        session.add(
            PnlClosedLot(
                user_id=user_id,
                deployment_id=deployment_id,
                coin=coin,
                opened_at=closed.opened,
                closed_at=closed.closed,
                quantity=closed.quantity,
                buy_price=closed.buy_price,
                sell_price=closed.sell_price,
                buy_fee=closed.buy_fee,
                buy_gst=closed.buy_gst,
                sell_fee=closed.sell_fee,
                sell_gst=closed.sell_gst,
                gross=closed.gross,
                fees=closed.fees,
                net=closed.net,
            )
        )


_ADD_TOTALS = sa.text(
    """
    INSERT INTO pnl_totals (deployment_id, coin, user_id, gross, fees, net, gst, lots)
    VALUES (:deployment_id, :coin, :user_id, :gross, :fees, :net, :gst, :lots)
    ON CONFLICT (deployment_id, coin) DO UPDATE SET
        gross = pnl_totals.gross + EXCLUDED.gross, fees = pnl_totals.fees + EXCLUDED.fees,
        net = pnl_totals.net + EXCLUDED.net, gst = pnl_totals.gst + EXCLUDED.gst,
        lots = pnl_totals.lots + EXCLUDED.lots
    """
)


def _add_totals(
    session: Session, user_id: uuid.UUID, deployment_id: uuid.UUID, coin: str, ledger: CoinLedger
) -> None:
    if not ledger.closed:
        return
    session.execute(
        _ADD_TOTALS,
        {
            "deployment_id": deployment_id,
            "coin": coin,
            "user_id": user_id,
            "gross": ledger.realised_gross,
            "fees": ledger.realised_fees,
            "net": ledger.realised_net,
            "gst": sum((c.buy_gst + c.sell_gst for c in ledger.closed), Decimal(0)),
            "lots": len(ledger.closed),
        },
    )
