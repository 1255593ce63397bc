"""Fixtures for the credentials tests: encryption keys, fresh users, key pairs."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.config import settings
from app.core.crypto import generate_key
from app.credentials.ratelimit import validate_limiter
from app.exchange.simulator import RunningSimulator, run_simulator
from tests.credentials.helpers import Owner, Pair, drop_credentials, make_owner, new_pair

TEST_KEY = generate_key()


@pytest.fixture(autouse=True)
def encryption_keys(monkeypatch: pytest.MonkeyPatch) -> str:
    """Every credentials test runs with one known key (tests change it with monkeypatch)."""
    monkeypatch.setattr(settings, "CREDENTIALS_ENCRYPTION_KEYS", [TEST_KEY])
    validate_limiter.reset()
    return TEST_KEY


@pytest.fixture()
def owner(client: TestClient, db: Session) -> Iterator[Owner]:
    o = make_owner(client, db)
    yield o
    # Leave no row behind that later tests (rotation walks every row) would trip on.
    drop_credentials(o.id)


@pytest.fixture()
def other(client: TestClient, db: Session) -> Iterator[Owner]:
    o = make_owner(client, db)
    yield o
    drop_credentials(o.id)


@pytest.fixture()
def pair() -> Pair:
    return new_pair()


@pytest.fixture(scope="session")
def simulator_server() -> Iterator[RunningSimulator]:
    with run_simulator() as sim:
        yield sim


@pytest.fixture()
def simulator(
    simulator_server: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> RunningSimulator:
    """A fresh simulator that the app's own (production) client factory talks to."""
    simulator_server.admin.reset()
    monkeypatch.setattr(settings, "COINSPOT_BASE_URL", simulator_server.base_url)
    return simulator_server
