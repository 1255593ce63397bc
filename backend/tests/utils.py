"""Helpers shared by tests of every domain."""

import secrets
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.users import service
from app.users.models import UserCreate


def random_email() -> str:
    return f"user-{secrets.token_hex(5)}@example.com"


def random_password() -> str:
    return "pw-" + secrets.token_urlsafe(12)


def create_random_user(db: Session, **fields: object) -> tuple[str, str]:
    email, password = random_email(), random_password()
    service.create_user(
        session=db,
        user_create=UserCreate(email=email, password=password, **fields),  # type: ignore[arg-type]
    )
    return email, password


def user_token_headers(client: TestClient, email: str, password: str) -> dict[str, str]:
    r = client.post("/api/v1/login/access-token", data={"username": email, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def error_text(response: object) -> str:
    """The readable text of an error body: the sentence, or a 422's field messages joined."""
    detail = response.json()["detail"]  # type: ignore[attr-defined]
    if isinstance(detail, str):
        return detail
    return "; ".join(str(error["msg"]) for error in detail)


def totp_code(secret: str, user_email: str) -> str:
    """A code the server accepts now: the earliest step after the last one it accepted
    (codes are single-use), within the ±1 step it allows."""
    import pyotp
    from sqlalchemy import text

    from app.core.db import engine

    totp = pyotp.TOTP(secret)
    current = totp.timecode(datetime.now(UTC))
    with engine.connect() as conn:
        last = conn.execute(
            text(
                'SELECT t.last_used_step FROM user_totp t JOIN "user" u ON u.id = t.user_id '
                "WHERE u.email = :e"
            ),
            {"e": user_email},
        ).scalar()
    step = max(current - 1, (last or 0) + 1)
    assert step <= current + 1, "no unused TOTP step left in the window"
    return totp.generate_otp(step)


def enable_two_factor(
    client: TestClient, headers: dict[str, str], email: str
) -> tuple[str, list[str]]:
    """Enrol TOTP through the API; returns (secret, recovery codes). The session that
    confirms it has a fresh second factor."""
    r = client.post("/api/v1/security/two-factor/setup", headers=headers)
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    r = client.post(
        "/api/v1/security/two-factor/confirm",
        headers=headers,
        json={"code": totp_code(secret, email)},
    )
    assert r.status_code == 200, r.text
    return secret, r.json()["recovery_codes"]
