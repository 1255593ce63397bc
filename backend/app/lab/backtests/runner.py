"""One backtest run, start to finish: prices → sandboxed positions → engine → metrics.

Progress is written to the run as it goes, at most every `PROGRESS_INTERVAL_SECONDS` (a
sub-second run is not slowed by a database write per step: it shows "starting", then its
outcome). A run that is cancelled (or taken away from this worker) stops at the next written
step, or at once when this process cancels it; `store.finish` never overwrites a run that is
no longer ours, so a skipped write can delay a stop but never store a cancelled run's result.
Trusted code (the engine, fills, fees, metrics) runs here; only `predict`/`fit` run in the
sandbox.
"""

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlmodel import Session

from app.core.db import engine
from app.lab.backtests import store
from app.lab.backtests.advice import run_warnings
from app.lab.backtests.algorithms import load_version
from app.lab.backtests.artefacts import from_result, pack
from app.lab.backtests.data import positions_on_grid, price_cache
from app.lab.backtests.failures import failure_message
from app.lab.backtests.models import BacktestRun, RunStatus
from app.lab.backtests.signals import Algo, CoinSignals, checked_signals, lookahead_verdict
from app.lab.engine.backtest import run_backtest
from app.lab.engine.market_data import PriceHistory, load_price_history
from app.lab.engine.metrics import compute_metrics
from app.lab.engine.results import BacktestConfig
from app.lab.sandbox.jobs import CausalityResult
from app.lab.sandbox.pool import SandboxPool

logger = logging.getLogger(__name__)

Progress = Callable[[float, str], Awaitable[None]]

# The shortest time between two progress writes of one job (the claim counts as one).
PROGRESS_INTERVAL_SECONDS = 0.25


class RunStopped(Exception):
    """The run was cancelled or is no longer this worker's."""


