"""Backtest runs, their results and comparison, and parameter sweeps."""

import uuid
from collections.abc import Callable
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, HTTPException, Query, status

from app.api.deps import CurrentUser, SessionDep
from app.api.errors import invalid, responses
from app.api.openapi import links
from app.api.pagination import Skip, limit_query
from app.lab.backtests import service, store
from app.lab.backtests.algorithms import algorithm_names, owned_algorithm_exists
from app.lab.backtests.artefacts import SIDES, iso, thinned, unpack
from app.lab.backtests.models import BacktestRun, ParameterSweep, RunStatus
from app.lab.backtests.schemas import (
    KEY_METRICS,
    RANKING_METRICS,
    BacktestCreate,
    ComparedRun,
    Comparison,
    EquitySeries,
    QueuedJob,
    RoundTripPublic,
    RoundTripsPage,
    RunPublic,
    RunsPage,
    RunSummary,
    SweepCreate,
    SweepPublic,
    SweepsPage,
    TradePublic,
    TradesPage,
)
from app.lab.backtests.worker import get_worker

router = APIRouter(prefix="/lab", tags=["lab"])

_NOT_FOUND = responses({404: "No such run for this user"})
_NO_SWEEP = responses({404: "No such sweep for this user"})
_RESULTS = responses({404: "No such run for this user", 409: "The run has no results yet"})
_CANCEL = {409: "The job has already finished"}
_NO_ALGORITHM = responses({404: "No such algorithm for this user"})
_RUN_LINKS = links(
    "lab-read_backtest",
    "lab-read_equity",
    "lab-read_trades",
    "lab-read_round_trips",
    "lab-cancel_backtest",
    run_id="$response.body#/id",
)
_SWEEP_LINKS = links("lab-read_sweep", "lab-cancel_sweep", sweep_id="$response.body#/id")


def _summary(run: BacktestRun) -> RunSummary:
    summary = RunSummary.model_validate(run, from_attributes=True)
    metrics = (run.results_json or {}).get("metrics")
    if metrics:
        summary.key_metrics = {k: metrics.get(k) for k in KEY_METRICS}
    return summary


def _public(run: BacktestRun) -> RunPublic:
    return RunPublic(**_summary(run).model_dump(), results=run.results_json)


def _sweep_public(sweep: ParameterSweep) -> SweepPublic:
    space = {k: v for k, v in sweep.space.items() if k != "combinations"}
    space["combination_count"] = len(sweep.space.get("combinations", []))
    return SweepPublic(
        **{
            name: getattr(sweep, name)
            for name in SweepPublic.model_fields
            if name not in ("space", "results")
        },
        space=space,
        results=sweep.results_json,
    )


def _owned_run(session: SessionDep, run_id: uuid.UUID, user: CurrentUser) -> BacktestRun:
    try:
        run: BacktestRun = service.get_owned(session, BacktestRun, run_id, user.id)
    except service.NotFoundError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
    return run


def _queue(create: Callable[[], BacktestRun | ParameterSweep]) -> QueuedJob:
    """Create a job (its service checks turn into 404/422) and wake the worker for it."""
    try:
        job = create()
    except service.NotFoundError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
    except service.InvalidRequestError as error:
        raise invalid(str(error), "body") from None
    worker = get_worker()
    if worker is not None:
        worker.notify()
    return QueuedJob(id=job.id, status=job.status)


def _cancel(
    session: SessionDep, model: store.JobModel, job: BacktestRun | ParameterSweep, what: str
) -> None:
    """Cancel a queued or running job (a finished one is a 409) and stop it if it runs here."""
    if job.status not in (RunStatus.QUEUED.value, RunStatus.RUNNING.value):
        raise HTTPException(status.HTTP_409_CONFLICT, f"the {what} is already {job.status}")
    # The cancel itself decides: a job that finished between the read above and it is a 409
    # with its real status, never a 200 for a cancel that did not happen.
    after = store.cancel(model, job.id)
    session.refresh(job)
    if after != RunStatus.CANCELLED.value:
        raise HTTPException(status.HTTP_409_CONFLICT, f"the {what} is already {after}")
    worker = get_worker()
    if worker is not None:
        worker.cancel_local(job.id)


