"""Two app processes (replicas) on one database: every due decision is made exactly once."""

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from app.core.db import engine
from app.exchange.simulator import RunningSimulator
from app.floor.executor import BrokerFactory
from app.floor.scheduler import mark_due
from tests.floor.factories import HOLD_CODE, make_deployment, make_release, make_user, seed_prices
from tests.floor.helpers import orders_of, runs_of, trades_of
from tests.floor.processes import floor_env, start_cli

pytestmark = pytest.mark.timeout(600)
Brokers = Callable[..., BrokerFactory]
BAR = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
DEPLOYMENTS = 8


def test_two_replicas_place_each_decision_once(db: Session, simulator: RunningSimulator) -> None:
    user = make_user(db)
    release = make_release(db, user, HOLD_CODE, parameters={"fraction": 1.0}, warmup_bars=3)
    seed_prices(db, "ETH", BAR, 4)
    mine = [
        make_deployment(db, release, coins=("ETH",), capital="1000") for _ in range(DEPLOYMENTS)
    ]
    with engine.begin() as conn:
        # Other tests' deployments stay out of this schedule.
        conn.execute(
            sa.text("UPDATE deployed_algorithms SET status = 'stopped' WHERE id <> ALL(:ids)"),
            {"ids": [d.id for d in mine]},
        )
    assert mark_due(engine, BAR) == DEPLOYMENTS

    procs = [
        start_cli(
            ["work", "--concurrency", "3"], floor_env(simulator.base_url, f"replica-{i}", uid)
        )
        for i, uid in ((1, 63000), (2, 64000))
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=500)
        assert proc.returncode == 0, err.decode()[-3000:]
        outputs.append(json.loads(out.decode().strip().splitlines()[-1]))

    assert sum(o["ran"] for o in outputs) == DEPLOYMENTS
    for deployment in mine:
        (run,) = runs_of(deployment.id)
        assert run.bar == BAR and run.status == "succeeded"
        (order,) = orders_of(deployment.id)
        assert order.status == "filled"
        assert len(trades_of(deployment.id)) == 1
    assert mark_due(engine, BAR) == 0  # due once per bar
