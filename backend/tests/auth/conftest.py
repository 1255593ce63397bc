"""Fixtures for the account-security tests: a clean throttle, users with and without 2FA."""

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from app.core.db import engine
from app.main import app
from tests.utils import create_random_user, enable_two_factor, user_token_headers

API = "/api/v1"


def clear_throttle() -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM login_throttle"))


@pytest.fixture(autouse=True)
def clean_throttle() -> Iterator[None]:
    """Every test starts and ends with no failure counted (the test client's address is shared)."""
    clear_throttle()
    yield
    clear_throttle()


@pytest.fixture()
def https_client() -> Iterator[TestClient]:
    """A client on https, so that the Secure refresh cookie is stored and sent back."""
    with TestClient(app, base_url="https://testserver") as c:
        yield c


@dataclass
class Account:
    email: str
    password: str
    secret: str = ""
    recovery_codes: tuple[str, ...] = ()


@pytest.fixture()
def account(db: Session) -> Account:
    email, password = create_random_user(db)
    return Account(email, password)


@pytest.fixture()
def account_2fa(client: TestClient, db: Session) -> Account:
    email, password = create_random_user(db)
    headers = user_token_headers(client, email, password)
    secret, codes = enable_two_factor(client, headers, email)
    return Account(email, password, secret, tuple(codes))


def time_travel(seconds: int) -> None:
    """Move every throttle lock and failure `seconds` into the past (as if time had passed)."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE login_throttle SET locked_until = locked_until - make_interval(secs => :s), "
                "last_failure_at = last_failure_at - make_interval(secs => :s)"
            ),
            {"s": seconds},
        )
