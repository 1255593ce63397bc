"""Order-book execution: price-bearing orders that rest, time out, and are re-priced.

Rules:
- An order-book order is a Coinspot "market order" (`/my/buy`, `/my/sell` with a `rate`):
  a buy at the decision's bid, a sell at its ask, at the order-book fee. Its intent is
  committed before it is sent, like every order (`executor.send_order` sends it).
- The cycle that placed it follows it, bounded: its fills are read every
  `FLOOR_ORDERBOOK_POLL_SECONDS` until it is filled, no longer open, or
  `FLOOR_ORDERBOOK_TIMEOUT_SECONDS` have passed (`expires_at`). Then it is cancelled.
- A re-price happens only after the cancel is confirmed (the exchange answered, or said
  the order is not there) and the fills were read again and booked: it is a new order
  (`replaces_id` = the cancelled one) for the unfilled rest only, priced by
  `FLOOR_ORDERBOOK_REPRICE_RULE`, never further than `FLOOR_MAX_SLIPPAGE_PCT` from the first
  rate, through `risk.check_order` like any order, at most `FLOOR_ORDERBOOK_MAX_REPRICES`
  times. Otherwise the cycle gives up (recorded in the decision).
- A cancel whose outcome is unclear (time-out, 5xx) makes the order `unknown`: no re-price,
  the coin stays blocked, and the resolver settles it from the exchange's open orders and
  history (`resolve_book_order`). A rate-limited cancel executed nothing: the order stays
  open and the next cycle's follow-up (`settle_stale`) cancels it.
- An order missing from the exchange's open orders without being filled is cancelled all
  the same (the list may lag; the cancel confirms): when the exchange says there is no
  such order (cancelled outside, e.g. by an emergency stop) it is `cancelled` and never
  re-priced.
- Fills are matched by coin, side, time (from the send) and a rate no worse than the
  order's, skipping fills already booked (`match_key`) and never booking more than the
  order's unfilled quantity.
"""

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app.core.config import settings
from app.exchange.errors import ExchangeError, InvalidOrderError, RateLimitError
from app.floor.brokers import Broker, OrderRequest, Quote, RestingState
from app.floor.ledger import Order, Position
from app.floor.ledger import OrderStatus as S
from app.floor.models import DeployedAlgorithm
from app.floor.orders import (
    FillRecord,
    book_fills,
    claimed_keys,
    locked_order,
    settle_status,
    transition,
)
from app.floor.risk import OrderContext, check_order

logger = logging.getLogger(__name__)

ORDERBOOK = "orderbook"
SendOrder = Callable[[Engine, Broker, uuid.UUID, OrderRequest, datetime], Awaitable[Order]]
_OPEN = (S.OPEN.value, S.PARTIALLY_FILLED.value)


@dataclass
class BookOutcome:
    """What an order-book decision did: its orders (first to last), the last one, what
    filled over all of them, and why it stopped."""

    orders: list[Order] = field(default_factory=list)
    filled: Decimal = Decimal(0)
    reprices: int = 0
    detail: str = ""

    @property
    def last(self) -> Order:
        return self.orders[-1]


def order_terms(
    style: str, mode: str, side: str, quote: Quote
) -> tuple[Decimal | None, Decimal | None]:
    """(limit_rate, threshold_pct) of a new order: order-book orders rest at the bid (buy)
    or ask (sell); live instant orders carry the ask/bid and the slippage threshold."""
    if style == ORDERBOOK:
        return (quote.bid if side == "buy" else quote.ask), None
    if mode == "live":
        return (quote.ask if side == "buy" else quote.bid), settings.FLOOR_MAX_SLIPPAGE_PCT
    return None, None


def reprice_rate(side: str, previous: Decimal, quote: Quote) -> Decimal:
    """The next rate under `FLOOR_ORDERBOOK_REPRICE_RULE` (see config)."""
    rule = settings.FLOOR_ORDERBOOK_REPRICE_RULE
    far = quote.ask if side == "buy" else quote.bid  # the other side of the book
    if rule == "cross":
        return far
    if rule == "step":
        step = settings.FLOOR_ORDERBOOK_REPRICE_STEP_BPS / 10_000
        moved = previous * (1 + step) if side == "buy" else previous * (1 - step)
        return min(moved, far) if side == "buy" else max(moved, far)
    return quote.bid if side == "buy" else quote.ask  # touch


