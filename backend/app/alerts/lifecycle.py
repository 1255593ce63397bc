"""Start and stop the alert deliverer and the hourly jobs with the app: daily summaries
(each user at their hour, with the day's P&L from `app.floor.pnl.daily`) and pruning
events older than `EVENTS_RETENTION_DAYS`.
Both jobs are safe on every replica (summaries are raised once; pruning is idempotent)."""

import asyncio
import logging
from datetime import UTC, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from fastapi import FastAPI
from sqlmodel import Session

from app.alerts.delivery import deliverer
from app.alerts.summary import send_daily_summaries, set_pnl_provider
from app.core.config import settings
from app.core.db import engine
from app.core.lifespan import on_shutdown, on_startup
from app.events.models import utcnow
from app.events.service import prune
from app.floor.pnl.daily import daily_pnl

logger = logging.getLogger(__name__)
_scheduler: AsyncIOScheduler | None = None


def _prune_events() -> int:
    with Session(engine) as session:
        return prune(session, utcnow() - timedelta(days=settings.EVENTS_RETENTION_DAYS))


async def hourly() -> None:
    try:
        await asyncio.to_thread(send_daily_summaries)
    except Exception:
        logger.exception("daily summaries failed")
    try:
        removed = await asyncio.to_thread(_prune_events)
        logger.info("events pruned", extra={"removed": removed})
    except Exception:
        logger.exception("event pruning failed")


@on_startup
async def _start_alerts(_: FastAPI) -> None:
    global _scheduler
    set_pnl_provider(daily_pnl)  # the daily summary carries the day's P&L
    deliverer.start()
    if settings.ALERT_SCHEDULER_ENABLED:
        _scheduler = AsyncIOScheduler(timezone=UTC)
        _scheduler.add_job(
            hourly, CronTrigger(minute=0, timezone=UTC), max_instances=1, coalesce=True
        )
        _scheduler.start()


@on_shutdown
async def _stop_alerts(_: FastAPI) -> None:
    global _scheduler
    if _scheduler is not None:
        _scheduler.shutdown(wait=False)
        _scheduler = None
    await asyncio.to_thread(deliverer.stop)
