"""Sandbox jobs (what to run) and their results."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from app.lab.sandbox.errors import UserCodeError
from app.lab.sandbox.limits import Limits

FloatArray = npt.NDArray[np.float64]

# Truncations of `CausalityJob`: a week of bars before the bar (warm-ups of indicators fit in
# it) and a day of future bars after a decision (a week after a sampled bar).
DECISION_WINDOW = 2016
DECISION_HORIZON = 288
DECISION_BUDGET_SECONDS = 2.0
# The most decision bars one job looks at (its own choice, `auto_decisions`), and the least
# time it gives them when its budget is a share of its own full prediction.
MAX_AUTO_DECISIONS = 500
MIN_DECISION_BUDGET_SECONDS = 0.05


@dataclass(frozen=True)
class PredictJob:
    """Positions for every bar of `frame`, from the algorithm created with `params`, or
    from a fitted `model` (a `FitResult.model`; then `params` must be empty)."""

    code: str
    frame: pd.DataFrame
    params: Mapping[str, Any] = field(default_factory=dict)
    model: bytes | None = None
    limits: Limits | None = None


@dataclass(frozen=True)
class FitJob:
    """Fit the algorithm on `frame` and return the fitted model (an opaque blob, only ever
    unpickled inside a sandbox child); with `predict_frame`, also its positions there."""

    code: str
    frame: pd.DataFrame
    params: Mapping[str, Any] = field(default_factory=dict)
    predict_frame: pd.DataFrame | None = None
    limits: Limits | None = None


@dataclass(frozen=True)
class SweepJob:
    """Positions on `frame` for many parameter sets of the same code, in one child (same
    user, same code version). With `fit_frame`, each set is fitted there first."""

    code: str
    frame: pd.DataFrame
    param_sets: Sequence[Mapping[str, Any]]
    fit_frame: pd.DataFrame | None = None
    limits: Limits | None = None


@dataclass(frozen=True)
class CausalityJob:
    """Look for lookahead: the first bar whose position changes when later bars are removed.

    Two kinds of truncation, all in one child:

    - sampled bars (`bars`, otherwise `samples` bars spread over the frame): predict on a
      window that starts `window` bars before the bar and ends with it, and compare every
      position in it with a prediction on the same window extended by up to
      `max(window, horizon)` later bars (the whole frame's run when the window covers it);
    - decision bars (`decision_bars`, normally every bar where the position changes): predict
      on a window that starts `window` bars before the bar and ends with it, and compare every
      position in it with a prediction on the same window extended by `horizon` later bars.
      Both predictions start at the same bar, so warm-ups and running state agree; only the
      future differs. Decision bars within `window` bars of each other share one extended
      window, so the cost grows with the number of decisions, not with the length of the
      history. They are checked most prescient first (the decisions followed by the largest
      price moves in their favour, where a peek at the future pays), for at most
      `budget_seconds` (and a quarter of the job's wall-clock and CPU limits);
      `CausalityResult.decision_bars_checked` says how many were. Sampled bars take turns
      with the decisions under the same budget (the first of each is always checked).

    With `auto_decisions` the child chooses the decision bars itself from its own full
    prediction (every change from bar `first_traded` on, the `max_decisions` most prescient),
    so one job gives a run its positions and their lookahead check; with `budget_fraction`
    the decision budget is that share of the full prediction's own time (at least
    `MIN_DECISION_BUDGET_SECONDS`, at most `budget_seconds`), so the check costs a bounded
    share of the run whatever the algorithm's speed.

    Uses `model`, or `params` (fitted on `fit_frame` when given)."""

    code: str
    frame: pd.DataFrame
    params: Mapping[str, Any] = field(default_factory=dict)
    model: bytes | None = None
    fit_frame: pd.DataFrame | None = None
    bars: Sequence[int] | None = None
    samples: int = 20
    decision_bars: Sequence[int] = ()
    window: int = DECISION_WINDOW
    horizon: int = DECISION_HORIZON
    budget_seconds: float = DECISION_BUDGET_SECONDS
    seed: int = 0
    auto_decisions: bool = False
    first_traded: int = 0
    max_decisions: int = MAX_AUTO_DECISIONS
    budget_fraction: float = 0.0
    limits: Limits | None = None


Job = PredictJob | FitJob | SweepJob | CausalityJob


@dataclass(frozen=True)
class RunStats:
    """How a child run went: wall time as seen by the caller, CPU seconds and peak memory
    of the child, and what the user's code printed (capped)."""

    wall_ms: float
    cpu_seconds: float
    max_rss_mb: float
    output: str = ""


@dataclass(frozen=True)
class PredictResult:
    positions: FloatArray
    stats: RunStats


@dataclass(frozen=True)
class FitResult:
    model: bytes
    positions: FloatArray | None
    stats: RunStats


@dataclass(frozen=True)
class SweepOutcome:
    params: Mapping[str, Any]
    positions: FloatArray | None
    error: UserCodeError | None


@dataclass(frozen=True)
class SweepResult:
    outcomes: list[SweepOutcome]
    stats: RunStats


@dataclass(frozen=True)
class CausalityResult:
    """`first_difference` is the first bar whose position changed when later bars were
    removed (None: causal at every checked truncation); `truncated_at` the truncation that
    showed it; `checked_bars` the sampled truncations; `decision_bars_checked` how many
    decision bars were checked, of `decision_changes` (the decision bars given, or the changes
    the child found with `auto_decisions`); `positions` the positions on the full frame;
    `predict_ms` the time of the full prediction alone, `check_ms` of the truncations."""

    first_difference: int | None
    first_difference_at: datetime | None
    truncated_at: int | None
    checked_bars: list[int]
    positions: FloatArray
    stats: RunStats
    decision_bars_checked: int = 0
    decision_changes: int = 0
    predict_ms: float = 0.0
    check_ms: float = 0.0

    @property
    def causal(self) -> bool:
        return self.first_difference is None


Result = PredictResult | FitResult | SweepResult | CausalityResult


def sample_bars(n: int, samples: int) -> list[int]:
    """`samples` truncation points spread over a frame of `n` bars (the last one included)."""
    if n <= 0 or samples <= 0:
        return []
    points = np.linspace(0, n - 1, num=min(samples, n))
    return sorted({int(round(p)) for p in points})
