"""How exchange answers map to typed errors (pure functions, no network)."""

from decimal import Decimal

import httpx
import pytest

from app.exchange.errors import (
    AuthenticationError,
    ExchangeRejectedError,
    ExchangeResponseError,
    ExchangeUnavailableError,
    InsufficientFundsError,
    InvalidOrderError,
    OrderStatusUnknownError,
    RateLimitError,
    classify_error,
)
from app.exchange.transport import Transport, _Sent


@pytest.mark.parametrize(
    ("status", "message", "order", "expected", "reason"),
    [
        (401, "Invalid API key", False, AuthenticationError, "invalid_key"),
        (200, "Invalid signature", False, AuthenticationError, "invalid_signature"),
        (401, "invalid nonce", True, AuthenticationError, "invalid_nonce"),
        (
            403,
            "Permission denied: this API key is read-only",
            True,
            AuthenticationError,
            "permission_denied",
        ),
        (403, "Forbidden", False, AuthenticationError, "unauthorized"),
        (429, "Slow down", False, RateLimitError, "rate_limited"),
        (200, "Rate limit exceeded", False, RateLimitError, "rate_limited"),
        (503, "Service unavailable", False, ExchangeUnavailableError, "http_503"),
        (400, "Insufficient funds", True, InsufficientFundsError, "insufficient_funds"),
        (400, "Coin not found: NOPE", False, ExchangeRejectedError, "not_found"),
        (400, "Coin not found: NOPE", True, InvalidOrderError, "not_found"),
        (400, "Invalid amount", True, InvalidOrderError, "invalid_order"),
        (400, "Something odd", False, ExchangeRejectedError, "rejected"),
    ],
)
def test_classification(
    status: int, message: str, order: bool, expected: type, reason: str
) -> None:
    error = classify_error(status, message, path="/x", order_request=order)
    assert type(error) is expected
    assert error.reason == reason
    assert (error.status_code, error.path, error.message) == (status, "/x", message)
    assert reason in str(error) and message in str(error)


def _interpret(
    status: int, content: bytes, *, mutating: bool = False, headers: dict[str, str] | None = None
) -> object:
    response = httpx.Response(status, content=content, headers=headers)
    return Transport._interpret(
        response, _Sent("/api/v2/x", {"amount": 1}, nonce=7, sent_at_ms=1), mutating
    )


def test_ok_body_is_returned() -> None:
    assert _interpret(200, b'{"status":"ok","rate":1.5}') == {
        "status": "ok",
        "rate": Decimal("1.5"),
    }


@pytest.mark.parametrize(
    ("status", "content", "headers", "expected"),
    [
        (429, b"Too Many Requests", {"Retry-After": "7"}, RateLimitError),
        (401, b"<html>denied</html>", None, AuthenticationError),
        (404, b"<html>not here</html>", None, ExchangeResponseError),
        (200, b'{"prices": {}}', None, ExchangeResponseError),
        (200, b"[1, 2]", None, ExchangeResponseError),
        (502, b"<html>bad gateway</html>", None, ExchangeUnavailableError),
    ],
)
def test_unreadable_answers_to_reads(
    status: int, content: bytes, headers: dict[str, str] | None, expected: type
) -> None:
    with pytest.raises(expected) as caught:
        _interpret(status, content, headers=headers)
    if isinstance(caught.value, RateLimitError):
        assert caught.value.retry_after == 7.0


@pytest.mark.parametrize(
    ("status", "content", "expected"),
    [
        (200, b"<html>", OrderStatusUnknownError),
        (504, b"<html>gateway timeout</html>", OrderStatusUnknownError),
        (502, b'{"status":"error","message":"Bad gateway"}', OrderStatusUnknownError),
        (404, b"<html>not here</html>", ExchangeResponseError),
        (400, b'{"status":"error","message":"Invalid amount"}', InvalidOrderError),
    ],
)
def test_answers_to_state_changing_requests(status: int, content: bytes, expected: type) -> None:
    with pytest.raises(expected) as caught:
        _interpret(status, content, mutating=True)
    if isinstance(caught.value, OrderStatusUnknownError):
        assert (caught.value.nonce, caught.value.params) == (7, {"amount": 1})
        assert "reconcile" in caught.value.message


def test_bad_retry_after_header_is_ignored() -> None:
    with pytest.raises(RateLimitError) as caught:
        _interpret(429, b"", headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert caught.value.retry_after is None
