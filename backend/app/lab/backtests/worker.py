"""The in-process worker that runs queued backtests and sweeps.

`BACKTEST_CONCURRENCY` consumer tasks claim jobs from the database (so jobs queued by any
process, or left behind by one that crashed, are found), run them through the sandbox pool
and store the outcome. A heartbeat marks this worker's jobs alive; a periodic check re-queues
jobs whose worker stopped heartbeating. A clean shutdown hands running jobs back to the queue.
"""

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from app.lab.backtests import runner, store, sweep_runner
from app.lab.backtests.models import BacktestRun, ParameterSweep
from app.lab.sandbox.pool import SandboxPool

logger = logging.getLogger(__name__)

Executor = Callable[[uuid.UUID, str, SandboxPool], Awaitable[None]]
_EXECUTORS: tuple[tuple[store.JobModel, Executor], ...] = (
    (BacktestRun, runner.execute),
    (ParameterSweep, sweep_runner.execute),
)


class JobWorker:
    def __init__(
        self,
        pool_factory: Callable[[], SandboxPool],
        *,
        concurrency: int,
        poll_seconds: float,
        stale_seconds: float,
        max_attempts: int,
    ) -> None:
        self.worker_id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._pool_factory = pool_factory
        self._concurrency = concurrency
        self._poll = poll_seconds
        self._stale = timedelta(seconds=stale_seconds)
        self._max_attempts = max_attempts
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._running: dict[uuid.UUID, asyncio.Task[None]] = {}

    @property
    def started(self) -> bool:
        return bool(self._tasks)

    async def start(self) -> None:
        await self.recover()
        self._tasks = [
            asyncio.create_task(self._consume(i), name=f"lab-worker-{i}")
            for i in range(self._concurrency)
        ]
        self._tasks.append(asyncio.create_task(self._maintain(), name="lab-worker-heartbeat"))
        logger.info(
            "lab worker started",
            extra={"worker_id": self.worker_id, "concurrency": self._concurrency},
        )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        requeued = await asyncio.to_thread(store.requeue_own, self.worker_id)
        logger.info("lab worker stopped", extra={"worker_id": self.worker_id, "requeued": requeued})

    def notify(self) -> None:
        """A job was queued: wake an idle consumer now instead of at the next poll."""
        self._wake.set()

    def cancel_local(self, job_id: uuid.UUID) -> None:
        """Stop a job this process is running (its sandbox child is killed)."""
        task = self._running.get(job_id)
        if task is not None:
            task.cancel()

    async def recover(self) -> None:
        changed = await asyncio.to_thread(store.recover_stale, self._stale, self._max_attempts)
        for table, job_id, status in changed:
            logger.warning(
                "interrupted job recovered",
                extra={"table": table, "job_id": str(job_id), "status": status},
            )
        if changed:
            self.notify()

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(max(1.0, self._stale.total_seconds() / 3))  # heartbeat period
            try:
                await asyncio.to_thread(store.heartbeat, self.worker_id)
                await self.recover()
            except Exception:
                logger.exception("lab worker heartbeat failed")

    async def _claim(self) -> tuple[store.JobModel, Executor, uuid.UUID] | None:
        for model, executor in _EXECUTORS:
            job_id = await asyncio.to_thread(store.claim_next, model, self.worker_id)
            if job_id is not None:
                return model, executor, job_id
        return None

    async def _consume(self, slot: int) -> None:
        while True:
            # Clear before looking: a job queued while the claim runs keeps the event set, so
            # this consumer does not sleep a whole poll on a job it just missed.
            self._wake.clear()
            try:
                claimed = await self._claim()
            except Exception:
                logger.exception("lab worker could not claim a job")
                claimed = None
            if claimed is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
                continue
            model, executor, job_id = claimed
            logger.info(
                "lab job claimed",
                extra={"job_id": str(job_id), "table": model.__tablename__, "slot": slot},
            )
            task: asyncio.Task[None] = asyncio.ensure_future(
                executor(job_id, self.worker_id, self._pool_factory())
            )
            self._running[job_id] = task
            try:
                await task
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise
                # Only the job was cancelled (by the user): this consumer goes on.
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
            finally:
                self._running.pop(job_id, None)


_worker: JobWorker | None = None


def get_worker() -> JobWorker | None:
    return _worker


async def start_worker() -> None:
    from app.core.config import settings
    from app.lab.sandbox.service import get_pool

    global _worker
    if not settings.BACKTEST_WORKER_ENABLED or _worker is not None:
        return
    _worker = JobWorker(
        get_pool,
        concurrency=settings.BACKTEST_CONCURRENCY,
        poll_seconds=settings.BACKTEST_POLL_SECONDS,
        stale_seconds=settings.BACKTEST_STALE_SECONDS,
        max_attempts=settings.BACKTEST_MAX_ATTEMPTS,
    )
    await _worker.start()


async def stop_worker() -> None:
    global _worker
    worker, _worker = _worker, None
    if worker is not None:
        await worker.stop()
