"""The executor: one decision cycle of one deployment on one bar.

Rules:
- A cycle holds its deployment's row lock (`SELECT … FOR NO KEY UPDATE SKIP LOCKED`) from
  start to end, so one deployment never runs two cycles at once, in this process or another.
- The decision key (deployment, bar) is unique (`execution_runs`): the run row is inserted
  first and a conflict means the bar was decided already — nothing else happens.
- Under the lock, orders an earlier process left behind are recovered and `unknown` ones go
  to the resolver before anything new is decided; a coin with an unsettled order gets no
  new order.
- Paper and live are the same code: targets from the sandbox, sizing with `fills.rebalance`
  in Decimal against the sleeve's cash and holdings, orders only when the target changes
  (as in the backtest), `risk.check_order` for every order, then the broker.
- An order's intent is committed before it is sent, `submitting` right before; a rate-limit
  answer (nothing executed) is retried up to `FLOOR_RATE_LIMIT_RETRIES` times, a time-out or
  5xx makes the order `unknown` and is never retried.
- Order-book orders (`execution_style = orderbook`) are followed inside the cycle, bounded
  by (`FLOOR_ORDERBOOK_MAX_REPRICES` + 1) x `FLOOR_ORDERBOOK_TIMEOUT_SECONDS`
  (`orderbook.execute_book_order`); one left open is followed up by the next cycle.
- An emergency stop's halt marker is checked in the same transaction (and under the same
  advisory lock) that commits `submitting`: a halted deployment's intent is cancelled, never
  sent; a marker the stop could not apply yet is applied at the cycle's start or end.
- Every cycle ends with its run record (targets, decisions, orders, timings, outcome),
  committed with the deployment's `pnl.update` event and, when it failed, a
  `system_failure` alert (`live_events`); orders publish their own events as they move.
"""

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from app.core.config import settings
from app.core.db import engine as default_engine
from app.exchange.errors import ExchangeError, OrderStatusUnknownError, RateLimitError
from app.floor.brokers import Broker, OrderRequest, fee_rate
from app.floor.halts import apply_pending_halt, halt_reason, hold_send_lock
from app.floor.ledger import ExecutionRun, Order, Position, RunStatus
from app.floor.ledger import OrderStatus as S
from app.floor.live_events import cycle_finished
from app.floor.models import DeployedAlgorithm, DeploymentStatus
from app.floor.orderbook import ORDERBOOK, execute_book_order, order_terms
from app.floor.orders import locked_order, pending_coins, transition
from app.floor.reconciliation.gate import blocking_reason
from app.floor.resolver import exchange_fills, recover_orphans, resolve_deployment, settle_placed
from app.floor.risk import OrderContext, bind_cycle, check_order
from app.floor.signals import CoinTarget, compute_targets
from app.lab.engine.fills import rebalance
from app.lab.releases.models import Release
from app.lab.sandbox.pool import SandboxPool

logger = logging.getLogger(__name__)

NODE = f"{socket.gethostname()[:40]}-{os.getpid()}"
BrokerFactory = Callable[[DeployedAlgorithm], Awaitable[Broker]]


