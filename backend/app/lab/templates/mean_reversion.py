"""Mean reversion: buy when the price has fallen far below its rolling mean (a negative
z-score), sell once it has come back.

The z-score measures how many standard deviations the price is from its mean over the last
`window` bars. The algorithm enters when the z-score drops below -`entry` and exits when it
rises above -`exit` (so with exit = 0 it sells when the price is back at its mean). Between
the two thresholds it keeps whatever it held.
"""

import numpy as np
import pandas as pd

from app.lab.sdk import Algorithm, Float, Int, price, to_positions, zscore


class MeanReversion(Algorithm):
    """Long after the price falls `entry` deviations below its mean, flat once it recovers."""

    algorithm_type = "rule"

    window = Int(96, ge=5, le=5000, description="Bars in the rolling mean (96 = 8 hours)")
    entry = Float(2.0, gt=0.0, le=6.0, description="Buy when the z-score is below -entry")
    exit = Float(0.0, ge=-6.0, le=6.0, description="Sell when the z-score is above -exit")
    size = Float(1.0, gt=0.0, le=1.0, description="Position while in a trade")

    def predict(self, X: pd.DataFrame) -> pd.Series:
        z = zscore(price(X), self.window)
        signal = pd.Series(np.nan, index=X.index)
        signal[z > -self.exit] = 0.0
        signal[z < -self.entry] = self.size
        return to_positions(signal.ffill())
