"""Machine learning, regression: predict the next bar's return from lagged features with a
scikit-learn regressor, and hold the coin while the predicted return beats a threshold.

Training is causal: `fit` builds features from the frame it is given, labels each bar with
the return of the bar after it (the only place that looks ahead), and fits a pipeline
(features -> scaling -> ridge regression). `predict` computes the same features, which use
past bars only, and applies the fitted pipeline.
"""

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from app.lab.sdk import (
    Algorithm,
    Float,
    Int,
    PriceFeatures,
    check_is_fitted,
    forward_returns,
    hold_at_least,
    price,
)


class RidgeReturnForecast(Algorithm):
    """Hold while the ridge forecast of the next bar's return exceeds `threshold`."""

    algorithm_type = "ml"

    lags = Int(6, ge=1, le=48, description="Past 1-bar returns used as features")
    window = Int(48, ge=5, le=2000, description="Window of the trend and volatility features")
    alpha = Float(10.0, gt=0.0, le=1e6, description="Ridge regularisation strength")
    # A forecast must beat the round-trip fee (about 2 x 0.1 %) before it is worth holding,
    # and a position is kept at least an hour: 5-minute noise otherwise churns the account.
    threshold = Float(
        0.002, ge=0.0, le=0.05, description="Minimum predicted return to hold (0.002 = 20 bps)"
    )
    min_hold = Int(12, ge=1, le=2016, description="Bars to keep a position before changing it")

    def _pipeline(self) -> Pipeline:
        features = PriceFeatures(
            returns=(1, 3, 12),
            lags=self.lags,
            sma=(self.window,),
            volatility=(self.window,),
            rsi=(14,),
            zscore=(self.window,),
        )
        return Pipeline(
            [
                ("features", features),
                ("scale", StandardScaler()),
                ("model", Ridge(alpha=self.alpha)),
            ]
        )

    def fit(self, X: pd.DataFrame, y: object = None) -> "RidgeReturnForecast":
        target = forward_returns(price(X))  # label at t = return from t to t+1
        known = target.notna().to_numpy()  # the last bar has no next bar, hence no label
        if known.sum() < 10:
            raise ValueError("need at least 10 bars with a next bar to train on")
        self.model_ = self._pipeline().fit(X[known], target[known])
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "model_")
        predicted = self.model_.predict(X)
        return hold_at_least((predicted > self.threshold).astype(np.float64), self.min_hold)
