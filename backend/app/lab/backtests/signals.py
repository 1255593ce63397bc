"""Target positions from the sandbox: fit/predict per coin, and the lookahead check.

Everything here talks to user code only through the sandbox pool; what comes back is plain
arrays that the pool has already checked (shape, range, no NaN).
"""

import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from app.lab.backtests.data import coin_frame
from app.lab.sandbox.jobs import CausalityJob, FitJob, PredictJob, SweepJob
from app.lab.sandbox.pool import SandboxPool

logger = logging.getLogger(__name__)

TRAINED_TYPES = frozenset({"ml", "rl"})


@dataclass(frozen=True)
class Algo:
    """The code of one algorithm version and what kind of algorithm it is."""

    code: str
    type: str

    @property
    def needs_fit(self) -> bool:
        return self.type in TRAINED_TYPES


@dataclass
class CoinSignals:
    positions: "pd.Series[float]"
    model: bytes | None = None
    sandbox_ms: float = 0.0
    output: str = ""


@dataclass
class Lookahead:
    checked: bool
    bias_detected: bool
    checked_bars: int
    first_bar: str | None = None
    coin: str | None = None
    detail: str = ""
    per_coin: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "bias_detected": self.bias_detected,
            "checked_bars": self.checked_bars,
            "first_bar": self.first_bar,
            "coin": self.coin,
            "detail": self.detail,
        }


async def coin_signals(
    pool: SandboxPool,
    algo: Algo,
    frame: pd.DataFrame,
    coin: str,
    params: dict[str, Any],
    trade_start: pd.Timestamp,
) -> CoinSignals:
    """Positions of one coin on its own bars. Trained algorithms are fitted on the bars
    before `trade_start` only, so every traded bar is out of sample."""
    x = coin_frame(frame, coin)
    if algo.needs_fit:
        train = x.loc[x.index < trade_start]
        if len(train) < 2:
            raise ValueError(
                f"{coin}: too few bars before {trade_start.isoformat()} to fit the model"
            )
        fitted = await pool.fit(FitJob(code=algo.code, frame=train, params=params, predict_frame=x))
        assert fitted.positions is not None
        positions = pd.Series(fitted.positions, index=x.index, dtype="float64")
        return CoinSignals(positions, fitted.model, fitted.stats.wall_ms, fitted.stats.output)
    predicted = await pool.predict(PredictJob(code=algo.code, frame=x, params=params))
    positions = pd.Series(predicted.positions, index=x.index, dtype="float64")
    return CoinSignals(positions, None, predicted.stats.wall_ms, predicted.stats.output)


async def lookahead_check(
    pool: SandboxPool,
    algo: Algo,
    frame: pd.DataFrame,
    signals: dict[str, CoinSignals],
    params: dict[str, Any],
    samples: int,
) -> Lookahead:
    """Decisions at sample bars must not change when the algorithm sees only data up to them."""
    checked = 0
    for coin, coin_signal in signals.items():
        x = coin_frame(frame, coin)
        job = CausalityJob(
            code=algo.code,
            frame=x,
            params={} if coin_signal.model is not None else params,
            model=coin_signal.model,
            samples=samples,
        )
        result = await pool.check_causality(job)
        checked += len(result.checked_bars)
        if not result.causal:
            when = result.first_difference_at
            first = when.isoformat() if when is not None else None
            logger.warning("lookahead bias detected", extra={"coin": coin, "first_bar": first})
            return Lookahead(
                checked=True,
                bias_detected=True,
                checked_bars=checked,
                first_bar=first,
                coin=coin,
                detail=(
                    f"the position at {first} changed when later bars were removed: "
                    "the algorithm uses data from the future"
                ),
            )
    return Lookahead(
        checked=True, bias_detected=False, checked_bars=checked, detail="no lookahead found"
    )


async def sweep_signals(
    pool: SandboxPool,
    algo: Algo,
    x: pd.DataFrame,
    param_sets: list[dict[str, Any]],
    train_end: pd.Timestamp,
) -> list[tuple["pd.Series[float] | None", str | None]]:
    """Positions on one coin's bars for each parameter set (None and a message on failure)."""
    fit_frame = x.loc[x.index < train_end] if algo.needs_fit else None
    result = await pool.sweep(
        SweepJob(code=algo.code, frame=x, param_sets=param_sets, fit_frame=fit_frame)
    )
    out: list[tuple[pd.Series[float] | None, str | None]] = []
    for outcome in result.outcomes:
        if outcome.positions is None:
            out.append((None, outcome.error.detail if outcome.error is not None else "failed"))
        else:
            out.append((pd.Series(outcome.positions, index=x.index, dtype="float64"), None))
    return out
