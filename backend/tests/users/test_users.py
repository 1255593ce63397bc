"""User CRUD, profile fields and their validation."""

import uuid
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.config import settings
from app.users import service
from tests.conftest import SUPERUSER_EMAIL
from tests.utils import create_random_user, random_email, user_token_headers

API = settings.API_V1_STR


@pytest.fixture()
def user_headers(client: TestClient, db: Session) -> dict[str, str]:
    email, password = create_random_user(db)
    return user_token_headers(client, email, password)


def test_me_has_profile_defaults(client: TestClient, user_headers: dict[str, str]) -> None:
    r = client.get(f"{API}/users/me", headers=user_headers)
    assert r.status_code == 200
    body = r.json()
    assert body["timezone"] == "UTC"
    assert body["base_currency"] == "AUD"
    assert Decimal(body["max_position_size_aud"]) == Decimal("1000.00")
    assert Decimal(body["daily_loss_limit_aud"]) == Decimal("100.00")
    assert "hashed_password" not in body and "password" not in body


def test_update_profile(client: TestClient, user_headers: dict[str, str]) -> None:
    r = client.patch(
        f"{API}/users/me",
        headers=user_headers,
        json={
            "display_name": "Trader Jo",
            "timezone": "Australia/Sydney",
            "base_currency": "aud",
            "max_position_size_aud": "2500.50",
            "daily_loss_limit_aud": 75,
        },
    )
    assert r.status_code == 200, r.text
    r = client.get(f"{API}/users/me", headers=user_headers)
    body = r.json()
    assert body["display_name"] == "Trader Jo"
    assert body["timezone"] == "Australia/Sydney"
    assert body["base_currency"] == "AUD"
    assert Decimal(body["max_position_size_aud"]) == Decimal("2500.50")
    assert Decimal(body["daily_loss_limit_aud"]) == Decimal("75")


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ({"timezone": "Mars/Olympus"}, "IANA"),
        ({"max_position_size_aud": -1}, "greater than or equal"),
        ({"daily_loss_limit_aud": "-0.01"}, "greater than or equal"),
        ({"max_position_size_aud": "abc"}, "decimal"),
        ({"base_currency": "XYZ"}, "base currency"),
        ({"email": "not-an-email"}, "email"),
        ({"display_name": "x" * 101}, "at most 100"),
    ],
)
def test_bad_profile_input_is_422(
    client: TestClient, user_headers: dict[str, str], payload: dict[str, object], needle: str
) -> None:
    before = client.get(f"{API}/users/me", headers=user_headers).json()
    r = client.patch(f"{API}/users/me", headers=user_headers, json=payload)
    assert r.status_code == 422
    assert needle.lower() in str(r.json()["detail"]).lower()
    assert client.get(f"{API}/users/me", headers=user_headers).json() == before


def test_signup_and_duplicate(client: TestClient) -> None:
    email = random_email()
    r = client.post(f"{API}/users/signup", json={"email": email, "password": "good-password"})
    assert r.status_code == 200
    assert r.json()["is_superuser"] is False
    r = client.post(f"{API}/users/signup", json={"email": email, "password": "good-password"})
    assert r.status_code == 400
    assert "already exists" in r.json()["detail"]


@pytest.mark.parametrize(
    "payload",
    [
        {"email": "malformed", "password": "good-password"},
        {"email": "ok@example.com", "password": "short"},
        {"email": "ok@example.com"},
    ],
)
def test_signup_bad_input_is_422(client: TestClient, payload: dict[str, str]) -> None:
    assert client.post(f"{API}/users/signup", json=payload).status_code == 422


def test_signup_cannot_make_a_superuser(client: TestClient, db: Session) -> None:
    email = random_email()
    r = client.post(
        f"{API}/users/signup",
        json={"email": email, "password": "good-password", "is_superuser": True},
    )
    assert r.status_code == 200
    user = service.get_user_by_email(session=db, email=email)
    assert user is not None and not user.is_superuser


def test_change_password(client: TestClient, db: Session) -> None:
    email, password = create_random_user(db)
    headers = user_token_headers(client, email, password)
    r = client.patch(
        f"{API}/users/me/password",
        headers=headers,
        json={"current_password": "wrong-password", "new_password": "new-password-1"},
    )
    assert r.status_code == 400
    r = client.patch(
        f"{API}/users/me/password",
        headers=headers,
        json={"current_password": password, "new_password": password},
    )
    assert r.status_code == 400
    r = client.patch(
        f"{API}/users/me/password",
        headers=headers,
        json={"current_password": password, "new_password": "new-password-1"},
    )
    assert r.status_code == 200
    user_token_headers(client, email, "new-password-1")


