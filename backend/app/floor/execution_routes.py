"""The Floor's execution API under /api/v1/floor: run a cycle now, and a deployment's
orders, trades, positions and execution runs.

Rules: every route is scoped to the signed-in user; another user's deployment (or one that
does not exist) is a 404. Lists are newest first and paginated with `skip`/`limit`.
Amounts are exact decimal strings.
"""

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, col, select

from app.api.deps import CurrentUser, SessionDep
from app.api.pagination import Skip
from app.floor.executor import CycleRefused, run_cycle
from app.floor.ledger import ExecutionRun, Order, Position, Trade
from app.floor.models import DeployedAlgorithm
from app.floor.service import default_broker
from app.floor.signals import bar_of
from app.lab.sandbox.service import get_pool

router = APIRouter(prefix="/floor", tags=["floor"])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such deployment for this user"}
}
T = TypeVar("T")
Limit = Annotated[int, Query(ge=1, le=500)]
DeploymentId = Annotated[uuid.UUID, Path(description="Deployment id")]


class Page(BaseModel, Generic[T]):
    data: list[T]
    count: int


class OrderPublic(BaseModel):
    id: uuid.UUID
    coin: str
    side: str
    style: str
    mode: str
    status: str
    requested_quantity: Decimal
    requested_notional: Decimal
    limit_rate: Decimal | None
    filled_quantity: Decimal
    average_price: Decimal | None
    exchange_order_id: str | None
    reason: str
    error: str | None
    resolution: str | None
    created_at: datetime
    submitting_at: datetime | None
    filled_at: datetime | None
    cancelled_at: datetime | None
    rejected_at: datetime | None
    unknown_at: datetime | None
    updated_at: datetime


class TradePublic(BaseModel):
    id: uuid.UUID
    order_id: uuid.UUID
    coin: str
    side: str
    quantity: Decimal
    price: Decimal
    fee: Decimal
    gst: Decimal
    total_aud: Decimal
    exchange_time: datetime | None
    source: str
    bar: datetime | None
    created_at: datetime


class PositionPublic(BaseModel):
    coin: str
    quantity: Decimal
    average_price: Decimal
    cost_basis: Decimal
    cash: Decimal
    last_target: Decimal | None
    updated_at: datetime


class AccountPosition(BaseModel):
    """One coin summed over the user's deployments (paper and live apart)."""

    mode: str
    coin: str
    quantity: Decimal
    cost_basis: Decimal
    average_price: Decimal | None
    deployments: int


class ExecutionRunPublic(BaseModel):
    id: uuid.UUID
    bar: datetime
    trigger: str
    node: str
    status: str
    targets: dict[str, Any]
    decisions: dict[str, Any]
    order_ids: list[str]
    timings: dict[str, Any]
    outcome: str | None
    error: str | None
    started_at: datetime
    finished_at: datetime | None


class RunNowResult(BaseModel):
    run_id: uuid.UUID
    bar: datetime
    status: str
    decisions: dict[str, Any]
    order_ids: list[str]


@router.get("/positions", response_model=list[AccountPosition])
def account_positions(session: SessionDep, user: CurrentUser) -> list[AccountPosition]:
    """The account view: every coin held, summed over the user's deployments, by mode."""
    query = (
        sa.select(
            col(DeployedAlgorithm.mode),
            col(Position.coin),
            func.sum(col(Position.quantity)),
            func.sum(col(Position.cost_basis)),
            func.count(),
        )
        .join(DeployedAlgorithm, col(DeployedAlgorithm.id) == col(Position.deployment_id))
        .where(col(Position.user_id) == user.id, col(Position.quantity) > 0)
        .group_by(col(DeployedAlgorithm.mode), col(Position.coin))
        .order_by(col(DeployedAlgorithm.mode), col(Position.coin))
    )
    return [
        AccountPosition(
            mode=mode,
            coin=coin,
            quantity=quantity,
            cost_basis=cost,
            average_price=cost / quantity if quantity else None,
            deployments=count,
        )
        for mode, coin, quantity, cost, count in (
            (str(r[0]), str(r[1]), Decimal(r[2]), Decimal(r[3]), int(r[4]))
            for r in session.execute(query).all()
        )
    ]


