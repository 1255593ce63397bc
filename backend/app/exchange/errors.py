"""Typed errors of the exchange layer.

Every error carries a short machine-readable `reason` (so callers such as credential
validation can tell a bad key from a bad signature without parsing text), the HTTP
status when there was one, the API path and the exchange's own message. None of them
ever holds the API secret, the `sign` header or a request body.
"""

import re
from typing import Final


class ExchangeError(Exception):
    """Base class: something went wrong talking to the exchange."""

    default_reason: str = "exchange_error"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        status_code: int | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.status_code = status_code
        self.path = path

    def __str__(self) -> str:
        where = f" [{self.path}]" if self.path else ""
        status = f" (HTTP {self.status_code})" if self.status_code is not None else ""
        return f"{self.reason}: {self.message}{status}{where}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(reason={self.reason!r}, message={self.message!r}, "
            f"status_code={self.status_code!r}, path={self.path!r})"
        )


class AuthenticationError(ExchangeError):
    """The exchange refused our credentials.

    reason: ``invalid_key`` | ``invalid_signature`` | ``invalid_nonce`` |
    ``permission_denied`` (e.g. a read-only key on a trading endpoint) | ``unauthorized``.
    """

    default_reason = "unauthorized"


class RateLimitError(ExchangeError):
    """Too many requests; `retry_after` is the server's hint in seconds, when it gave one."""

    default_reason = "rate_limited"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status_code: int | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, path=path)
        self.retry_after = retry_after


class ExchangeRejectedError(ExchangeError):
    """The exchange understood the request and refused it (unknown coin, bad parameter ...)."""

    default_reason = "rejected"


class InsufficientFundsError(ExchangeRejectedError):
    default_reason = "insufficient_funds"


class InvalidOrderError(ExchangeRejectedError):
    """An order (or cancel/edit) the exchange rejected: bad amount, unknown id, threshold ..."""

    default_reason = "invalid_order"


class ExchangeUnavailableError(ExchangeError):
    """The exchange could not be reached or answered 5xx / timed out (after any retries).

    reason: ``http_<status>`` | ``timeout`` | ``connect_error`` | ``transport_error``.
    """

    default_reason = "unavailable"


class ExchangeResponseError(ExchangeError):
    """The exchange answered something we cannot parse or did not expect."""

    default_reason = "bad_response"


class OrderStatusUnknownError(ExchangeError):
    """A state-changing request may or may not have been executed.

    Raised instead of retrying when an order placement, edit or cancel was sent but no
    definitive answer came back (timeout after sending, dropped connection, 5xx, or an
    unreadable 200). The caller must reconcile against open/completed orders; `nonce`
    and `sent_at_ms` (epoch milliseconds) identify the attempt, `params` are the
    non-secret request parameters.
    """

    default_reason = "order_status_unknown"

    def __init__(
        self,
        message: str,
        *,
        nonce: int,
        sent_at_ms: int,
        params: dict[str, object],
        cause: str,
        path: str | None = None,
    ) -> None:
        super().__init__(message, reason=None, status_code=None, path=path)
        self.nonce = nonce
        self.sent_at_ms = sent_at_ms
        self.params = params
        self.cause = cause


_AUTH_PATTERNS: Final[list[tuple[re.Pattern[str], str]]] = [
    (re.compile(r"nonce"), "invalid_nonce"),
    (re.compile(r"permission|not allowed|read.?only"), "permission_denied"),
    (re.compile(r"sign"), "invalid_signature"),
    (
        re.compile(r"api key|invalid key|key header|unknown key|unauthori[sz]ed|authenticat"),
        "invalid_key",
    ),
]
_RATE_LIMIT = re.compile(r"rate.?limit|too many requests")
_INSUFFICIENT = re.compile(r"insufficient|not enough (funds|balance)")
_NOT_FOUND = re.compile(r"not found|unknown coin|invalid coin|no such")


def classify_error(
    status_code: int,
    message: str,
    *,
    path: str,
    order_request: bool,
    retry_after: float | None = None,
) -> ExchangeError:
    """Map an exchange error answer (HTTP status + message) to a typed error.

    The message decides first because Coinspot may send an error body with HTTP 200;
    the status code is the fallback. `order_request` turns otherwise unclassified
    rejections of order/cancel/edit calls into `InvalidOrderError`.
    """
    text = message.lower()
    if _RATE_LIMIT.search(text) or status_code == 429:
        return RateLimitError(message, retry_after=retry_after, status_code=status_code, path=path)
    error_type: type[ExchangeError]
    reason: str | None = None
    auth_reason = next((r for pattern, r in _AUTH_PATTERNS if pattern.search(text)), None)
    if auth_reason is not None or status_code in (401, 403):
        error_type, reason = AuthenticationError, auth_reason
    elif status_code >= 500:
        error_type, reason = ExchangeUnavailableError, f"http_{status_code}"
    elif _INSUFFICIENT.search(text):
        error_type = InsufficientFundsError
    else:
        error_type = InvalidOrderError if order_request else ExchangeRejectedError
        reason = "not_found" if _NOT_FOUND.search(text) else None
    return error_type(message, reason=reason, status_code=status_code, path=path)
