"""POST /credentials/coinspot/validate against the Coinspot simulator over real HTTP."""

import socket
import threading
import time
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from app.core.config import settings
from app.exchange.simulator import RunningSimulator, SimAccount
from tests.credentials.helpers import API, Owner, Pair, audit_rows, raw_row

VALIDATE = f"{API}/validate"


def _store(client: TestClient, owner: Owner, key: str, secret: str) -> None:
    r = client.post(API, headers=owner.headers, json=Pair(key, secret).body())
    assert r.status_code == 201, r.text


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens here any more


@pytest.fixture()
def account(simulator: RunningSimulator) -> SimAccount:
    return simulator.admin.create_account({"AUD": "1000.50", "BTC": "0.25"})


def test_valid_full_access_keys(
    client: TestClient, owner: Owner, simulator: RunningSimulator, account: SimAccount
) -> None:
    _store(client, owner, account.api_key, account.api_secret)
    r = client.post(VALIDATE, headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["valid"] is True
    assert body["status"] == "valid"
    assert body["reason"] is None
    assert body["permission_level"] == "full_access"
    balances = {b["coin"]: b for b in body["balances"]}
    assert Decimal(balances["AUD"]["balance"]) == Decimal("1000.50")
    assert Decimal(balances["BTC"]["balance"]) == Decimal("0.25")
    assert Decimal(balances["BTC"]["aud_balance"]) > 0
    assert account.api_secret not in r.text and account.api_key not in r.text

    # The call really went to the exchange, signed, with the stored key.
    seen = simulator.admin.requests("/api/v2/ro/my/balances")
    assert [(q["key"], q["status"]) for q in seen] == [(account.api_key, 200)]

    stored = client.get(API, headers=owner.headers).json()
    assert stored["validation_status"] == "valid"
    assert stored["permission_level"] == "full_access"
    assert stored["last_validated_at"] is not None
    entry = client.get(f"{API}/audit", headers=owner.headers).json()["data"][0]
    assert (entry["action"], entry["outcome"]) == ("validate", "valid")


def test_read_only_keys_are_valid_and_marked_read_only(
    client: TestClient, owner: Owner, simulator: RunningSimulator
) -> None:
    ro = simulator.admin.create_account({"AUD": "5"}, read_only=True)
    _store(client, owner, ro.api_key, ro.api_secret)
    body = client.post(VALIDATE, headers=owner.headers).json()
    assert (body["valid"], body["permission_level"]) == (True, "read_only")
    assert client.get(API, headers=owner.headers).json()["permission_level"] == "read_only"
    # The probe used was the harmless full-access status call, nothing that trades.
    full_calls = {q["path"] for q in simulator.admin.requests() if "/ro/" not in q["path"]}
    assert full_calls == {"/api/v2/status"}


@pytest.mark.usefixtures("simulator")
def test_wrong_secret_is_invalid_signature(
    client: TestClient, owner: Owner, account: SimAccount
) -> None:
    wrong = "f" * 64
    _store(client, owner, account.api_key, wrong)
    before = raw_row(owner.id)
    r = client.post(VALIDATE, headers=owner.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["valid"] is False
    assert body["status"] == "invalid_signature"
    assert "signature" in body["reason"]
    assert body["balances"] is None
    after = raw_row(owner.id)
    assert after is not None and before is not None
    assert after["validation_status"] == "invalid_signature"
    assert after["api_secret_encrypted"] == before["api_secret_encrypted"]
    assert wrong not in r.text
    assert audit_rows(owner.id)[-1]["outcome"] == "invalid_signature"


@pytest.mark.usefixtures("simulator")
def test_unknown_key_is_invalid_key(client: TestClient, owner: Owner) -> None:
    _store(client, owner, "0123456789abcdef0123456789abcdef", "s" * 40)
    body = client.post(VALIDATE, headers=owner.headers).json()
    assert (body["valid"], body["status"]) == (False, "invalid_key")
    assert "bad key" in body["reason"]


@pytest.mark.usefixtures("simulator")
def test_exchange_down_leaves_credentials_untouched(
    client: TestClient,
    owner: Owner,
    account: SimAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _store(client, owner, account.api_key, account.api_secret)
    assert client.post(VALIDATE, headers=owner.headers).json()["valid"] is True
    before = raw_row(owner.id)

    monkeypatch.setattr(settings, "COINSPOT_BASE_URL", _dead_url())
    r = client.post(VALIDATE, headers=owner.headers)
    assert r.status_code == 200
    body = r.json()
    assert (body["valid"], body["status"]) == (False, "exchange_unavailable")
    assert "exchange unavailable" in body["reason"]
    assert body["permission_level"] == "full_access"  # what we last knew, unchanged
    assert raw_row(owner.id) == before  # nothing about the stored row changed
    assert audit_rows(owner.id)[-1]["outcome"] == "exchange_unavailable"


@pytest.mark.parametrize(
    ("fault", "status", "reason"),
    [
        ("error", "exchange_unavailable", "exchange unavailable"),
        ("rate_limit", "rate_limited", "rate limited"),
        ("malformed", "exchange_error", "unexpected answer"),
    ],
)
def test_exchange_faults_are_reported_and_change_nothing(
    client: TestClient,
    owner: Owner,
    simulator: RunningSimulator,
    account: SimAccount,
    fault: str,
    status: str,
    reason: str,
) -> None:
    _store(client, owner, account.api_key, account.api_secret)
    before = raw_row(owner.id)
    simulator.admin.add_fault(fault, count=1, path="/api/v2/ro/my/balances")  # type: ignore[arg-type]
    body = client.post(VALIDATE, headers=owner.headers).json()
    assert (body["valid"], body["status"]) == (False, status)
    assert reason in body["reason"]
    assert raw_row(owner.id) == before
    # Once the fault has passed, the same keys validate.
    assert client.post(VALIDATE, headers=owner.headers).json()["valid"] is True


def test_exchange_timeout_is_unavailable(
    client: TestClient,
    owner: Owner,
    simulator: RunningSimulator,
    account: SimAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "CREDENTIALS_VALIDATE_TIMEOUT_SECONDS", 0.3)
    _store(client, owner, account.api_key, account.api_secret)
    simulator.admin.hang_next(1, path="/api/v2/ro/my/balances", seconds=2)
    body = client.post(VALIDATE, headers=owner.headers).json()
    assert (body["valid"], body["status"]) == (False, "exchange_unavailable")


def test_misconfigured_exchange_url_is_a_clear_answer_not_a_500(
    client: TestClient, owner: Owner, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store(client, owner, "0123456789abcdef0123456789abcdef", "s" * 40)
    monkeypatch.setattr(settings, "COINSPOT_BASE_URL", "notascheme://???")
    r = client.post(VALIDATE, headers=owner.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["valid"], r.json()["status"]) == (False, "exchange_unavailable")


def test_validate_is_rate_limited_per_user(
    client: TestClient,
    owner: Owner,
    other: Owner,
    simulator: RunningSimulator,
    account: SimAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "CREDENTIALS_VALIDATE_PER_MINUTE", 2)
    _store(client, owner, account.api_key, account.api_secret)
    second = simulator.admin.create_account({"AUD": "1"})
    _store(client, other, second.api_key, second.api_secret)

    for _ in range(2):
        assert client.post(VALIDATE, headers=owner.headers).status_code == 200
    r = client.post(VALIDATE, headers=owner.headers)
    assert r.status_code == 429
    assert "too many validation attempts" in r.json()["detail"]
    assert "2 per minute" in r.json()["detail"]
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    # The refused attempt never reached the exchange ...
    assert len(simulator.admin.requests("/api/v2/ro/my/balances")) == 2
    # ... and another user has their own allowance.
    assert client.post(VALIDATE, headers=other.headers).status_code == 200


@pytest.mark.usefixtures("simulator")
def test_new_key_material_resets_validation(
    client: TestClient, owner: Owner, account: SimAccount
) -> None:
    _store(client, owner, account.api_key, account.api_secret)
    client.post(VALIDATE, headers=owner.headers)
    r = client.put(API, headers=owner.headers, json={"label": "renamed"})
    assert r.json()["validation_status"] == "valid"  # a label is not key material
    r = client.put(API, headers=owner.headers, json={"api_secret": "e" * 64})
    assert r.json()["validation_status"] == "not_validated"
    assert r.json()["permission_level"] == "unknown"
    assert r.json()["last_validated_at"] is None


def test_verdict_on_replaced_keys_is_not_stored(
    client: TestClient, owner: Owner, simulator: RunningSimulator, account: SimAccount
) -> None:
    """The pair is replaced while Coinspot is still answering: the (stale) verdict is
    audited but not written onto the new pair."""
    _store(client, owner, account.api_key, account.api_secret)
    simulator.admin.add_latency(1.0, path="/api/v2/ro/my/balances", count=1)
    answers: list[dict[str, object]] = []
    worker = threading.Thread(
        target=lambda: answers.append(client.post(VALIDATE, headers=owner.headers).json())
    )
    worker.start()
    deadline = time.monotonic() + 10
    while simulator.admin.faults():  # the rule is consumed once the request is in flight
        assert time.monotonic() < deadline, "validation never reached the simulator"
        time.sleep(0.01)
    r = client.put(API, headers=owner.headers, json={"api_secret": "d" * 64})
    assert r.status_code == 200
    worker.join(timeout=15)
    assert answers and answers[0]["valid"] is True  # the old pair was fine ...
    row = raw_row(owner.id)
    assert row is not None
    assert row["validation_status"] == "not_validated"  # ... but says nothing of the new one
    assert row["last_validated_at"] is None
    assert audit_rows(owner.id)[-1]["outcome"] == "valid"
