"""The Lab's backtest engine: trusted code that turns target positions into fills, equity,
trades and metrics. No database, no user code (see `market_data` for the price loader).

    market = prepare_market(price_frame)           # once per data set
    config = BacktestConfig.with_defaults(10_000)  # fee from settings.COINSPOT_MARKET_FEE
    result = run_backtest(market, targets, config)
    metrics = compute_metrics(result)
    json_ready = {"result": result.to_dict(series_max_points=2000), "metrics": metrics.to_dict()}
"""

from app.lab.engine.backtest import (
    buy_and_hold_equity,
    buy_and_hold_return,
    run_backtest,
    target_array,
)
from app.lab.engine.fills import Costs, Fill, check_costs, rebalance
from app.lab.engine.frame import FIELDS, PERIODS_PER_YEAR, build_price_frame, frame_coins
from app.lab.engine.market import Market, market_from_arrays, prepare_market
from app.lab.engine.metrics import Metrics, compute_metrics, drawdown
from app.lab.engine.results import (
    BacktestConfig,
    BacktestResult,
    FillTable,
    RoundTrip,
    Trade,
    TripTable,
)

__all__ = [
    "FIELDS",
    "PERIODS_PER_YEAR",
    "BacktestConfig",
    "BacktestResult",
    "Costs",
    "Fill",
    "FillTable",
    "Market",
    "Metrics",
    "RoundTrip",
    "Trade",
    "TripTable",
    "build_price_frame",
    "buy_and_hold_equity",
    "buy_and_hold_return",
    "check_costs",
    "compute_metrics",
    "drawdown",
    "frame_coins",
    "market_from_arrays",
    "prepare_market",
    "rebalance",
    "run_backtest",
    "target_array",
]
