"""P&L under /api/v1/floor/pnl: summary, by algorithm / coin / deployment, history, CSV."""

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, BaseModel

from app.api.deps import CurrentUser, SessionDep
from app.api.errors import invalid
from app.floor.pnl import service
from app.floor.pnl.service import Period

router = APIRouter(prefix="/floor/pnl", tags=["floor"])


class PnlFigures(BaseModel):
    realised_pnl: str
    realised_gross: str
    realised_fees: str
    gst: str
    closed_lots: int
    unrealised_pnl: str
    unrealised_gross: str
    fees_open: str
    total_pnl: str
    exposure: str
    cash: str
    equity: str
    capital: str
    average_cost: str | None


class PnlSummary(BaseModel):
    period: Period
    start: datetime | None
    end: datetime | None
    account: PnlFigures
    marks: dict[str, dict[str, Any]]


class PnlGroup(PnlFigures):
    key: str
    name: str | None = None


class PnlGroups(BaseModel):
    period: Period
    start: datetime | None
    end: datetime | None
    data: list[PnlGroup]


class EquityPoint(BaseModel):
    bar: datetime
    equity: str
    cash: str
    holdings: str
    cumulative_return: float | None
    drawdown: float


class EquityHistory(BaseModel):
    deployment_id: uuid.UUID | None
    interval: str
    data: list[EquityPoint]


_BAD: dict[int | str, dict[str, Any]] = {
    422: {"description": "Invalid period or dates (the field is named)"}
}


def _bounds(
    user: CurrentUser, period: Period, start: datetime | None, end: datetime | None
) -> tuple[datetime | None, datetime | None]:
    try:
        return service.period_bounds(period, user.timezone, start, end, datetime.now(UTC))
    except ValueError as error:
        raise invalid(f"period: {error}", "query", "period") from None


PeriodQ = Annotated[Period, Query(description="today (your time zone), 7d, 30d, all, custom")]
StartQ = Annotated[AwareDatetime | None, Query(description="custom period: from (inclusive)")]
EndQ = Annotated[AwareDatetime | None, Query(description="custom period: to (exclusive)")]


@router.get("/summary", response_model=PnlSummary, responses=_BAD)
def pnl_summary(
    session: SessionDep,
    user: CurrentUser,
    period: PeriodQ = Period.ALL,
    start: StartQ = None,
    end: EndQ = None,
) -> PnlSummary:
    """The account's realised P&L in the period, unrealised P&L now (at the bid), fees and
    GST apart, exposure, cash and equity."""
    lo, hi = _bounds(user, period, start, end)
    data = service.breakdown(session, user.id, lo, hi)
    account = data.by("account").get("account", service.Row())
    marks = {
        coin: {"bid": str(bid), "at": at.isoformat()} for coin, (bid, at) in data.marks.items()
    }
    return PnlSummary(
        period=period, start=lo, end=hi, account=PnlFigures(**account.public()), marks=marks
    )


def _groups(
    session: SessionDep,
    user: CurrentUser,
    key: Literal["algorithm", "coin", "deployment"],
    period: Period,
    start: datetime | None,
    end: datetime | None,
) -> PnlGroups:
    lo, hi = _bounds(user, period, start, end)
    data = service.breakdown(session, user.id, lo, hi)
    names: dict[str, str] = {}
    for deployment_id, info in data.deployments.items():
        names[str(deployment_id)] = info["name"]
        names[str(info["algorithm_id"])] = info["algorithm_name"]
    groups = [
        PnlGroup(key=str(k), name=names.get(str(k)), **row.public())
        for k, row in sorted(data.by(key).items(), key=lambda kv: str(kv[0]))
    ]
    return PnlGroups(period=period, start=lo, end=hi, data=groups)


@router.get("/by-algorithm", response_model=PnlGroups, responses=_BAD)
def pnl_by_algorithm(
    session: SessionDep,
    user: CurrentUser,
    period: PeriodQ = Period.ALL,
    start: StartQ = None,
    end: EndQ = None,
) -> PnlGroups:
    return _groups(session, user, "algorithm", period, start, end)


@router.get("/by-coin", response_model=PnlGroups, responses=_BAD)
def pnl_by_coin(
    session: SessionDep,
    user: CurrentUser,
    period: PeriodQ = Period.ALL,
    start: StartQ = None,
    end: EndQ = None,
) -> PnlGroups:
    return _groups(session, user, "coin", period, start, end)


@router.get("/by-deployment", response_model=PnlGroups, responses=_BAD)
def pnl_by_deployment(
    session: SessionDep,
    user: CurrentUser,
    period: PeriodQ = Period.ALL,
    start: StartQ = None,
    end: EndQ = None,
) -> PnlGroups:
    return _groups(session, user, "deployment", period, start, end)


@router.get(
    "/history",
    response_model=EquityHistory,
    responses={**_BAD, 404: {"description": "No such deployment for this user"}},
)
def pnl_history(
    session: SessionDep,
    user: CurrentUser,
    deployment_id: uuid.UUID | None = None,
    period: PeriodQ = Period.ALL,
    start: StartQ = None,
    end: EndQ = None,
    interval: Annotated[Literal["5m", "1h", "1d"], Query(description="bucket size")] = "1h",
) -> EquityHistory:
    """Equity (cash + holdings at the bid), cumulative return and drawdown per bucket, for
    one deployment or the whole account."""
    if deployment_id is not None and service.owner_of(session, deployment_id) != user.id:
        raise HTTPException(404, f"no deployment {deployment_id}")
    lo, hi = _bounds(user, period, start, end)
    points = service.history(session, user.id, deployment_id, lo, hi, interval)
    return EquityHistory(
        deployment_id=deployment_id,
        interval=interval,
        data=[EquityPoint(**p) for p in points],
    )


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={**_BAD, 200: {"content": {"text/csv": {}}, "description": "CSV file"}},
)
def pnl_export(
    session: SessionDep,
    user: CurrentUser,
    kind: Annotated[Literal["fills", "lots"], Query(description="fills or realised lots")],
    period: PeriodQ = Period.ALL,
    start: StartQ = None,
    end: EndQ = None,
) -> StreamingResponse:
    """Fills or realised FIFO lots (cost base, proceeds, fees and GST apart) as CSV."""
    lo, hi = _bounds(user, period, start, end)
    rows = list(service.export_csv(session, user.id, kind, lo, hi))
    name = f"omc-{kind}-{period.value}.csv"
    return StreamingResponse(
        iter(rows),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
