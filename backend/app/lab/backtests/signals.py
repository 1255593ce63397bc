"""Target positions from the sandbox: fit/predict per coin, and the lookahead check.

Everything here talks to user code only through the sandbox pool; what comes back is plain
arrays that the pool has already checked (shape, range, no NaN).

The lookahead check looks where a peek at the future would matter: at the bars where a
decision changes, most prescient first (up to `MAX_DECISION_CHECKS` per coin, within a time
budget that is a share of the coin's own prediction; the verdict says how many of how many),
plus a sample of other bars. A run's prediction and its check are one sandbox job per coin
(`checked_signals`), so the check adds no second start-up, transfer or full prediction.
"""

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from app.lab.backtests.data import coin_frame
from app.lab.sandbox.jobs import CausalityJob, CausalityResult, SweepJob
from app.lab.sandbox.pool import SandboxPool

logger = logging.getLogger(__name__)

TRAINED_TYPES = frozenset({"ml", "rl"})
# Decision changes the lookahead check covers per coin, and the time it may spend on them: a
# half of the coin's own full prediction (at least 50 ms, at most 2 s); beyond either, the
# most prescient changes, stated in the verdict.
MAX_DECISION_CHECKS = 500
DECISION_BUDGET_SECONDS = 2.0
LOOKAHEAD_BUDGET_FRACTION = 0.5


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


def decision_changes(positions: "pd.Series[float]", trade_start: pd.Timestamp) -> list[int]:
    """Bars (positions in the series) from `trade_start` on where the decision differs from
    the bar before (the first bar against flat): where a peek at the future would matter."""
    values = positions.to_numpy(dtype=np.float64)
    changed = np.flatnonzero(np.diff(values, prepend=0.0) != 0)
    first_traded = int(pd.DatetimeIndex(positions.index).searchsorted(trade_start))
    return changed[changed >= first_traded].tolist()


async def checked_signals(
    pool: SandboxPool,
    algo: Algo,
    frame: pd.DataFrame,
    coin: str,
    params: dict[str, Any],
    trade_start: pd.Timestamp,
    *,
    samples: int,
    seed: int = 0,
    max_decisions: int = MAX_DECISION_CHECKS,
    budget_fraction: float = LOOKAHEAD_BUDGET_FRACTION,
) -> tuple[CoinSignals, CausalityResult]:
    """One coin's positions and their lookahead check, in ONE sandbox job: the child predicts
    on the coin's whole history (fitting trained algorithms on the bars before `trade_start`
    first, so every traded bar is out of sample), then truncates at `samples` spread bars and
    at its own decision changes from `trade_start` on, most prescient first, for at most
    `budget_fraction` of its own prediction's time (see `CausalityJob`)."""
    x = coin_frame(frame, coin)
    fit_frame = None
    if algo.needs_fit:
        fit_frame = x.loc[x.index < trade_start]
        if len(fit_frame) < 2:
            raise ValueError(
                f"{coin}: too few bars before {trade_start.isoformat()} to fit the model"
            )
    job = CausalityJob(
        code=algo.code,
        frame=x,
        params=params,
        fit_frame=fit_frame,
        samples=samples,
        seed=seed,
        auto_decisions=True,
        first_traded=int(pd.DatetimeIndex(x.index).searchsorted(trade_start)),
        max_decisions=max_decisions,
        budget_seconds=DECISION_BUDGET_SECONDS,
        budget_fraction=budget_fraction,
    )
    result = await pool.check_causality(job)
    positions = pd.Series(result.positions, index=x.index, dtype="float64")
    return CoinSignals(positions, None, result.stats.wall_ms, result.stats.output), result


def lookahead_verdict(checks: dict[str, CausalityResult]) -> Lookahead:
    """The run's verdict from its coins' checks (in the run's coin order): the first coin
    whose positions changed when later bars were removed, or what was checked."""
    total = sum(r.decision_changes for r in checks.values())
    checked = sum(r.decision_bars_checked for r in checks.values())
    sampled = sum(len(r.checked_bars) for r in checks.values())
    for coin, result in checks.items():
        if not result.causal:
            when = result.first_difference_at
            first = when.isoformat() if when is not None else None
            logger.warning("lookahead bias detected", extra={"coin": coin, "first_bar": first})
            return Lookahead(
                checked=True,
                bias_detected=True,
                checked_bars=sampled + checked,
                first_bar=first,
                coin=coin,
                detail=(
                    f"the position of {coin} at {first} changed when later bars were removed: "
                    "the algorithm uses data from the future"
                ),
                decision_changes=total,
                decision_changes_checked=checked,
                sampled_bars=sampled,
            )
    if checked == total:
        what = f"checked all {total} decision changes"
    else:
        what = (
            f"checked {checked} of {total} decision changes (the most prescient first: those "
            "followed by the largest price moves in their favour)"
        )
    return Lookahead(
        checked=True,
        bias_detected=False,
        checked_bars=sampled + checked,
        detail=f"no lookahead found: {what} and {sampled} sampled bars",
        decision_changes=total,
        decision_changes_checked=checked,
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