class CycleRefused(Exception):
    """The cycle did not run: `code` is busy | decided | stopped | missing."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class CycleResult:
    run_id: uuid.UUID
    status: str
    decisions: dict[str, Any]
    order_ids: list[str]


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 3)


def deployment_lock(conn: Connection, deployment_id: uuid.UUID) -> bool:
    """Take the deployment's row lock in `conn`'s open transaction, without waiting.

    `FOR NO KEY UPDATE` (the row-update lock that leaves the key alone) so that the cycle's
    own inserts of rows referencing the deployment, from other connections, do not wait."""
    row = conn.execute(
        sa.text("SELECT id FROM deployed_algorithms WHERE id = :id FOR NO KEY UPDATE SKIP LOCKED"),
        {"id": deployment_id},
    ).first()
    return row is not None


def _start_run(
    engine: Engine, deployment: DeployedAlgorithm, bar: datetime, trigger: str
) -> uuid.UUID | None:
    with engine.begin() as conn:
        # Runs a crashed process left behind (this one holds the lock now).
        conn.execute(
            sa.text(
                "UPDATE execution_runs SET status = 'failed', finished_at = now(), "
                "error = 'the process running this cycle stopped' "
                "WHERE deployment_id = :d AND status = 'running'"
            ),
            {"d": deployment.id},
        )
        row = conn.execute(
            sa.text(
                "INSERT INTO execution_runs (id, deployment_id, user_id, bar, trigger, node, "
                "status, targets, decisions, order_ids, timings, started_at) VALUES (:id, :d, :u,"
                " :bar, :trigger, :node, 'running', '{}', '{}', '[]', '{}', now()) "
                "ON CONFLICT (deployment_id, bar) DO NOTHING RETURNING id"
            ),
            {
                "id": uuid.uuid4(),
                "d": deployment.id,
                "u": deployment.user_id,
                "bar": bar,
                "trigger": trigger,
                "node": NODE,
            },
        ).first()
    return None if row is None else uuid.UUID(str(row[0]))


def ensure_positions(engine: Engine, deployment: DeployedAlgorithm) -> None:
    """One position (sleeve) per coin, funded with capital x allocation on first use."""
    with Session(engine) as session:
        for coin in deployment.coins:
            symbol = coin.upper()
            share = Decimal(
                str(deployment.allocation.get(coin, deployment.allocation.get(symbol, "0")))
            )
            session.execute(
                sa.text(
                    "INSERT INTO positions (deployment_id, coin, user_id, quantity, average_price,"
                    " cost_basis, cash, updated_at) VALUES (:d, :c, :u, 0, 0, 0, :cash, now()) "
                    "ON CONFLICT DO NOTHING"
                ),
                {
                    "d": deployment.id,
                    "c": symbol,
                    "u": deployment.user_id,
                    "cash": deployment.capital * share,
                },
            )
        session.commit()


def _set_last_target(engine: Engine, deployment_id: uuid.UUID, coin: str, target: Decimal) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE positions SET last_target = :t, updated_at = now() "
                "WHERE deployment_id = :d AND coin = :c"
            ),
            {"t": target, "d": deployment_id, "c": coin},
        )


async def run_cycle(
    deployment_id: uuid.UUID,
    bar: datetime,
    *,
    trigger: str,
    pool: SandboxPool,
    broker_factory: BrokerFactory,
    engine: Engine | None = None,
    resolve_now: datetime | None = None,
) -> CycleResult:
    """Decide and act on `bar` for one deployment (see the module rules)."""
    db = engine or default_engine
    conn = db.connect()
    try:
        conn.begin()
        if not deployment_lock(conn, deployment_id):
            raise CycleRefused("busy", "a cycle of this deployment is running")
        if apply_pending_halt(conn, deployment_id) is not None:  # an emergency stop's marker
            conn.commit()  # publish it now: the events' lock is not held through a cycle
            conn.begin()
            if not deployment_lock(conn, deployment_id):
                raise CycleRefused("busy", "a cycle of this deployment is running")
        with Session(db) as session:
            deployment = session.get(DeployedAlgorithm, deployment_id)
            if deployment is None:
                raise CycleRefused("missing", "deployment not found")
            release = session.get(Release, deployment.release_id)
            assert release is not None
            session.expunge_all()
        if deployment.status == DeploymentStatus.STOPPED:
            raise CycleRefused("stopped", "the deployment is stopped")
        run_id = _start_run(db, deployment, bar, trigger)
        if run_id is None:
            raise CycleRefused("decided", f"bar {bar.isoformat()} was decided already")
        with bind_cycle(conn):  # a risk breach writes the status under this cycle's lock
            result = await _cycle(
                db, deployment, release, bar, run_id, pool, broker_factory, resolve_now
            )
        conn.execute(
            sa.text(
                "UPDATE deployed_algorithms SET last_run_bar = GREATEST(coalesce(last_run_bar, :b),"
                " :b) WHERE id = :id"
            ),
            {"b": bar, "id": deployment_id},
        )
        apply_pending_halt(conn, deployment_id)  # a stop that came while this cycle ran
        conn.commit()
        return result
    finally:
        conn.close()


async def _cycle(
    db: Engine,
    deployment: DeployedAlgorithm,
    release: Release,
    bar: datetime,
    run_id: uuid.UUID,
    pool: SandboxPool,
    broker_factory: BrokerFactory,
    resolve_now: datetime | None,
) -> CycleResult:
    started = time.perf_counter()
    timings: dict[str, Any] = {}
    decisions: dict[str, Any] = {}
    order_ids: list[str] = []
    targets: list[CoinTarget] = []
    status, error, outcome = RunStatus.SUCCEEDED, None, "decided"
    try:
        broker = await broker_factory(deployment)
        recovered = recover_orphans(db, deployment.id)
        try:
            resolved = await resolve_deployment(db, broker, deployment.id, now=resolve_now)
        except ExchangeError as exc:  # unresolved orders keep blocking their coins
            resolved = []
            timings["resolver_error"] = str(exc)
        if any(recovered.values()) or resolved:
            timings["recovered"] = recovered
            timings["resolved"] = {str(o.id): o.status for o in resolved}
        ensure_positions(db, deployment)
        timings["prepare_ms"] = _ms(started)
        with Session(db) as session:
            targets = await compute_targets(
                session, pool, release, deployment.coins, deployment.parameters, bar
            )
        timings["targets_ms"] = _ms(started)
        timings["sandbox_ms"] = round(sum(t.sandbox_ms for t in targets), 3)
        for coin_target in targets:
            decisions[coin_target.coin] = await _decide_coin(
                db,
                deployment,
                release,
                broker,
                coin_target,
                bar,
                run_id,
                order_ids,
                started,
                timings,
            )
        timings["total_ms"] = _ms(started)
    except Exception as exc:  # the run record says what went wrong; the next bar runs
        logger.exception("execution cycle failed", extra={"deployment": str(deployment.id)})
        status, error, outcome = RunStatus.FAILED, f"{type(exc).__name__}: {exc}", "failed"
    with Session(db) as session:
        run = session.get(ExecutionRun, run_id)
        assert run is not None
        run.status = status.value
        run.targets = {t.coin: (None if t.target is None else str(t.target)) for t in targets}
        run.decisions = decisions
        run.order_ids = order_ids
        run.timings = timings
        run.outcome = outcome
        run.error = error
        run.finished_at = datetime.now(UTC)
        session.add(run)
        # The cycle's P&L update (and a failure alert) go out with its run record.
        cycle_finished(session, deployment.id, deployment.user_id, bar, error)
        session.commit()
    logger.info(
        "execution cycle",
        extra={
            "deployment": str(deployment.id),
            "bar": bar.isoformat(),
            "status": status.value,
            "orders": len(order_ids),
            "ms": timings.get("total_ms"),
        },
    )
    return CycleResult(run_id, status.value, decisions, order_ids)


async def _decide_coin(
    db: Engine,
    deployment: DeployedAlgorithm,
    release: Release,
    broker: Broker,
    coin_target: CoinTarget,
    bar: datetime,
    run_id: uuid.UUID,
    order_ids: list[str],
    started: float,
    timings: dict[str, Any],
) -> dict[str, Any]:
    coin, target = coin_target.coin, coin_target.target
    if target is None:
        return {"action": "none", "detail": coin_target.detail}
    record: dict[str, Any] = {"target": str(target)}
    with Session(db) as session:
        pending = pending_coins(session, deployment.id)
        position = session.get(Position, (deployment.id, coin))
        assert position is not None
        session.expunge(position)
    if coin in pending:
        return {**record, "action": "blocked", "detail": f"an order on {coin} is {pending[coin]}"}
    acted_on = position.last_target if position.last_target is not None else Decimal(0)
    if target == acted_on:
        return {**record, "action": "hold", "detail": "target unchanged"}
    quote = await broker.quote(coin)
    if quote is None:
        return {**record, "action": "waiting", "detail": "no fresh price"}
    costs = release.costs
    style = deployment.execution_style or str(costs.get("execution_style", "instant"))
    fee = fee_rate(style)
    slippage = broker.sizing_slippage_bps(Decimal(str(costs.get("slippage_bps", 0))))
    minimum = max(settings.FLOOR_MIN_ORDER_AUD, Decimal(str(costs.get("min_order_aud", 0))))
    fill = rebalance(
        position.cash, position.quantity, target, quote.bid, quote.ask, fee, slippage, Decimal(0)
    )
    record.update({"bid": str(quote.bid), "ask": str(quote.ask), "quote": quote.source})
    if fill is None:
        _set_last_target(db, deployment.id, coin, target)
        return {**record, "action": "none", "detail": "no order needed"}
    if fill.notional < minimum:
        _set_last_target(db, deployment.id, coin, target)
        return {
            **record,
            "action": "skipped_below_minimum",
            "detail": f"{fill.side} of {fill.notional} AUD is below the minimum {minimum} AUD",
        }
    limit_rate, threshold = order_terms(style, broker.mode, fill.side, quote)
    request = broker.prepare(
        OrderRequest(
            coin=coin,
            side=fill.side,
            quantity=fill.quantity,
            notional=fill.notional,
            price=fill.price,
            fee=fill.fee,
            style=style,
            limit_rate=limit_rate,
            threshold_pct=threshold,
        )
    )
    if request is None or request.notional < minimum:
        _set_last_target(db, deployment.id, coin, target)
        return {
            **record,
            "action": "skipped_below_minimum",
            "detail": "below the minimum at Coinspot's precision",
        }
    if broker.mode == "live" and (held := blocking_reason(db, deployment.user_id)):
        return {**record, "action": "refused", "detail": held}
    balances = await broker.balances() if broker.mode == "live" else None
    risk = check_order(OrderContext(db, deployment, position, request, quote, bar, balances))
    if not risk.allowed:
        return {**record, "action": "refused", "detail": risk.reason, "limit": risk.limit}
    order = _create_intent(db, deployment, request, target, bar, run_id)
    order_ids.append(str(order.id))
    timings.setdefault("first_send_ms", _ms(started))
    book: dict[str, Any] = {}
    if request.style == ORDERBOOK:  # followed in this cycle, bounded (see orderbook.py)
        outcome = await execute_book_order(
            db, broker, order.id, request, bar, minimum=minimum, send=send_order
        )
        order_ids.extend(str(o.id) for o in outcome.orders[1:])
        final, filled = outcome.last, outcome.filled
        book = {"reprices": outcome.reprices, "filled": str(filled), "detail": outcome.detail}
    else:
        final = await send_order(db, broker, order.id, request, bar)
        filled = final.filled_quantity
    if filled > 0:
        _set_last_target(db, deployment.id, coin, target)
    return {
        **record,
        "action": "order",
        "order_id": str(order.id),
        "side": request.side,
        "quantity": str(request.quantity),
        "status": final.status,
        **book,
    }


def _create_intent(
    db: Engine,
    deployment: DeployedAlgorithm,
    request: OrderRequest,
    target: Decimal,
    bar: datetime,
    run_id: uuid.UUID,
) -> Order:
    order = Order(
        deployment_id=deployment.id,
        user_id=deployment.user_id,
        execution_run_id=run_id,
        mode=deployment.mode,
        coin=request.coin,
        side=request.side,
        style=request.style,
        requested_quantity=request.quantity,
        requested_notional=request.notional,
        limit_rate=request.limit_rate,
        threshold_pct=request.threshold_pct,
        target=target,
        reason=f"target {target} at bar {bar.isoformat()}",
    )
    with Session(db) as session:
        session.add(order)
        session.commit()
        session.refresh(order)
        session.expunge(order)
    return order


def _mark(db: Engine, order_id: uuid.UUID, status: S, error: str | None = None) -> Order:
    with Session(db) as session:
        order = locked_order(session, order_id)
        transition(order, status, error=error)
        session.add(order)
        session.commit()
        session.refresh(order)
        session.expunge(order)
        return order


def _begin_submitting(db: Engine, order_id: uuid.UUID, halt_check: bool) -> Order:
    """`submitting`, or `cancelled` when an emergency stop halted the deployment: the check
    and the commit hold the deployment's send lock (see app/floor/halts.py)."""
    with Session(db) as session:
        order = locked_order(session, order_id)
        reason = None
        if halt_check:
            hold_send_lock(session.connection(), order.deployment_id)
            reason = halt_reason(session.connection(), order.deployment_id)
        if reason is not None:
            transition(order, S.CANCELLED, error=f"not sent: {reason}")
        else:
            transition(order, S.SUBMITTING)
        session.add(order)
        session.commit()
        session.refresh(order)
        session.expunge(order)
        return order


