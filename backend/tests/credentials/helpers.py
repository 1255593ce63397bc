"""Helpers shared by the credentials tests."""

import secrets
import uuid
from dataclasses import dataclass

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from app.core.config import settings
from app.core.db import engine
from app.users import service as users_service
from tests.utils import create_random_user, enable_two_factor, user_token_headers

API = f"{settings.API_V1_STR}/credentials/coinspot"


@dataclass
class Owner:
    id: uuid.UUID
    email: str
    headers: dict[str, str]


def make_owner(client: TestClient, db: Session) -> Owner:
    email, password = create_random_user(db)
    user = users_service.get_user_by_email(session=db, email=email)
    assert user is not None
    headers = user_token_headers(client, email, password)
    # Storing keys needs 2FA and a fresh second factor: enrolling gives this session one.
    enable_two_factor(client, headers, email)
    return Owner(id=user.id, email=email, headers=headers)


@dataclass
class Pair:
    key: str
    secret: str

    def body(self, label: str = "main") -> dict[str, str]:
        return {"label": label, "api_key": self.key, "api_secret": self.secret}


def new_pair() -> Pair:
    # Coinspot-like shapes: a 32-hex-character key and a longer secret.
    return Pair(key=secrets.token_hex(16), secret=secrets.token_urlsafe(48))


def raw_row(user_id: uuid.UUID) -> dict[str, object] | None:
    with engine.connect() as conn:
        row = (
            conn.execute(
                text("SELECT * FROM coinspot_credentials WHERE user_id = :u"), {"u": user_id}
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


def set_columns(user_id: uuid.UUID, **values: str) -> None:
    assignments = ", ".join(f"{name} = :{name}" for name in values)
    with engine.begin() as conn:
        conn.execute(
            text(f"UPDATE coinspot_credentials SET {assignments} WHERE user_id = :u"),
            {"u": user_id, **values},
        )


def drop_credentials(user_id: uuid.UUID) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM coinspot_credentials WHERE user_id = :u"), {"u": user_id})
        # The owner's TOTP secret is under the same keys; rotation walks those rows too.
        conn.execute(text("DELETE FROM user_totp WHERE user_id = :u"), {"u": user_id})


def audit_rows(user_id: uuid.UUID) -> list[dict[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM credential_audit_log WHERE user_id = :u ORDER BY id"),
            {"u": user_id},
        ).mappings()
        return [dict(r) for r in rows]
