"""Every risk limit against the Coinspot simulator over HTTP: the order that would breach it
is refused, the deployment (or account) goes to the limit's state, and the `risk.breach`
event and the `limit_breach` alert exist with the numbers."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from app.core.db import engine
from app.exchange.simulator import RunningSimulator
from app.floor.executor import BrokerFactory, run_cycle
from app.floor.models import DeployedAlgorithm
from app.floor.pnl.models import EquitySnapshot
from app.floor.risk.measures import day_start
from app.lab.sandbox.pool import SandboxPool
from app.users.models import User
from tests.floor.conftest import BAR_T
from tests.floor.factories import (
    BAR,
    HOLD_CODE,
    make_deployment,
    make_release,
    make_user,
    seed_prices,
)
from tests.floor.helpers import dec, orders_of, position_of, runs_of
from tests.floor.risk_support import (
    account_state,
    assert_breach,
    cycle,
    deploy,
    events_of,
    set_account_limits,
    set_fraction,
    set_limits,
    status_of,
)

pytestmark = pytest.mark.anyio
Brokers = Callable[..., BrokerFactory]


def drop_price(simulator: RunningSimulator, coin: str, fraction: str) -> None:
    """Move `coin`'s bid and ask down by `fraction` at the simulator."""
    quote = simulator.admin.prices()[coin]
    keep = 1 - Decimal(fraction)
    simulator.admin.set_price(coin, bid=quote["bid"] * keep, ask=quote["ask"] * keep)


async def test_order_notional_refused_and_deployment_reducing(
    db: Session, pool: SandboxPool, sim_brokers: Brokers
) -> None:
    user = make_user(db)
    dep = deploy(db, user, {"max_order_aud": "500.00"})
    decision = await cycle(dep, 0, pool, sim_brokers())
    assert decision["action"] == "refused" and decision["limit"] == "max_order_aud"
    assert orders_of(dep.id) == []
    assert status_of(dep.id) == "reducing"
    event = assert_breach(user.id, dep.id, "max_order_aud", state="reducing")
    assert Decimal(event["threshold"]) == Decimal("500.00")
    assert Decimal(event["value"]) > Decimal("9000")  # the whole sleeve's buy
    (status,) = events_of(user.id, "deployment.status")
    assert status["status"] == "reducing" and status["previous"] == "active"
    # Reducing: the next buy is refused on the state alone, without a new breach.
    decision = await cycle(dep, 1, pool, sim_brokers())
    assert decision["detail"] == "deployment is reducing: sells only"
    assert len(events_of(user.id, "risk.breach")) == 1


async def test_position_aud_refused_reducing_and_sells_still_pass(
    db: Session, pool: SandboxPool, sim_brokers: Brokers
) -> None:
    user = make_user(db)
    dep = deploy(db, user, {"max_position_aud": "4000.00"}, fraction=0.3)
    factory = sim_brokers()
    assert (await cycle(dep, 0, pool, factory))["action"] == "order"  # ~3000 AUD: within
    set_fraction(dep.id, 1.0)
    decision = await cycle(dep, 1, pool, factory)
    assert decision["action"] == "refused" and decision["limit"] == "max_position_aud"
    assert len(orders_of(dep.id)) == 1
    assert status_of(dep.id) == "reducing"
    event = assert_breach(user.id, dep.id, "max_position_aud", state="reducing")
    assert Decimal(event["figures"]["held_quantity"]) == position_of(dep.id).quantity
    # Reducing lets an order that shrinks the position through.
    set_fraction(dep.id, 0.0)
    decision = await cycle(dep, 2, pool, factory)
    assert decision["action"] == "order" and decision["side"] == "sell"
    assert decision["status"] == "filled"
    assert position_of(dep.id).quantity == 0


async def test_position_fraction_of_capital(
    db: Session, pool: SandboxPool, sim_brokers: Brokers
) -> None:
    user = make_user(db)
    dep = deploy(db, user, {"max_position_fraction": "0.25"}, fraction=0.5)
    decision = await cycle(dep, 0, pool, sim_brokers())
    assert decision["limit"] == "max_position_fraction" and orders_of(dep.id) == []
    assert status_of(dep.id) == "reducing"
    event = assert_breach(user.id, dep.id, "max_position_fraction", state="reducing")
    assert Decimal("0.45") < Decimal(event["value"]) <= Decimal("0.5")