def _within_bound(side: str, first: Decimal, rate: Decimal) -> bool:
    slack = settings.FLOOR_MAX_SLIPPAGE_PCT / 100
    return rate <= first * (1 + slack) if side == "buy" else rate >= first * (1 - slack)


def _load(engine: Engine, order_id: uuid.UUID) -> Order:
    with Session(engine) as session:
        order = session.get(Order, order_id)
        assert order is not None
        session.expunge(order)
        return order


def _new_fills(session: Session, order: Order, fills: Sequence[FillRecord]) -> list[FillRecord]:
    """Fills not booked yet, capped at the order's unfilled quantity."""
    taken = claimed_keys(session, order.user_id, [f.match_key for f in fills if f.match_key])
    room = order.requested_quantity - order.filled_quantity
    chosen: list[FillRecord] = []
    for fill in fills:
        if fill.match_key is not None and fill.match_key in taken:
            continue
        if fill.quantity > room:
            continue
        chosen.append(fill)
        room -= fill.quantity
    return chosen


def apply_state(
    engine: Engine,
    order_id: uuid.UUID,
    state: RestingState,
    bar: datetime | None,
    *,
    closing: str | None = None,
    resolution: str | None = None,
) -> Order:
    """Book the new fills of `state` and move the order: `filled` when complete; else
    open/partially filled, or — when `closing` is given — `cancelled` with that reason."""
    with Session(engine) as session:
        order = locked_order(session, order_id)
        fills = _new_fills(session, order, state.fills)
        if fills:
            book_fills(session, order, fills, bar)
        if state.open_id and order.exchange_order_id is None:
            order.exchange_order_id = state.open_id
        if resolution is not None:
            order.resolution = resolution[:500]
        status = settle_status(order)
        current = S(order.status)
        if status == S.FILLED:
            if current != S.FILLED:
                transition(order, S.FILLED)
        elif closing is not None:
            if current == S.UNKNOWN and status == S.PARTIALLY_FILLED:
                transition(order, S.PARTIALLY_FILLED)
            transition(order, S.CANCELLED, error=closing)
        elif status != current or fills:
            transition(order, status)
        session.add(order)
        session.commit()
        session.refresh(order)
        session.expunge(order)
        return order


def _set_expiry(engine: Engine, order_id: uuid.UUID) -> None:
    with Session(engine) as session:
        order = locked_order(session, order_id)
        if order.expires_at is None:
            seconds = settings.FLOOR_ORDERBOOK_TIMEOUT_SECONDS
            order.expires_at = datetime.now(UTC) + timedelta(seconds=seconds)
            session.add(order)
        session.commit()


def _mark_unknown(engine: Engine, order_id: uuid.UUID, why: str) -> Order:
    with Session(engine) as session:
        order = locked_order(session, order_id)
        if order.status in _OPEN:
            transition(order, S.UNKNOWN, error=why)
        session.add(order)
        session.commit()
        session.refresh(order)
        session.expunge(order)
        return order


async def _cancel(
    engine: Engine, broker: Broker, order: Order, bar: datetime | None, why: str
) -> tuple[Order, str]:
    """Cancel a resting order. Returns the order and `cancelled` (the exchange confirmed)
    or `not_found` (it says there is no such open order) — both confirmed, and the fills
    were read again and booked — or `unclear` (nothing is known; no re-price)."""
    started = time.perf_counter()
    assert order.exchange_order_id is not None
    outcome = "cancelled"
    try:
        await broker.cancel(order.side, order.exchange_order_id)  # type: ignore[arg-type]
    except InvalidOrderError as exc:
        if exc.reason != "not_found":
            return _mark_unknown(engine, order.id, f"cancel refused: {exc}"), "unclear"
        outcome = "not_found"
    except RateLimitError:
        logger.warning("cancel rate limited; the order stays open", extra={"order": str(order.id)})
        return order, "unclear"
    except ExchangeError as exc:  # time-out, 5xx, unreadable answer: it may have happened
        logger.warning("cancel outcome unknown", extra={"order": str(order.id)})
        return _mark_unknown(engine, order.id, f"cancel outcome unknown: {exc}"), "unclear"
    fills: tuple[FillRecord, ...] = ()
    if broker.mode != "paper":  # a paper order has no fills but those already booked
        try:
            fills = (await broker.resting_state(order)).fills
        except ExchangeError as exc:
            why_unknown = f"fills unreadable after the cancel: {exc}"
            return _mark_unknown(engine, order.id, why_unknown), "unclear"
    settled = apply_state(engine, order.id, RestingState(None, fills), bar, closing=why)
    logger.info(
        "order-book order cancelled",
        extra={
            "order": str(order.id),
            "deployment": str(order.deployment_id),
            "coin": order.coin,
            "status": settled.status,
            "filled": str(settled.filled_quantity),
            "cancel": outcome,
            "ms": round((time.perf_counter() - started) * 1000, 3),
        },
    )
    return settled, outcome


