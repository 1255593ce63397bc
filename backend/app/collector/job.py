"""One collection run: fetch Coinspot's latest prices, validate, store them for the slot.

A run fetches with a few attempts a fixed delay apart (reads only; the client itself does
not retry), then writes every valid coin of the slot with one multi-row INSERT and the run's
outcome in the same transaction, so a failed run stores nothing and a repeated run for the
same slot stores nothing twice (ON CONFLICT DO NOTHING on (coin_type, timestamp)).
A successful run publishes one broadcast `price.update` event with the slot's valid prices,
in the same transaction; a failed run raises a `system_failure` alert for the users who
asked for one.
"""

import asyncio
import logging
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception_type,
    stop_after_attempt,
    wait_fixed,
)

from app.alerts.schemas import AlertKind
from app.alerts.service import raise_for_everyone
from app.collector.models import CollectionRun, PriceData5Min, PriceSource, RunStatus
from app.collector.rollup import ROLLUP_LOCK_KEY
from app.collector.slots import slot_of
from app.collector.validation import PriceRow, check_prices
from app.core.db import engine
from app.events.schemas import CoinPrice, PriceUpdate
from app.events.service import publish_price_update
from app.exchange.client import CoinspotClient
from app.exchange.errors import (
    ExchangeError,
    ExchangeResponseError,
    ExchangeUnavailableError,
    RateLimitError,
)
from app.exchange.models import LatestPrices

logger = logging.getLogger(__name__)

RETRYABLE = (ExchangeUnavailableError, RateLimitError, ExchangeResponseError)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RunSummary:
    id: int
    slot: datetime
    status: str
    trigger: str
    node: str
    attempts: int
    coins_received: int
    rows_stored: int
    rows_rejected: int
    rejected: dict[str, str]
    error: str | None
    duration_ms: int

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["slot"] = self.slot.isoformat()
        return data


def _start_run(slot: datetime, started: datetime, node: str, trigger: str) -> int:
    with Session(engine) as session:
        run = CollectionRun(slot=slot, started_at=started, node=node, trigger=trigger)
        session.add(run)
        session.commit()
        assert run.id is not None
        return run.id


def _finish_failed(run_id: int, attempts: int, error: str, duration_ms: int) -> None:
    with Session(engine) as session:
        session.execute(
            sa.update(CollectionRun)
            .where(CollectionRun.id == run_id)  # type: ignore[arg-type]
            .values(
                status=RunStatus.FAILED.value,
                finished_at=utcnow(),
                attempts=attempts,
                error=error,
                duration_ms=duration_ms,
            )
        )
        session.commit()


def _store(
    run_id: int,
    slot: datetime,
    rows: list[PriceRow],
    received: int,
    rejected: dict[str, str],
    attempts: int,
    started: float,
) -> tuple[int, int]:
    """Insert the slot's prices and close the run, atomically. Returns (stored, duration)."""
    with Session(engine) as session:
        stored = 0
        if rows:
            # Before any row: wait for a running import here, holding nothing it could need.
            session.execute(sa.select(sa.func.pg_advisory_xact_lock(ROLLUP_LOCK_KEY)))
            statement: Any = (
                insert(PriceData5Min)
                .values(
                    [
                        {
                            "timestamp": slot,
                            "coin_type": row.coin,
                            "bid": row.bid,
                            "ask": row.ask,
                            "last": row.last,
                            "source": PriceSource.COLLECTOR.value,
                        }
                        for row in rows
                    ]
                )
                .on_conflict_do_nothing(index_elements=["coin_type", "timestamp"])
                .returning(sa.column("id"))
            )
            # RETURNING yields only the inserted rows: conflicts are not counted as stored.
            stored = len(session.execute(statement).all())
        duration_ms = round((time.monotonic() - started) * 1000)
        session.execute(
            sa.update(CollectionRun)
            .where(CollectionRun.id == run_id)  # type: ignore[arg-type]
            .values(
                status=RunStatus.SUCCEEDED.value,
                finished_at=utcnow(),
                attempts=attempts,
                coins_received=received,
                rows_stored=stored,
                rows_rejected=len(rejected),
                rejected=rejected or None,
                duration_ms=duration_ms,
            )
        )
        if rows:
            # One broadcast per run, committed with the prices (published last: see events).
            publish_price_update(
                session,
                PriceUpdate(
                    slot=slot,
                    prices=[
                        CoinPrice(coin=row.coin, bid=row.bid, ask=row.ask, last=row.last)
                        for row in rows
                    ],
                ),
            )
        session.commit()
        return stored, duration_ms