async def test_position_fraction_lets_a_grown_sleeve_reinvest(
    db: Session, simulator: RunningSimulator, pool: SandboxPool, sim_brokers: Brokers
) -> None:
    """All in, out at a 10 % gain, all in again: the second buy is bigger than the capital
    but it is the whole sleeve, within a fraction of 1."""
    user = make_user(db)
    dep = deploy(db, user, {"max_position_fraction": "1"})
    factory = sim_brokers()
    assert (await cycle(dep, 0, pool, factory))["status"] == "filled"
    drop_price(simulator, "BTC", "-0.10")  # a 10 % rise
    set_fraction(dep.id, 0.0)
    assert (await cycle(dep, 1, pool, factory))["status"] == "filled"
    cash = position_of(dep.id).cash
    assert cash > Decimal("10500")  # the sleeve grew past its capital
    set_fraction(dep.id, 1.0)
    decision = await cycle(dep, 2, pool, factory)
    assert decision["status"] == "filled", decision
    assert status_of(dep.id) == "active"
    bought = orders_of(dep.id)[-1].requested_notional
    assert bought > dep.capital and bought <= cash


async def test_daily_loss_halts_the_deployment(
    db: Session, simulator: RunningSimulator, pool: SandboxPool, sim_brokers: Brokers
) -> None:
    user = make_user(db)
    with Session(engine) as s:  # the day starts at 00:00 in the user's time zone
        row = s.get(User, user.id)
        assert row is not None
        row.timezone = "Australia/Sydney"
        s.add(row)
        s.commit()
    dep = deploy(db, user, {"daily_loss_aud": "500.00"})
    # The day's opening equity is the last snapshot before 00:00 Sydney time.
    start = day_start("Australia/Sydney", datetime.now(UTC))
    assert start.astimezone(ZoneInfo("Australia/Sydney")).hour == 0
    for bar, equity in ((start - timedelta(days=1), "20000"), (start - BAR, "10200")):
        snapshot_row(dep, bar, equity)
    factory = sim_brokers()
    assert (await cycle(dep, 0, pool, factory))["status"] == "filled"
    drop_price(simulator, "BTC", "0.10")
    set_fraction(dep.id, 0.5)
    decision = await cycle(dep, 1, pool, factory)
    assert decision["action"] == "refused" and decision["limit"] == "daily_loss_aud"
    assert len(orders_of(dep.id)) == 1  # the sell was not sent
    assert status_of(dep.id) == "halted"
    event = assert_breach(user.id, dep.id, "daily_loss_aud", state="halted")
    figures = event["figures"]
    assert dec(figures["start_equity"]) == Decimal("10200")
    position = position_of(dep.id)
    bid = simulator.admin.prices()["BTC"]["bid"]
    assert dec(figures["equity"]) == position.cash + position.quantity * bid
    assert dec(event["value"]) == Decimal("10200") - dec(figures["equity"])
    # Halted: nothing at all, not even the sell.
    assert (await cycle(dep, 2, pool, factory))["detail"] == "deployment is halted: no new orders"


def snapshot_row(dep: DeployedAlgorithm, bar: datetime, equity: str) -> None:
    with Session(engine) as s:
        s.add(
            EquitySnapshot(
                deployment_id=dep.id,
                bar=bar,
                user_id=dep.user_id,
                cash=Decimal(equity),
                holdings=Decimal(0),
                equity=Decimal(equity),
            )
        )
        s.commit()


def test_day_start_is_local_midnight() -> None:
    now = datetime(2026, 12, 1, 22, 0, tzinfo=UTC)  # 09:00 on 2 Dec in Sydney (UTC+11)
    assert day_start("Australia/Sydney", now) == datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
    assert day_start("UTC", now) == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert day_start("Not/AZone", now) == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


async def test_drawdown_from_the_peak_halts(
    db: Session, pool: SandboxPool, sim_brokers: Brokers
) -> None:
    user = make_user(db)
    dep = deploy(db, user, {"max_drawdown_fraction": "0.1"})
    snapshot_row(dep, BAR_T - BAR, "12000")
    snapshot_row(dep, BAR_T, "11000")
    decision = await cycle(dep, 0, pool, sim_brokers())
    assert decision["limit"] == "max_drawdown_fraction" and orders_of(dep.id) == []
    assert status_of(dep.id) == "halted"
    event = assert_breach(user.id, dep.id, "max_drawdown_fraction", state="halted")
    assert dec(event["figures"]["peak_equity"]) == Decimal("12000")
    assert dec(event["value"]) == (Decimal("12000") - Decimal("10000")) / Decimal("12000")


async def test_orders_per_hour(db: Session, pool: SandboxPool, sim_brokers: Brokers) -> None:
    user = make_user(db)
    dep = deploy(db, user, {"max_orders_per_hour": 1})
    factory = sim_brokers()
    assert (await cycle(dep, 0, pool, factory))["action"] == "order"
    set_fraction(dep.id, 0.5)
    decision = await cycle(dep, 1, pool, factory)
    assert decision["limit"] == "max_orders_per_hour"
    assert len(orders_of(dep.id)) == 1
    assert status_of(dep.id) == "reducing"
    event = assert_breach(user.id, dep.id, "max_orders_per_hour", state="reducing")
    assert event["figures"]["orders_last_hour"] == "1" and event["side"] == "sell"


