"""Risk limits under /api/v1/floor: a deployment's limits, the account's limits and state,
and resuming the account.

Rules:
- `PUT` replaces the whole set (fields left out take their defaults, `null` = not
  enforced); bad values are a 422 naming the field. Each change is audited with its
  before and after, in the same transaction.
- Another user's deployment is a 404; a stopped deployment's limits no longer change (409).
- A deployment goes back to `active` through `POST /floor/algorithms/{id}/activate`; the
  account through `POST /floor/limits/resume` (409 when it is active already).
"""

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel

from app.api import errors
from app.api.deps import CurrentUser, SessionDep
from app.audit import service as audit
from app.floor import deployments
from app.floor.models import DeploymentStatus
from app.floor.risk.limits import (
    account_actions,
    account_limits,
    deployment_actions,
    deployment_limits,
)
from app.floor.risk.state import (
    AccountConflictError,
    FloorAccount,
    account,
    resume_account,
    update_account_limits,
)
from app.floor.schemas import AccountLimits, RiskLimits, StatusChange

router = APIRouter(prefix="/floor", tags=["floor"])


class DeploymentLimitsPublic(BaseModel):
    deployment_id: uuid.UUID
    status: str
    status_reason: str | None
    limits: RiskLimits
    actions: dict[str, str]


class AccountLimitsPublic(BaseModel):
    status: str
    status_reason: str | None
    status_changed_at: datetime | None
    limits: AccountLimits
    actions: dict[str, str]
    time_zone: str


def _deployment_view(row: Any) -> DeploymentLimitsPublic:
    limits = deployment_limits(row.risk_limits)
    return DeploymentLimitsPublic(
        deployment_id=row.id,
        status=row.status,
        status_reason=row.status_reason,
        limits=limits,
        actions=deployment_actions(limits),
    )


def _account_view(row: FloorAccount, time_zone: str) -> AccountLimitsPublic:
    limits = account_limits(row.limits)
    return AccountLimitsPublic(
        status=row.status,
        status_reason=row.status_reason,
        status_changed_at=row.status_changed_at,
        limits=limits,
        actions=account_actions(limits),
        time_zone=time_zone,
    )


@router.get(
    "/deployments/{deployment_id}/limits",
    response_model=DeploymentLimitsPublic,
    responses=errors.responses({404: "No such deployment"}),
)
def read_deployment_limits(
    session: SessionDep, user: CurrentUser, deployment_id: uuid.UUID
) -> DeploymentLimitsPublic:
    """The limits the risk engine enforces on this deployment, each limit's breach action
    and the deployment's state."""
    try:
        return _deployment_view(deployments.get(session, user.id, deployment_id))
    except deployments.NotFoundError as error:
        raise HTTPException(404, str(error)) from None


@router.put(
    "/deployments/{deployment_id}/limits",
    response_model=DeploymentLimitsPublic,
    responses=errors.responses({404: "No such deployment", 409: "The deployment is stopped"}, 422),
)
def update_deployment_limits(
    session: SessionDep,
    user: CurrentUser,
    deployment_id: uuid.UUID,
    body: RiskLimits,
    request: Request,
) -> DeploymentLimitsPublic:
    """Replace the deployment's limits (audited). Takes effect on the next order."""
    try:
        row = deployments.get(session, user.id, deployment_id)
    except deployments.NotFoundError as error:
        raise HTTPException(404, str(error)) from None
    if row.status == DeploymentStatus.STOPPED:
        raise HTTPException(409, "a stopped deployment's limits no longer change")
    before = dict(row.risk_limits)
    row.risk_limits = body.model_dump(mode="json")
    row.updated_at = datetime.now(UTC)
    session.add(row)
    audit.record(
        session,
        owner_id=user.id,
        actor_id=user.id,
        action="deployment.limits_update",
        object_type="deployment",
        object_id=row.id,
        before={"risk_limits": before},
        after={"risk_limits": row.risk_limits},
        request=request,
    )
    session.commit()
    session.refresh(row)
    return _deployment_view(row)


@router.get("/limits", response_model=AccountLimitsPublic)
def read_account_limits(session: SessionDep, user: CurrentUser) -> AccountLimitsPublic:
    """Your account's limits (across your live deployments), their breach actions and the
    account's state. The trading day starts at 00:00 in `time_zone` (your profile's)."""
    row = account(session, user.id)
    session.commit()
    return _account_view(row, user.timezone)


@router.put("/limits", response_model=AccountLimitsPublic, responses=errors.responses(422))
def update_limits(
    session: SessionDep, user: CurrentUser, body: AccountLimits, request: Request
) -> AccountLimitsPublic:
    """Replace the account's limits (audited). Takes effect on the next order."""
    return _account_view(update_account_limits(session, user.id, body, request), user.timezone)


@router.post(
    "/limits/resume",
    response_model=AccountLimitsPublic,
    responses=errors.responses({409: "The account is active already"}),
)
def resume_limits(
    session: SessionDep,
    user: CurrentUser,
    request: Request,
    body: StatusChange | None = None,
) -> AccountLimitsPublic:
    """Move the account from `reducing` or `halted` back to `active` (audited)."""
    try:
        row = resume_account(session, user.id, body.reason if body else None, request)
    except AccountConflictError as error:
        raise HTTPException(409, str(error)) from None
    return _account_view(row, user.timezone)
