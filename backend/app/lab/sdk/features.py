"""Feature helpers that are causal by construction.

Every function here computes the value at bar t from bars t, t-1, t-2, ... only, never from
later bars, so an algorithm built from them can be backtested honestly: what it decides at t
is what it would have decided live at t. Windows are counted in bars (on 5-minute data,
12 bars = 1 hour, 288 bars = 1 day). Until a window is full the value is NaN; turn NaN into a
position of 0 with `to_positions`.

The one exception is `forward_returns`, which looks ahead on purpose: it makes training
labels inside ``fit`` and must never be used in ``predict``.

    p = price(X)                      # the last traded price, gaps carried forward
    fast, slow = sma(p, 12), sma(p, 48)
    z = zscore(p, 96)
    r = returns(p)                    # r[t] = p[t] / p[t-1] - 1
"""

from typing import Any

import numpy as np
import pandas as pd

PRICE_COLUMNS = ("bid", "ask", "last")


def _check_window(window: int, name: str = "window") -> int:
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1:
        raise ValueError(f"{name} must be a positive whole number of bars, got {window!r}")
    return int(window)


def price(X: pd.DataFrame, column: str = "last") -> pd.Series:
    """One price column of `X` as a float Series (``"last"``, ``"bid"``, ``"ask"`` or
    ``"mid"`` = (bid + ask) / 2). Missing bars (NaN) take the previous bar's price, which is
    what was known at the time."""
    if column == "mid":
        values = (X["bid"].to_numpy(dtype=np.float64) + X["ask"].to_numpy(dtype=np.float64)) / 2.0
        name: Any = "mid"
    elif column in X.columns:
        column_values = X[column]
        values = column_values.to_numpy(dtype=np.float64, copy=True)
        name = column_values.name
    else:
        raise KeyError(f"X has no column {column!r}; columns are {list(X.columns)}")
    series = pd.Series(values, index=X.index, name=name)
    # Most price columns have no gap: carrying forward is then a copy that changes nothing.
    return series.ffill() if np.isnan(values).any() else series


def spread(X: pd.DataFrame) -> pd.Series:
    """The relative bid/ask spread, (ask - bid) / mid, per bar."""
    mid = price(X, "mid")
    return (price(X, "ask") - price(X, "bid")) / mid


def returns(series: pd.Series, periods: int = 1) -> pd.Series:
    """Simple returns over `periods` bars: ``s[t] / s[t - periods] - 1``."""
    periods = _check_window(periods, "periods")
    return series / series.shift(periods) - 1.0


def log_returns(series: pd.Series, periods: int = 1) -> pd.Series:
    """Log returns over `periods` bars: ``log(s[t] / s[t - periods])``."""
    periods = _check_window(periods, "periods")
    result = pd.Series(np.log(series / series.shift(periods)), index=series.index)
    return result


def lag(series: pd.Series | pd.DataFrame, periods: int = 1) -> pd.Series | pd.DataFrame:
    """The value `periods` bars ago. Only positive lags: a negative lag would look ahead."""
    periods = _check_window(periods, "periods")
    return series.shift(periods)


def sma(series: pd.Series, window: int) -> pd.Series:
    """Simple moving average of the last `window` bars (this bar included)."""
    window = _check_window(window)
    return series.rolling(window, min_periods=window).mean()


def ema(series: pd.Series, span: int) -> pd.Series:
    """Exponential moving average with the given span (alpha = 2 / (span + 1)); NaN until
    `span` bars have been seen."""
    span = _check_window(span, "span")
    return series.ewm(span=span, adjust=False, min_periods=span).mean()


def rolling_std(series: pd.Series, window: int) -> pd.Series:
    """Standard deviation of the last `window` bars."""
    window = _check_window(window)
    return series.rolling(window, min_periods=window).std()


def volatility(series: pd.Series, window: int) -> pd.Series:
    """Volatility of a price: the standard deviation of its 1-bar returns over the last
    `window` bars (per bar, not annualised)."""
    window = _check_window(window)
    return rolling_std(returns(series), window)


def zscore(series: pd.Series, window: int) -> pd.Series:
    """How many standard deviations the value is above (positive) or below (negative) its
    mean over the last `window` bars. A flat window (zero deviation) gives 0."""
    window = _check_window(window)
    if window < 2:
        raise ValueError("zscore needs a window of at least 2 bars")
    mean = sma(series, window)
    std = rolling_std(series, window)
    z = (series - mean) / std.where(std > 0)
    return z.where(~(std == 0), 0.0)


def rsi(series: pd.Series, window: int = 14) -> pd.Series:
    """Relative strength index (Wilder's smoothing), from 0 to 100: above 70 is commonly read
    as overbought, below 30 as oversold. NaN until `window` changes have been seen."""
    window = _check_window(window)
    change = series.diff()
    gain = change.clip(lower=0.0)
    loss = -change.clip(upper=0.0)
    alpha = 1.0 / window
    avg_gain = gain.ewm(alpha=alpha, adjust=False, min_periods=window).mean()
    avg_loss = loss.ewm(alpha=alpha, adjust=False, min_periods=window).mean()
    total = avg_gain + avg_loss
    # No movement at all over the window: neither overbought nor oversold.
    result = 100.0 * avg_gain / total.where(total > 0)
    return result.where(~(total == 0), 50.0)


def forward_returns(series: pd.Series, horizon: int = 1) -> pd.Series:
    """LOOKS AHEAD: the return from bar t to bar t + `horizon`, placed at bar t.

    Only for making training labels inside ``fit`` (e.g. "did the price go up next bar?").
    The last `horizon` bars have no label (NaN): drop them before training. Never use this in
    ``predict``: the Lab's lookahead check will flag the algorithm.
    """
    horizon = _check_window(horizon, "horizon")
    return series.shift(-horizon) / series - 1.0
