"""The price sanity guards (stale quote, bad tick, wide spread) driven by the simulator's
price controls, per-limit breach actions, and a halted deployment staying halted when a
new process starts and runs its cycle."""

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session

from app.exchange.simulator import RunningSimulator
from app.floor.executor import BrokerFactory
from app.lab.sandbox.pool import SandboxPool
from tests.floor.conftest import BAR_T
from tests.floor.factories import BAR, make_user, seed_prices
from tests.floor.helpers import dec, orders_of, runs_of
from tests.floor.processes import floor_env, start_cli
from tests.floor.risk_support import assert_breach, cycle, deploy, events_of, status_of

pytestmark = pytest.mark.anyio
Brokers = Callable[..., BrokerFactory]


async def test_stale_price_is_refused(
    db: Session, simulator: RunningSimulator, pool: SandboxPool, sim_brokers: Brokers
) -> None:
    user = make_user(db)
    dep = deploy(db, user, {"max_price_age_seconds": 10}, coin="NEAR")
    # Coinspot stops quoting NEAR: paper falls back to the collected bar, 40 s old.
    seed_prices(db, "NEAR", datetime.now(UTC) - timedelta(seconds=40), 1, bid="7.20", ask="7.25")
    simulator.admin.corrupt_latest("NEAR", "missing")
    factory = sim_brokers()
    decision = await cycle(dep, 0, pool, factory)
    assert decision["quote"] == "collected"
    assert decision["action"] == "refused" and decision["limit"] == "max_price_age_seconds"
    assert orders_of(dep.id) == []
    assert status_of(dep.id) == "active"  # refuse only: a fresh price ends it
    event = assert_breach(user.id, dep.id, "max_price_age_seconds", state="active")
    assert Decimal("40") <= dec(event["value"]) < Decimal("300")
    # The exchange quotes again: the same decision goes through.
    simulator.admin.restore_latest("NEAR")
    decision = await cycle(dep, 1, pool, factory)
    assert decision["quote"] == "exchange" and decision["status"] == "filled"


async def test_bad_tick_from_the_previous_bar_is_refused(
    db: Session, simulator: RunningSimulator, pool: SandboxPool, sim_brokers: Brokers
) -> None:
    user = make_user(db)
    dep = deploy(db, user, {"max_price_jump_fraction": "0.2"})  # bars at 99000 / 100000
    factory = sim_brokers()
    simulator.admin.set_price("BTC", bid="130000", ask="131000")
    decision = await cycle(dep, 0, pool, factory)
    assert decision["limit"] == "max_price_jump_fraction" and orders_of(dep.id) == []
    event = assert_breach(user.id, dep.id, "max_price_jump_fraction", state="active")
    assert dec(event["figures"]["previous_bid"]) == Decimal("99000")
    # The larger move of the two: the bid's 31000 on 99000.
    assert dec(event["value"]) == (Decimal("130000") - Decimal("99000")) / Decimal("99000")
    simulator.admin.set_price("BTC", bid="99500", ask="100400")  # within 20 %
    decision = await cycle(dep, 1, pool, factory)
    assert decision["action"] == "order" and decision["status"] == "filled"


async def test_wide_spread_with_a_halting_action(
    db: Session, simulator: RunningSimulator, pool: SandboxPool, sim_brokers: Brokers
) -> None:
    user = make_user(db)
    limits = {"max_spread_fraction": "0.05", "actions": {"max_spread_fraction": "halted"}}
    dep = deploy(db, user, limits)
    simulator.admin.set_price("BTC", bid="140000", ask="160000")
    decision = await cycle(dep, 0, pool, sim_brokers())
    assert decision["limit"] == "max_spread_fraction" and orders_of(dep.id) == []
    assert status_of(dep.id) == "halted"  # the action the limits chose over `refuse`
    event = assert_breach(user.id, dep.id, "max_spread_fraction", state="halted")
    assert dec(event["value"]) == Decimal("20000") / Decimal("150000")
    (change,) = events_of(user.id, "deployment.status")
    assert change["status"] == "halted"


async def test_halted_stays_halted_in_a_new_process(
    db: Session, simulator: RunningSimulator, pool: SandboxPool, sim_brokers: Brokers
) -> None:
    user = make_user(db)
    dep = deploy(db, user, {"max_order_aud": "100.00", "actions": {"max_order_aud": "halted"}})
    assert (await cycle(dep, 0, pool, sim_brokers()))["limit"] == "max_order_aud"
    assert status_of(dep.id) == "halted"
    # A new app process (the executor's CLI) runs the next bar's cycle from the database.
    proc = start_cli(
        ["run-cycle", "--deployment", str(dep.id), "--bar", (BAR_T + BAR).isoformat()],
        floor_env(simulator.base_url, "risk-restart", 66000),
    )
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()[-3000:]
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result["status"] == "succeeded" and result["orders"] == []
    assert status_of(dep.id) == "halted"
    assert orders_of(dep.id) == []
    last = runs_of(dep.id)[-1]
    assert last.bar == BAR_T + BAR
    assert last.decisions["BTC"]["detail"] == "deployment is halted: no new orders"
    assert len(events_of(user.id, "risk.breach")) == 1
