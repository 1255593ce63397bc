"""Floor management and monitoring under /api/v1/floor: the running algorithms with their
P&L and exposure, activate / pause / deactivate, parameter overrides, live performance
beside the release's backtest, recent trades and the platform's status.

Rules:
- `{id}` in /floor/algorithms/{id} is a deployment id (one algorithm can run as several
  deployments); another user's is a 404.
- activate = resume a paused, reducing or halted deployment; pause = no new orders,
  positions kept; deactivate = stop for good, optionally flattening first (the emergency
  stop's wind-down). Each goes through `deployments.change_status`, so each is audited.
- Parameter changes: we chose a **recorded override**, not a new release, and only where it
  cannot bypass the gate's evidence silently: a paper deployment of a rule algorithm, values
  checked against the release's declared parameter schema (types and bounds), the before and
  after audited. Live deployments and ML releases (whose parameters are fitted into the model)
  need a new release through the promotion gate: 409 says so.
"""

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import numpy as np
import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, func, select

from app.api.deps import CurrentUser, SessionDep
from app.api.errors import invalid
from app.audit import service as audit
from app.collector.scheduler import get_service as collector_service
from app.core.db import engine
from app.floor import deployments, emergency
from app.floor.deploy_routes import apply_status_change
from app.floor.drift import drift_report
from app.floor.emergency import FlattenReport
from app.floor.emergency_routes import BrokerFactoryDep
from app.floor.ledger import Order, Trade
from app.floor.models import RUNNING_STATUSES, DeployedAlgorithm
from app.floor.pnl import service as pnl
from app.floor.schemas import DeploymentPublic, StatusChange
from app.floor.service import get_service as floor_service
from app.lab.engine.metrics import curve_metrics
from app.lab.releases.models import Release
from app.lab.sandbox.service import get_pool
from app.lab.validation import check_parameters

router = APIRouter(prefix="/floor", tags=["floor"])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such deployment"}}
_CHANGE: dict[int | str, dict[str, Any]] = {
    **_NOT_FOUND,
    409: {"description": "The deployment's status (or kind) does not allow this change"},
}


class RunningAlgorithm(BaseModel):
    deployment: DeploymentPublic
    algorithm_name: str
    total_pnl: str
    realised_pnl: str
    unrealised_pnl: str
    exposure: str
    equity: str
    last_cycle_bar: datetime | None
    last_cycle_status: str | None


class RunningAlgorithms(BaseModel):
    data: list[RunningAlgorithm]
    count: int


class ParameterOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parameters: dict[str, Any]


class Performance(BaseModel):
    deployment_id: uuid.UUID
    live: dict[str, Any]
    backtest: dict[str, Any]
    snapshots: int
    since: datetime | None


class FloorStatus(BaseModel):
    executor: dict[str, Any] | None
    collector: dict[str, Any] | None
    deployments: dict[str, int]
    open_orders: int
    unknown_orders: int
    last_cycles: list[dict[str, Any]]
    checked_at: datetime


_LAST_RUNS = sa.text(
    """
    SELECT DISTINCT ON (r.deployment_id) r.deployment_id, r.bar, r.status, r.finished_at,
           r.error
    FROM execution_runs r
    WHERE r.user_id = :user_id
    ORDER BY r.deployment_id, r.bar DESC
    """
)


def _owned(session: SessionDep, user: CurrentUser, deployment_id: uuid.UUID) -> DeployedAlgorithm:
    try:
        return deployments.get(session, user.id, deployment_id)
    except deployments.NotFoundError as error:
        raise HTTPException(404, str(error)) from None