class ProgressReporter:
    """A job's `Progress`: writes (value, stage) when `interval` seconds have passed since the
    last write, and raises `RunStopped` when the job is no longer this worker's."""

    def __init__(
        self,
        model: store.JobModel,
        job_id: uuid.UUID,
        worker_id: str,
        *,
        interval: float = PROGRESS_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.model, self.job_id, self.worker_id = model, job_id, worker_id
        self.interval = interval
        self.clock = clock
        self.last = clock()  # the claim has just written "starting"

    async def __call__(self, value: float, stage: str) -> None:
        now = self.clock()
        if now - self.last < self.interval:
            return
        self.last = now
        still_ours = await asyncio.to_thread(
            store.report_progress, self.model, self.job_id, self.worker_id, value, stage
        )
        if not still_ours:
            raise RunStopped(stage)


@dataclass(frozen=True)
class RunSpec:
    id: uuid.UUID
    algorithm_id: uuid.UUID
    version: int
    coins: list[str]
    start: pd.Timestamp
    end: pd.Timestamp
    parameters: dict[str, Any]
    settings: dict[str, Any]
    schema: dict[str, Any] = field(default_factory=dict)


def _load_spec(run_id: uuid.UUID) -> tuple[RunSpec, Algo]:
    with Session(engine) as session:
        run = session.get(BacktestRun, run_id)
        if run is None:
            raise RunStopped("the run no longer exists")
        version = load_version(session, run.algorithm_id, run.algorithm_version)
        spec = RunSpec(
            id=run.id,
            algorithm_id=run.algorithm_id,
            version=run.algorithm_version,
            coins=list(run.coins),
            start=pd.Timestamp(run.start_date),
            end=pd.Timestamp(run.end_date),
            parameters=dict(run.parameters),
            settings=dict(run.settings),
            schema=dict(version.parameter_schema),
        )
        return spec, Algo(code=version.code, type=version.type)


def _load_history(spec: RunSpec) -> PriceHistory:
    with Session(engine) as session:
        return load_price_history(
            session,
            spec.coins,
            spec.start.to_pydatetime(),
            spec.end.to_pydatetime(),
            ffill_limit=int(spec.settings.get("ffill_limit", 3)),
            cache=price_cache(),
        )


def trade_start_of(index: pd.DatetimeIndex, algo: Algo, train_fraction: float) -> pd.Timestamp:
    """First traded bar: the first bar for rules; after the training share for ML/RL."""
    if not algo.needs_fit:
        return index[0]
    split = int(len(index) * train_fraction)
    if split < 2 or split >= len(index) - 1:
        raise ValueError("the range is too short to split into a training and a trading part")
    return index[split]


def config_from(settings: dict[str, Any]) -> BacktestConfig:
    return BacktestConfig.with_defaults(
        float(settings["starting_cash"]),
        fee_rate=settings.get("fee_rate"),
        slippage_bps=float(settings.get("slippage_bps", 0.0)),
        min_order_aud=float(settings.get("min_order_aud", 0.0)),
        allocation=settings.get("allocation"),
    )


async def execute(run_id: uuid.UUID, worker_id: str, pool: SandboxPool) -> None:
    """Run one claimed backtest and store its outcome (or its failure, readably)."""
    started = time.monotonic()
    progress = ProgressReporter(BacktestRun, run_id, worker_id)
    try:
        outcome = await _execute(run_id, pool, progress)
    except RunStopped:
        logger.info("backtest stopped", extra={"run_id": str(run_id)})
        return
    except asyncio.CancelledError:
        raise
    except Exception as error:
        message = failure_message(error)
        logger.warning("backtest failed", extra={"run_id": str(run_id), "error": message})
        await asyncio.to_thread(
            store.finish,
            BacktestRun,
            run_id,
            worker_id,
            status=RunStatus.FAILED.value,
            error=message,
            stage="failed",
        )
        return
    stored = await asyncio.to_thread(
        store.finish,
        BacktestRun,
        run_id,
        worker_id,
        status=RunStatus.SUCCEEDED.value,
        progress=1.0,
        stage="done",
        **outcome,
    )
    logger.info(
        "backtest finished",
        extra={
            "run_id": str(run_id),
            "stored": stored,
            "duration_ms": round((time.monotonic() - started) * 1000),
        },
    )


async def _execute(run_id: uuid.UUID, pool: SandboxPool, progress: Progress) -> dict[str, Any]:
    spec, algo = await asyncio.to_thread(_load_spec, run_id)
    await progress(0.05, "loading prices")
    began = time.monotonic()
    history = await asyncio.to_thread(_load_history, spec)
    frame = history.frame
    timings: dict[str, float] = {"load_prices_ms": round((time.monotonic() - began) * 1000, 1)}
    if frame.xs("last", axis=1, level=1).dropna(how="all").empty:
        raise ValueError("no price data in the chosen range")
    trade_start = trade_start_of(
        pd.DatetimeIndex(frame.index), algo, float(spec.settings.get("train_fraction", 0.3))
    )

    # Coins are independent: predict them side by side, as many at once as the pool has
    # workers (its slots queue the rest). Leaving the group early (a failure, or the run
    # stopped) cancels the others, which kills their sandboxed children.
    signals: dict[str, CoinSignals] = {}
    verb = "fitting, predicting and checking" if algo.needs_fit else "predicting and checking"
    coins = spec.coins[0] if len(spec.coins) == 1 else f"{len(spec.coins)} coins"
    await progress(0.1, f"{verb} {coins}")

    checks: dict[str, CausalityResult] = {}
    samples = int(spec.settings.get("lookahead_samples", 12))
    seed = spec.id.int % 2**32

    async def predict(coin: str) -> None:
        signals[coin], checks[coin] = await checked_signals(
            pool, algo, frame, coin, spec.parameters, trade_start, samples=samples, seed=seed
        )
        timings[f"sandbox_{coin}_ms"] = round(signals[coin].sandbox_ms, 1)
        await progress(0.1 + 0.7 * len(signals) / len(spec.coins), f"{verb}: {coin} done")

    # One sandbox job per coin predicts and checks for lookahead (see `checked_signals`).
    began = time.monotonic()
    try:
        async with asyncio.TaskGroup() as group:
            for coin in spec.coins:
                group.create_task(predict(coin))
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    signals = {coin: signals[coin] for coin in spec.coins}  # in the run's coin order
    checks = {coin: checks[coin] for coin in spec.coins}
    timings["sandbox_ms"] = round((time.monotonic() - began) * 1000, 1)
    # Inside the children: the full predictions and the lookahead truncations (summed over
    # coins; coins run side by side, so the sums may exceed the stage's wall time).
    timings["predict_ms"] = round(sum(c.predict_ms for c in checks.values()), 1)
    timings["lookahead_ms"] = round(sum(c.check_ms for c in checks.values()), 1)
    lookahead = lookahead_verdict(checks)

    await progress(0.85, "simulating trades")
    traded = frame.loc[frame.index >= trade_start]
    targets = pd.DataFrame(
        {
            coin: positions_on_grid(s.positions, pd.DatetimeIndex(traded.index))
            for coin, s in signals.items()
        },
        index=traded.index,
    )
    began = time.monotonic()
    result, metrics = await asyncio.to_thread(_simulate, traded, targets, spec.settings)
    timings["engine_ms"] = round((time.monotonic() - began) * 1000, 1)
    began = time.monotonic()
    artefacts = await asyncio.to_thread(lambda: pack(from_result(result)))  # off the event loop
    timings["pack_ms"] = round((time.monotonic() - began) * 1000, 1)

    results = {
        "metrics": metrics,
        "warnings": run_warnings(
            metrics=metrics,
            schema=spec.schema,
            parameters=spec.parameters,
            held_any=bool((targets.fillna(0.0) > 0).to_numpy().any()),
            starting_cash=float(spec.settings["starting_cash"]),
        ),
        "data": history.report(),
        "windows": {
            "train": (
                {"start": frame.index[0].isoformat(), "end": trade_start.isoformat()}
                if algo.needs_fit
                else None
            ),
            "trade": {"start": traded.index[0].isoformat(), "end": traded.index[-1].isoformat()},
        },
        "algorithm_type": algo.type,
        "timings": timings,
        "output": {coin: s.output[-4000:] for coin, s in signals.items() if s.output},
    }
    return {
        "results_json": results,
        "lookahead": lookahead.to_json(),
        "artefacts": artefacts,
    }


def _simulate(
    traded: pd.DataFrame, targets: pd.DataFrame, settings: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    config = config_from(settings)
    result = run_backtest(traded, targets, config)
    return result, compute_metrics(result).to_dict()
