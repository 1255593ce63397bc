"""Floor fixtures: a Coinspot simulator over HTTP, a sandbox pool, and brokers for it."""

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from app.core.config import settings
from app.core.db import engine
from app.exchange.client import CoinspotClient
from app.exchange.nonce import NonceGenerator
from app.exchange.ratelimit import SlidingWindowLimiter
from app.exchange.simulator import RunningSimulator, SimAccount, run_simulator
from app.exchange.transport import RetryPolicy
from app.floor.brokers import Broker, CoinspotBroker, PaperBroker
from app.floor.executor import BrokerFactory
from app.floor.models import DeployedAlgorithm
from app.lab.sandbox import Limits, SandboxPool

FAST_RETRY = RetryPolicy(attempts=3, initial_seconds=0.01, max_seconds=0.05, jitter_seconds=0.01)
BAR_T = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def simulator_server() -> Iterator[RunningSimulator]:
    with run_simulator() as sim:
        yield sim


@pytest.fixture
def simulator(simulator_server: RunningSimulator) -> RunningSimulator:
    simulator_server.admin.reset()
    return simulator_server


@pytest.fixture(scope="session")
def pool() -> Iterator[SandboxPool]:
    sandbox = SandboxPool(
        workers=2,
        limits=Limits(cpu_seconds=20, wall_seconds=30, memory_mb=2048, max_processes=4),
        uid_base=62000,
    )
    sandbox.start()
    yield sandbox
    sandbox.close()


@pytest.fixture(scope="session")
def nonce_generator(tmp_path_factory: pytest.TempPathFactory) -> NonceGenerator:
    return NonceGenerator(state_dir=tmp_path_factory.mktemp("floor-nonces"))


@pytest.fixture(autouse=True)
def _fast_floor_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "FLOOR_RATE_LIMIT_BACKOFF_SECONDS", 0.05)


@pytest.fixture
async def sim_brokers(
    simulator: RunningSimulator, nonce_generator: NonceGenerator
) -> AsyncIterator[Callable[..., BrokerFactory]]:
    """`sim_brokers(account, timeout=...)` -> a broker factory: live deployments trade on
    `account` at the simulator, paper ones quote from it."""
    clients: list[CoinspotClient] = []

    def make(account: SimAccount | None = None, *, timeout: float = 5.0) -> BrokerFactory:
        options: dict[str, Any] = {
            "retry": FAST_RETRY,
            "rate_limiter": SlidingWindowLimiter(10_000, 60.0),
            "nonce_generator": nonce_generator,
            "timeout_seconds": timeout,
        }
        if account is not None:
            options.update(api_key=account.api_key, api_secret=account.api_secret)
        client = CoinspotClient(simulator.base_url, **options)
        clients.append(client)

        async def factory(deployment: DeployedAlgorithm) -> Broker:
            if deployment.mode == "paper":
                return PaperBroker(client, engine)
            return CoinspotBroker(client)

        return factory

    yield make
    for client in clients:
        await client.aclose()