def _artefacts_of(run: BacktestRun) -> Any:
    if run.status != RunStatus.SUCCEEDED.value or run.artefacts is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"the run has no results yet (status: {run.status})"
        )
    return unpack(run.artefacts)


@router.post(
    "/backtest",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=QueuedJob,
    responses=responses({404: "Unknown algorithm", 422: "Invalid request"})
    | {202: {"description": "Queued", "links": _RUN_LINKS}},
)
def create_backtest(session: SessionDep, user: CurrentUser, body: BacktestCreate) -> QueuedJob:
    """Validate and queue a backtest; poll `GET /lab/backtest/{id}` for progress."""
    return _queue(lambda: service.create_run(session, body, user.id))


@router.get("/backtest/{run_id}", response_model=RunPublic, responses=_NOT_FOUND)
def read_backtest(session: SessionDep, user: CurrentUser, run_id: uuid.UUID) -> RunPublic:
    return _public(_owned_run(session, run_id, user))


@router.get("/backtest/{run_id}/equity", response_model=EquitySeries, responses=_RESULTS)
def read_equity(
    session: SessionDep,
    user: CurrentUser,
    run_id: uuid.UUID,
    max_points: Annotated[
        int | None, Query(ge=2, le=200_000, description="Thin the series for charts")
    ] = 2000,
) -> EquitySeries:
    """Equity, cash, drawdown, buy-and-hold and holdings value per bar (thinned on request)."""
    art = _artefacts_of(_owned_run(session, run_id, user))
    rows = thinned(art.bars, max_points)
    values = {
        coin: art.holdings_value[rows, i].round(6).tolist() for i, coin in enumerate(art.coins)
    }
    return EquitySeries(
        run_id=run_id,
        coins=list(art.coins),
        bars=art.bars,
        points=len(rows),
        time=[iso(t) for t in art.times[rows].tolist()],
        equity=art.equity[rows].round(6).tolist(),
        cash=art.cash[rows].round(6).tolist(),
        drawdown=art.drawdown()[rows].round(8).tolist(),
        buy_and_hold=art.buy_and_hold[rows].round(6).tolist(),
        holdings_value=values,
    )


@router.get(
    "/backtest/{run_id}/trades",
    response_model=TradesPage,
    responses=_RESULTS | responses({422: "Invalid paging, or a coin the run did not trade"}),
)
def read_trades(
    session: SessionDep,
    user: CurrentUser,
    run_id: uuid.UUID,
    skip: Skip = 0,
    limit: Annotated[int, limit_query(1000)] = 100,
    coin: str | None = None,
    side: Annotated[str | None, Query(pattern="^(buy|sell)$")] = None,
) -> TradesPage:
    """The fills of a run in time order, paginated and optionally filtered by coin and side."""
    art = _artefacts_of(_owned_run(session, run_id, user))
    selected = np.ones(art.trade_count, dtype=bool)
    if coin is not None:
        wanted = coin.strip().upper()
        if wanted not in art.coins:
            raise invalid(f"{wanted} is not a coin of this run", "query", "coin")
        selected &= art.trade_coin == art.coins.index(wanted)
    if side is not None:
        selected &= art.trade_buy == (1 if side == "buy" else 0)
    rows = np.flatnonzero(selected)
    page = rows[skip : skip + limit]
    data = [
        TradePublic(
            time=iso(int(art.times[art.trade_bar[i]])),
            bar=int(art.trade_bar[i]),
            coin=art.coins[int(art.trade_coin[i])],
            side=SIDES[int(art.trade_buy[i])],
            quantity=float(art.trade_quantity[i]),
            price=float(art.trade_price[i]),
            notional=float(art.trade_notional[i]),
            fee=float(art.trade_fee[i]),
            position=float(art.trade_position[i]),
            cash=float(art.trade_cash[i]),
        )
        for i in page.tolist()
    ]
    return TradesPage(data=data, count=len(rows))


