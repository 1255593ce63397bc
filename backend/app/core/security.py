"""Password hashing (Argon2, bcrypt verified for legacy hashes) and JWT access tokens."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher

from app.core.config import settings

ALGORITHM = "HS256"

password_hash = PasswordHash((Argon2Hasher(), BcryptHasher()))


def create_access_token(
    subject: str | Any, expires_delta: timedelta, session_id: uuid.UUID | None = None
) -> str:
    """A bearer token for `subject`, tied to a session (`sid`) so that it can be revoked."""
    expire = datetime.now(UTC) + expires_delta
    to_encode: dict[str, Any] = {"exp": expire, "sub": str(subject), "type": "access"}
    if session_id is not None:
        to_encode["sid"] = str(session_id)
    return jwt.encode(to_encode, settings.SECRET_KEY, algorithm=ALGORITHM)


def create_purpose_token(subject: str, purpose: str, expires_delta: timedelta) -> str:
    """A short-lived token usable only for `purpose` (e.g. the second login step)."""
    now = datetime.now(UTC)
    return jwt.encode(
        {"exp": now + expires_delta, "nbf": now, "sub": subject, "purpose": purpose},
        settings.SECRET_KEY,
        algorithm=ALGORITHM,
    )


def verify_purpose_token(token: str, purpose: str) -> str | None:
    try:
        decoded = jwt.decode(token, settings.SECRET_KEY, algorithms=[ALGORITHM])
    except jwt.InvalidTokenError:
        return None
    if decoded.get("purpose") != purpose:
        return None
    subject = decoded.get("sub")
    return str(subject) if subject else None


def verify_password(plain_password: str, hashed_password: str) -> tuple[bool, str | None]:
    """Return (matches, new_hash) where new_hash is set when the hash should be upgraded."""
    return password_hash.verify_and_update(plain_password, hashed_password)


def get_password_hash(password: str) -> str:
    return password_hash.hash(password)


def parse_user_id(subject: str) -> uuid.UUID:
    return uuid.UUID(subject)


def create_password_reset_token(email: str) -> str:
    expires = datetime.now(UTC) + timedelta(hours=settings.EMAIL_RESET_TOKEN_EXPIRE_HOURS)
    return jwt.encode(
        {"exp": expires, "nbf": datetime.now(UTC), "sub": email, "purpose": "password-reset"},
        settings.SECRET_KEY,
        algorithm=ALGORITHM,
    )


def verify_password_reset_token(token: str) -> str | None:
    try:
        decoded = jwt.decode(token, settings.SECRET_KEY, algorithms=[ALGORITHM])
    except jwt.InvalidTokenError:
        return None
    if decoded.get("purpose") != "password-reset":
        return None
    subject = decoded.get("sub")
    return str(subject) if subject else None