async def test_cooldown_after_a_losing_round_trip_refuses_buys_only(
    db: Session, simulator: RunningSimulator, pool: SandboxPool, sim_brokers: Brokers
) -> None:
    user = make_user(db)
    dep = deploy(db, user, {"cooldown_minutes": 60})
    factory = sim_brokers()
    assert (await cycle(dep, 0, pool, factory))["status"] == "filled"
    drop_price(simulator, "BTC", "0.05")
    set_fraction(dep.id, 0.0)
    assert (await cycle(dep, 1, pool, factory))["status"] == "filled"  # the losing exit
    set_fraction(dep.id, 1.0)
    decision = await cycle(dep, 2, pool, factory)
    assert decision["limit"] == "cooldown_minutes"
    assert len(orders_of(dep.id)) == 2
    assert status_of(dep.id) == "active"  # refuse only: the cooldown runs out by itself
    event = assert_breach(user.id, dep.id, "cooldown_minutes", state="active")
    assert dec(event["figures"]["net"]) < 0
    assert events_of(user.id, "deployment.status") == []


async def test_account_exposure_across_live_deployments(
    db: Session, simulator: RunningSimulator, pool: SandboxPool, sim_brokers: Brokers
) -> None:
    user = make_user(db)
    account = simulator.admin.create_account({"AUD": "30000"})
    factory = sim_brokers(account)
    set_account_limits(user.id, {"max_exposure_aud": "15000.00"})
    first = deploy(db, user, {}, mode="live")
    second = deploy(db, user, {}, mode="live")
    assert (await cycle(first, 0, pool, factory))["status"] == "filled"
    decision = await cycle(second, 0, pool, factory)
    assert decision["limit"] == "max_exposure_aud" and orders_of(second.id) == []
    assert account_state(user.id) == "reducing"
    assert status_of(second.id) == "active"  # the account moved, not the deployment
    event = assert_breach(user.id, second.id, "max_exposure_aud", scope="account", state="reducing")
    assert dec(event["figures"]["holdings"]) > Decimal("9000")
    (change,) = events_of(user.id, "account.status")
    assert change["status"] == "reducing"
    # Every live deployment of the account now only sells.
    set_fraction(first.id, 0.5)
    decision = await cycle(first, 1, pool, factory)
    assert decision["action"] == "order" and decision["side"] == "sell"
    set_fraction(first.id, 1.0)
    assert (await cycle(first, 2, pool, factory))["detail"] == "account is reducing: sells only"


async def test_account_daily_loss_halts_the_account(
    db: Session, simulator: RunningSimulator, pool: SandboxPool, sim_brokers: Brokers
) -> None:
    user = make_user(db)
    account = simulator.admin.create_account({"AUD": "10000"})
    factory = sim_brokers(account)
    set_account_limits(user.id, {"daily_loss_aud": "300.00"})
    dep = deploy(db, user, {}, mode="live")
    assert (await cycle(dep, 0, pool, factory))["status"] == "filled"
    drop_price(simulator, "BTC", "0.10")
    set_fraction(dep.id, 0.5)
    decision = await cycle(dep, 1, pool, factory)
    assert decision["limit"] == "daily_loss_aud" and len(orders_of(dep.id)) == 1
    assert account_state(user.id) == "halted"
    event = assert_breach(user.id, dep.id, "daily_loss_aud", scope="account", state="halted")
    assert dec(event["value"]) > Decimal("900")
    assert (await cycle(dep, 2, pool, factory))["detail"] == "account is halted: no new orders"


async def test_a_halt_stops_the_cycles_other_coins_too(
    db: Session, pool: SandboxPool, sim_brokers: Brokers
) -> None:
    user = make_user(db)
    release = make_release(db, user, HOLD_CODE, parameters={"fraction": 1.0}, warmup_bars=3)
    for coin in ("BTC", "ETH"):
        for i in range(4):
            seed_prices(db, coin, BAR_T + i * BAR, 4)
    dep = make_deployment(db, release, coins=("BTC", "ETH"))
    set_limits(dep.id, {"max_order_aud": "100.00", "actions": {"max_order_aud": "halted"}})
    await run_cycle(dep.id, BAR_T, trigger="test", pool=pool, broker_factory=sim_brokers())
    decisions = runs_of(dep.id)[-1].decisions
    assert decisions["BTC"]["limit"] == "max_order_aud"  # the first coin breaches
    assert decisions["ETH"]["detail"] == "deployment is halted: no new orders"
    assert orders_of(dep.id) == [] and status_of(dep.id) == "halted"
    assert len(events_of(user.id, "risk.breach")) == 1
