"""The credentials audit trail: one row per create/update/delete/validate/rotation.

Rows carry the user, the action, the outcome, the key's fingerprint and a short
non-secret detail (which fields changed, why validation failed). Never key material.
"""

import uuid

from sqlmodel import Session, col, func, select

from app.credentials.models import AuditAction, AuditOutcome, CredentialAuditLog


def record(
    session: Session,
    *,
    user_id: uuid.UUID,
    action: AuditAction,
    outcome: AuditOutcome,
    key_fingerprint: str | None = None,
    detail: str | None = None,
    commit: bool = True,
) -> CredentialAuditLog:
    entry = CredentialAuditLog(
        user_id=user_id,
        action=action.value,
        outcome=outcome.value,
        key_fingerprint=key_fingerprint,
        detail=detail[:255] if detail else None,
    )
    session.add(entry)
    if commit:
        session.commit()
    return entry


def entries_for_user(
    session: Session, *, user_id: uuid.UUID, skip: int, limit: int
) -> tuple[list[CredentialAuditLog], int]:
    """A user's own entries, newest first."""
    where = col(CredentialAuditLog.user_id) == user_id
    count = session.exec(select(func.count()).select_from(CredentialAuditLog).where(where)).one()
    rows = session.exec(
        select(CredentialAuditLog)
        .where(where)
        .order_by(col(CredentialAuditLog.created_at).desc(), col(CredentialAuditLog.id).desc())
        .offset(skip)
        .limit(limit)
    ).all()
    return list(rows), count
