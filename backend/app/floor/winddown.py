"""Winding a deployment down: cancel its open orders and (optionally) flatten its positions.
Shared by the emergency stop and deactivate-with-flatten (app/floor/emergency.py).

Rules:
- Every exchange call ends within FLOOR_ESTOP_CALL_TIMEOUT_SECONDS (`GuardedBroker`): a
  state-changing call that times out is an `OrderStatusUnknownError`, a read an
  `ExchangeUnavailableError`.
- A cancel whose answer is unclear (time-out, 5xx, rate limit, a refusal while the order is
  still listed) is retried with tenacity up to FLOOR_ESTOP_CANCEL_ATTEMPTS times; before each
  retry the exchange's open orders are re-read and an order no longer listed is done (left
  `unknown` so the resolver books any fill it had). Still unclear: `unknown`, reported
  `unconfirmed`. A confirmed cancel makes the order `cancelled`. Paper orders are cancelled
  in our books. Orders already `unknown` are reported `unconfirmed` and left to the resolver.
- A flatten is the executor's instant sell with its rate/threshold guard: intent committed
  first, then `executor.send_order` (same state machine, `book_fills`, P&L). It is never
  retried: a time-out leaves it `unknown`. It runs only while this holds the deployment's row
  lock (no cycle running; waited for at most FLOOR_ESTOP_LOCK_WAIT_SECONDS) and never on a coin
  with an unsettled order (that order may be a sell already).
- Nothing here raises: every order and position ends as one `OrderAction` in the report.
"""

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from app.core.config import settings
from app.exchange.errors import (
    ExchangeError,
    ExchangeRejectedError,
    ExchangeUnavailableError,
    OrderStatusUnknownError,
)
from app.floor.brokers import (
    Broker,
    OrderRequest,
    PlaceResult,
    Quote,
    RestingState,
    Side,
    fee_rate,
)
from app.floor.executor import BrokerFactory, send_order
from app.floor.halts import apply_pending_halt
from app.floor.ledger import Order, Position
from app.floor.ledger import OrderStatus as S
from app.floor.models import DeployedAlgorithm
from app.floor.orders import locked_order, pending_coins, transition
from app.floor.resolver import recover_orphans

logger = logging.getLogger(__name__)
T = TypeVar("T")
Outcome = Literal["confirmed", "failed", "unconfirmed"]


class OrderAction(BaseModel):
    order_id: uuid.UUID | None
    deployment_id: uuid.UUID
    coin: str
    side: str
    action: Literal["cancel", "flatten"]
    outcome: Outcome
    detail: str


class _Unclear(Exception):
    """A cancel whose outcome we do not know yet (retry after re-reading open orders)."""


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)


class GuardedBroker:
    """A broker whose every exchange call ends within FLOOR_ESTOP_CALL_TIMEOUT_SECONDS: a
    state-changing call that times out is `OrderStatusUnknownError`, a read
    `ExchangeUnavailableError`."""

    def __init__(self, inner: Broker, timeout: float) -> None:
        self._inner = inner
        self._timeout = timeout
        self.mode = inner.mode

    async def _bounded(self, call: Awaitable[T], what: str, mutating: bool) -> T:
        try:
            return await asyncio.wait_for(call, self._timeout)
        except TimeoutError:
            message = f"{what}: no answer within {self._timeout:g} s"
            if mutating:
                raise OrderStatusUnknownError(
                    message,
                    nonce=0,
                    sent_at_ms=int(time.time() * 1000),
                    params={"call": what},
                    cause="timeout",
                ) from None
            raise ExchangeUnavailableError(message, reason="timeout") from None

    async def quote(self, coin: str) -> Quote | None:
        return await self._bounded(self._inner.quote(coin), "quote", False)

    def prepare(self, request: OrderRequest) -> OrderRequest | None:
        return self._inner.prepare(request)

    async def place(self, request: OrderRequest) -> PlaceResult:
        return await self._bounded(self._inner.place(request), "place", True)

    async def cancel(self, side: Side, exchange_order_id: str) -> None:
        await self._bounded(self._inner.cancel(side, exchange_order_id), "cancel", True)

    async def open_orders(self, coin: str) -> list[Any]:
        return await self._bounded(self._inner.open_orders(coin), "open orders", False)

    async def open_orders_on(self, coin: str, side: Side) -> list[Any]:
        return await self._bounded(self._inner.open_orders_on(coin, side), "open orders", False)

    async def fills(self, coin: str, since: datetime) -> list[Any]:
        return await self._bounded(self._inner.fills(coin, since), "fills", False)

    async def balances(self) -> dict[str, Decimal]:
        return await self._bounded(self._inner.balances(), "balances", False)

    async def resting_state(self, order: Order) -> RestingState:
        return await self._bounded(self._inner.resting_state(order), "resting order", False)

    def sizing_slippage_bps(self, release_bps: Decimal) -> Decimal:
        return self._inner.sizing_slippage_bps(release_bps)


