"""Helpers shared by tests of every domain."""

import secrets

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
