"""Metrics against independent formulas on known equity curves and trade sequences.

Each expected value is written out by hand or computed here with the `statistics` module and
plain loops, not with the code under test. The curves are made with the engine: with no fee
and no spread, holding a coin bought at the bid of bar 1 with all the cash makes the equity
equal the bid (when starting cash == bid at bar 1).
"""

import dataclasses
import json
import math
import statistics
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from app.lab.engine import (
    PERIODS_PER_YEAR,
    BacktestConfig,
    BacktestResult,
    build_price_frame,
    compute_metrics,
    drawdown,
    run_backtest,
)

FIVE_MINUTES_IN_DAYS = 5 / (24 * 60)


def held(curve: list[float], freq: str = "5min") -> BacktestResult:
    """A run whose equity is `curve` (curve[0] == curve[1]): all in from bar 1, no costs."""
    index = pd.date_range("2024-01-01", periods=len(curve), freq=freq, tz="UTC")
    prices = build_price_frame(index, {"X": {"bid": curve, "ask": curve, "last": curve}})
    result = run_backtest(prices, np.ones(len(curve)), BacktestConfig(curve[0], 0.0))
    np.testing.assert_allclose(result.equity, curve)
    return result


def test_five_minute_bars_annualise_over_365_days() -> None:
    assert PERIODS_PER_YEAR == 365 * 288 == 105_120


def test_known_curve_returns_risk_and_drawdown() -> None:
    curve = [100.0, 100, 120, 90, 110, 125, 130]
    m = compute_metrics(held(curve))
    returns = [b / a - 1 for a, b in zip(curve, curve[1:], strict=False)]
    scale = math.sqrt(365 * 288)

    assert m.total_return == pytest.approx(0.3)
    assert m.final_equity == pytest.approx(130)
    assert m.bars == 7
    assert m.years == pytest.approx(30 / (60 * 24 * 365))
    assert m.annualised_volatility == pytest.approx(statistics.stdev(returns) * scale)
    assert m.sharpe == pytest.approx(statistics.mean(returns) / statistics.stdev(returns) * scale)
    downside = math.sqrt(sum(min(r, 0) ** 2 for r in returns) / len(returns))
    assert downside == pytest.approx(0.25 / math.sqrt(6))
    assert m.sortino == pytest.approx(statistics.mean(returns) / downside * scale)

    # Peak 120 at bar 2, trough 90 at bar 3, back to >= 120 at bar 5 (125).
    assert m.max_drawdown == pytest.approx(0.25)
    start = pd.Timestamp("2024-01-01", tz="UTC")
    assert m.max_drawdown_peak == start + timedelta(minutes=10)
    assert m.max_drawdown_trough == start + timedelta(minutes=15)
    assert m.max_drawdown_recovery == start + timedelta(minutes=25)
    assert m.max_drawdown_duration_days == pytest.approx(3 * FIVE_MINUTES_IN_DAYS)
    assert m.recovery_days == pytest.approx(2 * FIVE_MINUTES_IN_DAYS)
    assert m.longest_drawdown_days == pytest.approx(3 * FIVE_MINUTES_IN_DAYS)

    # Half an hour compounding to a year overflows: no CAGR, so no Calmar either.
    assert m.cagr is None
    assert m.calmar is None

    assert m.trades == 1
    assert m.round_trips == 0  # still open
    assert m.win_rate is None and m.profit_factor is None
    assert m.exposure_time == pytest.approx(6 / 7)
    assert m.average_exposure == pytest.approx(6 / 7)
    assert m.turnover == pytest.approx(100 / statistics.mean(curve))
    assert m.fees_paid == 0
    assert m.buy_and_hold_return == pytest.approx(0.3)


def test_cagr_and_calmar_over_whole_years() -> None:
    # Bars 365 days apart: three years from bar 0 to bar 3.
    m = compute_metrics(held([100.0, 100, 80, 121], freq="365D"))
    assert m.years == pytest.approx(3.0)
    assert m.total_return == pytest.approx(0.21)
    assert m.cagr == pytest.approx(1.21 ** (1 / 3) - 1)
    assert m.max_drawdown == pytest.approx(0.2)
    assert m.calmar == pytest.approx((1.21 ** (1 / 3) - 1) / 0.2)
    assert m.max_drawdown_duration_days == pytest.approx(2 * 365)  # peak bar 1 -> bar 3
    assert m.recovery_days == pytest.approx(365)


def test_round_trip_statistics() -> None:
    # Three trips, no costs: 1000 -> 1100 (+100), 1100 -> 1045 (-55), 1045 -> 1254 (+209).
    bid = [100.0, 100, 110, 100, 95, 100, 120, 120]
    index = pd.date_range("2024-01-01", periods=len(bid), freq="5min", tz="UTC")
    prices = build_price_frame(index, {"X": {"bid": bid, "ask": bid, "last": bid}})
    targets = [1, 0, 1, 0, 1, 0, 0, 0]
    result = run_backtest(prices, targets, BacktestConfig(1000.0, 0.0))
    m = compute_metrics(result)

    assert [round(t.pnl, 9) for t in result.round_trips] == [100, -55, 209]
    assert m.trades == 6
    assert m.round_trips == 3
    assert m.win_rate == pytest.approx(2 / 3)
    assert m.profit_factor == pytest.approx((100 + 209) / 55)
    assert m.average_win == pytest.approx((100 + 209) / 2)
    assert m.average_loss == pytest.approx(-55)
    equity = [1000, 1000, 1100, 1100, 1045, 1045, 1254, 1254]
    np.testing.assert_allclose(result.equity, equity)
    assert m.exposure_time == pytest.approx(3 / 8)
    traded = 1000 + 1100 + 1100 + 1045 + 1045 + 1254
    assert m.turnover == pytest.approx(traded / statistics.mean(equity))
    assert m.total_return == pytest.approx(0.254)
    # Buying at bar 1 (100) and holding to the last bid (120).
    assert m.buy_and_hold_return == pytest.approx(0.2)