def _alert_failure(slot: datetime, message: str) -> None:
    """One `system_failure` alert per user who wants it; repeats group under one key."""
    with Session(engine) as session:
        raise_for_everyone(
            session,
            AlertKind.SYSTEM_FAILURE,
            "collector",
            f"Price collection failed for {slot:%Y-%m-%d %H:%M} UTC: {message}",
            {"component": "collector", "slot": slot.isoformat(), "error": message[:500]},
        )
        session.commit()


async def fetch_latest(
    client: CoinspotClient, attempts: int, delay_seconds: float
) -> tuple[LatestPrices, int]:
    """Latest prices with up to `attempts` tries `delay_seconds` apart; (prices, tries used)."""
    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_fixed(delay_seconds),
        retry=retry_if_exception_type(RETRYABLE),
        reraise=False,
    )
    try:
        async for attempt in retrying:
            with attempt:
                tries = attempt.retry_state.attempt_number
                return await client.latest_prices(), tries
    except RetryError as error:
        last = error.last_attempt.exception()
        raise _Exhausted(attempts, last) from last
    raise AssertionError("unreachable")  # pragma: no cover


class _Exhausted(Exception):
    def __init__(self, attempts: int, last: BaseException | None) -> None:
        super().__init__(f"{attempts} attempts failed; last error: {last}")
        self.attempts = attempts


async def collect_once(
    client: CoinspotClient,
    *,
    node: str,
    trigger: str,
    interval_seconds: int,
    attempts: int,
    delay_seconds: float,
    slot: datetime | None = None,
) -> RunSummary:
    """Run one collection for `slot` (default: the current one) and record it."""
    started_at = utcnow()
    started = time.monotonic()
    slot = slot or slot_of(started_at, interval_seconds)
    run_id = await asyncio.to_thread(_start_run, slot, started_at, node, trigger)
    try:
        latest, tries = await fetch_latest(client, attempts, delay_seconds)
    except (_Exhausted, ExchangeError) as error:
        tries = error.attempts if isinstance(error, _Exhausted) else 1
        message = str(error)
        duration_ms = round((time.monotonic() - started) * 1000)
        await asyncio.to_thread(_finish_failed, run_id, tries, message, duration_ms)
        await asyncio.to_thread(_alert_failure, slot, message)
        logger.error(
            "price collection failed",
            extra={"run_id": run_id, "slot": slot.isoformat(), "attempts": tries, "error": message},
        )
        return RunSummary(
            run_id,
            slot,
            RunStatus.FAILED.value,
            trigger,
            node,
            tries,
            0,
            0,
            0,
            {},
            message,
            duration_ms,
        )

    rows, rejected = check_prices(latest)
    received = len(latest.prices) + len(latest.rejected)
    stored, duration_ms = await asyncio.to_thread(
        _store, run_id, slot, rows, received, rejected, tries, started
    )
    logger.info(
        "prices collected",
        extra={
            "run_id": run_id,
            "slot": slot.isoformat(),
            "coins_received": received,
            "rows_stored": stored,
            "rows_rejected": len(rejected),
            "attempts": tries,
            "duration_ms": duration_ms,
        },
    )
    if rejected:
        logger.warning("coins rejected", extra={"run_id": run_id, "rejected": rejected})
    return RunSummary(
        run_id,
        slot,
        RunStatus.SUCCEEDED.value,
        trigger,
        node,
        tries,
        received,
        stored,
        len(rejected),
        rejected,
        None,
        duration_ms,
    )
