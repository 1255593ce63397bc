"""The risk engine: the one check every order passes before it is handed to a broker.

Rules:
- `check_order` is the single extension point: the executor calls it for every order,
  paper and live alike, with everything it needs in one `OrderContext`, and sends nothing
  it refuses.
- In order: the deployment's status allows the order (`active`: buys and sells;
  `reducing`: sells only; `paused`, `halted`, `stopped`: nothing); for a live deployment,
  the account's state likewise; the price guards; the hourly order count; the daily loss
  (deployment, then account for live ones) and the drawdown; for buys, the order notional,
  the position per coin (AUD, fraction of capital), the account's exposure (live) and the
  cooldown after a losing round trip; last, the sleeve has the cash (buys, fee included) or
  the holdings (sells), and for live orders the exchange account has them too.
- A limit breach refuses the order and is recorded (`state.record_breach`): the
  deployment or account moves to the limit's action (`reducing` or `halted`, or stays
  when the action is `refuse`), with an event, an alert and an audit row.
- Limits and states are read from the database on every order, so they survive restarts.
- Below-minimum orders never get here: sizing skips them and records the skip.
"""

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Connection, Engine

from app.core.config import settings
from app.floor.brokers import OrderRequest, Quote
from app.floor.ledger import Position
from app.floor.models import DeployedAlgorithm, DeploymentMode, DeploymentStatus
from app.floor.risk import guards, measures
from app.floor.risk.limits import (
    Breach,
    account_actions,
    account_limits,
    deployment_actions,
    deployment_limits,
)
from app.floor.risk.state import account_status, bind_cycle, record_breach

logger = logging.getLogger(__name__)

__all__ = ["ALLOWED", "OrderContext", "RiskDecision", "bind_cycle", "check_order"]


@dataclass(frozen=True)
class RiskDecision:
    allowed: bool
    reason: str = ""
    limit: str | None = None
    state: str | None = None  # the deployment's or account's state after a breach
    ms: float = 0.0


ALLOWED = RiskDecision(True)


@dataclass
class OrderContext:
    """What the executor knows about one order when it asks."""

    db: Engine
    deployment: DeployedAlgorithm
    position: Position
    request: OrderRequest
    quote: Quote
    bar: datetime
    exchange_balances: Mapping[str, Decimal] | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


def _status(status: str, side: str, who: str) -> RiskDecision | None:
    if status == DeploymentStatus.REDUCING and side == "buy":
        return RiskDecision(False, f"{who} is reducing: sells only")
    if status not in (DeploymentStatus.ACTIVE, DeploymentStatus.REDUCING):
        return RiskDecision(False, f"{who} is {status}: no new orders")
    return None


def _funds(ctx: OrderContext) -> RiskDecision:
    request, position, balances = ctx.request, ctx.position, ctx.exchange_balances
    if request.side == "buy":
        needed = request.notional + request.fee
        if needed > position.cash:
            return RiskDecision(
                False, f"insufficient cash: need {needed}, sleeve has {position.cash}"
            )
        if balances is not None and needed > balances.get("AUD", Decimal(0)):
            return RiskDecision(False, "insufficient AUD at the exchange")
        return ALLOWED
    if request.quantity > position.quantity:
        return RiskDecision(
            False, f"insufficient holdings: sell {request.quantity}, hold {position.quantity}"
        )
    held = None if balances is None else balances.get(request.coin, Decimal(0))
    if held is not None and request.quantity > held:
        return RiskDecision(False, f"insufficient {request.coin} at the exchange")
    return ALLOWED