def _flatten_action(
    deployment: DeployedAlgorithm, coin: str, outcome: Outcome, detail: str
) -> OrderAction:
    """A flatten that has no order to name (not attempted, or failed before one existed)."""
    return OrderAction(
        order_id=None,
        deployment_id=deployment.id,
        coin=coin,
        side="sell",
        action="flatten",
        outcome=outcome,
        detail=detail,
    )


def _action(order: Order, action: str, outcome: Outcome, detail: str) -> OrderAction:
    return OrderAction(
        order_id=order.id,
        deployment_id=order.deployment_id,
        coin=order.coin,
        side=order.side,
        action="flatten" if action == "flatten" else "cancel",
        outcome=outcome,
        detail=detail,
    )


def _move(engine: Engine, order_id: uuid.UUID, status: S, why: str) -> None:
    with Session(engine) as session:
        order = locked_order(session, order_id)
        if order.status in (S.OPEN, S.PARTIALLY_FILLED):
            transition(order, status, error=why)
            session.add(order)
            session.commit()


async def _still_open(broker: Broker, order: Order) -> bool | None:
    """Whether the exchange lists the order among our open orders (None: could not ask)."""
    try:
        resting = await broker.open_orders(order.coin)
    except ExchangeError:
        return None
    return any(str(o.id) == order.exchange_order_id for o in resting)


async def cancel_order(engine: Engine, broker: Broker, order: Order) -> OrderAction:
    """Cancel one open order (see the module rules, step 2)."""
    started = time.perf_counter()
    if broker.mode == "paper":
        try:
            if order.exchange_order_id:
                await broker.cancel(order.side, order.exchange_order_id)  # type: ignore[arg-type]
        except ValueError:
            pass  # paper orders rest nowhere but in our books
        _move(engine, order.id, S.CANCELLED, "cancelled by an emergency stop")
        return _action(order, "cancel", "confirmed", "paper order cancelled in our books")
    if not order.exchange_order_id:
        _move(engine, order.id, S.UNKNOWN, "emergency stop: no exchange id to cancel")
        return _action(order, "cancel", "unconfirmed", "no exchange order id: left unknown")
    attempts = settings.FLOOR_ESTOP_CANCEL_ATTEMPTS
    errors: list[str] = []
    try:
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=settings.FLOOR_ESTOP_RETRY_BACKOFF_SECONDS, max=10),
            retry=retry_if_exception_type(_Unclear),
            reraise=True,
        ):
            with attempt:
                number = attempt.retry_state.attempt_number
                if number > 1 and await _still_open(broker, order) is False:
                    _move(engine, order.id, S.UNKNOWN, "emergency stop: gone from open orders")
                    return _action(
                        order,
                        "cancel",
                        "confirmed",
                        f"no longer open at the exchange (checked before attempt {number}); "
                        f"left unknown for the resolver to book any fill; earlier: {errors[-1]}",
                    )
                try:
                    await broker.cancel(order.side, order.exchange_order_id)  # type: ignore[arg-type]
                except ExchangeRejectedError as exc:
                    if await _still_open(broker, order) is False:
                        _move(engine, order.id, S.UNKNOWN, "emergency stop: gone from open orders")
                        return _action(
                            order, "cancel", "confirmed", f"refused ({exc}) and no longer open"
                        )
                    errors.append(str(exc))
                    raise _Unclear(str(exc)) from None
                except ExchangeError as exc:  # time-out, 5xx, rate limit: it may have happened
                    errors.append(str(exc))
                    raise _Unclear(str(exc)) from None
    except _Unclear:
        _move(engine, order.id, S.UNKNOWN, f"emergency stop: cancel not confirmed: {errors[-1]}")
        logger.warning(
            "emergency cancel not confirmed",
            extra={"order": str(order.id), "coin": order.coin, "ms": _ms(started)},
        )
        return _action(
            order,
            "cancel",
            "unconfirmed",
            f"cancel not confirmed after {attempts} attempts (last: {errors[-1]}); "
            "the order is unknown until the resolver settles it",
        )
    _move(engine, order.id, S.CANCELLED, "cancelled by an emergency stop")
    logger.info(
        "emergency cancel confirmed",
        extra={"order": str(order.id), "coin": order.coin, "ms": _ms(started)},
    )
    return _action(order, "cancel", "confirmed", f"cancelled at the exchange (attempt {number})")


