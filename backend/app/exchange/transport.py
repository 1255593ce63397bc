"""HTTP transport to Coinspot: signing, nonces, rate limiting, retries and error mapping.

Rules this module enforces:
- Reads (public GETs, read-only POSTs, quotes) are retried with exponential backoff and
  jitter on "exchange unavailable" and "rate limited"; never on anything else.
- State-changing requests (orders, edits, cancels) are sent once. If no definitive
  answer comes back after the request may have reached the exchange, the result is an
  `OrderStatusUnknownError` for the caller to reconcile. A request that provably never
  left (connection refused, no free connection) is `ExchangeUnavailableError`.
- A nonce rejection is the one exception: the exchange refused the request before
  doing anything, so it is re-signed with a fresh nonce (at most twice).
- Signed requests of one API key are serialized within the process, so nonces reach the
  exchange in the order they were issued.
- The API secret, the `sign` header and request bodies never reach logs or exceptions.
"""

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from app.exchange import jsoncodec
from app.exchange.errors import (
    AuthenticationError,
    ExchangeError,
    ExchangeResponseError,
    ExchangeUnavailableError,
    OrderStatusUnknownError,
    RateLimitError,
    classify_error,
)
from app.exchange.nonce import NonceGenerator, key_fingerprint
from app.exchange.ratelimit import SlidingWindowLimiter
from app.exchange.signing import sign

logger = logging.getLogger(__name__)

T = TypeVar("T")
Api = Literal["public", "read_only", "full"]
PREFIXES: dict[Api, str] = {"public": "/pubapi/v2", "read_only": "/api/v2/ro", "full": "/api/v2"}
NONCE_ATTEMPTS = 3
_SNIPPET = 120


