"""Login, token checks (expired, tampered, inactive) and password recovery."""

from datetime import UTC, datetime, timedelta

import jwt
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core import security
from app.core.config import settings
from app.users import service
from app.users.models import UserUpdate
from tests.conftest import SUPERUSER_EMAIL, SUPERUSER_PASSWORD
from tests.utils import create_random_user, user_token_headers

API = settings.API_V1_STR


def test_login_returns_working_token(client: TestClient) -> None:
    r = client.post(
        f"{API}/login/access-token",
        data={"username": SUPERUSER_EMAIL, "password": SUPERUSER_PASSWORD},
    )
    assert r.status_code == 200
    token = r.json()["access_token"]
    me = client.post(f"{API}/login/test-token", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["email"] == SUPERUSER_EMAIL
    assert me.json()["is_superuser"] is True


def test_wrong_password_is_rejected_with_clear_detail(client: TestClient) -> None:
    r = client.post(
        f"{API}/login/access-token", data={"username": SUPERUSER_EMAIL, "password": "wrong-pass"}
    )
    assert r.status_code == 400
    assert r.json()["detail"] == "Incorrect email or password"


def test_unknown_email_is_rejected_like_wrong_password(client: TestClient) -> None:
    r = client.post(
        f"{API}/login/access-token",
        data={"username": "nobody@example.com", "password": "whatever-pass"},
    )
    assert r.status_code == 400
    assert r.json()["detail"] == "Incorrect email or password"


def test_missing_form_fields_give_422(client: TestClient) -> None:
    r = client.post(f"{API}/login/access-token", data={"username": SUPERUSER_EMAIL})
    assert r.status_code == 422


def test_expired_token_is_refused(client: TestClient, db: Session) -> None:
    user = service.get_user_by_email(session=db, email=SUPERUSER_EMAIL)
    assert user is not None
    token = security.create_access_token(user.id, expires_delta=timedelta(seconds=-5))
    r = client.get(f"{API}/users/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert r.json()["detail"] == "Token has expired"


def test_tampered_token_is_refused(
    client: TestClient, superuser_token_headers: dict[str, str]
) -> None:
    token = superuser_token_headers["Authorization"].split()[1]
    header, payload, signature = token.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    r = client.get(
        f"{API}/users/me", headers={"Authorization": f"Bearer {header}.{payload}.{flipped}"}
    )
    assert r.status_code == 401
    assert r.json()["detail"] == "Could not validate credentials"


def test_token_signed_with_other_key_is_refused(client: TestClient, db: Session) -> None:
    user = service.get_user_by_email(session=db, email=SUPERUSER_EMAIL)
    assert user is not None
    forged = jwt.encode(
        {"sub": str(user.id), "exp": datetime.now(UTC) + timedelta(hours=1)},
        "not-the-server-key",
        algorithm="HS256",
    )
    r = client.get(f"{API}/users/me", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401


def test_token_with_garbage_subject_is_refused(client: TestClient) -> None:
    token = security.create_access_token("not-a-uuid", expires_delta=timedelta(minutes=5))
    r = client.get(f"{API}/users/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


def test_missing_token_is_401(client: TestClient) -> None:
    r = client.get(f"{API}/users/me")
    assert r.status_code == 401


def test_inactive_user_cannot_log_in_or_use_old_token(client: TestClient, db: Session) -> None:
    email, password = create_random_user(db)
    headers = user_token_headers(client, email, password)
    user = service.get_user_by_email(session=db, email=email)
    assert user is not None
    service.update_user(session=db, db_user=user, user_in=UserUpdate(is_active=False))

    r = client.post(f"{API}/login/access-token", data={"username": email, "password": password})
    assert r.status_code == 400
    assert r.json()["detail"] == "Inactive user"
    r = client.get(f"{API}/users/me", headers=headers)
    assert r.status_code == 403
    assert r.json()["detail"] == "Inactive user"


def test_token_of_deleted_user_is_refused(client: TestClient, db: Session) -> None:
    email, password = create_random_user(db)
    headers = user_token_headers(client, email, password)
    assert client.delete(f"{API}/users/me", headers=headers).status_code == 200
    r = client.get(f"{API}/users/me", headers=headers)
    # The user's sessions went with it, so the token names a session that no longer exists.
    assert r.status_code == 401


def test_password_recovery_and_reset(client: TestClient, db: Session) -> None:
    email, _ = create_random_user(db)
    r = client.post(f"{API}/password-recovery/{email}")
    assert r.status_code == 200
    unknown = client.post(f"{API}/password-recovery/nobody-here@example.com")
    assert unknown.json() == r.json()

    token = security.create_password_reset_token(email)
    r = client.post(
        f"{API}/reset-password/", json={"token": token, "new_password": "brand-new-pw-1"}
    )
    assert r.status_code == 200
    user_token_headers(client, email, "brand-new-pw-1")


def test_reset_password_rejects_bad_tokens(client: TestClient, db: Session) -> None:
    r = client.post(
        f"{API}/reset-password/", json={"token": "garbage", "new_password": "whatever-1"}
    )
    assert r.status_code == 400
    assert r.json()["detail"] == "Invalid or expired token"

    user = service.get_user_by_email(session=db, email=SUPERUSER_EMAIL)
    assert user is not None
    access_token = security.create_access_token(user.id, expires_delta=timedelta(minutes=5))
    r = client.post(
        f"{API}/reset-password/", json={"token": access_token, "new_password": "whatever-1"}
    )
    assert r.status_code == 400, "an access token must not work as a reset token"


def test_reset_token_is_rejected_when_expired() -> None:
    token = jwt.encode(
        {
            "sub": "a@example.com",
            "purpose": "password-reset",
            "exp": datetime.now(UTC) - timedelta(seconds=1),
        },
        settings.SECRET_KEY,
        algorithm=security.ALGORITHM,
    )
    assert security.verify_password_reset_token(token) is None
