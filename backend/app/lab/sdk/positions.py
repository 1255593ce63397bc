"""Target positions: what `predict` returns.

A position is the fraction of the capital allocated to the algorithm that should be held in
the coin after the bar: 0 = flat (all cash), 1 = fully invested, 0.5 = half. Spot only, so
never negative and never above 1. There is one position per bar of ``X``, and every one must
be a finite number: during a warm-up period (say, before a 50-bar moving average exists)
return 0, not NaN. `to_positions` does the usual clean-up for you.
"""

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]

# The tolerance for the ends of [0, 1]: 1 + 1e-12 from a float computation is still 1.
_EPS = 1e-9


class PositionsError(ValueError):
    """`predict` returned something that is not one position in [0, 1] per bar."""


def hold_at_least(positions: Any, bars: int) -> Any:
    """Keep each new position for at least `bars` bars before it may change again.

    Causal (bar t depends only on bars up to t), so it is safe in `predict`; it cuts the
    churn of a signal that flips every few bars, which fees punish on 5-minute bars.
    A Series stays a Series (with its index), anything else becomes a float64 numpy array.
    """
    if bars < 1:
        raise ValueError("hold_at_least needs bars >= 1")
    values = np.asarray(positions, dtype=np.float64).copy()
    if len(values):
        held, since = values[0], 0
        for i in range(1, len(values)):
            if values[i] != held:
                if i - since < bars:
                    values[i] = held
                else:
                    held, since = values[i], i
    if isinstance(positions, pd.Series):
        return pd.Series(values, index=positions.index, name=positions.name)
    return values


def to_positions(signal: Any, *, fill: float = 0.0, low: float = 0.0, high: float = 1.0) -> Any:
    """Turn a signal into valid positions: missing values (NaN) become `fill`, everything
    is clipped into [`low`, `high`] (a sub-range of [0, 1]). A Series stays a Series (with
    its index), anything else becomes a float64 numpy array."""
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError("to_positions needs 0 <= low <= high <= 1")
    if isinstance(signal, pd.Series):
        # What ``astype(float64).fillna(fill).clip(low, high)`` gives, in place on one copy:
        # a value is kept unless it is below `low` or above `high` (±inf are clipped).
        values = signal.to_numpy(dtype=np.float64, copy=True)
        np.copyto(values, fill, where=np.isnan(values))
        np.copyto(values, low, where=values < low)
        np.copyto(values, high, where=values > high)
        return pd.Series(values, index=signal.index, name=signal.name)
    values = np.asarray(signal, dtype=np.float64)
    return np.clip(np.nan_to_num(values, nan=fill, posinf=high, neginf=low), low, high)


def check_positions(X: pd.DataFrame, positions: Any) -> FloatArray:
    """Check what `predict(X)` returned and return it as a float64 array, one per bar.

    Accepted: a numpy array or list with one number per row of `X`, or a pandas Series (or a
    one-column DataFrame) on the same index as `X`. Raises `PositionsError` saying what is
    wrong and at which bar.
    """
    n = len(X)
    if isinstance(positions, pd.DataFrame):
        if positions.shape[1] != 1:
            raise PositionsError(
                f"predict returned a DataFrame with {positions.shape[1]} columns; "
                "return one position per bar (a Series or a 1-D array)"
            )
        positions = positions.iloc[:, 0]
    if isinstance(positions, pd.Series):
        if len(positions) != n or not positions.index.equals(X.index):
            raise PositionsError(
                "predict returned a Series whose index is not the index of X; "
                "keep X's index (or return a numpy array with one value per bar)"
            )
        positions = positions.to_numpy()
    try:
        values = np.asarray(positions, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PositionsError(
            f"predict must return numbers, got {type(positions).__name__}: {exc}"
        ) from None
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise PositionsError(
            f"predict must return one position per bar (a 1-D array), got shape {values.shape}"
        )
    if values.shape[0] != n:
        raise PositionsError(f"predict returned {values.shape[0]} positions for {n} bars")
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        i = int(bad[0])
        raise PositionsError(
            f"predict returned {values[i]} at bar {i} ({_when(X, i)}); positions must be "
            "finite numbers: use 0 while indicators warm up (see to_positions)"
        )
    bad = np.flatnonzero((values < -_EPS) | (values > 1.0 + _EPS))
    if bad.size:
        i = int(bad[0])
        raise PositionsError(
            f"predict returned {values[i]:g} at bar {i} ({_when(X, i)}); positions must be "
            "in [0, 1] (0 = flat, 1 = fully in; no shorting or leverage)"
        )
    result: FloatArray = np.clip(values, 0.0, 1.0)
    return result


def _when(X: pd.DataFrame, i: int) -> str:
    try:
        return str(X.index[i])
    except IndexError:
        return "?"