def _find_breach(
    conn: Connection, ctx: OrderContext, account_limits_raw: dict[str, Any]
) -> Breach | None:
    dep, request, now = ctx.deployment, ctx.request, ctx.now
    limits = deployment_limits(dep.risk_limits)
    actions = deployment_actions(limits)
    live = dep.mode == DeploymentMode.LIVE
    acct = account_limits(account_limits_raw)
    acct_actions = account_actions(acct)

    previous = None
    if limits.max_price_jump_fraction is not None:
        previous = measures.previous_bar(
            conn, request.coin, ctx.bar, settings.FLOOR_RISK_PREVIOUS_BAR_MAX_AGE_SECONDS
        )
    breach = guards.price_guards(
        limits.max_price_age_seconds,
        limits.max_price_jump_fraction,
        limits.max_spread_fraction,
        actions,
        ctx.quote,
        previous,
        now,
    )
    if breach:
        return breach
    if limits.max_orders_per_hour is not None:
        count = measures.orders_last_hour(conn, dep.id, now)
        breach = guards.above(
            "deployment",
            "max_orders_per_hour",
            actions["max_orders_per_hour"],
            Decimal(count + 1),
            limits.max_orders_per_hour,
            f"order {count + 1} within an hour is above {limits.max_orders_per_hour} per hour",
            orders_last_hour=count,
        )
        if breach:
            return breach

    marks = {request.coin: ctx.quote.bid}
    needs_equity = (
        limits.daily_loss_aud is not None
        or limits.max_drawdown_fraction is not None
        or (live and (acct.daily_loss_aud is not None or acct.max_exposure_aud is not None))
    )
    if needs_equity:
        ids = measures.live_deployments(conn, dep.user_id) if live else []
        ids = list({dep.id, *ids})
        equity, holdings = measures.equities(conn, ids, marks, now)
        mine = equity.get(dep.id, dep.capital)
        start = None
        if limits.daily_loss_aud is not None or (live and acct.daily_loss_aud is not None):
            tz = measures.user_time_zone(conn, dep.user_id)
            start = measures.start_equity(conn, ids, measures.day_start(tz, now))
        if limits.daily_loss_aud is not None and start is not None:
            breach = guards.loss(
                "deployment", limits.daily_loss_aud, actions["daily_loss_aud"], start[dep.id], mine
            )
            if breach:
                return breach
        if limits.max_drawdown_fraction is not None:
            peak = max(measures.peak_equity(conn, dep.id, dep.capital), mine)
            breach = guards.drawdown(
                limits.max_drawdown_fraction, actions["max_drawdown_fraction"], peak, mine
            )
            if breach:
                return breach
        if live and acct.daily_loss_aud is not None and start is not None:
            breach = guards.loss(
                "account",
                acct.daily_loss_aud,
                acct_actions["daily_loss_aud"],
                sum((start[i] for i in ids if i in start), Decimal(0)),
                sum((equity.get(i, start.get(i, Decimal(0))) for i in ids), Decimal(0)),
            )
            if breach:
                return breach
        if live and request.side == "buy" and acct.max_exposure_aud is not None:
            exposure = sum(holdings.values(), Decimal(0)) + request.notional
            breach = guards.above(
                "account",
                "max_exposure_aud",
                acct_actions["max_exposure_aud"],
                exposure,
                acct.max_exposure_aud,
                f"live exposure would be {exposure.quantize(guards.Q)} AUD, above the "
                f"account limit {acct.max_exposure_aud} AUD",
                holdings=sum(holdings.values(), Decimal(0)),
                buy=request.notional,
            )
            if breach:
                return breach

    if request.side != "buy":
        return None
    breach = guards.order_notional(request, limits.max_order_aud, actions["max_order_aud"])
    if breach:
        return breach
    # The fraction is of the sleeve as it stands: its capital, or its equity once gains
    # have grown it (marked at the order's price), so a profitable deployment may reinvest.
    base = dep.capital
    if limits.max_position_fraction is not None:
        grown, _ = measures.equities(conn, [dep.id], {request.coin: request.price}, now)
        base = max(dep.capital, grown.get(dep.id, dep.capital))
    breach = guards.position(
        request,
        ctx.position.quantity,
        base,
        limits.max_position_aud,
        limits.max_position_fraction,
        actions,
    )
    if breach:
        return breach
    if limits.cooldown_minutes:
        last = measures.last_losing_round_trip(conn, dep.id)
        if last is not None:
            since = Decimal(str(round((now - last[0]).total_seconds() / 60, 3)))
            if since < limits.cooldown_minutes:
                return Breach(
                    "deployment",
                    "cooldown_minutes",
                    actions["cooldown_minutes"],
                    since,
                    Decimal(limits.cooldown_minutes),
                    f"cooling down: a round trip lost {(-last[1]).quantize(guards.Q)} AUD "
                    f"{since} min ago (cooldown {limits.cooldown_minutes} min)",
                    {"closed_at": last[0].isoformat(), "net": last[1]},
                )
    return None


def check_order(ctx: OrderContext) -> RiskDecision:
    """Whether `ctx.request` may be sent for `ctx.deployment` (see the module rules)."""
    started = time.perf_counter()
    dep, side = ctx.deployment, ctx.request.side
    refused = _status(dep.status, side, "deployment")
    if refused:
        return refused
    live = dep.mode == DeploymentMode.LIVE
    with ctx.db.connect() as conn:
        acct_state, acct_raw = account_status(conn, dep.user_id)
        if live:
            refused = _status(acct_state, side, "account")
            if refused:
                return refused
        breach = _find_breach(conn, ctx, acct_raw)
    ms = round((time.perf_counter() - started) * 1000, 3)
    if breach is not None:
        state = record_breach(ctx.db, dep, ctx.request, breach)
        return RiskDecision(
            False, f"risk limit {breach.limit}: {breach.message}", breach.limit, state, ms
        )
    decision = _funds(ctx)
    logger.debug(
        "risk check",
        extra={
            "deployment": str(dep.id),
            "coin": ctx.request.coin,
            "side": side,
            "allowed": decision.allowed,
            "ms": ms,
        },
    )
    return RiskDecision(decision.allowed, decision.reason, ms=ms)
