"""Machine learning, classification: a classifier estimates the probability that the next
bar closes up, and the algorithm holds the coin while that probability is high enough.

Training is causal: labels (up or not over the next `horizon` bars) look ahead only inside
`fit`; the features are computed from past bars only, so `predict` never peeks ahead.
The model is a histogram gradient-boosting classifier on standard price features.
"""

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline

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


class UpDownClassifier(Algorithm):
    """Hold while P(price up over the next `horizon` bars) >= `threshold`."""

    algorithm_type = "ml"

    # Defaults that trade sensibly on 5-minute bars: an hour-ahead label, a clear edge before
    # buying and at least an hour in each position, so fees do not eat the account.
    horizon = Int(12, ge=1, le=288, description="Bars ahead the label looks (training only)")
    threshold = Float(0.6, ge=0.5, le=1.0, description="Probability of an up move needed to hold")
    min_hold = Int(12, ge=1, le=2016, description="Bars to keep a position before changing it")
    max_iter = Int(100, ge=10, le=1000, description="Boosting iterations")
    learning_rate = Float(0.05, gt=0.0, le=1.0, description="Boosting learning rate")
    max_depth = Int(3, ge=1, le=12, description="Depth of each tree")
    seed = Int(0, ge=0, le=2**31 - 1, description="Random seed")

    def fit(self, X: pd.DataFrame, y: object = None) -> "UpDownClassifier":
        ahead = forward_returns(price(X), self.horizon)  # looks ahead: labels only
        known = ahead.notna().to_numpy()
        labels = (ahead > 0).astype(int).to_numpy()
        if known.sum() < 20 or len(np.unique(labels[known])) < 2:
            raise ValueError("need at least 20 labelled bars with both up and down moves")
        model = Pipeline(
            [
                ("features", PriceFeatures(returns=(1, 3, 12), lags=3)),
                (
                    "model",
                    HistGradientBoostingClassifier(
                        max_iter=self.max_iter,
                        learning_rate=self.learning_rate,
                        max_depth=self.max_depth,
                        random_state=self.seed,
                    ),
                ),
            ]
        )
        self.model_ = model.fit(X[known], labels[known])
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "model_")
        if len(X) == 0:
            return np.zeros(0)
        classes = list(self.model_.classes_)
        p_up = self.model_.predict_proba(X)[:, classes.index(1)]
        return hold_at_least((p_up >= self.threshold).astype(np.float64), self.min_hold)