def test_fees_paid_and_buy_and_hold_with_costs() -> None:
    bid = [100.0, 100, 105, 110]
    ask = [101.0, 101, 106, 111]
    index = pd.date_range("2024-01-01", periods=4, freq="5min", tz="UTC")
    prices = build_price_frame(index, {"X": {"bid": bid, "ask": ask, "last": bid}})
    result = run_backtest(prices, [1, 0, 0, 0], BacktestConfig(1000.0, 0.01))
    m = compute_metrics(result)
    qty = 1000 / 1.01 / 101
    assert m.fees_paid == pytest.approx(1000 - 1000 / 1.01 + qty * 105 * 0.01)
    assert m.buy_and_hold_return == pytest.approx(qty * 110 / 1000 - 1)


def test_risk_free_rate_lowers_sharpe_and_sortino() -> None:
    curve = [100.0, 100, 101, 99, 102, 101.5, 103]
    m = compute_metrics(held(curve), risk_free_rate=0.05)
    returns = [b / a - 1 for a, b in zip(curve, curve[1:], strict=False)]
    per_bar = 1.05 ** (1 / (365 * 288)) - 1
    excess = [r - per_bar for r in returns]
    scale = math.sqrt(365 * 288)
    assert m.sharpe == pytest.approx(statistics.mean(excess) / statistics.stdev(returns) * scale)
    downside = math.sqrt(sum(min(e, 0) ** 2 for e in excess) / len(excess))
    assert m.sortino == pytest.approx(statistics.mean(excess) / downside * scale)


def test_deepest_and_longest_drawdowns_differ() -> None:
    # Deepest: 10% from the peak at bar 1 to bar 2, recovered at bar 3.
    # Longest: from the peak 101 at bar 4 to the end (bar 10) without recovering.
    curve = [100.0, 100, 90, 100, 101, 100, 99, 98, 97, 96, 95.5]
    m = compute_metrics(held(curve))
    assert m.max_drawdown == pytest.approx(0.1)
    assert m.max_drawdown_duration_days == pytest.approx(2 * FIVE_MINUTES_IN_DAYS)
    assert m.recovery_days == pytest.approx(FIVE_MINUTES_IN_DAYS)
    assert m.longest_drawdown_days == pytest.approx(6 * FIVE_MINUTES_IN_DAYS)


def test_unrecovered_drawdown_lasts_to_the_end() -> None:
    curve = [100.0, 100, 110, 80, 90, 100]
    m = compute_metrics(held(curve))
    assert m.max_drawdown == pytest.approx(30 / 110)
    assert m.max_drawdown_recovery is None
    assert m.recovery_days is None
    assert m.max_drawdown_duration_days == pytest.approx(3 * FIVE_MINUTES_IN_DAYS)


def test_drawdown_matches_a_plain_loop_on_a_random_walk() -> None:
    rng = np.random.default_rng(42)
    equity = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 5000)))
    peak, worst, worst_at = -math.inf, 0.0, 0
    for i, value in enumerate(equity.tolist()):
        peak = max(peak, value)
        if (peak - value) / peak > worst:
            worst, worst_at = (peak - value) / peak, i
    dd = drawdown(equity)
    assert dd.max_drawdown == pytest.approx(worst)
    assert dd.trough == worst_at
    assert dd.peak is not None
    assert equity[dd.peak] == equity[: worst_at + 1].max()


def test_a_flat_run_has_no_ratios_and_serialises() -> None:
    bid = [100.0, 101, 99, 100]
    index = pd.date_range("2024-01-01", periods=4, freq="5min", tz="UTC")
    prices = build_price_frame(index, {"X": {"bid": bid, "ask": bid, "last": bid}})
    m = compute_metrics(run_backtest(prices, np.zeros(4), BacktestConfig(1000.0, 0.0)))
    assert m.total_return == 0
    assert m.annualised_volatility == 0
    assert m.sharpe is None and m.sortino is None
    assert m.max_drawdown == 0 and m.max_drawdown_peak is None
    assert m.max_drawdown_duration_days == 0 and m.longest_drawdown_days == 0
    assert m.trades == 0 and m.turnover == 0 and m.exposure_time == 0
    assert m.buy_and_hold_return == pytest.approx(100 / 101 - 1)  # bought at bar 1 (101)
    data = json.loads(json.dumps(m.to_dict(), allow_nan=False))
    assert data["sharpe"] is None
    assert data["start"] == "2024-01-01T00:00:00+00:00"


def test_nan_and_infinity_become_null_in_json() -> None:
    m = compute_metrics(held([100.0, 100, 110]))
    odd = dataclasses.replace(m, sharpe=math.inf, sortino=math.nan, profit_factor=-math.inf)
    data = odd.to_dict()
    assert data["sharpe"] is None and data["sortino"] is None and data["profit_factor"] is None
    json.dumps(data, allow_nan=False)
