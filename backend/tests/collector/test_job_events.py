"""A collection run announces its prices as one broadcast event; a failed run alerts users."""

import pytest
from sqlmodel import Session, col, select

from app.alerts.models import Alert
from app.core.db import engine
from app.events.models import Event
from app.exchange.client import CoinspotClient
from app.exchange.simulator import RunningSimulator
from tests.utils import create_random_user

from .test_job import LATEST, SLOT, run

pytestmark = pytest.mark.anyio


def newest_seq() -> int:
    with Session(engine) as session:
        rows = session.exec(select(Event.seq).order_by(col(Event.seq).desc()).limit(1)).all()
        return int(rows[0] or 0) if rows else 0


async def test_a_run_publishes_one_broadcast_with_the_latest_prices(
    simulator: RunningSimulator, sim_client: CoinspotClient
) -> None:
    before = newest_seq()
    await run(sim_client)
    await run(sim_client)  # a rerun of the slot stores nothing but still reports the prices
    with Session(engine) as session:
        events = session.exec(
            select(Event).where(col(Event.seq) > before).order_by(col(Event.seq))
        ).all()
    updates = [e for e in events if e.kind == "price.update"]
    assert len(updates) == 2
    first = updates[0]
    assert first.user_id is None
    assert first.payload["slot"] == SLOT.isoformat().replace("+00:00", "Z")
    sim_prices = simulator.admin.prices()
    prices = {p["coin"]: p for p in first.payload["prices"]}
    assert set(prices) == set(sim_prices)
    assert prices["BTC"]["bid"] == str(sim_prices["BTC"]["bid"])


async def test_a_failed_run_raises_one_grouped_system_failure_alert(
    simulator: RunningSimulator, sim_client: CoinspotClient, db: Session
) -> None:
    create_random_user(db)
    simulator.admin.fail_next(6, path=LATEST)
    before = newest_seq()
    first = await run(sim_client, attempts=3)
    second = await run(sim_client, attempts=3)
    assert first.status == second.status == "failed"  # type: ignore[attr-defined]
    with Session(engine) as session:
        alerts = session.exec(
            select(Alert).where(Alert.kind == "system_failure", Alert.key == "collector")
        ).all()
        events = session.exec(
            select(Event).where(col(Event.seq) > before, Event.kind == "alert")
        ).all()
    assert alerts, "every active user gets the collector failure"
    assert all(a.count >= 2 for a in alerts)  # two failures, one alert each, counted
    assert len({a.user_id for a in alerts}) == len(alerts)
    assert {e.user_id for e in events} >= {a.user_id for a in alerts}