def test_normal_user_cannot_read_another_user(
    client: TestClient, db: Session, user_headers: dict[str, str]
) -> None:
    other = service.get_user_by_email(session=db, email=SUPERUSER_EMAIL)
    assert other is not None
    r = client.get(f"{API}/users/{other.id}", headers=user_headers)
    assert r.status_code == 403
    assert r.json()["detail"] == "The user doesn't have enough privileges"


def test_normal_user_cannot_use_admin_routes(
    client: TestClient, user_headers: dict[str, str]
) -> None:
    assert client.get(f"{API}/users/", headers=user_headers).status_code == 403
    r = client.post(
        f"{API}/users/",
        headers=user_headers,
        json={"email": random_email(), "password": "pw-12345678"},
    )
    assert r.status_code == 403
    assert client.delete(f"{API}/users/{uuid.uuid4()}", headers=user_headers).status_code == 403


def test_superuser_crud(client: TestClient, superuser_token_headers: dict[str, str]) -> None:
    email = random_email()
    r = client.post(
        f"{API}/users/",
        headers=superuser_token_headers,
        json={"email": email, "password": "pw-12345678", "timezone": "Europe/London"},
    )
    assert r.status_code == 200, r.text
    user_id = r.json()["id"]
    assert r.json()["timezone"] == "Europe/London"

    dup = client.post(
        f"{API}/users/",
        headers=superuser_token_headers,
        json={"email": email, "password": "pw-12345678"},
    )
    assert dup.status_code == 400

    r = client.get(f"{API}/users/{user_id}", headers=superuser_token_headers)
    assert r.json()["email"] == email
    r = client.patch(
        f"{API}/users/{user_id}",
        headers=superuser_token_headers,
        json={"full_name": "Renamed", "daily_loss_limit_aud": "5"},
    )
    assert r.status_code == 200
    assert r.json()["full_name"] == "Renamed"

    listing = client.get(f"{API}/users/?skip=0&limit=1000", headers=superuser_token_headers).json()
    assert listing["count"] >= 2
    assert any(u["id"] == user_id for u in listing["data"])

    assert (
        client.delete(f"{API}/users/{user_id}", headers=superuser_token_headers).status_code == 200
    )
    assert client.get(f"{API}/users/{user_id}", headers=superuser_token_headers).status_code == 404
    assert (
        client.delete(f"{API}/users/{user_id}", headers=superuser_token_headers).status_code == 404
    )
    assert (
        client.patch(
            f"{API}/users/{user_id}", headers=superuser_token_headers, json={"full_name": "x"}
        ).status_code
        == 404
    )


def test_user_pagination_returns_each_user_once(
    client: TestClient, db: Session, superuser_token_headers: dict[str, str]
) -> None:
    for _ in range(3):
        create_random_user(db)
    total = client.get(f"{API}/users/", headers=superuser_token_headers).json()["count"]
    seen: list[str] = []
    for skip in range(0, total, 2):
        page = client.get(
            f"{API}/users/?skip={skip}&limit=2", headers=superuser_token_headers
        ).json()
        seen.extend(u["id"] for u in page["data"])
    assert len(seen) == total == len(set(seen))
    assert client.get(f"{API}/users/?limit=0", headers=superuser_token_headers).status_code == 422


def test_superuser_cannot_delete_self(
    client: TestClient, db: Session, superuser_token_headers: dict[str, str]
) -> None:
    me = service.get_user_by_email(session=db, email=SUPERUSER_EMAIL)
    assert me is not None
    assert client.delete(f"{API}/users/{me.id}", headers=superuser_token_headers).status_code == 403
    assert client.delete(f"{API}/users/me", headers=superuser_token_headers).status_code == 403


def test_email_change_conflict(client: TestClient, user_headers: dict[str, str]) -> None:
    r = client.patch(f"{API}/users/me", headers=user_headers, json={"email": SUPERUSER_EMAIL})
    assert r.status_code == 409


def test_bad_user_id_is_422(client: TestClient, superuser_token_headers: dict[str, str]) -> None:
    assert client.get(f"{API}/users/not-a-uuid", headers=superuser_token_headers).status_code == 422
