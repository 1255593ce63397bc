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
    """Predict on `frame` and on copies truncated after sample bars; report the first bar
    whose position differs (lookahead). `bars` picks the truncation points, otherwise
    `samples` bars are spread over the frame. Uses `model`, or `params` (fitted on
    `fit_frame` when given)."""

    code: str
    frame: pd.DataFrame
    params: Mapping[str, Any] = field(default_factory=dict)
    model: bytes | None = None
    fit_frame: pd.DataFrame | None = None
    bars: Sequence[int] | None = None
    samples: int = 20
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
    showed it; `positions` the positions on the full frame."""

    first_difference: int | None
    first_difference_at: datetime | None
    truncated_at: int | None
    checked_bars: list[int]
    positions: FloatArray
    stats: RunStats

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