async def flatten_position(
    engine: Engine, broker: Broker, deployment: DeployedAlgorithm, coin: str, why: str
) -> OrderAction:
    """Sell one position at market (see the module rules, step 3)."""
    with Session(engine) as session:
        position = session.get(Position, (deployment.id, coin))
        pending = pending_coins(session, deployment.id)
    if position is None or position.quantity <= 0:
        return _flatten_action(deployment, coin, "confirmed", "nothing held")
    if coin in pending:
        return _flatten_action(
            deployment,
            coin,
            "failed",
            f"not flattened: an order on {coin} is {pending[coin]} (it may be a sell)",
        )
    try:
        quote = await broker.quote(coin)
    except ExchangeError as exc:
        quote, error = None, str(exc)
    else:
        error = "no fresh price"
    if quote is None:
        return _flatten_action(deployment, coin, "failed", f"not flattened: {error}")
    live = broker.mode == "live"
    quantity, price = position.quantity, quote.bid
    request = broker.prepare(
        OrderRequest(
            coin=coin,
            side="sell",
            quantity=quantity,
            notional=quantity * price,
            price=price,
            fee=quantity * price * fee_rate("instant"),
            style="instant",
            limit_rate=price if live else None,
            threshold_pct=settings.FLOOR_MAX_SLIPPAGE_PCT if live else None,
        )
    )
    if request is None or request.notional < settings.FLOOR_MIN_ORDER_AUD:
        return _flatten_action(
            deployment,
            coin,
            "failed",
            f"not flattened: {quantity} {coin} is below Coinspot's minimum order",
        )
    order = Order(
        deployment_id=deployment.id,
        user_id=deployment.user_id,
        mode=deployment.mode,
        coin=coin,
        side="sell",
        style="instant",
        requested_quantity=request.quantity,
        requested_notional=request.notional,
        limit_rate=request.limit_rate,
        threshold_pct=request.threshold_pct,
        target=Decimal(0),
        reason=f"{why}: flatten"[:500],
    )
    with Session(engine) as session:
        session.add(order)
        session.commit()
        session.refresh(order)
        session.expunge(order)
    final = await send_order(engine, broker, order.id, request, None, halt_check=False)
    if final.status == S.FILLED:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "UPDATE positions SET last_target = 0, updated_at = now() "
                    "WHERE deployment_id = :d AND coin = :c"
                ),
                {"d": deployment.id, "c": coin},
            )
        return _action(
            final, "flatten", "confirmed", f"sold {final.filled_quantity} at {final.average_price}"
        )
    if final.status == S.UNKNOWN:
        return _action(
            final, "flatten", "unconfirmed", f"sell outcome unknown (not retried): {final.error}"
        )
    return _action(
        final,
        "flatten",
        "failed",
        f"{final.status}: sold {final.filled_quantity} of {request.quantity}"
        + (f" ({final.error})" if final.error else ""),
    )


def _lock(engine: Engine, deployment_id: uuid.UUID, wait: float) -> Connection | None:
    """The deployment's row lock (as a cycle takes it), waiting at most `wait` seconds."""
    conn = engine.connect()
    try:
        conn.begin()
        conn.execute(sa.text(f"SET LOCAL lock_timeout = '{max(int(wait * 1000), 1)}ms'"))
        conn.execute(
            sa.text("SELECT id FROM deployed_algorithms WHERE id = :id FOR NO KEY UPDATE"),
            {"id": deployment_id},
        )
        conn.execute(sa.text("SET LOCAL lock_timeout = 0"))
        return conn
    except OperationalError:
        conn.rollback()
        conn.close()
        return None


