"""Target positions from the sandbox: fit/predict per coin, and the lookahead check.

Everything here talks to user code only through the sandbox pool; what comes back is plain
arrays that the pool has already checked (shape, range, no NaN).

The lookahead check looks where a peek at the future would matter: at every bar where a
decision changes (up to `MAX_DECISION_CHECKS` per run, then a seeded random subset that the
verdict names), plus a sample of other bars; see `lookahead_check`.
"""

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from app.lab.backtests.data import coin_frame
from app.lab.sandbox.jobs import CausalityJob, FitJob, PredictJob, SweepJob
from app.lab.sandbox.pool import SandboxPool

logger = logging.getLogger(__name__)

TRAINED_TYPES = frozenset({"ml", "rl"})
# Decision changes the lookahead check covers per run, and the time it may spend on them
# (shared by the run's coins); beyond either, a stated random subset.
MAX_DECISION_CHECKS = 500
DECISION_BUDGET_SECONDS = 2.0
MIN_COIN_BUDGET_SECONDS = 0.5


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
    decision_changes: int = 0
    decision_changes_checked: int = 0
    sampled_bars: int = 0
    per_coin: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "bias_detected": self.bias_detected,
            "checked_bars": self.checked_bars,
            "decision_changes": self.decision_changes,
            "decision_changes_checked": self.decision_changes_checked,
            "sampled_bars": self.sampled_bars,
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


def decision_changes(positions: "pd.Series[float]", trade_start: pd.Timestamp) -> list[int]:
    """Bars (positions in the series) from `trade_start` on where the decision differs from
    the bar before (the first bar against flat): where a peek at the future would matter."""
    values = positions.to_numpy(dtype=np.float64)
    changed = np.flatnonzero(np.diff(values, prepend=0.0) != 0)
    first_traded = int(pd.DatetimeIndex(positions.index).searchsorted(trade_start))
    return changed[changed >= first_traded].tolist()


def choose_decisions(changes: dict[str, list[int]], cap: int, seed: int) -> dict[str, list[int]]:
    """All decision changes, or a random subset of `cap` of them over all coins."""
    pairs = [(coin, bar) for coin, bars in changes.items() for bar in bars]
    if len(pairs) <= cap:
        return {coin: list(bars) for coin, bars in changes.items()}
    picked = np.random.default_rng(seed).choice(len(pairs), size=cap, replace=False)
    chosen: dict[str, list[int]] = {coin: [] for coin in changes}
    for i in sorted(picked.tolist()):
        coin, bar = pairs[i]
        chosen[coin].append(bar)
    return chosen


async def lookahead_check(
    pool: SandboxPool,
    algo: Algo,
    frame: pd.DataFrame,
    signals: dict[str, CoinSignals],
    params: dict[str, Any],
    samples: int,
    trade_start: pd.Timestamp,
    *,
    max_decisions: int = MAX_DECISION_CHECKS,
    seed: int = 0,
) -> Lookahead:
    """Decisions must not change when the algorithm sees only data up to them.

    Checked at every bar (from `trade_start` on) where a coin's decision changes — or at a
    random subset when there are more than `max_decisions`, or more than fit in the time
    budget (`DECISION_BUDGET_SECONDS`, shared by the coins), which the verdict states — and at `samples` bars spread over each coin's
    history (see `CausalityJob`). One sandbox job per coin; the first coin with a
    difference ends the check."""
    changes = {coin: decision_changes(s.positions, trade_start) for coin, s in signals.items()}
    chosen = choose_decisions(changes, max_decisions, seed)
    total = sum(len(b) for b in changes.values())
    checked_decisions = sampled = 0
    for coin, coin_signal in signals.items():
        x = coin_frame(frame, coin)
        job = CausalityJob(
            code=algo.code,
            frame=x,
            params={} if coin_signal.model is not None else params,
            model=coin_signal.model,
            samples=samples,
            decision_bars=chosen[coin],
            seed=seed,
            budget_seconds=max(MIN_COIN_BUDGET_SECONDS, DECISION_BUDGET_SECONDS / len(signals)),
        )
        result = await pool.check_causality(job)
        sampled += len(result.checked_bars)
        checked_decisions += result.decision_bars_checked
        if not result.causal:
            when = result.first_difference_at
            first = when.isoformat() if when is not None else None
            logger.warning("lookahead bias detected", extra={"coin": coin, "first_bar": first})
            return Lookahead(
                checked=True,
                bias_detected=True,
                checked_bars=sampled + checked_decisions,
                first_bar=first,
                coin=coin,
                detail=(
                    f"the position of {coin} at {first} changed when later bars were removed: "
                    "the algorithm uses data from the future"
                ),
                decision_changes=total,
                decision_changes_checked=checked_decisions,
                sampled_bars=sampled,
            )
    if checked_decisions == total:
        what = f"checked all {total} decision changes"
    else:
        what = f"checked {checked_decisions} of {total} decision changes (a random subset)"
    return Lookahead(
        checked=True,
        bias_detected=False,
        checked_bars=sampled + checked_decisions,
        detail=f"no lookahead found: {what} and {sampled} sampled bars",
        decision_changes=total,
        decision_changes_checked=checked_decisions,
        sampled_bars=sampled,
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
