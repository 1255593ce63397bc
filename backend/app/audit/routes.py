"""The audit log under /api/v1/audit: a user reads their own entries, a superuser anyone's."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from app.api.deps import CurrentUser, SessionDep
from app.audit import service

router = APIRouter(prefix="/audit", tags=["audit"])


class AuditEntryPublic(BaseModel):
    id: uuid.UUID
    owner_id: uuid.UUID
    actor_id: uuid.UUID | None
    action: str
    object_type: str
    object_id: uuid.UUID
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    client_address: str | None
    created_at: datetime


class AuditPage(BaseModel):
    data: list[AuditEntryPublic]
    count: int


@router.get(
    "",
    response_model=AuditPage,
    responses={403: {"description": "Only superusers may read every user's entries"}},
)
def read_audit_log(
    session: SessionDep,
    user: CurrentUser,
    skip: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    object_type: Annotated[
        str | None, Query(max_length=32, pattern=r"^[a-z_]+$", description="e.g. release")
    ] = None,
    object_id: uuid.UUID | None = None,
    all_users: Annotated[
        bool, Query(alias="all", description="Superusers: every user's entries")
    ] = False,
) -> AuditPage:
    """Promotions, deployments, status and limit changes: who, what, before/after, when, from
    where. Newest first."""
    if all_users and not user.is_superuser:
        raise HTTPException(403, "only superusers may read every user's audit entries")
    rows, count = service.entries(
        session,
        owner_id=None if all_users else user.id,
        object_type=object_type,
        object_id=object_id,
        skip=skip,
        limit=limit,
    )
    return AuditPage(
        data=[AuditEntryPublic.model_validate(r, from_attributes=True) for r in rows], count=count
    )
