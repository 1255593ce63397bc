"""Store, read masked, replace, delete; ciphertext only at rest; audit trail."""

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from app.core.db import engine
from app.credentials import service
from tests.credentials.helpers import API, Owner, Pair, audit_rows, new_pair, raw_row
from tests.utils import error_text


def _create(client: TestClient, owner: Owner, pair: Pair, label: str = "main") -> dict[str, object]:
    r = client.post(API, headers=owner.headers, json=pair.body(label))
    assert r.status_code == 201, r.text
    body: dict[str, object] = r.json()
    return body


def test_create_and_read_masked(client: TestClient, owner: Owner, pair: Pair) -> None:
    created = _create(client, owner, pair)
    r = client.get(API, headers=owner.headers)
    assert r.status_code == 200
    body = r.json()
    assert body == created
    assert body["label"] == "main"
    assert body["key_last4"] == pair.key[-4:]
    assert body["key_fingerprint"] == service.fingerprint(pair.key)
    assert body["permission_level"] == "unknown"
    assert body["validation_status"] == "not_validated"
    assert body["last_validated_at"] is None
    assert set(body) == {
        "label",
        "key_last4",
        "key_fingerprint",
        "permission_level",
        "validation_status",
        "last_validated_at",
        "created_at",
        "updated_at",
    }
    assert pair.key not in r.text and pair.secret not in r.text
    assert r.json()["created_at"].endswith(("Z", "+00:00"))


def test_database_holds_only_ciphertext(client: TestClient, owner: Owner, pair: Pair) -> None:
    _create(client, owner, pair)
    row = raw_row(owner.id)
    assert row is not None
    dump = " ".join(str(v) for v in row.values())
    assert pair.key not in dump and pair.secret not in dump
    # Nor any long piece of them (e.g. the key minus a character, or a prefix).
    assert pair.key[:-4] not in dump and pair.secret[:20] not in dump
    assert str(row["api_key_encrypted"]).startswith("gAAAAA")  # Fernet tokens
    assert str(row["api_secret_encrypted"]).startswith("gAAAAA")


def test_second_create_is_409_and_leaves_first(
    client: TestClient, owner: Owner, pair: Pair
) -> None:
    _create(client, owner, pair)
    before = raw_row(owner.id)
    r = client.post(API, headers=owner.headers, json=new_pair().body("second"))
    assert r.status_code == 409
    assert "already exist" in r.json()["detail"]
    assert raw_row(owner.id) == before


def test_put_label_only_keeps_keys(client: TestClient, owner: Owner, pair: Pair) -> None:
    _create(client, owner, pair)
    before = raw_row(owner.id)
    assert before is not None
    r = client.put(API, headers=owner.headers, json={"label": "  savings  "})
    assert r.status_code == 200, r.text
    assert r.json()["label"] == "savings"
    after = raw_row(owner.id)
    assert after is not None
    assert after["api_key_encrypted"] == before["api_key_encrypted"]
    assert after["api_secret_encrypted"] == before["api_secret_encrypted"]
    assert after["updated_at"] > before["updated_at"]  # type: ignore[operator]


def test_put_replaces_key_and_secret(
    client: TestClient, db: Session, owner: Owner, pair: Pair
) -> None:
    _create(client, owner, pair)
    replacement = new_pair()
    r = client.put(API, headers=owner.headers, json={"api_key": replacement.key})
    assert r.status_code == 200, r.text
    assert r.json()["key_last4"] == replacement.key[-4:]
    assert r.json()["key_fingerprint"] == service.fingerprint(replacement.key)
    r = client.put(API, headers=owner.headers, json={"api_secret": replacement.secret})
    assert r.status_code == 200
    keys = service.keys_for_user(db, owner.id)
    assert keys is not None
    assert keys.api_key.get_secret_value() == replacement.key
    assert keys.api_secret.get_secret_value() == replacement.secret
    # The decrypted pair never shows itself.
    assert replacement.secret not in repr(keys) and replacement.secret not in str(keys)


def test_put_with_nothing_is_422(client: TestClient, owner: Owner, pair: Pair) -> None:
    _create(client, owner, pair)
    r = client.put(API, headers=owner.headers, json={})
    assert r.status_code == 422
    assert "at least one of" in error_text(r)


