"""Feature engineering as scikit-learn transformers, for ``Pipeline(features -> model)``.

Each transformer takes the price frame ``X`` and returns a DataFrame of features on the same
index, computed causally (row t from rows <= t). They learn nothing in ``fit``, so fitting a
pipeline on a training period and predicting on later bars is safe. Warm-up rows (before a
window is full) are filled with `fill_value` (0 by default) so that any model accepts them.

    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(PriceFeatures(returns=(1, 3, 12), zscore=(48,)), StandardScaler(), Ridge())
    model.fit(X_train, forward_returns(price(X_train)).fillna(0.0))
    predicted = model.predict(X_test)

Combine single-purpose ones with ``sklearn.pipeline.make_union(Returns(), RSI(), ...)``.
"""

from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from app.lab.sdk import features as f


def _windows(values: Sequence[int] | int, name: str) -> tuple[int, ...]:
    if isinstance(values, int | np.integer):
        values = (int(values),)
    result = tuple(int(v) for v in values)
    for v in result:
        if v < 1:
            raise ValueError(f"{name}: windows must be positive whole numbers of bars, got {v}")
    return result


class _PriceTransformer(TransformerMixin, BaseEstimator):
    """Shared plumbing: a stateless transformer from a price frame to a feature frame."""

    column: str = "last"
    fill_value: float | None = 0.0

    def fit(self, X: pd.DataFrame, y: Any = None) -> Self:
        self._compute(X.iloc[:0])  # check the settings and the columns early
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = self._compute(X)
        out = out.replace([np.inf, -np.inf], np.nan)
        if self.fill_value is not None:
            out = out.fillna(self.fill_value)
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(self._names(), dtype=object)

    def _compute(self, X: pd.DataFrame) -> pd.DataFrame:
        p = f.price(X, self.column)
        columns = self._features(p)
        return pd.DataFrame(columns, index=X.index, columns=self._names())

    def _features(self, p: pd.Series) -> dict[str, pd.Series]:
        raise NotImplementedError

    def _names(self) -> list[str]:
        return list(self._features(pd.Series([], dtype=np.float64)))


class Returns(_PriceTransformer):
    """Returns over the last `periods` bars, one column per period (``ret_1``, ...)."""

    def __init__(
        self, periods: Sequence[int] = (1,), column: str = "last", fill_value: float | None = 0.0
    ) -> None:
        self.periods = periods
        self.column = column
        self.fill_value = fill_value

    def _features(self, p: pd.Series) -> dict[str, pd.Series]:
        return {f"ret_{n}": f.returns(p, n) for n in _windows(self.periods, "periods")}


class LaggedReturns(_PriceTransformer):
    """The 1-bar returns of the previous `lags` bars (``lag_1`` = last bar's return, ...),
    i.e. the recent path of the price, for models that learn from it."""

    def __init__(self, lags: int = 6, column: str = "last", fill_value: float | None = 0.0) -> None:
        self.lags = lags
        self.column = column
        self.fill_value = fill_value

    def _features(self, p: pd.Series) -> dict[str, pd.Series]:
        (count,) = _windows(self.lags, "lags")
        r = f.returns(p)
        return {"ret_0": r} | {f"lag_{k}": r.shift(k) for k in range(1, count)}


class MovingAverageRatio(_PriceTransformer):
    """Price relative to its moving averages, ``price / sma(window) - 1`` (``sma_ratio_48``)."""

    def __init__(
        self,
        windows: Sequence[int] = (12, 48),
        column: str = "last",
        fill_value: float | None = 0.0,
    ) -> None:
        self.windows = windows
        self.column = column
        self.fill_value = fill_value

    def _features(self, p: pd.Series) -> dict[str, pd.Series]:
        return {f"sma_ratio_{w}": p / f.sma(p, w) - 1.0 for w in _windows(self.windows, "windows")}


class Volatility(_PriceTransformer):
    """Rolling standard deviation of 1-bar returns (``vol_24``)."""

    def __init__(
        self, windows: Sequence[int] = (24,), column: str = "last", fill_value: float | None = 0.0
    ) -> None:
        self.windows = windows
        self.column = column
        self.fill_value = fill_value

    def _features(self, p: pd.Series) -> dict[str, pd.Series]:
        return {f"vol_{w}": f.volatility(p, w) for w in _windows(self.windows, "windows")}


class RSI(_PriceTransformer):
    """Relative strength index scaled to [-1, 1] (``(rsi - 50) / 50``; ``rsi_14``)."""

    def __init__(
        self, windows: Sequence[int] = (14,), column: str = "last", fill_value: float | None = 0.0
    ) -> None:
        self.windows = windows
        self.column = column
        self.fill_value = fill_value

    def _features(self, p: pd.Series) -> dict[str, pd.Series]:
        return {f"rsi_{w}": (f.rsi(p, w) - 50.0) / 50.0 for w in _windows(self.windows, "windows")}


class ZScore(_PriceTransformer):
    """Z-score of the price against its rolling mean (``zscore_48``)."""

    def __init__(
        self, windows: Sequence[int] = (48,), column: str = "last", fill_value: float | None = 0.0
    ) -> None:
        self.windows = windows
        self.column = column
        self.fill_value = fill_value

    def _features(self, p: pd.Series) -> dict[str, pd.Series]:
        return {f"zscore_{w}": f.zscore(p, w) for w in _windows(self.windows, "windows")}


class PriceFeatures(_PriceTransformer):
    """The common features in one transformer: returns over `returns` periods, the last
    `lags` 1-bar returns, price / moving average for `sma`, volatility, RSI and z-score
    windows. Pass an empty tuple (or 0 lags) to leave a family out."""

    def __init__(
        self,
        returns: Sequence[int] = (1, 3, 12),
        lags: int = 0,
        sma: Sequence[int] = (12, 48),
        volatility: Sequence[int] = (24,),
        rsi: Sequence[int] = (14,),
        zscore: Sequence[int] = (48,),
        column: str = "last",
        fill_value: float | None = 0.0,
    ) -> None:
        self.returns = returns
        self.lags = lags
        self.sma = sma
        self.volatility = volatility
        self.rsi = rsi
        self.zscore = zscore
        self.column = column
        self.fill_value = fill_value

    def _features(self, p: pd.Series) -> dict[str, pd.Series]:
        out: dict[str, pd.Series] = {}
        for n in _windows(self.returns, "returns"):
            out[f"ret_{n}"] = f.returns(p, n)
        if self.lags:
            one_bar = f.returns(p)
            for k in range(1, int(self.lags) + 1):
                out[f"lag_{k}"] = one_bar.shift(k)
        for w in _windows(self.sma, "sma"):
            out[f"sma_ratio_{w}"] = p / f.sma(p, w) - 1.0
        for w in _windows(self.volatility, "volatility"):
            out[f"vol_{w}"] = f.volatility(p, w)
        for w in _windows(self.rsi, "rsi"):
            out[f"rsi_{w}"] = (f.rsi(p, w) - 50.0) / 50.0
        for w in _windows(self.zscore, "zscore"):
            out[f"zscore_{w}"] = f.zscore(p, w)
        if not out:
            raise ValueError("PriceFeatures: every feature family is empty")
        return out