class Credentials:
    """An API key and secret. The secret is kept out of every repr and str."""

    __slots__ = ("_secret", "api_key", "fingerprint")

    def __init__(self, api_key: str, api_secret: str) -> None:
        if not api_key or not api_secret:
            raise ValueError("api_key and api_secret must both be non-empty")
        self.api_key = api_key
        self._secret = api_secret
        self.fingerprint = key_fingerprint(api_key)

    def sign(self, body: bytes) -> str:
        return sign(body, self._secret)

    def __repr__(self) -> str:
        return f"Credentials(key_fingerprint={self.fingerprint!r}, secret=<hidden>)"

    __str__ = __repr__


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for reads: attempts in total (1 = no retry), then exponential with jitter."""

    attempts: int = 4
    initial_seconds: float = 0.5
    max_seconds: float = 8.0
    jitter_seconds: float = 0.5


@dataclass
class _Sent:
    path: str
    params: dict[str, object]
    nonce: int = 0
    sent_at_ms: int = 0

    def unknown(self, message: str, cause: str) -> OrderStatusUnknownError:
        return OrderStatusUnknownError(
            f"{message}; the request may have been executed, reconcile before retrying",
            nonce=self.nonce,
            sent_at_ms=self.sent_at_ms,
            params=self.params,
            cause=cause,
            path=self.path,
        )


_key_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)
_key_locks_guard = threading.Lock()


def _key_lock(fingerprint: str) -> asyncio.Lock:
    """One lock per API key and event loop (asyncio locks cannot cross loops)."""
    loop = asyncio.get_running_loop()
    with _key_locks_guard:
        per_loop = _key_locks.get(loop)
        if per_loop is None:
            per_loop = _key_locks[loop] = {}
        return per_loop.setdefault(fingerprint, asyncio.Lock())


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class Transport:
    def __init__(
        self,
        *,
        base_url: str,
        http: httpx.AsyncClient,
        limiter: SlidingWindowLimiter,
        nonces: NonceGenerator,
        retry: RetryPolicy,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http
        self.limiter = limiter
        self.nonces = nonces
        self.retry = retry
        self._backoff = wait_exponential_jitter(
            multiplier=retry.initial_seconds, max=retry.max_seconds, jitter=retry.jitter_seconds
        )

    async def call(
        self,
        api: Api,
        path: str,
        parse: Callable[[dict[str, Any]], T],
        *,
        credentials: Credentials | None = None,
        params: Mapping[str, object] | None = None,
        query: Mapping[str, str] | None = None,
        mutating: bool = False,
    ) -> T:
        """Send one API call and parse its `status: ok` body with `parse`."""
        full_path = PREFIXES[api] + path
        if api != "public" and credentials is None:
            raise AuthenticationError(
                "this call needs API credentials", reason="no_credentials", path=full_path
            )

        async def once() -> T:
            sent = _Sent(full_path, dict(params or {}))
            if credentials is None:
                data = await self._send(sent, "GET", None, query=query, mutating=False)
            else:
                data = await self._send_signed(sent, credentials, query=query, mutating=mutating)
            try:
                return parse(data)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                # pydantic's ValidationError is a ValueError; its text holds only the answer.
                if mutating:
                    raise sent.unknown(f"unexpected answer: {exc}", "unexpected_response") from None
                raise ExchangeResponseError(
                    f"unexpected answer shape: {exc}", path=full_path
                ) from None

        if mutating:
            return await once()
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retry.attempts),
            wait=self._wait,
            retry=retry_if_exception_type((ExchangeUnavailableError, RateLimitError)),
            before_sleep=self._log_retry,
            reraise=True,
        )
        return await retrying(once)

    def _wait(self, state: RetryCallState) -> float:
        """Exponential backoff with jitter, but never less than the server's Retry-After
        (capped at the policy's maximum)."""
        delay = float(self._backoff(state))
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RateLimitError) and error.retry_after:
            delay = max(delay, min(error.retry_after, self.retry.max_seconds))
        return delay

    @staticmethod
    def _log_retry(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        logger.warning(
            "exchange read failed, retrying",
            extra={
                "path": getattr(error, "path", None),
                "reason": getattr(error, "reason", None),
                "attempt": state.attempt_number,
                "wait_s": round(state.upcoming_sleep, 3),
            },
        )

    async def _send_signed(
        self,
        sent: _Sent,
        credentials: Credentials,
        *,
        query: Mapping[str, str] | None,
        mutating: bool,
    ) -> dict[str, Any]:
        async with _key_lock(credentials.fingerprint):
            for attempt in range(1, NONCE_ATTEMPTS + 1):
                try:
                    return await self._send(
                        sent, "POST", credentials, query=query, mutating=mutating
                    )
                except AuthenticationError as exc:
                    if exc.reason != "invalid_nonce" or attempt == NONCE_ATTEMPTS:
                        raise
                    logger.warning(
                        "exchange refused the nonce, re-signing",
                        extra={
                            "path": sent.path,
                            "key_fingerprint": credentials.fingerprint,
                            "attempt": attempt,
                        },
                    )
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(
        self,
        sent: _Sent,
        method: str,
        credentials: Credentials | None,
        *,
        query: Mapping[str, str] | None,
        mutating: bool,
    ) -> dict[str, Any]:
        url = self.base_url + sent.path
        async with self.limiter.slot():
            content: bytes | None = None
            headers: dict[str, str] = {}
            if credentials is not None:
                # The nonce is drawn at the last moment so that, with the key lock held,
                # issue order is send order.
                sent.nonce = self.nonces.next(credentials.api_key)
                content = jsoncodec.dumps({**sent.params, "nonce": sent.nonce}).encode("utf-8")
                headers = {
                    "Content-Type": "application/json",
                    "key": credentials.api_key,
                    "sign": credentials.sign(content),
                }
            sent.sent_at_ms = int(time.time() * 1000)
            started = time.perf_counter()
            try:
                response = await self.http.request(
                    method, url, content=content, headers=headers, params=query
                )
            except httpx.HTTPError as exc:
                raise self._transport_error(exc, sent, mutating) from None
        logger.debug(
            "exchange request",
            extra={
                "method": method,
                "path": sent.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        return self._interpret(response, sent, mutating)

    @staticmethod
    def _transport_error(exc: httpx.HTTPError, sent: _Sent, mutating: bool) -> ExchangeError:
        kind = type(exc).__name__
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            # Nothing reached the exchange: safe to report as "down" even for orders.
            return ExchangeUnavailableError(
                f"could not connect ({kind})", reason="connect_error", path=sent.path
            )
        reason = "timeout" if isinstance(exc, httpx.TimeoutException) else "transport_error"
        if mutating:
            return sent.unknown(f"no answer ({kind})", reason)
        return ExchangeUnavailableError(f"no answer ({kind})", reason=reason, path=sent.path)

    @staticmethod
    def _interpret(response: httpx.Response, sent: _Sent, mutating: bool) -> dict[str, Any]:
        status = response.status_code
        try:
            data: Any = jsoncodec.loads(response.content)
        except ValueError:  # includes JSONDecodeError and UnicodeDecodeError
            data = None
        if isinstance(data, dict) and "status" in data:
            if status == 200 and data["status"] == "ok":
                return data
            message = str(data.get("message") or data["status"])
            error = classify_error(
                status,
                message,
                path=sent.path,
                order_request=mutating,
                retry_after=_retry_after(response),
            )
            if mutating and isinstance(error, ExchangeUnavailableError):
                raise sent.unknown(f"exchange error HTTP {status}: {message}", error.reason)
            raise error
        snippet = response.content[:_SNIPPET].decode("utf-8", "replace")
        if status >= 500:
            if mutating:
                raise sent.unknown(f"exchange error HTTP {status}", f"http_{status}")
            raise ExchangeUnavailableError(
                f"HTTP {status}: {snippet!r}", reason=f"http_{status}", path=sent.path
            )
        if status == 429:
            raise RateLimitError(
                "rate limited", retry_after=_retry_after(response), status_code=429, path=sent.path
            )
        if status in (401, 403):
            raise AuthenticationError(f"HTTP {status}", status_code=status, path=sent.path)
        if status == 200 and mutating:
            raise sent.unknown("unreadable answer to a state-changing request", "bad_response")
        raise ExchangeResponseError(
            f"unreadable answer: {snippet!r}", status_code=status, path=sent.path
        )