def _owned(session: Session, user: CurrentUser, deployment_id: uuid.UUID) -> DeployedAlgorithm:
    deployment = session.get(DeployedAlgorithm, deployment_id)
    if deployment is None or deployment.user_id != user.id:
        raise HTTPException(404, "Deployment not found")
    return deployment


def _page(
    session: Session, model: Any, deployment_id: uuid.UUID, order_by: Any, skip: int, limit: int
) -> tuple[list[Any], int]:
    condition = model.deployment_id == deployment_id
    count = session.exec(select(func.count()).select_from(model).where(condition)).one()
    rows = session.exec(
        select(model).where(condition).order_by(order_by).offset(skip).limit(limit)
    ).all()
    return list(rows), int(count)


@router.post(
    "/deployments/{deployment_id}/run-now",
    response_model=RunNowResult,
    responses={
        **_NOT_FOUND,
        409: {
            "description": "A cycle is running, the bar was decided already, or the deployment is stopped"
        },
    },
)
async def run_now(
    session: SessionDep, user: CurrentUser, deployment_id: DeploymentId
) -> RunNowResult:
    """Run one decision cycle at once, on the latest closed 5-minute bar."""
    _owned(session, user, deployment_id)
    session.rollback()
    bar = bar_of(datetime.now(UTC))
    try:
        result = await run_cycle(
            deployment_id, bar, trigger="manual", pool=get_pool(), broker_factory=default_broker
        )
    except CycleRefused as refused:
        if refused.code == "missing":
            raise HTTPException(404, "Deployment not found") from None
        raise HTTPException(409, str(refused)) from None
    return RunNowResult(
        run_id=result.run_id,
        bar=bar,
        status=result.status,
        decisions=result.decisions,
        order_ids=result.order_ids,
    )


@router.get(
    "/deployments/{deployment_id}/orders", response_model=Page[OrderPublic], responses=_NOT_FOUND
)
def list_orders(
    session: SessionDep,
    user: CurrentUser,
    deployment_id: DeploymentId,
    skip: Skip = 0,
    limit: Limit = 100,
) -> Page[OrderPublic]:
    _owned(session, user, deployment_id)
    rows, count = _page(session, Order, deployment_id, col(Order.created_at).desc(), skip, limit)
    return Page[OrderPublic](
        data=[OrderPublic.model_validate(r, from_attributes=True) for r in rows], count=count
    )


@router.get(
    "/deployments/{deployment_id}/trades", response_model=Page[TradePublic], responses=_NOT_FOUND
)
def list_trades(
    session: SessionDep,
    user: CurrentUser,
    deployment_id: DeploymentId,
    skip: Skip = 0,
    limit: Limit = 100,
) -> Page[TradePublic]:
    _owned(session, user, deployment_id)
    rows, count = _page(session, Trade, deployment_id, col(Trade.created_at).desc(), skip, limit)
    return Page[TradePublic](
        data=[TradePublic.model_validate(r, from_attributes=True) for r in rows], count=count
    )


@router.get(
    "/deployments/{deployment_id}/positions",
    response_model=Page[PositionPublic],
    responses=_NOT_FOUND,
)
def list_positions(
    session: SessionDep,
    user: CurrentUser,
    deployment_id: DeploymentId,
    skip: Skip = 0,
    limit: Limit = 100,
) -> Page[PositionPublic]:
    _owned(session, user, deployment_id)
    rows, count = _page(session, Position, deployment_id, col(Position.coin), skip, limit)
    return Page[PositionPublic](
        data=[PositionPublic.model_validate(r, from_attributes=True) for r in rows], count=count
    )


@router.get(
    "/deployments/{deployment_id}/runs",
    response_model=Page[ExecutionRunPublic],
    responses=_NOT_FOUND,
)
def list_runs(
    session: SessionDep,
    user: CurrentUser,
    deployment_id: DeploymentId,
    skip: Skip = 0,
    limit: Limit = 100,
) -> Page[ExecutionRunPublic]:
    _owned(session, user, deployment_id)
    rows, count = _page(
        session, ExecutionRun, deployment_id, col(ExecutionRun.started_at).desc(), skip, limit
    )
    return Page[ExecutionRunPublic](
        data=[ExecutionRunPublic.model_validate(r, from_attributes=True) for r in rows], count=count
    )
