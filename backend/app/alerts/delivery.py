"""Delivering alerts by e-mail and webhook, off the request path.

Rules:
- Deliveries run on the deliverer's own event loop thread, so any code (a request, a
  worker thread, a CLI) can submit one without blocking; `drain` waits for the ones under
  way (shutdown, tests).
- Each channel is tried up to `ALERT_DELIVERY_ATTEMPTS` times with exponential back-off
  (tenacity). E-mail retries on SMTP and network errors; a webhook retries on network
  errors and 5xx answers, not on 4xx (the receiver refused it). The outcome per channel
  (sent / failed / skipped, attempts, a short error) is stored on the alert.
- A webhook is a JSON POST. `sent_at` (Unix seconds) is part of the signed body and equals
  the `X-OMC-Timestamp` header; `X-OMC-Signature: sha256=<hex HMAC-SHA256(secret, body)>`.
  Receivers check the signature, then refuse timestamps older than a few minutes (replay).
- The webhook secret and SMTP password are never logged.
"""

import asyncio
import concurrent.futures
import hashlib
import hmac
import logging
import smtplib
import threading
import time
import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from sqlmodel import Session, select
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from app.alerts import service
from app.alerts.models import Alert
from app.core.config import settings
from app.core.db import engine
from app.users.emails import send_email
from app.users.models import User

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-OMC-Signature"
TIMESTAMP_HEADER = "X-OMC-Timestamp"
DELIVERY_HEADER = "X-OMC-Delivery"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class WebhookRefused(Exception):
    """The receiver answered 4xx: retrying would not help."""


class WebhookServerError(Exception):
    """The receiver answered 5xx: worth another try."""


def _retryable(exc: BaseException) -> bool:
    return isinstance(
        exc, smtplib.SMTPException | OSError | httpx.TransportError | WebhookServerError
    )


def _retrying() -> AsyncRetrying:
    return AsyncRetrying(
        stop=stop_after_attempt(settings.ALERT_DELIVERY_ATTEMPTS),
        wait=wait_exponential(multiplier=0.5, max=10),
        retry=retry_if_exception(_retryable),
        reraise=False,
    )


def _subject(alert: Alert) -> str:
    label = alert.kind.replace("_", " ")
    return f"{settings.PROJECT_NAME} alert: {label}"


def _email_body(alert: Alert) -> str:
    lines = [alert.message, ""]
    if alert.count > 1:
        lines.append(f"Raised {alert.count} times since {alert.first_at.isoformat()}.")
    lines.append(
        f"Kind: {alert.kind} · severity: {alert.severity} · at {alert.last_at.isoformat()}"
    )
    lines.append(f"See {settings.FRONTEND_HOST}/floor for details.")
    return "\n".join(lines)


def webhook_body(alert: Alert, sent_at: int) -> bytes:
    return orjson.dumps(
        {
            "id": str(alert.id),
            "kind": alert.kind,
            "key": alert.key,
            "severity": alert.severity,
            "message": alert.message,
            "data": alert.data,
            "count": alert.count,
            "first_at": alert.first_at.isoformat(),
            "last_at": alert.last_at.isoformat(),
            "sent_at": sent_at,
        }
    )


async def _run_with_retries(call: Any) -> tuple[str, int, str | None]:
    attempts = 0
    try:
        async for attempt in _retrying():
            with attempt:
                attempts = attempt.retry_state.attempt_number
                await call()
        return "sent", attempts, None
    except RetryError as error:
        last = error.last_attempt.exception()
        return "failed", attempts, type(last).__name__ + (f": {last}" if last else "")
    except Exception as exc:  # not retryable (a 4xx answer, a decryption problem)
        return "failed", attempts, type(exc).__name__ + f": {exc}"


async def _send_email(alert: Alert, to: str) -> tuple[str, int, str | None]:
    if not settings.emails_enabled:
        return "skipped", 0, "SMTP is not configured"

    async def call() -> None:
        await asyncio.to_thread(send_email, to=to, subject=_subject(alert), body=_email_body(alert))

    return await _run_with_retries(call)


