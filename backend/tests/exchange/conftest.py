"""Fixtures for exchange tests: one simulator server per session, reset before each test.

Other domains can build the same two fixtures in their own conftest.py:

    from app.exchange.simulator import run_simulator

    @pytest.fixture(scope="session")
    def simulator_server():
        with run_simulator() as sim:
            yield sim
"""

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from app.exchange.client import CoinspotClient
from app.exchange.nonce import NonceGenerator
from app.exchange.ratelimit import SlidingWindowLimiter
from app.exchange.simulator import RunningSimulator, SimAccount, run_simulator
from app.exchange.transport import RetryPolicy

FAST_RETRY = RetryPolicy(attempts=3, initial_seconds=0.01, max_seconds=0.05, jitter_seconds=0.01)

ClientFactory = Callable[..., AbstractAsyncContextManager[CoinspotClient]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def simulator_server() -> Iterator[RunningSimulator]:
    with run_simulator() as sim:
        yield sim


@pytest.fixture
def simulator(simulator_server: RunningSimulator) -> RunningSimulator:
    """The session's simulator with fresh state: default coins, no accounts, no faults."""
    simulator_server.admin.reset()
    return simulator_server


@pytest.fixture(scope="session")
def nonce_generator(tmp_path_factory: pytest.TempPathFactory) -> NonceGenerator:
    return NonceGenerator(state_dir=tmp_path_factory.mktemp("nonces"))


@pytest.fixture
def make_client(simulator: RunningSimulator, nonce_generator: NonceGenerator) -> ClientFactory:
    """`async with make_client(account) as client:` a client for the simulator with fast
    retries and its own rate limiter (so tests do not share limiter state)."""

    @asynccontextmanager
    async def factory(
        account: SimAccount | None = None, **options: Any
    ) -> AsyncIterator[CoinspotClient]:
        settings: dict[str, Any] = {
            "retry": FAST_RETRY,
            "rate_limiter": SlidingWindowLimiter(10_000, 60.0),
            "nonce_generator": nonce_generator,
            "timeout_seconds": 5.0,
        }
        if account is not None:
            settings.update(api_key=account.api_key, api_secret=account.api_secret)
        settings.update(options)
        async with CoinspotClient(simulator.base_url, **settings) as client:
            yield client

    return factory


@pytest.fixture
def funded(simulator: RunningSimulator) -> SimAccount:
    """A full-access account with 100 000 AUD."""
    return simulator.admin.create_account({"AUD": "100000"})
