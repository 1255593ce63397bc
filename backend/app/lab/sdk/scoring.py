"""A small, self-contained backtest for `Algorithm.score`.

This is a quick yardstick for comparing parameter sets (e.g. with scikit-learn's
``GridSearchCV`` and ``TimeSeriesSplit``), not the Lab's backtest engine, which fills orders
at the next bar's ask/bid, tracks cash and holdings and reports full metrics. Here the
position decided at bar t earns the return from t to t+1, and every change of position pays
`fee` on the traded fraction of capital.
"""

import math

import numpy as np
import pandas as pd

from app.lab.sdk.features import price
from app.lab.sdk.positions import FloatArray, check_positions

DEFAULT_FEE = 0.001  # Coinspot's market-order fee: 0.1 % of the traded amount
SECONDS_PER_YEAR = 365.25 * 24 * 3600


def strategy_returns(
    X: pd.DataFrame, positions: object, *, fee: float = DEFAULT_FEE, column: str = "last"
) -> pd.Series:
    """Per-bar returns of holding `positions` (one per bar of `X`): the position at t times
    the return from t to t+1, minus `fee` times the change of position at t. The last bar
    has no next bar and is dropped."""
    if not 0.0 <= fee < 1.0:
        raise ValueError(f"fee must be in [0, 1), got {fee}")
    held = check_positions(X, positions)
    p = price(X, column).to_numpy(dtype=np.float64)
    if len(p) < 2:
        return pd.Series([], dtype=np.float64, index=X.index[:0])
    with np.errstate(divide="ignore", invalid="ignore"):
        next_return = p[1:] / p[:-1] - 1.0
    next_return = np.nan_to_num(next_return, nan=0.0, posinf=0.0, neginf=0.0)
    traded = np.abs(np.diff(np.concatenate(([0.0], held))))
    result: FloatArray = held[:-1] * next_return - fee * traded[:-1]
    return pd.Series(result, index=X.index[:-1], name="strategy_return")


def bars_per_year(index: pd.Index) -> float:
    """How many bars of this spacing fit in a year (105,120 for 5-minute bars)."""
    if isinstance(index, pd.DatetimeIndex) and len(index) >= 2:
        steps = np.diff(np.asarray(index.tz_localize(None), dtype="datetime64[ns]").view(np.int64))
        step_ns = float(np.median(steps))
        if step_ns > 0:
            return SECONDS_PER_YEAR / (step_ns / 1e9)
    return 365.0 * 288.0


def sharpe_ratio(returns: pd.Series | FloatArray, periods_per_year: float) -> float:
    """Annualised Sharpe ratio (no risk-free rate) of per-bar returns; 0.0 when the returns
    do not vary (e.g. always flat), so that rankings never see NaN."""
    values = np.asarray(returns, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size < 2:
        return 0.0
    std = float(values.std(ddof=1))
    if not std > 0.0:
        return 0.0
    return float(values.mean()) / std * math.sqrt(periods_per_year)


def backtest_sharpe(
    X: pd.DataFrame, positions: object, *, fee: float = DEFAULT_FEE, column: str = "last"
) -> float:
    """Annualised Sharpe ratio of `strategy_returns`."""
    return sharpe_ratio(
        strategy_returns(X, positions, fee=fee, column=column), bars_per_year(X.index)
    )