def _open_orders_and_holdings(
    engine: Engine, deployment_id: uuid.UUID
) -> tuple[list[Order], list[str]]:
    with Session(engine) as session:
        orders = list(
            session.exec(
                select(Order)
                .where(
                    col(Order.deployment_id) == deployment_id,
                    col(Order.status).in_(
                        [S.OPEN.value, S.PARTIALLY_FILLED.value, S.UNKNOWN.value]
                    ),
                )
                .order_by(col(Order.created_at))
            ).all()
        )
        held = [
            str(c)
            for c in session.exec(
                select(Position.coin).where(
                    col(Position.deployment_id) == deployment_id, col(Position.quantity) > 0
                )
            ).all()
        ]
        session.expunge_all()
    return orders, held


async def wind_down(
    engine: Engine,
    broker_factory: BrokerFactory,
    deployment: DeployedAlgorithm,
    *,
    flatten: bool,
    why: str,
) -> list[OrderAction]:
    """Cancel a deployment's open orders and optionally flatten it; never raises."""
    started = time.perf_counter()
    actions: list[OrderAction] = []
    orders, held = _open_orders_and_holdings(engine, deployment.id)
    try:
        broker: Broker = GuardedBroker(
            await broker_factory(deployment), settings.FLOOR_ESTOP_CALL_TIMEOUT_SECONDS
        )
    except Exception as exc:  # e.g. a live deployment without keys
        detail = f"no broker: {type(exc).__name__}: {exc}"
        return [_action(o, "cancel", "failed", detail) for o in orders] + [
            _flatten_action(deployment, c, "failed", detail) for c in (held if flatten else [])
        ]
    conn = await asyncio.to_thread(
        _lock, engine, deployment.id, settings.FLOOR_ESTOP_LOCK_WAIT_SECONDS
    )
    if conn is not None and apply_pending_halt(conn, deployment.id) is not None:
        conn.commit()  # the halt (and its event) now; the events' lock is not held through this
        conn.close()
        conn = await asyncio.to_thread(
            _lock, engine, deployment.id, settings.FLOOR_ESTOP_LOCK_WAIT_SECONDS
        )
    try:
        if conn is not None:  # no cycle now: settle what one left behind, then read again
            recover_orphans(engine, deployment.id)
            orders, held = _open_orders_and_holdings(engine, deployment.id)
        for order in orders:
            if order.status == S.UNKNOWN:
                actions.append(
                    _action(
                        order,
                        "cancel",
                        "unconfirmed",
                        "the order's outcome is unknown; the resolver settles it",
                    )
                )
                continue
            try:
                actions.append(await cancel_order(engine, broker, order))
            except Exception as exc:
                logger.exception("emergency cancel failed", extra={"order": str(order.id)})
                actions.append(_action(order, "cancel", "unconfirmed", f"{type(exc).__name__}"))
        for coin in held if flatten else []:
            if conn is None:
                actions.append(
                    _flatten_action(
                        deployment,
                        coin,
                        "failed",
                        "not flattened: a cycle of this deployment was still running "
                        f"after {settings.FLOOR_ESTOP_LOCK_WAIT_SECONDS:g} s",
                    )
                )
                continue
            try:
                actions.append(await flatten_position(engine, broker, deployment, coin, why))
            except Exception as exc:
                logger.exception("emergency flatten failed", extra={"coin": coin})
                actions.append(
                    _flatten_action(deployment, coin, "unconfirmed", f"{type(exc).__name__}: {exc}")
                )
    finally:
        if conn is not None:
            conn.commit()
            conn.close()
    logger.info(
        "deployment wound down",
        extra={
            "deployment": str(deployment.id),
            "actions": len(actions),
            "locked": conn is not None,
            "ms": _ms(started),
        },
    )
    return actions


def not_confirmed(actions: list[OrderAction]) -> list[str]:
    return [
        f"{a.action} {a.side} {a.coin} (order {a.order_id or '-'}, deployment "
        f"{a.deployment_id}): {a.outcome}: {a.detail}"
        for a in actions
        if a.outcome != "confirmed"
    ]
