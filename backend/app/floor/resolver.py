"""The resolver: what happened to orders whose outcome we do not know.

Rules:
- Runs only while the deployment's row lock is held (see `executor.deployment_lock`), so
  no cycle of that deployment is sending at the same moment: an order still `intent` was
  never sent (-> `cancelled`); one still `submitting` may have been sent (-> `unknown`).
- An `unknown` order is never sent again. It is matched against the exchange's order
  history by coin, side, amount (at most what we asked for), rate (inside the order's
  guard) and time (from the sent time minus a small clock skew to
  `FLOOR_RESOLVE_WINDOW_SECONDS` after it), skipping fills already booked (`match_key`).
  A match books the fill (source `reconciliation`) and settles the order; no match while
  the order is younger than `FLOOR_RESOLVE_GRACE_SECONDS` leaves it `unknown`; no match
  after that makes it `cancelled` ("not found at the exchange").
- A trade booked from the placement's answer alone (the history was unreadable) claims its
  exchange fill before any matching, so that fill is never booked for another order.
- Paper orders are our own records: a paper order left `submitting` was not filled.
- Until an order is settled its deployment places no new order on that coin
  (`orders.pending_coins`).
- Order-book orders (`style = orderbook`) are settled by `orderbook.resolve_book_order`
  (an order can rest and fill in parts, so open orders and every matching fill count), and
  order-book orders an earlier cycle left open are followed up (`orderbook.settle_stale`).
"""

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app.core.config import settings
from app.floor.brokers import Broker, ExchangeFill, PlaceResult, fee_rate
from app.floor.ledger import Order, Trade, TradeSource
from app.floor.ledger import OrderStatus as S
from app.floor.orderbook import ORDERBOOK, resolve_book_order, settle_stale
from app.floor.orders import (
    FillRecord,
    book_fills,
    claimed_keys,
    locked_order,
    settle_status,
    transition,
)

logger = logging.getLogger(__name__)

CLOCK_SKEW = timedelta(seconds=5)


def recover_orphans(engine: Engine, deployment_id: uuid.UUID) -> dict[str, int]:
    """After a crash: intents were never sent, submissions may have been. Caller holds the
    deployment lock."""
    counts = {"cancelled": 0, "unknown": 0}
    with Session(engine) as session:
        query = select(Order).where(
            col(Order.deployment_id) == deployment_id,
            col(Order.status).in_([S.INTENT.value, S.SUBMITTING.value]),
        )
        for order in session.exec(query.with_for_update()).all():
            if order.status == S.INTENT:
                transition(order, S.CANCELLED, error="never sent: the process stopped first")
                counts["cancelled"] += 1
            else:
                transition(order, S.UNKNOWN, error="the process stopped while sending")
                counts["unknown"] += 1
            session.add(order)
        session.commit()
    if any(counts.values()):
        logger.warning(
            "orders recovered after a restart",
            extra={"deployment": str(deployment_id), **counts},
        )
    return counts


def _candidates(
    fills: Sequence[ExchangeFill], order: Order, taken: set[str], amount: Decimal | None
) -> list[ExchangeFill]:
    sent = order.submitting_at or order.created_at
    window = timedelta(seconds=settings.FLOOR_RESOLVE_WINDOW_SECONDS)
    found = []
    for fill in fills:
        if fill.coin.upper() != order.coin.upper() or fill.side != order.side:
            continue
        if not sent - CLOCK_SKEW <= fill.sold_at <= sent + window:
            continue
        if fill.match_key in taken:
            continue
        if amount is not None and fill.amount != amount:
            continue
        if amount is None and not 0 < fill.amount <= order.requested_quantity:
            continue
        if not _inside_guard(order, fill.rate):
            continue
        found.append(fill)
    return sorted(found, key=lambda f: f.sold_at)


def _inside_guard(order: Order, rate: Decimal) -> bool:
    if order.limit_rate is None:
        return True
    slack = (order.threshold_pct or Decimal(0)) / 100
    if order.side == "buy":
        return rate <= order.limit_rate * (1 + slack)
    return rate >= order.limit_rate * (1 - slack)


async def exchange_fills(broker: Broker, order: Order) -> list[ExchangeFill]:
    sent = order.submitting_at or order.created_at
    return await broker.fills(order.coin, sent - CLOCK_SKEW)


def settle_placed(
    engine: Engine,
    order_id: uuid.UUID,
    result: PlaceResult,
    history: Sequence[ExchangeFill],
    bar: datetime | None,
) -> Order:
    """Book what the broker answered to a placement and settle the order."""
    with Session(engine) as session:
        order = locked_order(session, order_id)
        fills = list(result.fills)
        if not fills and result.filled_quantity > 0:
            taken = claimed_keys(session, order.user_id, [f.match_key for f in history])
            exact = _candidates(history, order, taken, result.filled_quantity)
            if exact:
                fills = [exact[0].record(TradeSource.EXCHANGE)]
            else:
                fills = [_estimated_fill(order, result)]
        book_fills(session, order, fills, bar)
        if result.exchange_order_id:
            order.exchange_order_id = result.exchange_order_id
        status = settle_status(order)
        if status == S.OPEN and order.style == "instant":
            transition(order, S.CANCELLED, error="the exchange filled nothing")
        elif status == S.PARTIALLY_FILLED and order.style == "instant":
            # An instant trade's remainder is not executed: the order is over.
            transition(order, S.PARTIALLY_FILLED)
            transition(order, S.CANCELLED, error="partly filled; the remainder was not executed")
        else:
            transition(order, status)
        session.commit()
        session.refresh(order)
        return order


