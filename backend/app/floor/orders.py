"""The order state machine and the books it moves: orders, trades and positions.

Rules:
- `intent` is committed before anything is sent; `submitting` is committed right before
  the request leaves. Only the transitions in `TRANSITIONS` happen; anything else raises.
- A time-out or lost connection after sending makes an order `unknown`, never `rejected`;
  only the resolver (which asks the exchange) moves it on. `rejected` needs the exchange's
  definitive refusal (or proof the request never left).
- Booking a fill writes the trade and moves the position (coin and sleeve cash) in the
  same transaction as the order's new state; a fill already booked (same `match_key`) is
  never booked again.
- Cash never goes below zero: a residue of Decimal rounding is clamped to zero.
- Every transition and every booked fill is published as a live event (and a rejected or
  `unknown` order raises an alert) in the transaction that commits it: `live_events`.
"""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlmodel import Session, col, select

from app.floor.ledger import Order, Position, Trade, TradeSource
from app.floor.ledger import OrderStatus as S
from app.floor.live_events import fills_booked, order_changed
from app.floor.pnl.book import record_trades

logger = logging.getLogger(__name__)

GST_DIVISOR = Decimal(11)  # Australian GST is 10 %, included in Coinspot's fee

TRANSITIONS: dict[str, frozenset[str]] = {
    S.INTENT: frozenset({S.SUBMITTING, S.CANCELLED}),
    S.SUBMITTING: frozenset({S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.REJECTED, S.UNKNOWN}),
    S.OPEN: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.UNKNOWN}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.UNKNOWN}),
    S.UNKNOWN: frozenset({S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED}),
    S.FILLED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REJECTED: frozenset(),
}


class IllegalTransition(RuntimeError):
    pass


@dataclass(frozen=True)
class FillRecord:
    """One execution as the broker or the exchange reports it. `fee` includes GST."""

    quantity: Decimal
    price: Decimal
    fee: Decimal
    notional: Decimal
    exchange_time: datetime | None
    source: TradeSource
    match_key: str | None = None
    gst: Decimal | None = None  # when the exchange states it; else fee / 11

    @property
    def fee_ex_gst(self) -> Decimal:
        return self.fee - self.gst_amount

    @property
    def gst_amount(self) -> Decimal:
        return self.gst if self.gst is not None else self.fee / GST_DIVISOR


def now() -> datetime:
    return datetime.now(UTC)


def transition(order: Order, status: S, *, error: str | None = None) -> None:
    """Move `order` to `status` (in memory; the caller commits) or raise."""
    if status not in TRANSITIONS[S(order.status)]:
        raise IllegalTransition(f"order {order.id}: {order.status} -> {status} is not allowed")
    moment = now()
    order.status = status.value
    setattr(order, f"{status.value}_at", moment)
    order.updated_at = moment
    if error is not None:
        order.error = error[:4000]
    order_changed(order)  # its live event (and alert) goes out when the change commits


def locked_order(session: Session, order_id: uuid.UUID) -> Order:
    return session.exec(select(Order).where(col(Order.id) == order_id).with_for_update()).one()


def locked_position(session: Session, deployment_id: uuid.UUID, coin: str) -> Position:
    query = select(Position).where(
        col(Position.deployment_id) == deployment_id, col(Position.coin) == coin
    )
    return session.exec(query.with_for_update()).one()


def claimed_keys(session: Session, user_id: uuid.UUID, keys: Sequence[str]) -> set[str]:
    if not keys:
        return set()
    rows = session.exec(
        select(Trade.match_key).where(
            col(Trade.user_id) == user_id, col(Trade.match_key).in_(list(keys))
        )
    ).all()
    return {str(r) for r in rows}


def book_fills(
    session: Session, order: Order, fills: Sequence[FillRecord], bar: datetime | None
) -> list[Trade]:
    """Record `fills` of `order` as trades and move its position; skips fills whose
    match_key is already booked. The caller commits (together with the order's state)."""
    taken = claimed_keys(session, order.user_id, [f.match_key for f in fills if f.match_key])
    position = locked_position(session, order.deployment_id, order.coin)
    trades: list[Trade] = []
    for fill in fills:
        if fill.match_key is not None and fill.match_key in taken:
            continue
        trade = _apply(position, order, fill, bar)
        session.add(trade)
        trades.append(trade)
    session.add(position)
    session.add(order)
    record_trades(session, trades)  # the P&L lots move in the same transaction
    fills_booked(session, order, trades)  # live `fill` and `pnl.update` events at commit
    return trades


def _apply(position: Position, order: Order, fill: FillRecord, bar: datetime | None) -> Trade:
    qty, fee = fill.quantity, fill.fee
    if order.side == "buy":
        total = fill.notional + fee
        position.cost_basis += total
        position.quantity += qty
        position.cash -= total
        if position.quantity > 0:
            position.average_price = position.cost_basis / position.quantity
    else:
        total = fill.notional - fee
        sold = min(qty, position.quantity)
        position.cost_basis -= position.average_price * sold
        position.quantity -= sold
        position.cash += total
        if position.quantity <= 0:
            position.quantity = Decimal(0)
            position.cost_basis = Decimal(0)
            position.average_price = Decimal(0)
    if position.cash < 0:
        if position.cash < Decimal("-0.01"):
            logger.warning(
                "sleeve cash below zero after a fill; clamped",
                extra={"deployment": str(order.deployment_id), "coin": order.coin},
            )
        position.cash = Decimal(0)
    position.updated_at = now()
    filled_before = order.filled_quantity
    order.filled_quantity = filled_before + qty
    if order.filled_quantity > 0:
        previous = (order.average_price or Decimal(0)) * filled_before
        order.average_price = (previous + fill.price * qty) / order.filled_quantity
    return Trade(
        order_id=order.id,
        deployment_id=order.deployment_id,
        user_id=order.user_id,
        coin=order.coin,
        side=order.side,
        quantity=qty,
        price=fill.price,
        fee=fill.fee_ex_gst,
        gst=fill.gst_amount,
        total_aud=total,
        exchange_time=fill.exchange_time,
        source=fill.source.value,
        match_key=fill.match_key,
        bar=bar,
    )


def settle_status(order: Order) -> S:
    """The state an order whose fills are all booked is in: filled when complete."""
    if order.filled_quantity >= order.requested_quantity:
        return S.FILLED
    return S.PARTIALLY_FILLED if order.filled_quantity > 0 else S.OPEN


def pending_coins(session: Session, deployment_id: uuid.UUID) -> dict[str, str]:
    """Coins of this deployment with an order not yet settled: {coin: status}."""
    rows = session.exec(
        select(Order.coin, Order.status).where(
            col(Order.deployment_id) == deployment_id,
            col(Order.status).in_([s.value for s in _PENDING]),
        )
    ).all()
    return {str(coin): str(status) for coin, status in rows}


_PENDING = (S.INTENT, S.SUBMITTING, S.OPEN, S.PARTIALLY_FILLED, S.UNKNOWN)
