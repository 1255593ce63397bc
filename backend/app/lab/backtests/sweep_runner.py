"""A parameter sweep: every combination's positions from the sandbox (in parallel, one
sandboxed child per worker and chunk, so start-up is paid once per chunk), then the engine
on the in-sample (train) window and on the out-of-sample (test) window, ranked by the
chosen metric on the train window — the test columns show whether the winners hold up.
"""

import asyncio
import logging
import math
import time
import uuid
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlmodel import Session

from app.core.db import engine
from app.lab.backtests import store
from app.lab.backtests.algorithms import load_version
from app.lab.backtests.data import (
    coin_frame,
    grid_indexer,
    positions_on_grid_array,
    price_cache,
)
from app.lab.backtests.failures import failure_message
from app.lab.backtests.models import ParameterSweep, RunStatus
from app.lab.backtests.runner import Progress, ProgressReporter, RunStopped, config_from
from app.lab.backtests.schemas import RANKING_METRICS
from app.lab.backtests.signals import Algo, sweep_signals
from app.lab.engine.backtest import run_backtest
from app.lab.engine.frame import normalise_coin
from app.lab.engine.jsonsafe import to_json
from app.lab.engine.market import FloatArray, prepare_market
from app.lab.engine.market_data import load_price_history
from app.lab.engine.metrics import Metrics, compute_metrics
from app.lab.sandbox.pool import SandboxPool

logger = logging.getLogger(__name__)

REPORTED_METRICS = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "annualised_volatility",
    "win_rate",
    "profit_factor",
    "trades",
    "fees_paid",
    "exposure_time",
    "buy_and_hold_return",
)


def split_point(index: pd.DatetimeIndex, test_fraction: float) -> pd.Timestamp:
    cut = int(len(index) * (1.0 - test_fraction))
    if cut < 2 or cut > len(index) - 2:
        raise ValueError("the range is too short to split into in-sample and out-of-sample windows")
    return index[cut]


def chunked(items: list[Any], parts: int) -> list[list[Any]]:
    parts = max(1, min(parts, len(items)))
    size = math.ceil(len(items) / parts)
    return [items[i : i + size] for i in range(0, len(items), size)]


def rank(rows: list[dict[str, Any]], metric: str) -> None:
    """Number rows 1.. by the in-sample metric (missing values last), best first."""
    higher = RANKING_METRICS[metric]

    def key(row: dict[str, Any]) -> tuple[int, float]:
        value = (row.get("in_sample") or {}).get(metric)
        if value is None or not math.isfinite(value):
            return (1, 0.0)
        return (0, -value if higher else value)

    rows.sort(key=key)
    for i, row in enumerate(rows, start=1):
        row["rank"] = i


def spearman(a: list[float], b: list[float]) -> float | None:
    """Rank correlation of in-sample and out-of-sample scores (do the winners stay winners?)."""
    if len(a) < 3:
        return None
    ra = pd.Series(a).rank().to_numpy()
    rb = pd.Series(b).rank().to_numpy()
    if np.std(ra) == 0 or np.std(rb) == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


async def execute(sweep_id: uuid.UUID, worker_id: str, pool: SandboxPool) -> None:
    started = time.monotonic()
    progress = ProgressReporter(ParameterSweep, sweep_id, worker_id)
    try:
        results = await _execute(sweep_id, pool, progress)
    except RunStopped:
        logger.info("sweep stopped", extra={"sweep_id": str(sweep_id)})
        return
    except asyncio.CancelledError:
        raise
    except Exception as error:
        message = failure_message(error)
        logger.warning("sweep failed", extra={"sweep_id": str(sweep_id), "error": message})
        await asyncio.to_thread(
            store.finish,
            ParameterSweep,
            sweep_id,
            worker_id,
            status=RunStatus.FAILED.value,
            error=message,
            stage="failed",
        )
        return
    results["timings"]["total_ms"] = round((time.monotonic() - started) * 1000, 1)
    await asyncio.to_thread(
        store.finish,
        ParameterSweep,
        sweep_id,
        worker_id,
        status=RunStatus.SUCCEEDED.value,
        progress=1.0,
        stage="done",
        results_json=results,
    )
    logger.info(
        "sweep finished",
        extra={
            "sweep_id": str(sweep_id),
            "combinations": len(results["rows"]),
            "duration_ms": results["timings"]["total_ms"],
        },
    )


def _load(sweep_id: uuid.UUID) -> tuple[ParameterSweep, Algo, pd.DataFrame]:
    with Session(engine) as session:
        sweep = session.get(ParameterSweep, sweep_id)
        if sweep is None:
            raise RunStopped("the sweep no longer exists")
        version = load_version(session, sweep.algorithm_id, sweep.algorithm_version)
        history = load_price_history(
            session,
            sweep.coins,
            sweep.start_date,
            sweep.end_date,
            ffill_limit=int(sweep.settings.get("ffill_limit", 3)),
            cache=price_cache(),
        )
        session.expunge(sweep)
        return sweep, Algo(code=version.code, type=version.type), history.frame


