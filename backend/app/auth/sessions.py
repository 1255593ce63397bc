"""Sessions: rotating refresh tokens with reuse detection, revocable access tokens.

Rules kept here:
- A refresh token is `<session id>.<256-bit random>`; only the SHA-256 of the random part
  is stored. Each refresh replaces it (rotation). Presenting any other token of a live
  session (an old, already rotated one) revokes the whole session (family): whoever holds
  a stolen copy and the legitimate owner both lose it, and the owner signs in again.
- Access tokens carry the session id; a revoked or expired session rejects them at once.
- Rotation locks the session row, so two replicas never both accept one token.
"""

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, select, update

from app.auth.models import UserSession
from app.core import security
from app.core.config import settings


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class IssuedTokens:
    session: UserSession
    access_token: str
    refresh_token: str
    expires_in: int


class RefreshError(Exception):
    """The refresh token is unknown, expired or revoked (`reused` when it was a replay)."""

    def __init__(self, reason: str, user_id: uuid.UUID | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.user_id = user_id


def access_token_for(row: UserSession) -> tuple[str, int]:
    minutes = settings.ACCESS_TOKEN_EXPIRE_MINUTES
    token = security.create_access_token(
        row.user_id, expires_delta=timedelta(minutes=minutes), session_id=row.id
    )
    return token, minutes * 60


def _issue(session: Session, row: UserSession) -> IssuedTokens:
    secret = secrets.token_urlsafe(32)
    row.refresh_hash = _hash(secret)
    session.add(row)
    session.commit()
    session.refresh(row)
    access, expires_in = access_token_for(row)
    return IssuedTokens(row, access, f"{row.id}.{secret}", expires_in)


def start(
    session: Session,
    *,
    user_id: uuid.UUID,
    ip_address: str | None,
    user_agent: str | None,
    second_factor: bool,
) -> IssuedTokens:
    """Open a session after a complete login (`second_factor`: it included a TOTP step)."""
    now = _now()
    row = UserSession(
        user_id=user_id,
        refresh_hash="",
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(days=settings.REFRESH_TOKEN_EXPIRE_DAYS),
        stepped_up_at=now if second_factor else None,
        ip_address=(ip_address or "")[:64] or None,
        user_agent=(user_agent or "")[:255] or None,
    )
    return _issue(session, row)


def _parse(token: str) -> tuple[uuid.UUID, str] | None:
    sid, _, secret = token.partition(".")
    if not secret:
        return None
    try:
        return uuid.UUID(sid), secret
    except ValueError:
        return None


def rotate(
    session: Session, token: str, *, ip_address: str | None, user_agent: str | None
) -> IssuedTokens:
    """Exchange a refresh token for a new pair; a replayed token revokes its family."""
    parsed = _parse(token)
    if parsed is None:
        raise RefreshError("malformed")
    sid, secret = parsed
    row = session.exec(select(UserSession).where(UserSession.id == sid).with_for_update()).first()
    if row is None:
        session.rollback()
        raise RefreshError("unknown")
    now = _now()
    if row.revoked_at is not None or row.expires_at <= now:
        session.rollback()
        raise RefreshError("revoked", row.user_id)
    if not hmac.compare_digest(row.refresh_hash, _hash(secret)):
        row.revoked_at = now
        row.revoked_reason = "refresh_reuse"
        session.add(row)
        session.commit()
        raise RefreshError("reused", row.user_id)
    row.last_used_at = now
    row.rotations += 1
    if ip_address:
        row.ip_address = ip_address[:64]
    if user_agent:
        row.user_agent = user_agent[:255]
    return _issue(session, row)


def session_from_refresh(session: Session, token: str) -> UserSession | None:
    parsed = _parse(token)
    if parsed is None:
        return None
    row = session.get(UserSession, parsed[0])
    if row is None or not hmac.compare_digest(row.refresh_hash, _hash(parsed[1])):
        return None
    return row


def is_live(row: UserSession) -> bool:
    return row.revoked_at is None and row.expires_at > _now()


def revoke(session: Session, row: UserSession, reason: str) -> None:
    if row.revoked_at is None:
        row.revoked_at = _now()
        row.revoked_reason = reason
        session.add(row)
        session.commit()


def revoke_all(
    session: Session, user_id: uuid.UUID, reason: str, *, keep: uuid.UUID | None = None
) -> int:
    """Revoke every live session of a user, except `keep`; returns how many."""
    stmt = (
        update(UserSession)
        .where(col(UserSession.user_id) == user_id)
        .where(col(UserSession.revoked_at).is_(None))
        .values(revoked_at=_now(), revoked_reason=reason)
    )
    if keep is not None:
        stmt = stmt.where(col(UserSession.id) != keep)
    result = session.exec(stmt)
    session.commit()
    return int(result.rowcount or 0)


def live_sessions(session: Session, user_id: uuid.UUID) -> list[UserSession]:
    rows = session.exec(
        select(UserSession)
        .where(UserSession.user_id == user_id)
        .where(col(UserSession.revoked_at).is_(None))
        .where(col(UserSession.expires_at) > _now())
        .order_by(col(UserSession.last_used_at).desc())
    ).all()
    return list(rows)


def mark_stepped_up(session: Session, row: UserSession) -> datetime:
    row.stepped_up_at = _now()
    session.add(row)
    session.commit()
    return row.stepped_up_at + timedelta(seconds=settings.STEP_UP_TTL_SECONDS)


def step_up_valid_until(row: UserSession) -> datetime | None:
    if row.stepped_up_at is None:
        return None
    until = row.stepped_up_at + timedelta(seconds=settings.STEP_UP_TTL_SECONDS)
    return until if until > _now() else None