@router.get("/backtest/{run_id}/round-trips", response_model=RoundTripsPage, responses=_RESULTS)
def read_round_trips(
    session: SessionDep,
    user: CurrentUser,
    run_id: uuid.UUID,
    skip: Skip = 0,
    limit: Annotated[int, limit_query(1000)] = 100,
) -> RoundTripsPage:
    """Per-trade P&L: each entry into a coin until it is flat again (open ones at the end)."""
    art = _artefacts_of(_owned_run(session, run_id, user))
    n = len(art.trip_coin)
    data = []
    for i in range(skip, min(n, skip + limit)):
        exit_bar = int(art.trip_exit_bar[i])
        cost, proceeds = float(art.trip_cost[i]), float(art.trip_proceeds[i])
        data.append(
            RoundTripPublic(
                coin=art.coins[int(art.trip_coin[i])],
                entry_time=iso(int(art.times[art.trip_entry_bar[i]])),
                exit_time=None if exit_bar < 0 else iso(int(art.times[exit_bar])),
                open=exit_bar < 0,
                cost=cost,
                proceeds=proceeds,
                pnl=proceeds - cost,
                return_on_cost=(proceeds - cost) / cost if cost > 0 else None,
            )
        )
    return RoundTripsPage(data=data, count=n)


@router.post(
    "/backtest/{run_id}/cancel",
    response_model=RunPublic,
    responses=_NOT_FOUND | responses(_CANCEL),
)
def cancel_backtest(session: SessionDep, user: CurrentUser, run_id: uuid.UUID) -> RunPublic:
    """Cancel a queued or running run (a finished one answers 409)."""
    run = _owned_run(session, run_id, user)
    _cancel(session, BacktestRun, run, "run")
    return _public(run)


@router.get(
    "/algorithms/{algorithm_id}/backtests", response_model=RunsPage, responses=_NO_ALGORITHM
)
def list_backtests(
    session: SessionDep,
    user: CurrentUser,
    algorithm_id: uuid.UUID,
    status_filter: Annotated[RunStatus | None, Query(alias="status")] = None,
    skip: Skip = 0,
    limit: Annotated[int, limit_query(200)] = 50,
) -> RunsPage:
    """This user's runs of one algorithm, newest first."""
    if not owned_algorithm_exists(session, algorithm_id, user.id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "algorithm not found")
    runs, count = service.list_runs(
        session, BacktestRun, user.id, algorithm_id, status=status_filter, skip=skip, limit=limit
    )
    return RunsPage(data=[_summary(r) for r in runs], count=count)


