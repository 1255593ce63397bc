"""Clients built from the application settings."""

from decimal import Decimal

import pytest
from fastapi import FastAPI

from app.core.config import settings
from app.core.lifespan import shutdown_hooks
from app.exchange.factory import (
    client_from_settings,
    close_shared_client,
    fees_from_settings,
    shared_client,
)
from app.exchange.ratelimit import shared_limiter

pytestmark = pytest.mark.anyio


async def test_client_from_settings_uses_the_configured_exchange() -> None:
    async with client_from_settings("k", "s") as client:
        assert client.base_url == settings.COINSPOT_BASE_URL.rstrip("/")
        assert client.key_fingerprint is not None
        assert client.rate_limiter is shared_limiter(
            settings.COINSPOT_BASE_URL, settings.COINSPOT_RATE_LIMIT_PER_MINUTE, 60.0
        )
    async with client_from_settings() as public:
        assert public.key_fingerprint is None


async def test_shared_client_is_one_per_loop_and_closed_at_shutdown() -> None:
    first = shared_client()
    assert shared_client() is first
    keyed = first.with_credentials("k", "s")
    assert keyed.rate_limiter is first.rate_limiter
    assert close_shared_client in shutdown_hooks
    await close_shared_client(FastAPI())
    assert shared_client() is not first
    await close_shared_client(FastAPI())


def test_fees_are_exact_decimals() -> None:
    fees = fees_from_settings()
    assert fees.market == Decimal(str(settings.COINSPOT_MARKET_FEE))
    assert fees.instant == Decimal(str(settings.COINSPOT_INSTANT_FEE))
    assert str(fees.market) == str(settings.COINSPOT_MARKET_FEE)