def _estimated_fill(order: Order, result: PlaceResult) -> FillRecord:
    """The exchange's history did not show the trade yet: derive it from the answer."""
    qty = result.filled_quantity
    rate = fee_rate(order.style)
    total = result.total_aud or Decimal(0)
    if order.side == "buy":
        price = total / (qty * (1 + rate)) if total > 0 else order.limit_rate or Decimal(0)
        fee = total - qty * price if total > 0 else qty * price * rate
    else:
        price = result.rate or (total / (qty * (1 - rate)))
        fee = qty * price - total if total > 0 else qty * price * rate
    return FillRecord(
        quantity=qty,
        price=price,
        fee=fee,
        notional=qty * price,
        exchange_time=datetime.now(UTC),
        source=TradeSource.EXCHANGE,
    )


async def resolve_unknown(
    engine: Engine, broker: Broker, order_id: uuid.UUID, *, now: datetime | None = None
) -> Order:
    """Match one `unknown` order with the exchange's records (see the module rules)."""
    moment = now or datetime.now(UTC)
    with Session(engine) as session:
        order = session.get(Order, order_id)
        assert order is not None
        session.expunge(order)
    if order.status != S.UNKNOWN:
        return order
    if order.mode == "paper":
        return _close_unfound(engine, order_id, "paper order was not filled before a restart")
    if order.style == ORDERBOOK:
        return await resolve_book_order(engine, broker, order_id, now=moment)
    history = await exchange_fills(broker, order)
    # Only the order's own side: a resting sell never explains an unknown buy.
    open_orders = await broker.open_orders_on(order.coin, order.side)  # type: ignore[arg-type]
    with Session(engine) as session:
        order = locked_order(session, order_id)
        if order.status != S.UNKNOWN:
            return order
        claim_estimated(session, order.user_id, history)
        taken = claimed_keys(session, order.user_id, [f.match_key for f in history])
        matches = _candidates(history, order, taken, None)
        if matches:
            fill = matches[0]
            book_fills(session, order, [fill.record(TradeSource.RECONCILIATION)], None)
            order.resolution = f"matched exchange fill at {fill.sold_at.isoformat()}"
            status = settle_status(order)
            if status == S.PARTIALLY_FILLED and order.style == "instant":
                transition(order, S.PARTIALLY_FILLED)
                transition(
                    order, S.CANCELLED, error="partly filled; the remainder was not executed"
                )
            else:
                transition(order, status)
            session.commit()
            session.refresh(order)
            logger.info(
                "unknown order resolved",
                extra={"order": str(order.id), "status": order.status, "via": "history"},
            )
            return order
        resting = [
            o
            for o in open_orders
            if o.coin.upper() == order.coin.upper()
            and o.amount <= order.requested_quantity
            and o.created >= (order.submitting_at or order.created_at) - CLOCK_SKEW
            and o.rate == order.limit_rate
        ]
        if resting:
            order.exchange_order_id = resting[0].id
            order.resolution = "found among the exchange's open orders"
            transition(order, S.OPEN)
            session.commit()
            session.refresh(order)
            return order
        sent = order.submitting_at or order.created_at
        if moment - sent < timedelta(seconds=settings.FLOOR_RESOLVE_GRACE_SECONDS):
            return order
    return _close_unfound(engine, order_id, "not found at the exchange")


def claim_estimated(session: Session, user_id: uuid.UUID, fills: Sequence[ExchangeFill]) -> int:
    """Give trades booked from an answer alone (the history was unreadable: no exchange key)
    the key of their exchange fill (same coin, side, amount and AUD total), so that fill is
    never matched to another order. Returns how many were claimed; the caller commits."""
    estimated = session.exec(
        select(Trade).where(
            col(Trade.user_id) == user_id,
            col(Trade.match_key).is_(None),
            col(Trade.source) != TradeSource.PAPER.value,
        )
    ).all()
    if not estimated:
        return 0
    taken = claimed_keys(session, user_id, [f.match_key for f in fills])
    claimed = 0
    for trade in estimated:
        for fill in fills:
            if fill.match_key in taken or fill.coin.upper() != trade.coin.upper():
                continue
            if (fill.side, fill.amount, fill.aud_total) != (
                trade.side,
                trade.quantity,
                trade.total_aud,
            ):
                continue
            trade.match_key = fill.match_key
            taken.add(fill.match_key)
            session.add(trade)
            claimed += 1
            break
    session.flush()
    return claimed


def _close_unfound(engine: Engine, order_id: uuid.UUID, why: str) -> Order:
    with Session(engine) as session:
        order = locked_order(session, order_id)
        if order.status == S.UNKNOWN:
            order.resolution = why
            transition(order, S.CANCELLED)
            session.commit()
            session.refresh(order)
            logger.warning("unknown order closed", extra={"order": str(order.id), "why": why})
        return order


async def resolve_deployment(
    engine: Engine, broker: Broker, deployment_id: uuid.UUID, *, now: datetime | None = None
) -> list[Order]:
    """Resolve every `unknown` order of a deployment, then follow its order-book orders
    left open by an earlier cycle (caller holds its lock)."""
    with Session(engine) as session:
        ids = list(
            session.exec(
                select(Order.id).where(
                    col(Order.deployment_id) == deployment_id,
                    col(Order.status) == S.UNKNOWN.value,
                )
            ).all()
        )
    resolved = [await resolve_unknown(engine, broker, oid, now=now) for oid in ids]
    followed = await settle_stale(engine, broker, deployment_id, now=now or datetime.now(UTC))
    return resolved + followed
