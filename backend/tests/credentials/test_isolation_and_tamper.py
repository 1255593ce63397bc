"""Who may reach what, and what happens when stored ciphertext cannot be trusted."""

import base64

import pytest
from fastapi.testclient import TestClient

from app.core.config import settings
from app.core.crypto import generate_key
from tests.credentials.helpers import API, Owner, Pair, audit_rows, new_pair, raw_row, set_columns

UNDECRYPTABLE = "stored credentials cannot be decrypted with the configured keys"

ROUTES: list[tuple[str, str, dict[str, str] | None]] = [
    ("GET", API, None),
    ("PUT", API, {"label": "mine now"}),
    ("DELETE", API, None),
    ("POST", f"{API}/validate", None),
]


def _store(client: TestClient, owner: Owner, pair: Pair) -> None:
    r = client.post(API, headers=owner.headers, json=pair.body())
    assert r.status_code == 201, r.text


def test_unauthenticated_is_401_everywhere(client: TestClient, pair: Pair) -> None:
    for method, url, body in [*ROUTES, ("POST", API, pair.body()), ("GET", f"{API}/audit", None)]:
        for headers in ({}, {"Authorization": "Bearer not-a-token"}):
            r = client.request(method, url, headers=headers, json=body)
            assert r.status_code == 401, (method, url, r.text)
            assert pair.secret not in r.text


def test_other_user_gets_404_on_every_route(
    client: TestClient, owner: Owner, other: Owner, pair: Pair
) -> None:
    _store(client, owner, pair)
    before = raw_row(owner.id)
    for method, url, body in ROUTES:
        r = client.request(method, url, headers=other.headers, json=body)
        assert r.status_code == 404, (method, url, r.text)
        assert r.json()["detail"] == "No Coinspot credentials are stored for this account"
        assert pair.key[-4:] not in r.text
    assert raw_row(owner.id) == before
    # B's trail shows only B's own attempts, none of A's.
    trail = client.get(f"{API}/audit", headers=other.headers).json()
    assert {e["outcome"] for e in trail["data"]} == {"not_found"}
    assert all(e["key_fingerprint"] is None for e in trail["data"])
    # B storing their own pair does not touch A's.
    _store(client, other, new_pair())
    assert raw_row(owner.id) == before
    assert client.get(API, headers=owner.headers).json()["key_last4"] == pair.key[-4:]


def _flip_a_byte(token: str) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token))
    raw[-40] ^= 0x20
    return base64.urlsafe_b64encode(bytes(raw)).decode()


def _assert_clear_409(r: object) -> None:
    assert r.status_code == 409, r.text  # type: ignore[attr-defined]
    detail = r.json()["detail"]  # type: ignore[attr-defined]
    assert UNDECRYPTABLE in detail and "re-enter" in detail
    assert "Traceback" not in r.text  # type: ignore[attr-defined]


@pytest.mark.parametrize("column", ["api_key_encrypted", "api_secret_encrypted"])
def test_tampered_ciphertext_is_a_clear_409(
    client: TestClient, owner: Owner, pair: Pair, column: str
) -> None:
    _store(client, owner, pair)
    row = raw_row(owner.id)
    assert row is not None
    set_columns(owner.id, **{column: _flip_a_byte(str(row[column]))})
    _assert_clear_409(client.get(API, headers=owner.headers))
    _assert_clear_409(client.post(f"{API}/validate", headers=owner.headers))
    # A partial update cannot repair it ...
    _assert_clear_409(client.put(API, headers=owner.headers, json={"label": "x"}))
    assert audit_rows(owner.id)[-1]["outcome"] == "undecryptable"
    # ... re-entering both parts does.
    fresh = new_pair()
    r = client.put(
        API, headers=owner.headers, json={"api_key": fresh.key, "api_secret": fresh.secret}
    )
    assert r.status_code == 200, r.text
    assert client.get(API, headers=owner.headers).json()["key_last4"] == fresh.key[-4:]


def test_wrong_encryption_key_is_a_clear_409_and_delete_still_works(
    client: TestClient, owner: Owner, pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store(client, owner, pair)
    monkeypatch.setattr(settings, "CREDENTIALS_ENCRYPTION_KEYS", [generate_key()])
    _assert_clear_409(client.get(API, headers=owner.headers))
    _assert_clear_409(client.put(API, headers=owner.headers, json={"api_key": new_pair().key}))
    assert client.delete(API, headers=owner.headers).status_code == 200
    assert raw_row(owner.id) is None


def test_ciphertext_moved_between_users_is_refused(
    client: TestClient, owner: Owner, other: Owner, pair: Pair
) -> None:
    """Someone with database write access copies A's encrypted pair into B's row."""
    _store(client, owner, pair)
    _store(client, other, new_pair())
    a = raw_row(owner.id)
    assert a is not None
    set_columns(
        other.id,
        api_key_encrypted=str(a["api_key_encrypted"]),
        api_secret_encrypted=str(a["api_secret_encrypted"]),
    )
    _assert_clear_409(client.get(API, headers=other.headers))
    _assert_clear_409(client.post(f"{API}/validate", headers=other.headers))


def test_key_and_secret_columns_cannot_be_swapped(
    client: TestClient, owner: Owner, pair: Pair
) -> None:
    _store(client, owner, pair)
    row = raw_row(owner.id)
    assert row is not None
    set_columns(
        owner.id,
        api_key_encrypted=str(row["api_secret_encrypted"]),
        api_secret_encrypted=str(row["api_key_encrypted"]),
    )
    r = client.get(API, headers=owner.headers)
    _assert_clear_409(r)
    assert pair.secret[-4:] not in r.text
