"""Regression tests for what the API fuzzer found (issue 17): each answered 500 or broke the
declared error shape. Each is a 4xx now, with a `detail` that names the field."""

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.api.pagination import MAX_SKIP
from app.users import service
from tests.utils import create_random_user, random_email, user_token_headers

API = "/api/v1"


def _field_errors(response_json: dict[str, object]) -> list[dict[str, object]]:
    detail = response_json["detail"]
    assert isinstance(detail, list), detail
    return detail


def _locs(response_json: dict[str, object]) -> list[list[object]]:
    return [list(error["loc"]) for error in _field_errors(response_json)]  # type: ignore[call-overload]


def test_users_skip_past_bigint_is_a_422(
    client: TestClient, superuser_token_headers: dict[str, str]
) -> None:
    r = client.get(f"{API}/users/?skip=36893488147419103232", headers=superuser_token_headers)
    assert r.status_code == 422, r.text
    assert ["query", "skip"] in _locs(r.json())
    at_bound = client.get(f"{API}/users/?skip={MAX_SKIP}", headers=superuser_token_headers)
    assert at_bound.status_code == 200
    assert at_bound.json()["data"] == []


def test_credentials_audit_skip_past_bigint_is_a_422(
    client: TestClient, normal_user_token_headers: dict[str, str]
) -> None:
    r = client.get(
        f"{API}/credentials/coinspot/audit?skip=296204342702217524936704",
        headers=normal_user_token_headers,
    )
    assert r.status_code == 422, r.text
    assert ["query", "skip"] in _locs(r.json())


def test_patch_me_with_a_null_limit_is_a_422_and_keeps_the_limit(
    client: TestClient, db: Session
) -> None:
    email, password = create_random_user(db)
    headers = user_token_headers(client, email, password)
    before = client.get(f"{API}/users/me", headers=headers).json()["max_position_size_aud"]

    r = client.patch(f"{API}/users/me", headers=headers, json={"max_position_size_aud": None})
    assert r.status_code == 422, r.text
    errors = _field_errors(r.json())
    assert errors[0]["loc"] == ["body", "max_position_size_aud"]
    assert "cannot be null" in str(errors[0]["msg"])
    assert client.get(f"{API}/users/me", headers=headers).json()["max_position_size_aud"] == before

    # Leaving the field out keeps it; a value changes it; names can still be cleared.
    r = client.patch(
        f"{API}/users/me",
        headers=headers,
        json={"daily_loss_limit_aud": "25.50", "full_name": None},
    )
    assert r.status_code == 200, r.text
    assert r.json()["max_position_size_aud"] == before
    assert r.json()["daily_loss_limit_aud"] == "25.50"
    assert r.json()["full_name"] is None


def test_patch_user_with_a_null_limit_is_a_422(
    client: TestClient, db: Session, superuser_token_headers: dict[str, str]
) -> None:
    email, _ = create_random_user(db)
    user = service.get_user_by_email(session=db, email=email)
    assert user is not None
    r = client.patch(
        f"{API}/users/{user.id}",
        headers=superuser_token_headers,
        json={"max_position_size_aud": None, "email": random_email()},
    )
    assert r.status_code == 422, r.text
    assert _locs(r.json()) == [["body", "max_position_size_aud"]]
    assert "cannot be null" in str(_field_errors(r.json())[0]["msg"])
    for field in ("daily_loss_limit_aud", "is_active", "timezone", "email", "password"):
        r = client.patch(
            f"{API}/users/{user.id}", headers=superuser_token_headers, json={field: None}
        )
        assert r.status_code == 422, (field, r.text)
        assert _locs(r.json()) == [["body", field]]
    db.refresh(user)
    assert user.email == email


def test_compare_with_empty_ids_answers_the_declared_422_shape(
    client: TestClient, normal_user_token_headers: dict[str, str]
) -> None:
    r = client.get(f"{API}/lab/backtests/compare?ids=", headers=normal_user_token_headers)
    assert r.status_code == 422
    errors = _field_errors(r.json())
    assert errors == [
        {"loc": ["query", "ids"], "msg": "compare 2 to 10 different runs", "type": "value_error"}
    ]
    bad = client.get(f"{API}/lab/backtests/compare?ids=x,y", headers=normal_user_token_headers)
    assert _locs(bad.json()) == [["query", "ids"]]