@router.get("/algorithms", response_model=RunningAlgorithms)
def running_algorithms(session: SessionDep, user: CurrentUser) -> RunningAlgorithms:
    """Every deployment that is not stopped, with its P&L, exposure and last cycle."""
    data = pnl.breakdown(session, user.id, None, None)
    rows = data.by("deployment")
    last = {
        r.deployment_id: r for r in session.connection().execute(_LAST_RUNS, {"user_id": user.id})
    }
    running = session.exec(
        select(DeployedAlgorithm)
        .where(
            col(DeployedAlgorithm.user_id) == user.id,
            col(DeployedAlgorithm.status).in_(sorted(RUNNING_STATUSES)),
        )
        .order_by(col(DeployedAlgorithm.deployed_at).desc())
    ).all()
    out = []
    for dep in running:
        figures = rows.get(dep.id, pnl.Row(cash=dep.capital, capital=dep.capital)).public()
        run = last.get(dep.id)
        out.append(
            RunningAlgorithm(
                deployment=deployments.public(dep),
                algorithm_name=data.deployments.get(dep.id, {}).get("algorithm_name", dep.name),
                total_pnl=figures["total_pnl"],
                realised_pnl=figures["realised_pnl"],
                unrealised_pnl=figures["unrealised_pnl"],
                exposure=figures["exposure"],
                equity=figures["equity"],
                last_cycle_bar=run.bar if run else None,
                last_cycle_status=run.status if run else None,
            )
        )
    return RunningAlgorithms(data=out, count=len(out))


@router.post(
    "/algorithms/{deployment_id}/activate", response_model=DeploymentPublic, responses=_CHANGE
)
def activate(
    session: SessionDep,
    user: CurrentUser,
    deployment_id: uuid.UUID,
    request: Request,
    body: StatusChange | None = None,
) -> DeploymentPublic:
    """Back to `active` from `paused`, from the risk engine's `reducing` / `halted` or from an
    emergency stop's halt (audited; a limit still breached moves it again on the next order)."""
    return apply_status_change(session, user, deployment_id, "resume", body, request)


@router.post(
    "/algorithms/{deployment_id}/pause", response_model=DeploymentPublic, responses=_CHANGE
)
def pause(
    session: SessionDep,
    user: CurrentUser,
    deployment_id: uuid.UUID,
    request: Request,
    body: StatusChange | None = None,
) -> DeploymentPublic:
    """No new orders; positions are kept."""
    return apply_status_change(session, user, deployment_id, "pause", body, request)


class DeactivateRequest(StatusChange):
    """The old body (`reason`) still works; `flatten` is new."""

    flatten: bool = Field(
        default=False, description="Cancel open orders and sell every position before stopping"
    )


class DeactivateResult(DeploymentPublic):
    flatten: FlattenReport | None = Field(
        default=None, description="What the flatten did, per order (only when asked for)"
    )


@router.post(
    "/algorithms/{deployment_id}/deactivate", response_model=DeactivateResult, responses=_CHANGE
)
async def deactivate(
    session: SessionDep,
    user: CurrentUser,
    deployment_id: uuid.UUID,
    request: Request,
    broker_factory: BrokerFactoryDep,
    body: DeactivateRequest | None = None,
) -> DeactivateResult:
    """Stop the deployment for good. Without `flatten` its positions stay as they are. With
    `flatten: true` its open orders are cancelled and its positions sold at market first (the
    emergency stop's wind-down); it is stopped only when all of that was confirmed, otherwise
    it is left `halted` and `flatten.not_confirmed` says what is missing."""
    if body is None or not body.flatten:
        row = apply_status_change(session, user, deployment_id, "stop", body, request)
        return DeactivateResult(**row.model_dump())
    try:
        dep, report = await emergency.deactivate_with_flatten(
            session, user.id, deployment_id, body.reason, broker_factory, request, engine
        )
    except deployments.NotFoundError as error:
        raise HTTPException(404, str(error)) from None
    except deployments.ConflictError as error:
        raise HTTPException(409, str(error)) from None
    return DeactivateResult(**deployments.public(dep).model_dump(), flatten=report)


@router.put(
    "/algorithms/{deployment_id}/parameters",
    response_model=DeploymentPublic,
    responses={**_CHANGE, 422: {"description": "A value outside the declared parameters"}},
)
def override_parameters(
    session: SessionDep,
    user: CurrentUser,
    deployment_id: uuid.UUID,
    body: ParameterOverride,
    request: Request,
) -> DeploymentPublic:
    """A recorded override of a paper deployment's parameters, within the release's declared
    bounds (see the module rules for why live changes need a new release)."""
    dep = _owned(session, user, deployment_id)
    release = session.get(Release, dep.release_id)
    assert release is not None
    if dep.mode != "paper":
        raise HTTPException(409, "a live deployment's parameters change only with a new release")
    if release.algorithm_type != "rule":
        raise HTTPException(
            409, "a trained algorithm's parameters are fitted into its model: promote a new release"
        )
    if dep.status not in RUNNING_STATUSES:
        raise HTTPException(409, f"a {dep.status} deployment cannot change")
    try:
        values = check_parameters(release.parameter_schema, {**dep.parameters, **body.parameters})
    except ValueError as error:
        raise invalid(f"parameters: {error}", "body", "parameters") from None
    before = dict(dep.parameters)
    dep.parameters = values
    dep.updated_at = datetime.now(UTC)
    session.add(dep)
    audit.record(
        session,
        owner_id=user.id,
        actor_id=user.id,
        action="deployment.parameters_override",
        object_type="deployment",
        object_id=dep.id,
        before={"parameters": before},
        after={"parameters": values, "release_parameters": release.parameters},
        request=request,
    )
    session.commit()
    session.refresh(dep)
    return deployments.public(dep)