async def send_order(
    db: Engine,
    broker: Broker,
    order_id: uuid.UUID,
    request: OrderRequest,
    bar: datetime | None,
    *,
    halt_check: bool = True,
) -> Order:
    """Send a committed intent once and record what came back (see the module rules).
    `halt_check=False` only for the emergency stop's own flatten orders."""
    order = _begin_submitting(db, order_id, halt_check)
    if order.status == S.CANCELLED:
        logger.warning("order not sent: deployment halted", extra={"order": str(order_id)})
        return order
    attempts = 0
    while True:
        try:
            result = await broker.place(request)
            break
        except RateLimitError as exc:
            if attempts >= settings.FLOOR_RATE_LIMIT_RETRIES:
                return _mark(db, order_id, S.REJECTED, f"rate limited: {exc}")
            attempts += 1
            await asyncio.sleep(
                min(exc.retry_after or 0.5 * attempts, settings.FLOOR_RATE_LIMIT_BACKOFF_SECONDS)
            )
        except OrderStatusUnknownError as exc:
            logger.warning("order outcome unknown", extra={"order": str(order_id)})
            return _mark(db, order_id, S.UNKNOWN, str(exc))
        except (ExchangeError, ValueError) as exc:
            # A definitive refusal, or a request that provably never left.
            return _mark(db, order_id, S.REJECTED, str(exc))
        except Exception as exc:  # unexpected: the request may have left
            logger.exception("order send failed", extra={"order": str(order_id)})
            return _mark(db, order_id, S.UNKNOWN, f"{type(exc).__name__}: {exc}")
    history = []
    if not result.fills and result.filled_quantity > 0:
        try:
            history = await exchange_fills(broker, order)
        except ExchangeError:
            logger.warning(
                "exchange history unavailable; fill estimated", extra={"order": str(order_id)}
            )
    settled = settle_placed(db, order_id, result, history, bar)
    return settled
