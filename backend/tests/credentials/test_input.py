"""Bad input gets a 422 with a clear detail that never echoes what was sent."""

import json

import pytest
from fastapi.testclient import TestClient

from tests.credentials.helpers import API, Owner, Pair, new_pair, raw_row

GOOD = new_pair()
SENTINEL = "Zq9SENTINELvalue0123456789abcdefXX"  # easy to search for in responses


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("api_key", "", "api_key must not be empty"),
        ("api_key", "   \n", "api_key must not be empty"),
        ("api_secret", "", "api_secret must not be empty"),
        ("api_key", "short", "api_key must be 16 to 128 characters long"),
        ("api_key", SENTINEL * 5, "api_key must be 16 to 128 characters long"),
        ("api_secret", SENTINEL * 9, "api_secret must be 16 to 256 characters long"),
        ("api_key", SENTINEL + "é", "api_key may contain only ASCII letters"),
        ("api_secret", SENTINEL + "💰", "api_secret may contain only ASCII"),
        ("api_secret", SENTINEL[:10] + " " + SENTINEL[10:], "api_secret may contain only"),
        ("api_key", 12345678901234567890, "valid string"),
        ("label", "", "label must not be empty"),
        ("label", "x" * 101, "at most 100 characters"),
        ("label", "bad\x00label", "control characters"),
    ],
)
def test_bad_create_is_422_without_echo(
    client: TestClient, owner: Owner, field: str, value: object, needle: str
) -> None:
    body: dict[str, object] = dict(GOOD.body())
    body[field] = value
    r = client.post(API, headers=owner.headers, json=body)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert any(needle in e["msg"] for e in detail), detail
    assert any(e["loc"] == ["body", field] for e in detail)
    for error in detail:
        assert "input" not in error
    for secret in (SENTINEL, GOOD.key, GOOD.secret, str(value)):
        if len(secret) >= 8:
            assert secret[:16] not in r.text
    assert raw_row(owner.id) is None


def test_missing_fields_and_unknown_fields(client: TestClient, owner: Owner) -> None:
    r = client.post(API, headers=owner.headers, json={"api_key": GOOD.key})
    assert r.status_code == 422
    assert any(
        e["loc"] == ["body", "api_secret"] and e["type"] == "missing" for e in r.json()["detail"]
    )
    assert GOOD.key not in r.text

    r = client.post(API, headers=owner.headers, json={**GOOD.body(), "secret": SENTINEL})
    assert r.status_code == 422
    assert r.json()["detail"][0]["type"] == "extra_forbidden"
    assert SENTINEL not in r.text and GOOD.secret not in r.text


def test_malformed_json_does_not_echo(client: TestClient, owner: Owner) -> None:
    raw = f'{{"api_key": "{GOOD.key}", "api_secret": "{GOOD.secret}",'  # truncated
    r = client.post(API, headers={**owner.headers, "Content-Type": "application/json"}, content=raw)
    assert r.status_code == 422
    assert r.json()["detail"][0]["type"] == "json_invalid"
    assert GOOD.key not in r.text and GOOD.secret not in r.text
    r = client.post(API, headers=owner.headers, json=[GOOD.key, GOOD.secret])
    assert r.status_code == 422
    assert GOOD.secret not in r.text


def test_bad_update_is_422_without_echo(client: TestClient, owner: Owner, pair: Pair) -> None:
    assert client.post(API, headers=owner.headers, json=pair.body()).status_code == 201
    before = raw_row(owner.id)
    r = client.put(API, headers=owner.headers, json={"api_secret": SENTINEL + "ü"})
    assert r.status_code == 422
    assert "api_secret may contain only" in json.dumps(r.json())
    assert SENTINEL not in r.text
    r = client.put(API, headers=owner.headers, json={"api_key": ""})
    assert r.status_code == 422
    assert "api_key must not be empty" in r.text
    assert raw_row(owner.id) == before


def test_surrounding_whitespace_is_trimmed(client: TestClient, owner: Owner, pair: Pair) -> None:
    body = {"api_key": f"  {pair.key}\n", "api_secret": f"{pair.secret} "}
    r = client.post(API, headers=owner.headers, json=body)
    assert r.status_code == 201, r.text
    assert r.json()["key_last4"] == pair.key[-4:]
    assert r.json()["label"] == "Coinspot"  # the default
