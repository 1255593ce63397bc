"""When cycles run: the leader marks deployments due; every process works through them.

Rules (the leader rule):
- Exactly one process schedules: the one holding the Floor's PostgreSQL session advisory
  lock on a dedicated connection (the collector's pattern, its own key). Scheduling only
  writes `due_bar` (the latest closed 5-minute bar, `FLOOR_SCHEDULE_DELAY_SECONDS` after it
  closed, once the collector has stored it) on running deployments whose `schedule_bars`
  divides the bar's index since the epoch. The others retry the lock every poll.
- Every process (leader or not) runs a worker: it picks deployments with
  `due_bar > last_run_bar` and runs at most `FLOOR_CONCURRENCY` cycles at once; each cycle
  claims its row with `FOR UPDATE SKIP LOCKED` and its (deployment, bar) key is unique, so
  replicas share the work and none runs a cycle twice.
- After the snapshots the leader checks drawdown and daily loss, and after the bar's
  cycles a bounded round of drift reports (`watch`), so each alert is raised by one process.
- Start-up needs nothing special: a cycle recovers its deployment's orphaned orders first.
"""

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from app.core.config import settings
from app.core.db import engine as default_engine
from app.floor.executor import NODE, BrokerFactory, CycleRefused, run_cycle
from app.floor.models import RUNNING_STATUSES
from app.floor.pnl.service import snapshot_all
from app.floor.signals import BAR, bar_of
from app.floor.watch import check_drift, check_equity
from app.lab.sandbox.pool import SandboxPool

logger = logging.getLogger(__name__)

# An arbitrary constant naming "the Floor scheduler leader" among the app's advisory locks.
FLOOR_LEADER_LOCK_KEY = 0x0F100125


class LeaderLock:
    """A session advisory lock held on its own connection; lost when the connection dies."""

    def __init__(self, engine: Engine, key: int) -> None:
        self._engine = engine
        self._key = key
        self._conn: Connection | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def campaign(self) -> bool:
        if self._conn is not None:
            try:
                self._conn.execute(sa.text("SELECT 1"))
                return True
            except Exception:
                self.release()
                return False
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(
                conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar()
            )
        except Exception:
            conn.close()
            raise
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
        with contextlib.suppress(Exception):
            conn.close()


def mark_due(engine: Engine, bar: datetime) -> int:
    """Leader only: mark running deployments due on `bar` per their schedule."""
    index = int(bar.timestamp()) // int(BAR.total_seconds())
    with engine.begin() as conn:
        result = conn.execute(
            sa.text(
                "UPDATE deployed_algorithms SET due_bar = :bar WHERE status = ANY(:statuses) "
                "AND mod(:index, greatest(schedule_bars, 1)) = 0 "
                "AND (due_bar IS NULL OR due_bar < :bar)"
            ),
            {"bar": bar, "statuses": sorted(RUNNING_STATUSES), "index": index},
        )
        return int(result.rowcount or 0)


def due_deployments(engine: Engine, limit: int) -> list[tuple[uuid.UUID, datetime]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT id, due_bar FROM deployed_algorithms WHERE due_bar IS NOT NULL "
                "AND (last_run_bar IS NULL OR last_run_bar < due_bar) "
                "AND status = ANY(:statuses) ORDER BY due_bar, id LIMIT :n"
            ),
            {"statuses": sorted(RUNNING_STATUSES), "n": limit},
        ).all()
    return [(uuid.UUID(str(r[0])), r[1]) for r in rows]


async def work_once(
    engine: Engine, pool: SandboxPool, broker_factory: BrokerFactory, concurrency: int
) -> dict[str, int]:
    """Run the due cycles this process can claim, `concurrency` at a time."""
    counts = {"ran": 0, "skipped": 0}
    limiter = asyncio.Semaphore(concurrency)

    async def one(deployment_id: uuid.UUID, bar: datetime) -> None:
        async with limiter:
            try:
                await run_cycle(
                    deployment_id,
                    bar,
                    trigger="schedule",
                    pool=pool,
                    broker_factory=broker_factory,
                    engine=engine,
                )
                counts["ran"] += 1
            except CycleRefused:
                counts["skipped"] += 1

    due = due_deployments(engine, max(concurrency * 4, 16))
    await asyncio.gather(*(one(d, b) for d, b in due))
    return counts


class FloorService:
    def __init__(
        self,
        pool: SandboxPool,
        broker_factory: BrokerFactory,
        *,
        engine: Engine | None = None,
        concurrency: int | None = None,
        poll_seconds: float | None = None,
    ) -> None:
        self._engine = engine or default_engine
        self._pool = pool
        self._broker_factory = broker_factory
        self._concurrency = concurrency or settings.FLOOR_CONCURRENCY
        self._poll = poll_seconds or settings.FLOOR_POLL_SECONDS
        self._leader = LeaderLock(self._engine, FLOOR_LEADER_LOCK_KEY)
        self._task: asyncio.Task[None] | None = None
        self._scheduled: datetime | None = None
        self._drift_checked: dict[uuid.UUID, datetime] = {}

    @property
    def is_leader(self) -> bool:
        return self._leader.held

    def state(self) -> dict[str, Any]:
        return {"node": NODE, "leader": self.is_leader, "last_scheduled_bar": self._scheduled}

    async def tick(self, moment: datetime | None = None) -> None:
        """One round: campaign, schedule (leader only), then work."""
        now = moment or datetime.now(UTC)
        drift_round = False
        if await asyncio.to_thread(self._leader.campaign):
            bar = bar_of(now - timedelta(seconds=settings.FLOOR_SCHEDULE_DELAY_SECONDS))
            if self._scheduled != bar:
                marked = await asyncio.to_thread(mark_due, self._engine, bar)
                await asyncio.to_thread(snapshot_all, self._engine, bar)
                self._scheduled = bar
                logger.info("floor scheduled", extra={"bar": bar.isoformat(), "due": marked})
                await self._check_equity(bar)
                drift_round = settings.FLOOR_DRIFT_CHECKS_PER_ROUND > 0
        await work_once(self._engine, self._pool, self._broker_factory, self._concurrency)
        if drift_round:  # after the bar's cycles, so a slow replay never delays them
            try:
                await check_drift(self._engine, self._pool, self._drift_checked)
            except Exception:
                logger.exception("drift checks failed", extra={"node": NODE})

    async def _check_equity(self, bar: datetime) -> None:
        """Leader only, once per bar: drawdown / daily-loss alerts from the snapshots just
        taken (see app/floor/watch.py)."""
        try:
            await asyncio.to_thread(check_equity, self._engine, bar)
        except Exception:
            logger.exception("equity alerts failed", extra={"bar": bar.isoformat()})

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                logger.exception("floor scheduler round failed", extra={"node": NODE})
            await asyncio.sleep(self._poll)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="floor-scheduler")
        logger.info("floor executor started", extra={"node": NODE})

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.to_thread(self._leader.release)
        logger.info("floor executor stopped", extra={"node": NODE})
