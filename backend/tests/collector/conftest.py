"""Collector fixtures: the Coinspot simulator over real HTTP, clean price tables, and
clients/services pointed at the simulator with fast retries."""

from collections.abc import AsyncIterator, Iterator

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from app.core.db import engine
from app.exchange.client import CoinspotClient
from app.exchange.simulator import RunningSimulator, run_simulator
from app.exchange.transport import RetryPolicy


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


@pytest.fixture(autouse=True)
def clean_prices() -> Iterator[None]:
    def truncate() -> None:
        with Session(engine) as session:
            session.execute(sa.text("TRUNCATE price_data_5min, collection_runs RESTART IDENTITY"))
            session.commit()

    truncate()
    yield
    truncate()


@pytest.fixture
async def sim_client(simulator: RunningSimulator) -> AsyncIterator[CoinspotClient]:
    async with CoinspotClient(simulator.base_url, retry=RetryPolicy(attempts=1)) as client:
        yield client


def price_rows(session: Session, coin: str | None = None) -> list[sa.Row[tuple[object, ...]]]:
    query = 'SELECT coin_type, "timestamp", bid, ask, "last", source FROM price_data_5min'
    if coin:
        query += " WHERE coin_type = :coin"
    return list(
        session.execute(sa.text(query + ' ORDER BY coin_type, "timestamp"'), {"coin": coin})
    )
