"""Moving-average crossover: hold the coin while a fast moving average of the price is above
a slow one, stay in cash otherwise.

A trend-following rule. The dead band keeps it from flipping back and forth when the two
averages are almost equal: it buys when the fast average rises more than `band` above the
slow one and sells when it falls more than `band` below.
"""

import numpy as np
import pandas as pd

from app.lab.sdk import Algorithm, Choice, Float, Int, price, sma, to_positions


class MovingAverageCrossover(Algorithm):
    """Long while sma(fast) > sma(slow), flat otherwise."""

    algorithm_type = "rule"

    fast = Int(12, ge=2, le=1000, description="Bars in the fast moving average (12 = 1 hour)")
    slow = Int(48, ge=3, le=5000, description="Bars in the slow moving average (48 = 4 hours)")
    band = Float(0.0, ge=0.0, le=0.05, description="Dead band as a fraction of the slow average")
    source = Choice("last", options=("last", "mid"), description="Price to average")
    # Checked by the form, runs and sweeps: a fast average at least as slow as the slow one
    # makes no crossover.
    constraints = ("fast < slow",)

    def predict(self, X: pd.DataFrame) -> pd.Series:
        p = price(X, str(self.source))
        fast = sma(p, self.fast)
        slow = sma(p, self.slow)
        # 1 above the band, 0 below it, NaN inside it (keep the previous position).
        above = fast > slow * (1 + self.band)
        below = fast < slow * (1 - self.band)
        signal = pd.Series(np.where(above, 1.0, np.where(below, 0.0, np.nan)), index=X.index)
        return to_positions(signal.ffill())