@router.get(
    "/backtests/compare",
    response_model=Comparison,
    responses=responses(
        {404: "No such run for this user", 409: "A run has no results yet"},
        {422: "ids is not 2 to 10 run ids separated by commas"},
    ),
)
def compare_backtests(
    session: SessionDep,
    user: CurrentUser,
    ids: Annotated[str, Query(description="Comma-separated run ids (2 to 10)")],
    max_points: Annotated[int, Query(ge=2, le=20_000)] = 1000,
) -> Comparison:
    """Metrics side by side (with the best run per metric) and equity on one time axis."""
    try:
        run_ids = list(
            dict.fromkeys(uuid.UUID(part.strip()) for part in ids.split(",") if part.strip())
        )
    except ValueError:
        raise invalid("ids must be run ids separated by commas", "query", "ids") from None
    if not 2 <= len(run_ids) <= 10:
        raise invalid("compare 2 to 10 different runs", "query", "ids")
    runs = [_owned_run(session, run_id, user) for run_id in run_ids]
    unfinished = [
        str(r.id) for r in runs if r.status != RunStatus.SUCCEEDED.value or r.artefacts is None
    ]
    if unfinished:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"runs without results yet: {', '.join(unfinished)}"
        )
    names = algorithm_names(session, list({r.algorithm_id for r in runs}))
    compared = [
        ComparedRun(
            id=r.id,
            algorithm_id=r.algorithm_id,
            algorithm_name=names.get(r.algorithm_id, "?"),
            algorithm_version=r.algorithm_version,
            label=r.label,
            coins=list(r.coins),
            start_date=r.start_date,
            end_date=r.end_date,
            settings=dict(r.settings),
            parameters=r.parameters,
            metrics=(r.results_json or {}).get("metrics", {}),
            lookahead=r.lookahead,
        )
        for r in runs
    ]
    best: dict[str, uuid.UUID | None] = {}
    for metric, higher in RANKING_METRICS.items():
        scored = [(c.metrics.get(metric), c.id) for c in compared]
        valid = [(v, i) for v, i in scored if isinstance(v, int | float)]
        best[metric] = (max(valid)[1] if higher else min(valid)[1]) if valid else None
    # One time axis: the union of every run's bars, each curve NaN (null) where it has none.
    series = {}
    axis: np.ndarray[Any, np.dtype[np.int64]] = np.array([], dtype=np.int64)
    for run in runs:
        art = unpack(run.artefacts or b"")
        series[str(run.id)] = (art.times, art.equity)
        axis = np.union1d(axis, art.times)
    rows = thinned(len(axis), max_points)
    axis = axis[rows]
    equity: dict[str, list[float | None]] = {}
    for key, (times, values) in series.items():
        positions = np.searchsorted(times, axis, side="right") - 1
        inside = (positions >= 0) & (axis <= times[-1])
        equity[key] = [
            round(float(values[p]), 6) if ok else None
            for p, ok in zip(positions.tolist(), inside.tolist(), strict=True)
        ]
    return Comparison(runs=compared, best=best, time=[iso(t) for t in axis.tolist()], equity=equity)


@router.post(
    "/sweep",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=QueuedJob,
    responses=responses({404: "Unknown algorithm", 422: "Invalid request"})
    | {202: {"description": "Queued", "links": _SWEEP_LINKS}},
)
def create_sweep(session: SessionDep, user: CurrentUser, body: SweepCreate) -> QueuedJob:
    """Queue a parameter sweep (grid or random) with an out-of-sample window."""
    return _queue(lambda: service.create_sweep(session, body, user.id))


def _owned_sweep(session: SessionDep, sweep_id: uuid.UUID, user: CurrentUser) -> ParameterSweep:
    try:
        sweep: ParameterSweep = service.get_owned(session, ParameterSweep, sweep_id, user.id)
    except service.NotFoundError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
    return sweep


@router.get("/sweep/{sweep_id}", response_model=SweepPublic, responses=_NO_SWEEP)
def read_sweep(session: SessionDep, user: CurrentUser, sweep_id: uuid.UUID) -> SweepPublic:
    return _sweep_public(_owned_sweep(session, sweep_id, user))


@router.post(
    "/sweep/{sweep_id}/cancel",
    response_model=SweepPublic,
    responses=_NO_SWEEP | responses(_CANCEL),
)
def cancel_sweep(session: SessionDep, user: CurrentUser, sweep_id: uuid.UUID) -> SweepPublic:
    sweep = _owned_sweep(session, sweep_id, user)
    _cancel(session, ParameterSweep, sweep, "sweep")
    return _sweep_public(sweep)


@router.get("/algorithms/{algorithm_id}/sweeps", response_model=SweepsPage, responses=_NO_ALGORITHM)
def list_sweeps(
    session: SessionDep,
    user: CurrentUser,
    algorithm_id: uuid.UUID,
    skip: Skip = 0,
    limit: Annotated[int, limit_query(200)] = 50,
) -> SweepsPage:
    if not owned_algorithm_exists(session, algorithm_id, user.id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "algorithm not found")
    sweeps, count = service.list_runs(
        session, ParameterSweep, user.id, algorithm_id, status=None, skip=skip, limit=limit
    )
    return SweepsPage(data=[_sweep_public(s) for s in sweeps], count=count)
