"""Reconciliation at start-up and on a schedule, in every app process that runs the Floor.

Rules:
- Runs only with `FLOOR_EXECUTOR_ENABLED` and `FLOOR_RECONCILE_INTERVAL_SECONDS` > 0: once
  right after start-up (trigger `startup`), then every interval (trigger `schedule`), for
  each account with a running live deployment.
- Replicas do not duplicate work: a run of an account holds its advisory lock, and a
  process that finds it taken skips that account this round.
- A failing account does not stop the others; its run record keeps the error.
"""

import asyncio
import contextlib
import logging

from fastapi import FastAPI

from app.core.config import settings
from app.core.db import engine
from app.core.lifespan import on_shutdown, on_startup
from app.floor.reconciliation import service

logger = logging.getLogger(__name__)

_task: asyncio.Task[None] | None = None


async def reconcile_all(trigger: str) -> dict[str, int]:
    """One round over every account in use."""
    counts = {"ran": 0, "busy": 0, "failed": 0}
    for user_id in await asyncio.to_thread(service.live_accounts, engine):
        try:
            client = await service.account_client(user_id)
            run = await service.reconcile_account(user_id, client, trigger=trigger)
            counts["failed" if run.outcome == "failed" else "ran"] += 1
        except service.ReconcileBusy:
            counts["busy"] += 1
        except Exception:
            counts["failed"] += 1
            logger.exception("reconciliation round failed", extra={"user": str(user_id)})
    return counts


async def _loop() -> None:
    trigger = "startup"
    while True:
        try:
            counts = await reconcile_all(trigger)
            logger.info("reconciliation round", extra={"trigger": trigger, **counts})
        except Exception:
            logger.exception("reconciliation round failed")
        trigger = "schedule"
        await asyncio.sleep(settings.FLOOR_RECONCILE_INTERVAL_SECONDS)


@on_startup
async def _start(_: FastAPI) -> None:
    global _task
    if not settings.FLOOR_EXECUTOR_ENABLED or settings.FLOOR_RECONCILE_INTERVAL_SECONDS <= 0:
        return
    if _task is None:
        _task = asyncio.create_task(_loop(), name="floor-reconciliation")


@on_shutdown
async def _stop(_: FastAPI) -> None:
    global _task
    task, _task = _task, None
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