@router.get(
    "/algorithms/{deployment_id}/performance", response_model=Performance, responses=_NOT_FOUND
)
def performance(session: SessionDep, user: CurrentUser, deployment_id: uuid.UUID) -> Performance:
    """Live metrics from the deployment's equity snapshots (the Lab's definitions: return,
    volatility, Sharpe, Sortino, max drawdown) beside the release's backtest evidence."""
    dep = _owned(session, user, deployment_id)
    release = session.get(Release, dep.release_id)
    assert release is not None
    points = pnl.history(session, user.id, dep.id, None, None, "5m")
    equity = np.array([float(p["equity"]) for p in points], dtype=np.float64)
    return Performance(
        deployment_id=dep.id,
        live=curve_metrics(equity),
        backtest=dict((release.evidence.get("main") or {}).get("metrics") or {}),
        snapshots=len(points),
        since=points[0]["bar"] if points else None,
    )


@router.get(
    "/algorithms/{deployment_id}/recent-trades",
    response_model=list[dict[str, Any]],
    responses=_NOT_FOUND,
)
def recent_trades(
    session: SessionDep,
    user: CurrentUser,
    deployment_id: uuid.UUID,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    """The deployment's newest fills first."""
    _owned(session, user, deployment_id)
    rows = session.exec(
        select(Trade)
        .where(col(Trade.deployment_id) == deployment_id)
        .order_by(col(Trade.created_at).desc())
        .limit(limit)
    ).all()
    return [r.model_dump(mode="json") for r in rows]


@router.get(
    "/algorithms/{deployment_id}/drift", response_model=dict[str, Any], responses=_NOT_FOUND
)
async def drift(session: SessionDep, user: CurrentUser, deployment_id: uuid.UUID) -> dict[str, Any]:
    """The deployment's fills against a backtest of its release over the same bars: fills
    that differ, slippage paid, fee drift and the equity gap (see `floor/drift.py`)."""
    dep = _owned(session, user, deployment_id)
    return await drift_report(session, get_pool(), dep)


@router.get("/status", response_model=FloorStatus)
def floor_status(session: SessionDep, user: CurrentUser) -> FloorStatus:
    """Executor and collector health (leader, node), your deployments by status, open and
    `unknown` orders, and each deployment's last cycle."""
    executor = floor_service()
    collector = collector_service()
    counts = dict(
        session.exec(
            select(DeployedAlgorithm.status, func.count())
            .where(col(DeployedAlgorithm.user_id) == user.id)
            .group_by(col(DeployedAlgorithm.status))
        ).all()
    )

    def orders_in(statuses: list[str]) -> int:
        return int(
            session.exec(
                select(func.count())
                .select_from(Order)
                .where(col(Order.user_id) == user.id, col(Order.status).in_(statuses))
            ).one()
        )

    runs = session.connection().execute(_LAST_RUNS, {"user_id": user.id}).all()
    return FloorStatus(
        executor=executor.state() if executor is not None else None,
        collector=collector.state() if collector is not None else None,
        deployments={str(k): int(v) for k, v in counts.items()},
        open_orders=orders_in(["intent", "submitting", "open", "partially_filled"]),
        unknown_orders=orders_in(["unknown"]),
        last_cycles=[
            {
                "deployment_id": str(r.deployment_id),
                "bar": r.bar,
                "status": r.status,
                "finished_at": r.finished_at,
                "error": r.error,
            }
            for r in runs
        ],
        checked_at=datetime.now(UTC),
    )
