"""Creating, reading and cancelling backtest runs and sweeps, for the routes."""

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import defer
from sqlmodel import Session, col, func, select

from app.core.config import settings
from app.lab import constraints as param_constraints
from app.lab.backtests import store
from app.lab.backtests.algorithms import AlgorithmNotFoundError, AlgorithmVersion, load_version
from app.lab.backtests.data import DataUnavailableError, check_coverage
from app.lab.backtests.models import BacktestRun, ParameterSweep, RunStatus
from app.lab.backtests.schemas import BacktestCreate, SweepCreate, TradingSettings, _RangeRequest
from app.lab.backtests.sweep_space import SweepSpaceError, combinations, parameter_axes
from app.lab.validation import check_parameters


class InvalidRequestError(ValueError):
    """The request is well-formed but cannot run (422 with this message)."""


class NotFoundError(LookupError):
    """No such job or algorithm for this user (404)."""


def _version(session: Session, request: _RangeRequest, user_id: uuid.UUID) -> AlgorithmVersion:
    try:
        return load_version(session, request.algorithm_id, request.version, user_id)
    except AlgorithmNotFoundError as error:
        raise NotFoundError(str(error)) from None


def _check_range(session: Session, request: _RangeRequest) -> None:
    span = request.end - request.start
    if span > timedelta(days=settings.BACKTEST_MAX_DAYS):
        raise InvalidRequestError(
            f"the range is longer than the limit of {settings.BACKTEST_MAX_DAYS} days"
        )
    if span < timedelta(hours=1):
        raise InvalidRequestError("the range must cover at least one hour")
    try:
        check_coverage(session, request.coins, request.start, request.end)
    except DataUnavailableError as error:
        raise InvalidRequestError(str(error)) from None


def _parameters(version: AlgorithmVersion, given: dict[str, Any] | None) -> dict[str, Any]:
    values = (
        {**version.parameters, **(given or {})} if given is not None else dict(version.parameters)
    )
    schema = version.parameter_schema
    known = set(schema.get("properties", {}))
    if given is None:
        # Stored values of parameters the version no longer declares are not an error.
        values = {k: v for k, v in values.items() if k in known}
    try:
        return check_parameters(schema, values)
    except ValueError as error:
        raise InvalidRequestError(f"invalid parameters: {error}") from None


def _settings(trading: TradingSettings) -> dict[str, Any]:
    data = trading.model_dump()
    if data["fee_rate"] is None:
        data["fee_rate"] = settings.COINSPOT_MARKET_FEE
    return data


def create_run(session: Session, request: BacktestCreate, user_id: uuid.UUID) -> BacktestRun:
    version = _version(session, request, user_id)
    parameters = _parameters(version, request.parameters)
    _check_range(session, request)
    run = BacktestRun(
        algorithm_id=version.algorithm_id,
        algorithm_version=version.version,
        user_id=user_id,
        label=request.label,
        coins=request.coins,
        start_date=request.start,
        end_date=request.end,
        parameters=parameters,
        settings=_settings(request.settings),
    )
    session.add(run)
    session.commit()
    session.refresh(run)
    return run


def create_sweep(session: Session, request: SweepCreate, user_id: uuid.UUID) -> ParameterSweep:
    version = _version(session, request, user_id)
    base = _parameters(version, request.base_parameters)
    try:
        axes = parameter_axes(version.parameter_schema, request.parameters)
        combos = combinations(
            axes,
            base,
            mode=request.mode,
            cap=settings.SWEEP_MAX_COMBINATIONS,
            samples=request.samples,
            seed=request.seed,
        )
        # Combinations that break a declared constraint (fast < slow) are skipped.
        kept = [c for c in combos if param_constraints.satisfied(version.parameter_schema, c)]
        if not kept:
            texts = ", ".join(
                c["text"] for c in version.parameter_schema.get(param_constraints.SCHEMA_KEY, [])
            )
            raise SweepSpaceError(
                f"no combination satisfies the algorithm's constraints ({texts}): change the ranges"
            )
        for combo in kept:
            check_parameters(version.parameter_schema, combo)
    except (SweepSpaceError, ValueError) as error:
        raise InvalidRequestError(str(error)) from None
    _check_range(session, request)
    sweep = ParameterSweep(
        algorithm_id=version.algorithm_id,
        algorithm_version=version.version,
        user_id=user_id,
        coins=request.coins,
        start_date=request.start,
        end_date=request.end,
        settings=_settings(request.settings),
        space={
            "axes": axes,
            "mode": request.mode,
            "seed": request.seed,
            "metric": request.metric,
            "test_fraction": request.test_fraction,
            "base_parameters": base,
            "combinations": kept,
            "skipped_by_constraints": len(combos) - len(kept),
        },
    )
    session.add(sweep)
    session.commit()
    session.refresh(sweep)
    return sweep


def _light(model: store.JobModel) -> list[Any]:
    """Load options for reading a job: a run's packed artefacts (megabytes for a multi-coin
    year) are read only when something touches them (the equity, trades and compare routes),
    not for every status poll."""
    artefacts: Any = BacktestRun.artefacts  # the mapped attribute (SQLModel types it as bytes)
    return [defer(artefacts)] if model is BacktestRun else []


def get_owned(
    session: Session, model: store.JobModel, job_id: uuid.UUID, user_id: uuid.UUID
) -> Any:
    job = session.get(model, job_id, options=_light(model))
    if job is None or job.user_id != user_id:
        raise NotFoundError("backtest not found" if model is BacktestRun else "sweep not found")
    return job


def list_runs(
    session: Session,
    model: store.JobModel,
    user_id: uuid.UUID,
    algorithm_id: uuid.UUID,
    *,
    status: RunStatus | None,
    skip: int,
    limit: int,
) -> tuple[list[Any], int]:
    conditions = [col(model.user_id) == user_id, col(model.algorithm_id) == algorithm_id]
    if status is not None:
        conditions.append(col(model.status) == status.value)
    count = session.exec(select(func.count()).select_from(model).where(*conditions)).one()
    rows = session.exec(
        select(model)
        .options(*_light(model))
        .where(*conditions)
        .order_by(col(model.created_at).desc(), col(model.id))
        .offset(skip)
        .limit(limit)
    ).all()
    return list(rows), int(count)