async def _follow(engine: Engine, broker: Broker, order: Order, bar: datetime) -> tuple[Order, str]:
    """Read the order's fills until it is filled, missing from the open orders, or timed
    out; then cancel it (a missing order too: the cancel is what confirms it is gone, the
    open-orders list might lag). Returns the order and how it ended: filled | gone (the
    exchange has no such open order: cancelled outside) | timed_out | unclear."""
    _set_expiry(engine, order.id)
    deadline = time.monotonic() + settings.FLOOR_ORDERBOOK_TIMEOUT_SECONDS
    missing = False
    while True:
        try:
            state = await broker.resting_state(order)
        except ExchangeError as exc:
            logger.warning(
                "resting order unreadable", extra={"order": str(order.id), "e": str(exc)}
            )
            state = None
        if state is not None:
            order = apply_state(engine, order.id, state, bar)
            if order.status == S.FILLED:
                return order, "filled"
            if state.open_id is None:
                missing = True
                break
        left = deadline - time.monotonic()
        if left <= 0:
            break
        await asyncio.sleep(min(settings.FLOOR_ORDERBOOK_POLL_SECONDS, left))
    why = "no longer open at the exchange" if missing else "timed out; cancelled"
    order, cancel = await _cancel(engine, broker, order, bar, why)
    if cancel == "unclear":
        return order, "unclear"
    if order.status == S.FILLED:
        return order, "filled"
    return order, "gone" if cancel == "not_found" and missing else "timed_out"


def _fresh_deployment(engine: Engine, deployment_id: uuid.UUID) -> DeployedAlgorithm:
    with Session(engine) as session:
        deployment = session.get(DeployedAlgorithm, deployment_id)
        assert deployment is not None
        session.expunge(deployment)
        return deployment


def _position(engine: Engine, deployment_id: uuid.UUID, coin: str) -> Position:
    with Session(engine) as session:
        position = session.get(Position, (deployment_id, coin))
        assert position is not None
        session.expunge(position)
        return position


def _reprice_intent(engine: Engine, previous: Order, request: OrderRequest, n: int) -> Order:
    order = Order(
        deployment_id=previous.deployment_id,
        user_id=previous.user_id,
        execution_run_id=previous.execution_run_id,
        mode=previous.mode,
        coin=previous.coin,
        side=previous.side,
        style=previous.style,
        requested_quantity=request.quantity,
        requested_notional=request.notional,
        limit_rate=request.limit_rate,
        target=previous.target,
        replaces_id=previous.id,
        reason=f"re-price {n} of the unfilled rest of order {previous.id}"[:500],
    )
    with Session(engine) as session:
        session.add(order)
        session.commit()
        session.refresh(order)
        session.expunge(order)
    return order


async def _next_request(
    engine: Engine,
    broker: Broker,
    order: Order,
    first_rate: Decimal,
    minimum: Decimal,
    bar: datetime,
) -> OrderRequest | str:
    """The re-price of `order`'s unfilled rest, or why there is none."""
    remaining = order.requested_quantity - order.filled_quantity
    quote = await broker.quote(order.coin)
    if quote is None:
        return "no fresh price to re-price at"
    assert order.limit_rate is not None
    rate = reprice_rate(order.side, order.limit_rate, quote)
    if not _within_bound(order.side, first_rate, rate):
        return f"re-price at {rate} is beyond FLOOR_MAX_SLIPPAGE_PCT of {first_rate}"
    request = broker.prepare(
        OrderRequest(
            coin=order.coin,
            side=order.side,  # type: ignore[arg-type]
            quantity=remaining,
            notional=remaining * rate,
            price=rate,
            fee=Decimal(0),
            style=ORDERBOOK,
            limit_rate=rate,
        )
    )
    if request is None or request.notional < minimum:
        return "the unfilled rest is below the minimum order"
    deployment = _fresh_deployment(engine, order.deployment_id)
    position = _position(engine, order.deployment_id, order.coin)
    balances = await broker.balances() if broker.mode == "live" else None
    risk = check_order(OrderContext(engine, deployment, position, request, quote, bar, balances))
    if not risk.allowed:
        return f"re-price refused: {risk.reason}"
    return request


