"""Login throttling: 429 + Retry-After after the limit, growing delays, owner e-mail, audit
log, and the same behaviour when the attempts are spread over two app processes."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from app.core.config import settings
from app.core.db import engine
from tests.auth.conftest import API, Account, time_travel
from tests.utils import create_random_user, user_token_headers

BACKEND_DIR = Path(__file__).resolve().parents[2]


def _login(client: TestClient | httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post(f"{API}/login/access-token", data={"username": email, "password": password})


def _failures(key: str) -> int:
    with engine.connect() as conn:
        value = conn.execute(
            text("SELECT failures FROM login_throttle WHERE key = :k"), {"k": key}
        ).scalar()
    return int(value or 0)


def test_lock_after_limit_then_correct_login_after_delay(
    client: TestClient, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[dict[str, str]] = []
    monkeypatch.setattr("app.users.login_routes.send_email", lambda **kw: sent.append(kw))
    limit = settings.LOGIN_MAX_FAILURES_ACCOUNT
    for _ in range(limit):
        r = _login(client, account.email, "wrong-password")
        assert r.status_code == 400
        assert r.json()["detail"] == "Incorrect email or password"

    # Locked: even the right password answers 429, without being checked or counted.
    r = _login(client, account.email, account.password)
    assert r.status_code == 429
    wait = int(r.headers["Retry-After"])
    assert 1 <= wait <= settings.LOGIN_THROTTLE_BASE_SECONDS
    assert _failures(f"acct:{account.email}") == limit
    assert len(sent) == 1 and sent[0]["to"] == account.email
    assert f"{limit} failed attempts" in sent[0]["body"]

    # After the delay, one more failure locks for twice as long (growing delays) ...
    time_travel(settings.LOGIN_THROTTLE_BASE_SECONDS)
    assert _login(client, account.email, "wrong-again").status_code == 400
    r = _login(client, account.email, account.password)
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > settings.LOGIN_THROTTLE_BASE_SECONDS
    assert len(sent) == 1, "one e-mail per burst"

    # ... and once that has passed, the right password gets in and clears the counter.
    time_travel(2 * settings.LOGIN_THROTTLE_BASE_SECONDS)
    r = _login(client, account.email, account.password)
    assert r.status_code == 200, r.text
    assert r.json()["access_token"]
    assert _failures(f"acct:{account.email}") == 0

    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    events = client.get(f"{API}/security/login-events", headers=headers).json()
    results = [e["result"] for e in events["data"]]
    assert results[0] == "success"
    assert results.count("bad_credentials") == limit + 1
    assert results.count("throttled") == 2
    assert all(e["ip_address"] == "testclient" for e in events["data"])
    assert all(e["user_agent"] for e in events["data"])


def test_lock_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.auth.throttle import lock_seconds

    monkeypatch.setattr(settings, "LOGIN_THROTTLE_MAX_SECONDS", 900)
    assert lock_seconds(4, 5) == 0
    assert lock_seconds(5, 5) == settings.LOGIN_THROTTLE_BASE_SECONDS
    assert lock_seconds(6, 5) == 2 * settings.LOGIN_THROTTLE_BASE_SECONDS
    assert lock_seconds(500, 5) == 900, "no failure count locks anyone out for longer"


def test_unknown_email_is_throttled_like_a_known_one(client: TestClient) -> None:
    email = "nobody-at-all@example.com"
    for _ in range(settings.LOGIN_MAX_FAILURES_ACCOUNT):
        assert _login(client, email, "whatever-pw").status_code == 400
    assert _login(client, email, "whatever-pw").status_code == 429


def test_per_address_limit_spans_accounts(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "LOGIN_MAX_FAILURES_ADDRESS", 3)
    for _ in range(3):
        other, _pw = create_random_user(db)
        assert _login(client, other, "wrong-password").status_code == 400
    fresh, password = create_random_user(db)
    r = _login(client, fresh, password)
    assert r.status_code == 429, "the address is locked whichever account it tries"
    assert int(r.headers["Retry-After"]) >= 1


def test_password_reset_lifts_the_account_lock(client: TestClient, account: Account) -> None:
    from app.core import security

    for _ in range(settings.LOGIN_MAX_FAILURES_ACCOUNT):
        _login(client, account.email, "wrong-password")
    assert _login(client, account.email, account.password).status_code == 429
    token = security.create_password_reset_token(account.email)
    r = client.post(f"{API}/reset-password/", json={"token": token, "new_password": "new-pw-12345"})
    assert r.status_code == 200
    with engine.begin() as conn:  # only the account's lock goes; the address counter stays
        conn.execute(text("DELETE FROM login_throttle WHERE key LIKE 'ip:%'"))
    user_token_headers(client, account.email, "new-pw-12345")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def two_app_processes() -> Iterator[list[str]]:
    """Two uvicorn processes of the app on the test database (no scheduler, no sandbox)."""
    env = {**os.environ, "COLLECTOR_ENABLED": "false", "BACKTEST_WORKER_ENABLED": "false"}
    procs, urls = [], []
    for _ in range(2):
        port = _free_port()
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "app.main:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--lifespan",
                    "off",
                    "--log-level",
                    "warning",
                ],
                cwd=BACKEND_DIR,
                env=env,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for proc, url in zip(procs, urls, strict=True):
            deadline = time.monotonic() + 300  # importing the app is slow on a busy machine
            while True:
                assert proc.poll() is None, "app process exited"
                assert time.monotonic() < deadline, "app process did not start"
                try:
                    httpx.get(f"{url}{API}/openapi.json", timeout=2)
                    break
                except httpx.TransportError:
                    time.sleep(0.2)  # polling for start-up, not waiting out a race
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=20)


@pytest.mark.timeout(600)
def test_throttle_holds_across_two_app_processes(
    account: Account, two_app_processes: list[str]
) -> None:
    a, b = (httpx.Client(base_url=url, timeout=30) for url in two_app_processes)
    with a, b:
        limit = settings.LOGIN_MAX_FAILURES_ACCOUNT
        for i in range(limit):
            r = _login(a if i % 2 == 0 else b, account.email, "wrong-password")
            assert r.status_code == 400
        for c in (a, b):  # both processes see the lock the other one helped set
            r = _login(c, account.email, account.password)
            assert r.status_code == 429
            assert 1 <= int(r.headers["Retry-After"]) <= settings.LOGIN_THROTTLE_BASE_SECONDS
        time_travel(settings.LOGIN_THROTTLE_BASE_SECONDS)
        r = _login(b, account.email, account.password)
        assert r.status_code == 200, r.text
        me = a.get(
            f"{API}/users/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}
        )
        assert me.status_code == 200 and me.json()["email"] == account.email
