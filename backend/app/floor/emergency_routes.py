"""The emergency stop under /api/v1/floor.

Rules:
- `POST /floor/emergency-stop` halts, cancels, optionally flattens and reports per order
  (app/floor/emergency.py). Scope `mine` = the caller's deployments; `everyone` needs a
  superuser (403 otherwise). It answers 200 with the report even when parts could not be
  confirmed: `complete`, `not_confirmed` and `summary` say what.
- The broker factory is a dependency (`get_broker_factory`) so that every route that winds
  deployments down (this one and deactivate-with-flatten) uses the same brokers.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import CurrentUser, SessionDep
from app.api.errors import responses
from app.core.db import engine
from app.floor import emergency
from app.floor.emergency import EmergencyStopReport
from app.floor.executor import BrokerFactory
from app.floor.service import default_broker

router = APIRouter(prefix="/floor", tags=["floor"])


def get_broker_factory() -> BrokerFactory:
    return default_broker


BrokerFactoryDep = Annotated[BrokerFactory, Depends(get_broker_factory)]


class EmergencyStopRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["mine", "everyone"] = Field(
        default="mine", description="mine: your deployments; everyone: all (superusers only)"
    )
    flatten: bool = Field(default=False, description="Also sell every position at market")
    reason: Annotated[str, Field(max_length=500)] | None = None


@router.post(
    "/emergency-stop",
    response_model=EmergencyStopReport,
    responses=responses({403: "Scope `everyone` needs a superuser"}),
)
async def emergency_stop(
    session: SessionDep,
    user: CurrentUser,
    body: EmergencyStopRequest,
    request: Request,
    broker_factory: BrokerFactoryDep,
) -> EmergencyStopReport:
    """Halt every running deployment in scope (first), cancel every open order, optionally
    flatten positions, and report what happened to each order. Resume with activate."""
    if body.scope == "everyone" and not user.is_superuser:
        raise HTTPException(403, "scope: 'everyone' needs a superuser; use 'mine'")
    actor_id = user.id
    session.rollback()  # nothing of the request's session stays open while we work
    return await emergency.emergency_stop(
        actor_id=actor_id,
        scope=body.scope,
        flatten=body.flatten,
        reason=body.reason,
        broker_factory=broker_factory,
        request=request,
        engine=engine,
    )
