"""The deployment registry under /api/v1/floor: available releases, deploy, list, read, and
the pause / resume / stop status changes."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status

from app.api.deps import AuthContextDep, CurrentUser, SessionDep, require_fresh_second_factor
from app.api.errors import invalid
from app.floor import deployments as service
from app.floor.models import DeploymentMode, DeploymentStatus
from app.floor.schemas import (
    AvailablePage,
    DeploymentPublic,
    DeploymentsPage,
    DeployRequest,
    StatusChange,
)

router = APIRouter(prefix="/floor", tags=["floor"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such object for this user"}}


def _http(error: Exception) -> Exception:
    """The deploy route's refusals: 404, 503 or a 422 naming the field."""
    if isinstance(error, service.NotFoundError):
        return HTTPException(404, str(error))
    if isinstance(error, service.ExchangeUnavailableError):
        return HTTPException(503, str(error))
    message = str(error)
    field = message.split(":", 1)[0] if ":" in message.split(" ", 1)[0] else "body"
    return invalid(message, "body", field)


@router.get("/available-algorithms", response_model=AvailablePage)
def available_algorithms(session: SessionDep, user: CurrentUser) -> AvailablePage:
    """Your deployable releases, with how long each has run on paper."""
    data = service.available(session, user.id)
    return AvailablePage(data=data, count=len(data))


@router.post(
    "/deploy",
    response_model=DeploymentPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        **_NOT_FOUND,
        422: {"description": "Invalid request, or live requirements not met (the reason)"},
        503: {"description": "Coinspot could not be asked for the account's balance"},
    },
)
async def deploy(
    session: SessionDep,
    user: CurrentUser,
    ctx: AuthContextDep,
    body: DeployRequest,
    request: Request,
) -> DeploymentPublic:
    """Deploy a release on paper or live. Live needs a fresh second factor (step-up),
    validated full-access credentials, the release's paper time, capital within the AUD
    balance and `acknowledge_real_money`."""
    if body.mode == DeploymentMode.LIVE:
        require_fresh_second_factor(session, ctx, user)
    try:
        row = await service.deploy(session, user.id, body, request)
    except (service.NotFoundError, service.RefusedError, service.ExchangeUnavailableError) as e:
        raise _http(e) from None
    return service.public(row)


@router.get("/deployments", response_model=DeploymentsPage)
def read_deployments(
    session: SessionDep,
    user: CurrentUser,
    status_filter: Annotated[DeploymentStatus | None, Query(alias="status")] = None,
    mode: DeploymentMode | None = None,
    algorithm_id: uuid.UUID | None = None,
    release_id: uuid.UUID | None = None,
    skip: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeploymentsPage:
    rows, count = service.listing(
        session,
        user.id,
        status=status_filter.value if status_filter else None,
        mode=mode.value if mode else None,
        algorithm_id=algorithm_id,
        release_id=release_id,
        skip=skip,
        limit=limit,
    )
    return DeploymentsPage(data=[service.public(r) for r in rows], count=count)


@router.get("/deployments/{deployment_id}", response_model=DeploymentPublic, responses=_NOT_FOUND)
def read_deployment(
    session: SessionDep, user: CurrentUser, deployment_id: uuid.UUID
) -> DeploymentPublic:
    try:
        return service.public(service.get(session, user.id, deployment_id))
    except service.NotFoundError as error:
        raise HTTPException(404, str(error)) from None


def apply_status_change(
    session: SessionDep,
    user: CurrentUser,
    deployment_id: uuid.UUID,
    action: str,
    body: StatusChange | None,
    request: Request,
) -> DeploymentPublic:
    try:
        row = service.change_status(
            session,
            user.id,
            deployment_id,
            action,
            body.reason if body else None,
            user.id,
            request,
        )
    except service.NotFoundError as error:
        raise HTTPException(404, str(error)) from None
    except service.ConflictError as error:
        raise HTTPException(409, str(error)) from None
    return service.public(row)


_CHANGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **_NOT_FOUND,
    409: {"description": "The deployment's status does not allow this change"},
}


@router.post(
    "/deployments/{deployment_id}/pause",
    response_model=DeploymentPublic,
    responses=_CHANGE_RESPONSES,
)
def pause_deployment(
    session: SessionDep,
    user: CurrentUser,
    deployment_id: uuid.UUID,
    request: Request,
    body: StatusChange | None = None,
) -> DeploymentPublic:
    """No new orders; positions are kept."""
    return apply_status_change(session, user, deployment_id, "pause", body, request)


@router.post(
    "/deployments/{deployment_id}/resume",
    response_model=DeploymentPublic,
    responses=_CHANGE_RESPONSES,
)
def resume_deployment(
    session: SessionDep,
    user: CurrentUser,
    deployment_id: uuid.UUID,
    request: Request,
    body: StatusChange | None = None,
) -> DeploymentPublic:
    return apply_status_change(session, user, deployment_id, "resume", body, request)


@router.post(
    "/deployments/{deployment_id}/stop",
    response_model=DeploymentPublic,
    responses=_CHANGE_RESPONSES,
)
def stop_deployment(
    session: SessionDep,
    user: CurrentUser,
    deployment_id: uuid.UUID,
    request: Request,
    body: StatusChange | None = None,
) -> DeploymentPublic:
    """Stop for good (the deployment's record stays; deploy again to restart)."""
    return apply_status_change(session, user, deployment_id, "stop", body, request)
