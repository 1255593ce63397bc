"""Reconciliation API under /api/v1/floor/reconciliation: the account's last runs and
breaks, a run now, and resolving a break.

Rules: every route is scoped to the signed-in user's own Coinspot account; another user's
break is a 404. `ignore` needs a note (422 naming `note`); an unknown action is a 422
naming `action`. Amounts are exact decimal strings. Lists are newest first.
"""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import func
from sqlmodel import col, select

from app.api import errors
from app.api.deps import CurrentUser, SessionDep
from app.api.errors import invalid
from app.api.pagination import Skip, limit_query
from app.core.db import engine
from app.exchange.errors import ExchangeError
from app.floor.reconciliation import service
from app.floor.reconciliation.actions import BreakConflict, BreakNotFound, resolve_break
from app.floor.reconciliation.gate import blocking_reason
from app.floor.reconciliation.models import (
    BreakAction,
    BreakStatus,
    ReconciliationBreak,
    ReconciliationRun,
)

router = APIRouter(prefix="/floor/reconciliation", tags=["floor"])


class ReconciliationRunPublic(BaseModel):
    id: uuid.UUID
    trigger: str
    node: str
    outcome: str
    counts: dict[str, Any]
    error: str | None
    started_at: datetime
    finished_at: datetime | None


class ReconciliationBreakPublic(BaseModel):
    id: uuid.UUID
    kind: str
    coin: str | None
    deployment_id: uuid.UUID | None
    order_id: uuid.UUID | None
    ours: Decimal | None
    theirs: Decimal | None
    message: str
    detail: dict[str, Any]
    blocking: bool
    status: str
    first_seen_at: datetime
    last_seen_at: datetime
    resolution_action: str | None
    resolution_note: str | None
    resolved_by: uuid.UUID | None
    resolved_at: datetime | None


class ReconciliationOverview(BaseModel):
    runs: list[ReconciliationRunPublic] = Field(description="The last runs, newest first")
    breaks: list[ReconciliationBreakPublic] = Field(description="One page of breaks")
    count: int = Field(description="Breaks with the requested status")
    blocked: str | None = Field(description="Why live orders are held back, if they are")


class ResolveRequest(BaseModel):
    action: Literal["adopt", "ignore", "close"]
    note: Annotated[str, Field(max_length=1000)] | None = None


BreakStatusFilter = Literal["open", "resolved", "all"]


@router.get("", response_model=ReconciliationOverview)
def reconciliation_overview(
    session: SessionDep,
    user: CurrentUser,
    skip: Skip = 0,
    limit: Annotated[int, limit_query(200)] = 50,
    status: Annotated[BreakStatusFilter, Query(description="Breaks to list")] = "open",
    runs: Annotated[int, Query(ge=1, le=100, description="Last runs to list")] = 10,
) -> ReconciliationOverview:
    """The account's last reconciliation runs and its breaks (open ones by default)."""
    recent = session.exec(
        select(ReconciliationRun)
        .where(col(ReconciliationRun.user_id) == user.id)
        .order_by(col(ReconciliationRun.started_at).desc())
        .limit(runs)
    ).all()
    condition = col(ReconciliationBreak.user_id) == user.id
    if status != "all":
        condition = condition & (col(ReconciliationBreak.status) == status)
    count = session.exec(select(func.count()).select_from(ReconciliationBreak).where(condition))
    rows = session.exec(
        select(ReconciliationBreak)
        .where(condition)
        .order_by(col(ReconciliationBreak.first_seen_at).desc(), col(ReconciliationBreak.id))
        .offset(skip)
        .limit(limit)
    ).all()
    return ReconciliationOverview(
        runs=[ReconciliationRunPublic.model_validate(r, from_attributes=True) for r in recent],
        breaks=[ReconciliationBreakPublic.model_validate(b, from_attributes=True) for b in rows],
        count=int(count.one()),
        blocked=blocking_reason(engine, user.id),
    )


@router.post(
    "/run",
    response_model=ReconciliationRunPublic,
    responses=errors.responses(
        {400: "No Coinspot API keys are stored for this account"},
        {409: "A reconciliation of this account is running"},
    ),
)
async def run_reconciliation(session: SessionDep, user: CurrentUser) -> ReconciliationRunPublic:
    """Reconcile the caller's Coinspot account now and return the run."""
    session.rollback()
    try:
        client = await service.account_client(user.id)
        run = await service.reconcile_account(user.id, client, trigger="api")
    except service.NoKeysError as exc:
        raise HTTPException(400, str(exc)) from None
    except service.ReconcileBusy as exc:
        raise HTTPException(409, str(exc)) from None
    return ReconciliationRunPublic.model_validate(run, from_attributes=True)


@router.post(
    "/breaks/{break_id}/resolve",
    response_model=ReconciliationBreakPublic,
    responses=errors.responses(
        {404: "No such break for this user"},
        {409: "The break is resolved already, or the action does not apply to it"},
        422,
        {502: "Coinspot answered with an error; nothing was resolved"},
    ),
)
async def resolve_reconciliation_break(
    session: SessionDep,
    user: CurrentUser,
    body: ResolveRequest,
    break_id: Annotated[uuid.UUID, Path(description="Break id")],
) -> ReconciliationBreakPublic:
    """Adopt Coinspot's view, ignore the break (a note is required) or close the position."""
    row = session.get(ReconciliationBreak, break_id)
    if row is None or row.user_id != user.id:
        raise HTTPException(404, "Break not found")
    if body.action == "ignore" and not (body.note or "").strip():
        raise invalid("a note is required to ignore a break", "body", "note")
    if row.status != BreakStatus.OPEN:
        raise HTTPException(409, f"the break was resolved already ({row.resolution_action})")
    session.rollback()
    client = None
    if body.action != "ignore":
        try:
            client = await service.account_client(user.id)
        except service.NoKeysError:
            client = None
    try:
        resolved = await resolve_break(
            engine, break_id, user.id, BreakAction(body.action), body.note, client
        )
    except BreakNotFound:
        raise HTTPException(404, "Break not found") from None
    except BreakConflict as exc:
        raise HTTPException(409, str(exc)) from None
    except ExchangeError as exc:
        raise HTTPException(502, f"Coinspot answered with an error: {exc}") from None
    return ReconciliationBreakPublic.model_validate(resolved, from_attributes=True)
