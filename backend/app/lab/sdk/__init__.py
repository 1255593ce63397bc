"""The Oh My Coins algorithm SDK: what your Lab code imports.

    from app.lab.sdk import Algorithm, Int, Float, price, sma, to_positions

- `Algorithm`: the base class (a scikit-learn estimator: ``fit``/``predict``/``score``,
  ``get_params``/``set_params``). Read its module documentation for the contract.
- `Int`, `Float`, `Bool`, `Choice`: parameter declarations with bounds and defaults.
- Causal feature helpers: `price`, `returns`, `log_returns`, `lag`, `sma`, `ema`,
  `rolling_std`, `volatility`, `zscore`, `rsi`, `spread`; and `forward_returns` for
  training labels inside ``fit`` only.
- Feature transformers for scikit-learn pipelines: `PriceFeatures`, `Returns`,
  `LaggedReturns`, `MovingAverageRatio`, `Volatility`, `RSI`, `ZScore`.
- Positions: `to_positions` (NaN to 0, clip to [0, 1]), `hold_at_least` (a minimum holding
  time against churn) and `check_positions`.
- Scoring: `backtest_sharpe`, `strategy_returns`, `sharpe_ratio`.
- Reinforcement learning: `TradingEnv`, a Gymnasium-style environment over a price frame.

Your code may import only this SDK and a set of allowed modules (numpy, pandas,
scikit-learn, scipy, math, statistics and a few more from the standard library); it runs in
a sandbox without network or file access.
"""

from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from app.lab.sdk.base import ALGORITHM_TYPES, Algorithm
from app.lab.sdk.features import (
    ema,
    forward_returns,
    lag,
    log_returns,
    price,
    returns,
    rolling_std,
    rsi,
    sma,
    spread,
    volatility,
    zscore,
)
from app.lab.sdk.params import Bool, Choice, Float, Int, Param, ParameterError
from app.lab.sdk.positions import PositionsError, check_positions, hold_at_least, to_positions
from app.lab.sdk.rl import Box, Discrete, TradingEnv
from app.lab.sdk.scoring import (
    DEFAULT_FEE,
    backtest_sharpe,
    bars_per_year,
    sharpe_ratio,
    strategy_returns,
)
from app.lab.sdk.transformers import (
    RSI,
    LaggedReturns,
    MovingAverageRatio,
    PriceFeatures,
    Returns,
    Volatility,
    ZScore,
)

__all__ = [
    "ALGORITHM_TYPES",
    "DEFAULT_FEE",
    "RSI",
    "Algorithm",
    "Bool",
    "Box",
    "Choice",
    "Discrete",
    "Float",
    "Int",
    "LaggedReturns",
    "MovingAverageRatio",
    "NotFittedError",
    "Param",
    "ParameterError",
    "PositionsError",
    "PriceFeatures",
    "Returns",
    "TradingEnv",
    "Volatility",
    "ZScore",
    "backtest_sharpe",
    "bars_per_year",
    "check_is_fitted",
    "check_positions",
    "ema",
    "forward_returns",
    "hold_at_least",
    "lag",
    "log_returns",
    "price",
    "returns",
    "rolling_std",
    "rsi",
    "sharpe_ratio",
    "sma",
    "spread",
    "strategy_returns",
    "to_positions",
    "volatility",
    "zscore",
]