async def _send_webhook(alert: Alert, url: str, secret: str) -> tuple[str, int, str | None]:
    async with httpx.AsyncClient(timeout=settings.ALERT_WEBHOOK_TIMEOUT_SECONDS) as client:

        async def call() -> None:
            sent_at = int(time.time())
            body = webhook_body(alert, sent_at)
            response = await client.post(
                url,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: sign(secret, body),
                    TIMESTAMP_HEADER: str(sent_at),
                    DELIVERY_HEADER: str(uuid.uuid4()),
                    "User-Agent": f"{settings.PROJECT_NAME} alerts",
                },
            )
            if response.status_code >= 500:
                raise WebhookServerError(f"HTTP {response.status_code}")
            if response.status_code >= 400:
                raise WebhookRefused(f"HTTP {response.status_code}")

        return await _run_with_retries(call)


def _load(alert_id: uuid.UUID) -> tuple[Alert, str, str | None, str | None] | None:
    with Session(engine) as session:
        alert = session.get(Alert, alert_id)
        if alert is None:
            return None
        row = service.rules_row(session, alert.user_id)
        email = session.exec(select(User.email).where(User.id == alert.user_id)).one()
        to = (row.email_to if row and row.email_to else None) or email
        url = row.webhook_url if row else None
        try:
            secret = service.webhook_secret(row) if row else None
        except Exception:
            secret = None  # undecryptable: reported as a failed delivery below
        session.expunge(alert)
        return alert, to, url, secret


def _record(alert_id: uuid.UUID, results: dict[str, dict[str, Any]]) -> None:
    with Session(engine) as session:
        alert = session.get(Alert, alert_id, with_for_update=True)
        if alert is None:
            return
        alert.deliveries = {**alert.deliveries, **results}
        session.add(alert)
        session.commit()


async def deliver(alert_id: uuid.UUID) -> dict[str, dict[str, Any]]:
    """Send one alert by every channel still pending on it; returns the outcomes."""
    loaded = await asyncio.to_thread(_load, alert_id)
    if loaded is None:
        return {}
    alert, to, url, secret = loaded
    results: dict[str, dict[str, Any]] = {}
    for channel, state in alert.deliveries.items():
        if state.get("status") != "pending":
            continue
        if channel == "email":
            status, attempts, error = await _send_email(alert, to)
        elif channel == "webhook" and url and secret:
            status, attempts, error = await _send_webhook(alert, url, secret)
        else:
            status, attempts, error = "failed", 0, "webhook URL or secret missing or unreadable"
        results[channel] = {
            "status": status,
            "attempts": attempts,
            "error": error[:300] if error else None,
            "at": datetime.now(UTC).isoformat(),
        }
        log = logger.info if status == "sent" else logger.warning
        log(
            "alert delivery",
            extra={
                "alert_id": str(alert_id),
                "channel": channel,
                "status": status,
                "attempts": attempts,
            },
        )
    await asyncio.to_thread(_record, alert_id, results)
    return results


class Deliverer:
    """A private event loop on a daemon thread that runs deliveries."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pending: set[concurrent.futures.Future[Any]] = set()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="alert-delivery", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def start(self) -> None:
        self._ensure_loop()

    def _submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        future = asyncio.run_coroutine_threadsafe(coro, self._ensure_loop())
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._pending.discard(future)
        if not future.cancelled() and future.exception() is not None:
            logger.error(
                "alert delivery crashed", extra={"error": type(future.exception()).__name__}
            )

    def submit(self, alert_id: uuid.UUID) -> concurrent.futures.Future[Any]:
        return self._submit(deliver(alert_id))

    def drain(self, timeout: float = 60.0) -> None:
        """Wait until the deliveries submitted so far have finished."""
        with self._lock:
            pending = list(self._pending)
        concurrent.futures.wait(pending, timeout=timeout)

    def stop(self, timeout: float = 30.0) -> None:
        self.drain(timeout)
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            loop.close()


deliverer = Deliverer()
