"""Writing and reading the audit log.

Rules: `record` adds a row to the caller's session and does not commit, so the audited change
and its audit row commit together or not at all. Readers see their own rows (`owner_id`);
superusers may read everyone's. Values are made JSON-safe here (UUIDs, Decimals and
datetimes become strings) so callers can pass model dumps as they are.
"""

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from fastapi import Request
from sqlmodel import Session, col, func, select

from app.audit.models import AuditLog


def _safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_safe(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, uuid.UUID | Decimal | datetime | date):
        return value.isoformat() if isinstance(value, datetime | date) else str(value)
    return value


def client_address(request: Request | None) -> str | None:
    if request is None or request.client is None:
        return None
    return request.client.host[:64]


def record(
    session: Session,
    *,
    owner_id: uuid.UUID,
    actor_id: uuid.UUID | None,
    action: str,
    object_type: str,
    object_id: uuid.UUID,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    request: Request | None = None,
) -> AuditLog:
    entry = AuditLog(
        owner_id=owner_id,
        actor_id=actor_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=_safe(before) if before is not None else None,
        after=_safe(after) if after is not None else None,
        client_address=client_address(request),
    )
    session.add(entry)
    return entry


def entries(
    session: Session,
    *,
    owner_id: uuid.UUID | None,
    object_type: str | None,
    object_id: uuid.UUID | None,
    skip: int,
    limit: int,
) -> tuple[list[AuditLog], int]:
    """Newest first; `owner_id` None means every user's (superusers only)."""
    conditions = []
    if owner_id is not None:
        conditions.append(col(AuditLog.owner_id) == owner_id)
    if object_type is not None:
        conditions.append(col(AuditLog.object_type) == object_type)
    if object_id is not None:
        conditions.append(col(AuditLog.object_id) == object_id)
    count = session.exec(select(func.count()).select_from(AuditLog).where(*conditions)).one()
    rows = session.exec(
        select(AuditLog)
        .where(*conditions)
        .order_by(col(AuditLog.created_at).desc(), col(AuditLog.id).desc())
        .offset(skip)
        .limit(limit)
    ).all()
    return list(rows), count
