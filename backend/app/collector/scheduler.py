"""The collector's schedule and its single leader across processes.

Every backend process may run a `CollectorService`; only the one holding a PostgreSQL
session-level advisory lock (on a dedicated connection) collects. The others stand by and
try to take the lock every `leader_retry_seconds` (at most half an interval), so when the
leader stops or dies — PostgreSQL drops its lock with its connection — another takes over
within one interval. The collect job runs at wall-clock multiples of the interval, never
overlaps itself (max_instances=1, and one lock shared with manual runs), and a late tick
is coalesced rather than run twice.
"""

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from fastapi import FastAPI
from sqlalchemy.engine import Connection, Engine

from app.collector.job import RunSummary, collect_once
from app.collector.slots import next_slot
from app.core.db import engine as default_engine
from app.core.lifespan import on_shutdown, on_startup
from app.exchange.client import CoinspotClient
from app.exchange.factory import client_from_settings
from app.exchange.transport import RetryPolicy

logger = logging.getLogger(__name__)

# An arbitrary constant naming "the collector leader" among the app's advisory locks.
LEADER_LOCK_KEY = 0x0C0115C7


class CollectorService:
    def __init__(
        self,
        *,
        interval_seconds: int,
        attempts: int,
        delay_seconds: float,
        leader_retry_seconds: float | None = None,
        db_engine: Engine | None = None,
        client: CoinspotClient | None = None,
    ) -> None:
        self.interval_seconds = interval_seconds
        self.attempts = attempts
        self.delay_seconds = delay_seconds
        self.leader_retry_seconds = leader_retry_seconds or max(
            1.0, min(30.0, interval_seconds / 2)
        )
        self.node = f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._engine = db_engine or default_engine
        self._client = client
        self._owns_client = client is None
        self._lock_conn: Connection | None = None
        self._run_lock = asyncio.Lock()
        self._scheduler: AsyncIOScheduler | None = None
        self.last_run: RunSummary | None = None

    # --- leadership -----------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self._lock_conn is not None

    @property
    def role(self) -> str:
        if self._scheduler is None:
            return "stopped"
        return "leader" if self.is_leader else "standby"

    def _try_lock(self) -> bool:
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(
                conn.execute(
                    sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK_KEY}
                ).scalar()
            )
        except Exception:
            conn.close()
            raise
        if got:
            self._lock_conn = conn
        else:
            conn.close()
        return got

    def _still_leader(self) -> bool:
        conn = self._lock_conn
        if conn is None:
            return False
        try:
            conn.execute(sa.text("SELECT 1"))
            return True
        except Exception:
            self._drop_lock()
            return False

    def _drop_lock(self) -> None:
        conn, self._lock_conn = self._lock_conn, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": LEADER_LOCK_KEY})
        with contextlib.suppress(Exception):
            conn.close()

    async def campaign(self) -> bool:
        """Check or try to take the leadership; returns whether this node leads now."""
        try:
            if self.is_leader:
                if not await asyncio.to_thread(self._still_leader):
                    logger.warning("collector lost its leader lock", extra={"node": self.node})
                return self.is_leader
            if await asyncio.to_thread(self._try_lock):
                logger.info("collector is the leader", extra={"node": self.node})
        except Exception:
            logger.exception("collector leader election failed", extra={"node": self.node})
        return self.is_leader

    # --- running --------------------------------------------------------------------

    def _client_for_runs(self) -> CoinspotClient:
        if self._client is None:
            # Retries are the collector's own (fixed delay, counted in the run record).
            self._client = client_from_settings(retry=RetryPolicy(attempts=1))
        return self._client

    async def run_now(self, trigger: str = "manual", slot: datetime | None = None) -> RunSummary:
        """One collection for the current slot; waits for a run in progress rather than overlap."""
        async with self._run_lock:
            summary = await collect_once(
                self._client_for_runs(),
                node=self.node,
                trigger=trigger,
                interval_seconds=self.interval_seconds,
                attempts=self.attempts,
                delay_seconds=self.delay_seconds,
                slot=slot,
            )
            self.last_run = summary
            return summary

    async def _tick(self) -> None:
        if not await self.campaign():
            return
        try:
            await self.run_now("schedule")
        except Exception:
            logger.exception("collector run crashed", extra={"node": self.node})

    async def start(self) -> None:
        scheduler = AsyncIOScheduler(timezone=UTC)
        first = next_slot(datetime.now(UTC), self.interval_seconds)
        scheduler.add_job(
            self._tick,
            IntervalTrigger(seconds=self.interval_seconds, start_date=first, timezone=UTC),
            id="collect",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, self.interval_seconds // 2),
        )
        scheduler.add_job(
            self.campaign,
            IntervalTrigger(seconds=self.leader_retry_seconds, timezone=UTC),
            id="leader",
            max_instances=1,
            coalesce=True,
        )
        scheduler.start()
        self._scheduler = scheduler
        await self.campaign()
        logger.info(
            "collector started",
            extra={
                "node": self.node,
                "role": self.role,
                "interval_s": self.interval_seconds,
                "first_run": first.isoformat(),
            },
        )

    async def stop(self) -> None:
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        async with self._run_lock:  # let a run in progress finish its transaction
            await asyncio.to_thread(self._drop_lock)
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None
        logger.info("collector stopped", extra={"node": self.node})

    def next_run_at(self) -> datetime | None:
        if self._scheduler is None:
            return None
        job = self._scheduler.get_job("collect")
        return job.next_run_time if job is not None else None

    def state(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "role": self.role,
            "interval_seconds": self.interval_seconds,
            "next_run_at": self.next_run_at(),
        }


_service: CollectorService | None = None


def get_service() -> CollectorService | None:
    return _service


def set_service(service: CollectorService | None) -> None:
    global _service
    _service = service


async def start_collector() -> None:
    from app.core.config import settings

    if not settings.COLLECTOR_ENABLED or _service is not None:
        return
    service = CollectorService(
        interval_seconds=settings.COLLECTOR_INTERVAL_SECONDS,
        attempts=settings.COLLECTOR_RETRY_ATTEMPTS,
        delay_seconds=settings.COLLECTOR_RETRY_DELAY_SECONDS,
    )
    await service.start()
    set_service(service)


async def stop_collector() -> None:
    service = _service
    set_service(None)
    if service is not None:
        await service.stop()


@on_startup
async def _start_with_app(_: FastAPI) -> None:
    await start_collector()


@on_shutdown
async def _stop_with_app(_: FastAPI) -> None:
    await stop_collector()