def test_a_body_that_is_not_text_is_the_same_422_as_bad_json(
    client: TestClient, normal_user_token_headers: dict[str, str]
) -> None:
    headers = {**normal_user_token_headers, "Content-Type": "application/json"}
    r = client.post(f"{API}/lab/algorithms", headers=headers, content=b"\xff\xfe\x00")
    assert r.status_code == 422, r.text
    assert _field_errors(r.json())[0]["type"] == "json_invalid"


def test_a_superuser_cannot_deactivate_or_demote_themselves(
    client: TestClient, superuser_token_headers: dict[str, str]
) -> None:
    me = client.get(f"{API}/users/me", headers=superuser_token_headers).json()
    for change in ({"is_active": False}, {"is_superuser": False}):
        r = client.patch(f"{API}/users/{me['id']}", headers=superuser_token_headers, json=change)
        assert r.status_code == 403, r.text
    still = client.get(f"{API}/users/me", headers=superuser_token_headers).json()
    assert still["is_active"] and still["is_superuser"]


def test_unknown_user_is_a_declared_404(
    client: TestClient, superuser_token_headers: dict[str, str]
) -> None:
    r = client.get(f"{API}/users/{uuid.uuid4()}", headers=superuser_token_headers)
    assert r.status_code == 404
    assert r.json() == {"detail": "User not found"}


def test_text_that_cannot_be_encoded_is_a_422_not_a_500(
    client: TestClient, superuser_token_headers: dict[str, str]
) -> None:
    """Found by the fuzzer: a lone surrogate in a name or password (JSON allows the escape,
    nothing downstream can encode it), and a webhook host name label too long for IDNA."""
    headers = {**superuser_token_headers, "Content-Type": "application/json"}
    surrogate = '{"full_name": "L\\udacf x"}'
    r = client.patch("/api/v1/users/me", headers=headers, content=surrogate)
    assert r.status_code == 422, r.text
    assert "cannot be used" in r.json()["detail"][0]["msg"]
    signup = '{"email": "surrogate@example.com", "password": "pw-\\udacf-12345678"}'
    r = client.post(
        "/api/v1/users/signup", headers={"Content-Type": "application/json"}, content=signup
    )
    assert r.status_code == 422, r.text
    url = "https://" + "0" * 63 + "." + ".".join(["a" * 63] * 40) + "/"
    r = client.put(
        "/api/v1/alerts/rules",
        headers=superuser_token_headers,
        json={"webhook_secret": "s" * 40, "webhook_url": url},
    )
    assert r.status_code == 422, r.text


def test_nul_characters_are_a_422_not_a_500(
    client: TestClient, superuser_token_headers: dict[str, str]
) -> None:
    """Found by the fuzzer: "\\u0000" is valid JSON and form text, but no PostgreSQL text
    column stores it."""
    r = client.get(
        "/api/v1/lab/algorithms", headers=superuser_token_headers, params={"search": "a\x00b"}
    )
    assert r.status_code == 422, r.text
    assert "NUL" in r.json()["detail"][0]["msg"]
    r = client.post("/api/v1/login/access-token", data={"username": "\x00", "password": "x"})
    assert r.status_code == 422, r.text


def test_a_signup_racing_another_for_the_same_email_is_a_400(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the fuzzer (two workers): both requests passed the "e-mail taken?" check and
    the unique index refused the second insert. Simulate losing the race by hiding the
    first user from the check."""
    email = random_email()
    body = {"email": email, "password": "pw-race-12345678"}
    assert client.post("/api/v1/users/signup", json=body).status_code == 200
    monkeypatch.setattr(service, "get_user_by_email", lambda **_: None)
    r = client.post("/api/v1/users/signup", json=body)
    assert r.status_code == 400 and "already exists" in r.json()["detail"]


def test_an_over_long_webhook_url_is_a_422(
    client: TestClient, superuser_token_headers: dict[str, str]
) -> None:
    url = "https://example.com/" + "a" * 2100
    r = client.put(
        "/api/v1/alerts/rules",
        headers=superuser_token_headers,
        json={"webhook_secret": "s" * 40, "webhook_url": url},
    )
    assert r.status_code == 422, r.text
    assert "webhook_url" in str(r.json()["detail"])
