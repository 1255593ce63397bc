"""The exchange boundary: the only code that speaks HTTP to Coinspot.

- `client.CoinspotClient`: typed async client (public, read-only, full-access API v2).
- `errors`: typed errors with a machine-readable `reason`.
- `models`: pydantic results, `Decimal` money.
- `signing`, `nonce`, `ratelimit`: the pieces the client is built from.
- `factory.client_from_settings`: a client configured from `app.core.config`.
- `simulator/`: a Coinspot-compatible exchange for tests, demo and rehearsals
  (imported only by tests, scripts and demo mode).

This package's `__init__` imports nothing from `app.core` so the simulator runs standalone.
"""

from app.exchange.client import CoinspotClient
from app.exchange.errors import (
    AuthenticationError,
    ExchangeError,
    ExchangeRejectedError,
    ExchangeResponseError,
    ExchangeUnavailableError,
    InsufficientFundsError,
    InvalidOrderError,
    OrderStatusUnknownError,
    RateLimitError,
)
from app.exchange.transport import RetryPolicy

__all__ = [
    "AuthenticationError",
    "CoinspotClient",
    "ExchangeError",
    "ExchangeRejectedError",
    "ExchangeResponseError",
    "ExchangeUnavailableError",
    "InsufficientFundsError",
    "InvalidOrderError",
    "OrderStatusUnknownError",
    "RateLimitError",
    "RetryPolicy",
]
