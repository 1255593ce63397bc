"""Two collector instances against one database: one leads and collects, the other stands by
and takes over when the leader stops."""

import asyncio
import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from app.collector.scheduler import CollectorService
from app.core.db import engine
from app.exchange.client import CoinspotClient
from app.exchange.simulator import RunningSimulator
from app.exchange.transport import RetryPolicy

pytestmark = pytest.mark.anyio

INTERVAL = 2  # seconds: short so the test sees several slots


def nodes_that_collected() -> dict[str, int]:
    with Session(engine) as session:
        rows = session.execute(
            sa.text("SELECT node, count(*) AS n FROM collection_runs GROUP BY node")
        )
        return {str(row.node): int(row.n) for row in rows}


async def wait_for(condition: object, deadline_seconds: float, what: str) -> None:
    deadline = time.monotonic() + deadline_seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)  # polling a condition that other tasks make true


async def test_exactly_one_instance_collects_and_the_standby_takes_over(
    simulator: RunningSimulator,
) -> None:
    async with (
        CoinspotClient(simulator.base_url, retry=RetryPolicy(attempts=1)) as client_a,
        CoinspotClient(simulator.base_url, retry=RetryPolicy(attempts=1)) as client_b,
    ):
        a = CollectorService(
            interval_seconds=INTERVAL,
            attempts=1,
            delay_seconds=0,
            leader_retry_seconds=0.5,
            client=client_a,
        )
        b = CollectorService(
            interval_seconds=INTERVAL,
            attempts=1,
            delay_seconds=0,
            leader_retry_seconds=0.5,
            client=client_b,
        )
        await a.start()
        await b.start()
        try:
            assert (a.role, b.role) == ("leader", "standby")
            await wait_for(
                lambda: nodes_that_collected().get(a.node, 0) >= 2,
                6 * INTERVAL,
                "two runs by the leader",
            )
            assert set(nodes_that_collected()) == {a.node}

            await a.stop()
            stopped = time.monotonic()
            # The standby must lead within one interval of the leader going away ...
            await wait_for(lambda: b.is_leader, INTERVAL, "the standby to take over")
            assert time.monotonic() - stopped <= INTERVAL
            # ... and collect from the next slot on.
            await wait_for(
                lambda: nodes_that_collected().get(b.node, 0) >= 1,
                3 * INTERVAL,
                "a run by the new leader",
            )
            counts = nodes_that_collected()
            assert set(counts) == {a.node, b.node}
            with Session(engine) as session:
                slots = session.execute(
                    sa.text(
                        "SELECT slot, count(*) FROM collection_runs GROUP BY slot HAVING count(*) > 1"
                    )
                ).all()
            assert slots == []  # no slot was collected twice
        finally:
            await a.stop()
            await b.stop()


async def test_a_manual_run_waits_for_a_scheduled_one_instead_of_overlapping(
    simulator: RunningSimulator,
) -> None:
    simulator.admin.add_latency(0.3, path="/pubapi/v2/latest")
    slot = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    async with CoinspotClient(simulator.base_url, retry=RetryPolicy(attempts=1)) as client:
        service = CollectorService(interval_seconds=300, attempts=1, delay_seconds=0, client=client)
        first, second = await asyncio.gather(
            service.run_now("schedule", slot=slot), service.run_now("manual", slot=slot)
        )
        await service.stop()
    assert first.rows_stored > 0
    assert second.rows_stored == 0
    with Session(engine) as session:
        spans = session.execute(
            sa.text("SELECT started_at, finished_at FROM collection_runs ORDER BY started_at")
        ).all()
    assert len(spans) == 2
    assert spans[1].started_at >= spans[0].finished_at  # one after the other, never together
