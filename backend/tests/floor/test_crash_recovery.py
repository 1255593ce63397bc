"""A crash between intent and send, and between send and answer: a real subprocess runs the
cycle and is killed at that point; after the restart nothing is duplicated or lost."""

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from app.core.db import engine
from app.exchange.simulator import RunningSimulator
from app.floor.executor import BrokerFactory
from app.lab.sandbox.pool import SandboxPool
from app.users.models import User
from tests.floor.conftest import BAR_T
from tests.floor.factories import store_keys
from tests.floor.helpers import orders_of, position_of, runs_of, sim_fills, trades_of
from tests.floor.processes import crash, floor_env, start_cli, wait_for
from tests.floor.test_live_faults import BUY_NOW, cycle, live

# A subprocess starts its own sandbox forkserver (tens of seconds on a busy 2-core box).
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(400)]
Brokers = Callable[..., BrokerFactory]
HOLD_LOCK = 20202020


async def test_crash_between_send_and_answer(
    db: Session, simulator: RunningSimulator, pool: SandboxPool, sim_brokers: Brokers
) -> None:
    deployment, account = live(db, simulator)
    user = db.get(User, deployment.user_id)
    assert user is not None
    store_keys(db, user, account.api_key, account.api_secret)
    # The exchange executes the order and then never answers.
    simulator.admin.hang_next(1, path=BUY_NOW, seconds=120, mode="after")
    name = "floor-crash-send"
    proc = start_cli(
        ["run-cycle", "--deployment", str(deployment.id), "--bar", BAR_T.isoformat()],
        floor_env(simulator.base_url, name, 63000),
    )
    try:
        wait_for(
            lambda: (
                len(sim_fills(simulator.admin.account(account.api_key))) == 1
                and [o.status for o in orders_of(deployment.id)] == ["submitting"]
            ),
            "the order to be executed at the exchange and still submitting here",
            proc,
        )
    finally:
        crash(proc, name)

    await cycle(deployment, 1, pool, sim_brokers(account))
    view = simulator.admin.account(account.api_key)
    # One order at the exchange (the hung request is logged only when it ends; no other
    # placement reached the exchange, or it would show as a fill).
    assert len(sim_fills(view)) == 1
    assert simulator.admin.requests(BUY_NOW) == []
    (order,) = orders_of(deployment.id)
    assert order.status == "filled" and order.unknown_at is not None
    (trade,) = trades_of(deployment.id)
    assert trade.source == "reconciliation"
    position = position_of(deployment.id)
    assert position.quantity == view["balances"]["BTC"]
    assert position.cash == view["balances"]["AUD"]
    first, second = runs_of(deployment.id)
    assert first.status == "failed" and "stopped" in (first.error or "")
    assert second.status == "succeeded"


async def test_crash_between_intent_and_send(
    db: Session, simulator: RunningSimulator, pool: SandboxPool, sim_brokers: Brokers
) -> None:
    deployment, account = live(db, simulator)
    user = db.get(User, deployment.user_id)
    assert user is not None
    store_keys(db, user, account.api_key, account.api_secret)
    holder = engine.connect()
    holder.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": HOLD_LOCK})
    holder.commit()
    with engine.begin() as conn:
        # Stop the cycle right after its intent is committed: moving to `submitting` waits
        # for a lock this test holds.
        conn.execute(
            sa.text(
                "CREATE FUNCTION floor_test_hold() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN IF NEW.status = 'submitting' THEN PERFORM pg_advisory_xact_lock("
                f"{HOLD_LOCK}); END IF; RETURN NEW; END $$"
            )
        )
        conn.execute(
            sa.text(
                "CREATE TRIGGER floor_test_hold BEFORE UPDATE ON orders FOR EACH ROW "
                "EXECUTE FUNCTION floor_test_hold()"
            )
        )
    name = "floor-crash-intent"
    try:
        proc = start_cli(
            ["run-cycle", "--deployment", str(deployment.id), "--bar", BAR_T.isoformat()],
            floor_env(simulator.base_url, name, 64000),
        )

        def waiting_at_intent() -> bool:
            with engine.connect() as c:
                blocked = c.execute(
                    sa.text(
                        "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = :k "
                        "AND NOT granted AND database = (SELECT oid FROM pg_database"
                        " WHERE datname = current_database())"
                    ),
                    {"k": HOLD_LOCK},
                ).first()
            return blocked is not None and [o.status for o in orders_of(deployment.id)] == [
                "intent"
            ]

        try:
            wait_for(waiting_at_intent, "the cycle to stop between intent and send", proc)
        finally:
            crash(proc, name)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TRIGGER IF EXISTS floor_test_hold ON orders"))
            conn.execute(sa.text("DROP FUNCTION IF EXISTS floor_test_hold()"))
        holder.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": HOLD_LOCK})
        holder.close()
    assert simulator.admin.requests(BUY_NOW) == []

    await cycle(deployment, 1, pool, sim_brokers(account))
    first, second = orders_of(deployment.id)
    assert first.status == "cancelled" and "never sent" in (first.error or "")
    assert second.status == "filled"
    view = simulator.admin.account(account.api_key)
    assert len(sim_fills(view)) == 1 and len(simulator.admin.requests(BUY_NOW)) == 1
    (trade,) = trades_of(deployment.id)
    assert trade.order_id == second.id
    assert position_of(deployment.id).quantity == view["balances"]["BTC"]
