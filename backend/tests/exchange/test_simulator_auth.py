"""The simulator checks signatures, keys, nonces and permissions like Coinspot (raw HTTP)."""

import httpx
import pytest

from app.exchange import jsoncodec
from app.exchange.signing import sign
from app.exchange.simulator import RunningSimulator, SimAccount


def _post(
    sim: RunningSimulator,
    path: str,
    body: bytes,
    *,
    key: str | None,
    signature: str | None,
) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["key"] = key
    if signature is not None:
        headers["sign"] = signature
    return httpx.post(sim.base_url + path, content=body, headers=headers, timeout=5)


def _signed(
    sim: RunningSimulator, account: SimAccount, path: str, payload: dict[str, object]
) -> httpx.Response:
    body = jsoncodec.dumps(payload).encode()
    return _post(sim, path, body, key=account.api_key, signature=sign(body, account.api_secret))


@pytest.fixture
def account(simulator: RunningSimulator) -> SimAccount:
    return simulator.admin.create_account({"AUD": "1000"})


def test_a_correctly_signed_request_is_accepted(
    simulator: RunningSimulator, account: SimAccount
) -> None:
    response = _signed(simulator, account, "/api/v2/ro/my/balances", {"nonce": 10})
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_tampered_body_is_rejected(simulator: RunningSimulator, account: SimAccount) -> None:
    signed_body = b'{"nonce":11,"cointype":"BTC","amount":0.001,"amounttype":"coin"}'
    signature = sign(signed_body, account.api_secret)
    tampered = signed_body.replace(b"0.001", b"9.001")
    response = _post(
        simulator, "/api/v2/my/buy/now", tampered, key=account.api_key, signature=signature
    )
    assert response.status_code == 401
    assert response.json() == {"status": "error", "message": "Invalid signature"}
    # Nothing was bought.
    assert simulator.admin.account(account.api_key)["fills"] == []


def test_wrong_key_is_rejected(simulator: RunningSimulator, account: SimAccount) -> None:
    body = b'{"nonce":12}'
    response = _post(
        simulator,
        "/api/v2/ro/my/balances",
        body,
        key="no-such-key",
        signature=sign(body, account.api_secret),
    )
    assert response.status_code == 401
    assert response.json() == {"status": "error", "message": "Invalid API key"}


def test_missing_headers_are_rejected(simulator: RunningSimulator, account: SimAccount) -> None:
    body = b'{"nonce":13}'
    no_key = _post(
        simulator, "/api/v2/ro/status", body, key=None, signature=sign(body, account.api_secret)
    )
    no_sign = _post(simulator, "/api/v2/ro/status", body, key=account.api_key, signature=None)
    assert no_key.json()["message"] == "Invalid API key: missing key header"
    assert no_sign.json()["message"] == "Invalid signature"


def test_secret_of_another_account_is_a_bad_signature(
    simulator: RunningSimulator, account: SimAccount
) -> None:
    other = simulator.admin.create_account()
    body = b'{"nonce":14}'
    response = _post(
        simulator,
        "/api/v2/ro/status",
        body,
        key=account.api_key,
        signature=sign(body, other.api_secret),
    )
    assert response.json()["message"] == "Invalid signature"


def test_replayed_nonce_is_rejected(simulator: RunningSimulator, account: SimAccount) -> None:
    first = _signed(simulator, account, "/api/v2/ro/status", {"nonce": 100})
    replay = _signed(simulator, account, "/api/v2/ro/status", {"nonce": 100})
    assert first.status_code == 200
    assert replay.status_code == 401
    assert replay.json()["message"].startswith("Invalid nonce")


def test_decreasing_or_missing_nonce_is_rejected(
    simulator: RunningSimulator, account: SimAccount
) -> None:
    assert _signed(simulator, account, "/api/v2/ro/status", {"nonce": 500}).status_code == 200
    lower = _signed(simulator, account, "/api/v2/ro/status", {"nonce": 499})
    missing = _signed(simulator, account, "/api/v2/ro/status", {})
    text = _signed(simulator, account, "/api/v2/ro/status", {"nonce": "501"})
    for response in (lower, missing, text):
        assert response.status_code == 401
        assert response.json()["message"].startswith("Invalid nonce")
    assert _signed(simulator, account, "/api/v2/ro/status", {"nonce": 501}).status_code == 200


def test_nonces_are_per_key(simulator: RunningSimulator, account: SimAccount) -> None:
    other = simulator.admin.create_account()
    assert _signed(simulator, account, "/api/v2/ro/status", {"nonce": 900}).status_code == 200
    assert _signed(simulator, other, "/api/v2/ro/status", {"nonce": 5}).status_code == 200


def test_read_only_key_cannot_trade(simulator: RunningSimulator) -> None:
    reader = simulator.admin.create_account({"AUD": "1000"}, read_only=True)
    assert _signed(simulator, reader, "/api/v2/ro/status", {"nonce": 1}).status_code == 200
    response = _signed(
        simulator,
        reader,
        "/api/v2/my/buy/now",
        {"nonce": 2, "cointype": "BTC", "amount": 1, "amounttype": "aud"},
    )
    assert response.status_code == 403
    assert response.json()["message"] == "Permission denied: this API key is read-only"


def test_body_must_be_a_json_object(simulator: RunningSimulator, account: SimAccount) -> None:
    for body in (b"not json", b"[1,2]"):
        response = _post(
            simulator,
            "/api/v2/ro/status",
            body,
            key=account.api_key,
            signature=sign(body, account.api_secret),
        )
        assert response.status_code == 400
        assert response.json()["message"].startswith("Invalid request body")


def test_unknown_paths_are_404(simulator: RunningSimulator, account: SimAccount) -> None:
    assert _signed(simulator, account, "/api/v2/my/teleport", {"nonce": 1}).status_code == 404
    assert httpx.get(simulator.base_url + "/pubapi/v2/nothing/here").status_code == 404