async def _execute(sweep_id: uuid.UUID, pool: SandboxPool, progress: Progress) -> dict[str, Any]:
    load_started = time.monotonic()
    sweep, algo, frame = await asyncio.to_thread(_load, sweep_id)
    load_ms = round((time.monotonic() - load_started) * 1000, 1)
    combos: list[dict[str, Any]] = list(sweep.space["combinations"])
    metric: str = sweep.space["metric"]
    test_start = split_point(pd.DatetimeIndex(frame.index), float(sweep.space["test_fraction"]))
    await progress(0.05, f"running {len(combos)} combinations")

    # positions[combo][coin]
    positions: list[dict[str, pd.Series[float] | None]] = [{} for _ in combos]
    errors: list[str | None] = [None] * len(combos)
    chunks = chunked(list(range(len(combos))), pool.workers)
    total = len(chunks) * len(sweep.coins)
    done = 0
    sandbox_started = time.monotonic()
    for coin in sweep.coins:
        x = coin_frame(frame, coin)
        jobs = [
            sweep_signals(pool, algo, x, [combos[i] for i in chunk], test_start) for chunk in chunks
        ]
        for chunk, outcome in zip(chunks, await asyncio.gather(*jobs), strict=True):
            for i, (series, error) in zip(chunk, outcome, strict=True):
                positions[i][coin] = series
                if error and errors[i] is None:
                    errors[i] = f"{coin}: {error}"
            done += 1
        await progress(0.05 + 0.6 * done / total, f"positions for {coin} done")
    sandbox_ms = round((time.monotonic() - sandbox_started) * 1000, 1)

    await progress(0.7, "simulating trades")
    engine_started = time.monotonic()
    rows = await asyncio.to_thread(
        _simulate_all, frame, test_start, combos, positions, errors, sweep.settings
    )
    engine_ms = round((time.monotonic() - engine_started) * 1000, 1)
    rank(rows, metric)
    scored = [
        (r["in_sample"][metric], r["out_of_sample"][metric])
        for r in rows
        if r["in_sample"]
        and r["out_of_sample"]
        and r["in_sample"].get(metric) is not None
        and r["out_of_sample"].get(metric) is not None
    ]
    oos_sorted = sorted(
        (r for r in rows if r["out_of_sample"] and r["out_of_sample"].get(metric) is not None),
        key=lambda r: r["out_of_sample"][metric],
        reverse=RANKING_METRICS[metric],
    )
    best = rows[0] if rows and rows[0]["in_sample"] else None
    return {
        "metric": metric,
        "higher_is_better": RANKING_METRICS[metric],
        "in_sample": {"start": frame.index[0].isoformat(), "end": test_start.isoformat()},
        "out_of_sample": {"start": test_start.isoformat(), "end": frame.index[-1].isoformat()},
        "combinations": len(rows),
        "failed": sum(1 for r in rows if r["error"]),
        "best": best,
        "best_out_of_sample_rank": (
            next((i for i, r in enumerate(oos_sorted, start=1) if r is best), None)
            if best
            else None
        ),
        "rank_correlation": spearman([a for a, _ in scored], [b for _, b in scored]),
        "rows": rows,
        "timings": {"load_prices_ms": load_ms, "sandbox_ms": sandbox_ms, "engine_ms": engine_ms},
    }


def _summary(metrics: Metrics) -> dict[str, Any]:
    """The reported metrics as `Metrics.to_dict` gives them, without converting the rest."""
    return {name: to_json(getattr(metrics, name)) for name in REPORTED_METRICS}


def _simulate_all(
    frame: pd.DataFrame,
    test_start: pd.Timestamp,
    combos: list[dict[str, Any]],
    positions: list[dict[str, "pd.Series[float] | None"]],
    errors: list[str | None],
    settings: dict[str, Any],
) -> list[dict[str, Any]]:
    """Engine and metrics for every combination on both windows. Each window's market and
    each coin's alignment onto it are prepared once; targets go to the engine as arrays."""
    config = config_from(settings)
    windows = {
        "in_sample": frame.loc[frame.index < test_start],
        "out_of_sample": frame.loc[frame.index >= test_start],
    }
    markets = {name: prepare_market(window) for name, window in windows.items()}
    # A coin's position series share its own bars: align them onto each window once.
    aligners: dict[tuple[str, str], tuple[pd.Index, npt.NDArray[np.intp]]] = {}

    def aligned(name: str, coin: str, series: "pd.Series[float]") -> FloatArray:
        known = aligners.get((name, coin))
        if known is None or not (series.index is known[0] or series.index.equals(known[0])):
            grid = pd.DatetimeIndex(windows[name].index)
            known = aligners[(name, coin)] = (series.index, grid_indexer(series.index, grid))
        return positions_on_grid_array(np.asarray(series, dtype=np.float64), known[1])

    rows: list[dict[str, Any]] = []
    for params, coin_positions, error in zip(combos, positions, errors, strict=True):
        row: dict[str, Any] = {
            "params": params,
            "in_sample": None,
            "out_of_sample": None,
            "error": error,
        }
        if error is None:
            for name in windows:
                market = markets[name]
                by_coin = {normalise_coin(c): s for c, s in coin_positions.items() if s is not None}
                columns = [aligned(name, coin, by_coin[coin]) for coin in market.coins]
                result = run_backtest(market, np.column_stack(columns), config)
                row[name] = _summary(compute_metrics(result))
        rows.append(row)
    return rows