async def execute_book_order(
    engine: Engine,
    broker: Broker,
    order_id: uuid.UUID,
    request: OrderRequest,
    bar: datetime,
    *,
    minimum: Decimal,
    send: SendOrder,
) -> BookOutcome:
    """Send a committed order-book intent and follow it (and its re-prices) to the end,
    within (max re-prices + 1) x the time-out (see the module rules)."""
    outcome = BookOutcome()
    first_rate = request.limit_rate
    assert first_rate is not None
    order = await send(engine, broker, order_id, request, bar)
    while True:
        outcome.orders.append(order)
        if order.status not in _OPEN:  # rejected, unknown, or filled on arrival
            outcome.detail = f"order {order.status}"
            break
        order, ended = await _follow(engine, broker, order, bar)
        outcome.orders[-1] = order
        if ended != "timed_out":
            outcome.detail = {
                "filled": "filled",
                "gone": "cancelled outside: no re-price",
                "unclear": f"order {order.status}: the resolver settles it; no re-price",
            }[ended]
            break
        if outcome.reprices >= settings.FLOOR_ORDERBOOK_MAX_REPRICES:
            outcome.detail = f"timed out after {outcome.reprices} re-price(s): gave up"
            break
        try:
            following = await _next_request(engine, broker, order, first_rate, minimum, bar)
        except ExchangeError as exc:
            following = f"re-price not possible: {exc}"
        if isinstance(following, str):
            outcome.detail = following
            break
        outcome.reprices += 1
        intent = _reprice_intent(engine, order, following, outcome.reprices)
        order = await send(engine, broker, intent.id, following, bar)
    outcome.filled = sum((o.filled_quantity for o in outcome.orders), Decimal(0))
    logger.info(
        "order-book decision done",
        extra={
            "deployment": str(outcome.last.deployment_id),
            "coin": outcome.last.coin,
            "orders": len(outcome.orders),
            "reprices": outcome.reprices,
            "filled": str(outcome.filled),
            "detail": outcome.detail,
        },
    )
    return outcome


# --- the resolver's part: orders a cycle left unsettled ----------------------------------


async def resolve_book_order(
    engine: Engine, broker: Broker, order_id: uuid.UUID, *, now: datetime
) -> Order:
    """Settle an `unknown` order-book order from the exchange's open orders and history:
    still open -> open/partially filled (the follow-up cancels it once expired); gone ->
    filled or cancelled; never found -> `unknown` until the grace period, then cancelled."""
    order = _load(engine, order_id)
    state = await broker.resting_state(order)
    if state.open_id is not None:
        return apply_state(
            engine, order_id, state, None, resolution="found among the exchange's open orders"
        )
    if order.exchange_order_id is None and not state.fills:
        sent = order.submitting_at or order.created_at
        if now - sent < timedelta(seconds=settings.FLOOR_RESOLVE_GRACE_SECONDS):
            return order
        return apply_state(
            engine,
            order_id,
            state,
            None,
            closing="not found at the exchange",
            resolution="not found at the exchange",
        )
    return apply_state(
        engine,
        order_id,
        state,
        None,
        closing="no longer open at the exchange",
        resolution="no longer open at the exchange; its fills matched from the history",
    )


async def settle_stale(
    engine: Engine, broker: Broker, deployment_id: uuid.UUID, *, now: datetime
) -> list[Order]:
    """Order-book orders still open from an earlier cycle (a crash, a rate-limited cancel,
    or an `unknown` cancel resolved as still open): book their fills, and cancel them once
    their time-out has passed. No re-price here: the cycle decides afresh once the coin is
    free. The caller holds the deployment's lock."""
    with Session(engine) as session:
        orders = list(
            session.exec(
                select(Order).where(
                    col(Order.deployment_id) == deployment_id,
                    col(Order.style) == ORDERBOOK,
                    col(Order.status).in_(_OPEN),
                )
            ).all()
        )
        session.expunge_all()
    settled: list[Order] = []
    for order in orders:
        state = await broker.resting_state(order)
        order = apply_state(engine, order.id, state, None)
        gone = state.open_id is None
        expired = order.expires_at is None or order.expires_at <= now
        if order.status in _OPEN and (gone or expired) and order.exchange_order_id is not None:
            why = "no longer open at the exchange" if gone else "timed out; cancelled"
            order, _ = await _cancel(engine, broker, order, None, why)
        settled.append(order)
    return settled