def test_delete_then_404(client: TestClient, owner: Owner, pair: Pair) -> None:
    _create(client, owner, pair)
    r = client.delete(API, headers=owner.headers)
    assert r.status_code == 200
    assert raw_row(owner.id) is None
    assert client.get(API, headers=owner.headers).status_code == 404
    assert client.delete(API, headers=owner.headers).status_code == 404
    # And a new pair can be stored afterwards.
    _create(client, owner, new_pair())


def test_change_listeners_hear_key_changes_and_delete(
    client: TestClient, owner: Owner, pair: Pair
) -> None:
    heard: list[uuid.UUID] = []
    listener = service.on_credentials_changed(heard.append)
    try:
        _create(client, owner, pair)
        client.put(API, headers=owner.headers, json={"label": "only a label"})
        assert heard == []  # nothing derived from the keys changed
        client.put(API, headers=owner.headers, json={"api_secret": new_pair().secret})
        client.delete(API, headers=owner.headers)
    finally:
        service.remove_change_listener(listener)
    assert heard == [owner.id, owner.id]


def test_audit_trail(client: TestClient, owner: Owner, pair: Pair) -> None:
    _create(client, owner, pair)
    client.post(API, headers=owner.headers, json=new_pair().body())
    client.put(API, headers=owner.headers, json={"label": "x", "api_secret": new_pair().secret})
    client.delete(API, headers=owner.headers)
    client.delete(API, headers=owner.headers)
    r = client.get(f"{API}/audit", headers=owner.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 5
    got = [(e["action"], e["outcome"]) for e in reversed(body["data"])]
    assert got == [
        ("create", "success"),
        ("create", "conflict"),
        ("update", "success"),
        ("delete", "success"),
        ("delete", "not_found"),
    ]
    assert body["data"][2]["detail"] == "changed: label, api_secret"
    assert body["data"][-1]["key_fingerprint"] == service.fingerprint(pair.key)
    rows = audit_rows(owner.id)
    dump = " ".join(str(v) for r in rows for v in r.values())
    assert pair.key not in dump and pair.secret not in dump
    # Paging
    page = client.get(f"{API}/audit", headers=owner.headers, params={"limit": 2, "skip": 1})
    assert [e["action"] for e in page.json()["data"]] == ["delete", "update"]


def test_without_encryption_keys_writes_are_refused(
    client: TestClient, owner: Owner, pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.core.config import settings

    monkeypatch.setattr(settings, "CREDENTIALS_ENCRYPTION_KEYS", [])
    r = client.post(API, headers=owner.headers, json=pair.body())
    assert r.status_code == 503
    assert r.json()["detail"] == "credential encryption is not configured"
    assert raw_row(owner.id) is None
    assert audit_rows(owner.id)[-1]["outcome"] == "encryption_not_configured"


def test_without_encryption_keys_update_and_read_are_refused(
    client: TestClient, owner: Owner, pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.core.config import settings

    _create(client, owner, pair)
    before = raw_row(owner.id)
    monkeypatch.setattr(settings, "CREDENTIALS_ENCRYPTION_KEYS", [])
    r = client.put(API, headers=owner.headers, json={"api_key": new_pair().key})
    assert r.status_code == 503
    assert r.json()["detail"] == "credential encryption is not configured"
    assert client.get(API, headers=owner.headers).status_code == 503
    assert raw_row(owner.id) == before
    # Deleting needs no key.
    assert client.delete(API, headers=owner.headers).status_code == 200


def test_malformed_configured_key_is_503_without_the_key(
    client: TestClient, owner: Owner, pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.core.config import settings

    monkeypatch.setattr(settings, "CREDENTIALS_ENCRYPTION_KEYS", ["oops-not-a-key"])
    r = client.post(API, headers=owner.headers, json=pair.body())
    assert r.status_code == 503
    assert "misconfigured" in r.json()["detail"] and "#1" in r.json()["detail"]
    assert "oops" not in r.text
    assert raw_row(owner.id) is None


def test_deleting_the_account_removes_credentials_but_keeps_the_trail(
    client: TestClient, owner: Owner, pair: Pair
) -> None:
    _create(client, owner, pair)
    trail_before = audit_rows(owner.id)
    assert client.delete("/api/v1/users/me", headers=owner.headers).status_code == 200
    assert raw_row(owner.id) is None
    assert audit_rows(owner.id) == []  # no longer linked to the deleted user ...
    with engine.connect() as conn:
        kept = conn.execute(
            text("SELECT user_id FROM credential_audit_log WHERE id = :i"),
            {"i": trail_before[0]["id"]},
        ).one()
    assert kept.user_id is None  # ... but still there
