"""Alerts API: the user's rules, their alerts (pages, unread filter) and marking them read.

Rules: everything is scoped to the current user; another user's alert is a 404. The
webhook secret is write-only (the answer says whether one is set and its last 4 chars).
"""

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from app.alerts import service
from app.alerts.schemas import (
    AlertKind,
    AlertPublic,
    AlertRulesPublic,
    AlertRulesUpdate,
    AlertsPage,
)
from app.api import errors
from app.api.deps import CurrentUser, SessionDep
from app.api.pagination import Skip
from app.core.crypto import EncryptionNotConfiguredError
from app.credentials.safe_errors import SecretSafeRoute

# The rules body carries the webhook secret: 422 answers must not echo inputs.
router = APIRouter(prefix="/alerts", tags=["alerts"], route_class=SecretSafeRoute)


@router.get("/rules", response_model=AlertRulesPublic)
def get_rules(session: SessionDep, current_user: CurrentUser) -> AlertRulesPublic:
    return service.rules_public(service.rules_row(session, current_user.id))


@router.put(
    "/rules",
    response_model=AlertRulesPublic,
    responses=errors.responses({503: "Encryption keys are not configured"}),
)
def put_rules(
    session: SessionDep, current_user: CurrentUser, body: AlertRulesUpdate
) -> AlertRulesPublic:
    """Change any subset of the rules and delivery settings; answers the effective rules."""
    try:
        row = service.update_rules(session, current_user.id, body)
    except service.RulesError as exc:
        session.rollback()
        raise HTTPException(status_code=422, detail=str(exc))
    except EncryptionNotConfiguredError:
        session.rollback()
        raise HTTPException(
            status_code=503, detail="webhook_secret: encryption is not configured on the server"
        )
    return service.rules_public(row)


@router.get("", response_model=AlertsPage)
def list_alerts(
    session: SessionDep,
    current_user: CurrentUser,
    unread: bool | None = None,
    kind: AlertKind | None = None,
    skip: Skip = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AlertsPage:
    rows, count, unread_count = service.listing(
        session, current_user.id, unread=unread, kind=kind, skip=skip, limit=limit
    )
    return AlertsPage(data=[service.to_public(r) for r in rows], count=count, unread=unread_count)


@router.post("/read-all")
def read_all(session: SessionDep, current_user: CurrentUser) -> dict[str, int]:
    return {"updated": service.mark_all_read(session, current_user.id)}


@router.post(
    "/{alert_id}/read",
    response_model=AlertPublic,
    responses=errors.responses({404: "No such alert for this user"}),
)
def read_alert(session: SessionDep, current_user: CurrentUser, alert_id: uuid.UUID) -> AlertPublic:
    alert = service.get_alert(session, current_user.id, alert_id)
    if alert is None:
        raise HTTPException(status_code=404, detail="Alert not found")
    return service.to_public(service.mark_read(session, alert))
