"""Exchange clients configured from the application settings (the only place that reads them).

`shared_client()` is the process's client for the running event loop: one connection
pool for every caller. Derive per-key clients from it with `.with_credentials(key,
secret)`; they share its pool, rate limiter and nonce guard. The app's shutdown hook
closes it.
"""

import asyncio
import weakref
from decimal import Decimal
from typing import Any, NamedTuple

from fastapi import FastAPI

from app.core.config import settings
from app.core.lifespan import on_shutdown
from app.exchange.client import CoinspotClient


class FeeSchedule(NamedTuple):
    """Fee rates as fractions: order-book (limit) trades and instant buy/sell-now trades."""

    market: Decimal
    instant: Decimal


def client_from_settings(
    api_key: str | None = None, api_secret: str | None = None, **overrides: Any
) -> CoinspotClient:
    """A new client (with its own pool) for COINSPOT_BASE_URL, configured timeout and limit.

    `overrides` are passed to `CoinspotClient` (e.g. `retry=`, `http_client=`).
    """
    options: dict[str, Any] = {
        "api_key": api_key,
        "api_secret": api_secret,
        "timeout_seconds": settings.COINSPOT_TIMEOUT_SECONDS,
        "rate_limit": settings.COINSPOT_RATE_LIMIT_PER_MINUTE,
        "rate_limit_period_seconds": 60.0,
    }
    options.update(overrides)
    return CoinspotClient(settings.COINSPOT_BASE_URL, **options)


# Connections belong to the event loop that opened them, hence one client per loop.
_shared: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CoinspotClient] = (
    weakref.WeakKeyDictionary()
)


def shared_client() -> CoinspotClient:
    """The public client of this process and event loop (created on first use)."""
    loop = asyncio.get_running_loop()
    client = _shared.get(loop)
    if client is None:
        client = _shared[loop] = client_from_settings()
    return client


@on_shutdown
async def close_shared_client(_app: FastAPI) -> None:
    client = _shared.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()


def fees_from_settings() -> FeeSchedule:
    # str() first: the settings are floats and Decimal(0.001) is not 0.001.
    return FeeSchedule(
        market=Decimal(str(settings.COINSPOT_MARKET_FEE)),
        instant=Decimal(str(settings.COINSPOT_INSTANT_FEE)),
    )
