"""The backtest engine on hand-computed cases: timing of fills, prices, fees, limits, gaps,
several coins, buy-and-hold and the JSON form of a result."""

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from app.core.config import settings
from app.lab.engine import (
    BacktestConfig,
    build_price_frame,
    buy_and_hold_equity,
    buy_and_hold_return,
    prepare_market,
    run_backtest,
)
from app.lab.engine.synthetic import synthetic_price_frame

NAN = float("nan")


def frame(bid: list[float], ask: list[float], coin: str = "BTC") -> pd.DataFrame:
    index = pd.date_range("2024-03-01", periods=len(bid), freq="5min", tz="UTC")
    return build_price_frame(index, {coin: {"bid": bid, "ask": ask, "last": bid}})


def test_one_buy_one_sell_by_hand() -> None:
    prices = frame([99, 99, 109, 119], [101, 101, 111, 121])
    config = BacktestConfig(1010.0, fee_rate=0.01)
    result = run_backtest(prices, [1, 1, 0, 0], config)

    # Decision at bar 0 fills at bar 1: all 1010 AUD -> notional 1000 + fee 10 at ask 101.
    qty = 1000 / 101
    # Decision at bar 2 fills at bar 3 at bid 119, less 1%.
    proceeds = qty * 119 * 0.99
    assert result.equity.tolist() == pytest.approx([1010, qty * 99, qty * 109, proceeds])
    assert result.cash.tolist() == pytest.approx([1010, 0, 0, proceeds])
    assert result.holdings[:, 0].tolist() == pytest.approx([0, qty, qty, 0])

    buy, sell = result.trades
    assert (buy.bar, buy.side, buy.price, buy.coin) == (1, "buy", 101.0, "BTC")
    assert buy.quantity == pytest.approx(qty)
    assert buy.fee == pytest.approx(10.0)
    assert buy.time == prices.index[1].to_pydatetime()
    assert (sell.bar, sell.side, sell.price) == (3, "sell", 119.0)
    assert sell.fee == pytest.approx(qty * 119 * 0.01)
    assert sell.position == 0.0
    assert result.fees_paid == pytest.approx(10 + qty * 119 * 0.01)

    (trip,) = result.round_trips
    assert (trip.entry_bar, trip.exit_bar, trip.fills, trip.open) == (1, 3, 2, False)
    assert trip.cost == pytest.approx(1010.0)
    assert trip.pnl == pytest.approx(proceeds - 1010)
    assert trip.return_on_cost == pytest.approx(proceeds / 1010 - 1)


def test_partial_targets_rebalance_by_hand() -> None:
    # No fee, no spread: 0.5 at bar 1 (price 100), 1.0 at bar 2 (200), 0.25 at bar 3 (100).
    prices = frame([100, 100, 200, 100], [100, 100, 200, 100])
    result = run_backtest(prices, [0.5, 1.0, 0.25, 0.25], BacktestConfig(1000.0, 0.0))
    # bar 1: buy 5 (500 AUD); bar 2: equity 1500, buy 2.5 with the last 500;
    # bar 3: equity 750, keep 187.5 -> sell 5.625 for 562.5.
    assert result.holdings[:, 0].tolist() == pytest.approx([0, 5, 7.5, 1.875])
    assert result.cash.tolist() == pytest.approx([1000, 500, 0, 562.5])
    assert result.equity.tolist() == pytest.approx([1000, 1000, 1500, 750])
    assert [t.side for t in result.trades] == ["buy", "buy", "sell"]
    (trip,) = result.round_trips
    assert trip.open
    assert trip.exit_time is None
    # Open trip: 1000 paid, 562.5 back plus 1.875 marked at 100.
    assert trip.pnl == pytest.approx(562.5 + 187.5 - 1000)


def test_unchanged_target_does_not_rebalance_for_drift() -> None:
    prices = frame([100, 100, 150, 50, 100], [100, 100, 150, 50, 100])
    result = run_backtest(prices, [0.5] * 5, BacktestConfig(1000.0, 0.0))
    assert len(result.trades) == 1
    assert result.holdings[:, 0].tolist() == pytest.approx([0, 5, 5, 5, 5])


def test_minimum_order_size_skips_small_rebalances() -> None:
    prices = frame([100] * 5, [100] * 5)
    config = BacktestConfig(1000.0, 0.0, min_order_aud=50.0)
    # 0.04 -> 40 AUD: skipped; 0.10 -> 100 AUD: filled; 0.12 -> +20 AUD: skipped.
    result = run_backtest(prices, [0.04, 0.10, 0.12, 0.12, 0.12], config)
    ((trade_bar, notional),) = [(t.bar, t.notional) for t in result.trades]
    assert trade_bar == 2
    assert notional == pytest.approx(100.0)
    assert result.holdings[-1, 0] == pytest.approx(1.0)


def test_cash_limit_no_leverage() -> None:
    # Price falls after a half buy; the target of 1.0 can only use the cash left.
    prices = frame([100, 100, 50, 50], [100, 100, 50, 50])
    result = run_backtest(prices, [0.5, 1.0, 1.0, 1.0], BacktestConfig(1000.0, 0.001))
    assert result.cash.min() >= 0
    assert result.cash[-1] == 0.0
    # bar 1: 500 notional + 0.5 fee -> 5 coins, 499.5 cash left. bar 2: equity 749.5, so the
    # order is 499.5 notional + 0.4995 fee, more than the cash: it shrinks to 499.5 / 1.001.
    assert result.holdings[-1, 0] == pytest.approx(5 + (499.5 / 1.001) / 50)


def test_slippage_applies_to_fill_prices() -> None:
    prices = frame([100, 100, 100, 100], [102, 102, 102, 102])
    result = run_backtest(prices, [1, 1, 0, 0], BacktestConfig(1000.0, 0.0, slippage_bps=100))
    buy, sell = result.trades
    assert buy.price == pytest.approx(102 * 1.01)
    assert sell.price == pytest.approx(100 * 0.99)
    assert result.equity[-1] == pytest.approx(1000 / (102 * 1.01) * 100 * 0.99)


def test_fill_waits_for_the_next_bar_with_a_price() -> None:
    # Bar 1 is a gap: the decision at bar 0 fills at bar 2; holdings are marked at the last
    # known bid through a gap.
    prices = frame([100, NAN, 110, NAN, 90], [100, NAN, 110, NAN, 90])
    result = run_backtest(prices, [1, 1, 0, 0, 0], BacktestConfig(1000.0, 0.0))
    assert [(t.bar, t.side) for t in result.trades] == [(2, "buy"), (4, "sell")]
    qty = 1000 / 110
    assert result.equity.tolist() == pytest.approx([1000, 1000, 1000, 1000, qty * 90])


def test_no_fill_on_a_forward_filled_bar_it_moves_to_the_next_real_bar() -> None:
    # Bars 1-2 repeat bar 0's prices (forward-filled): a decision at bar 0 must not buy at
    # bar 0's stale ask on bar 1; it fills at bar 3, the next bar with a real price.
    prices = frame([100, 100, 100, 120, 120, 120], [101, 101, 101, 121, 121, 121])
    prices[("BTC", "filled")] = [0.0, 1.0, 1.0, 0.0, 1.0, 0.0]
    result = run_backtest(prices, [1, 1, 1, 0, 0, 0], BacktestConfig(1210.0, 0.0))
    assert [(t.bar, t.side, t.price) for t in result.trades] == [
        (3, "buy", 121.0),
        (5, "sell", 120.0),  # the decision at bar 3 skips the filled bar 4
    ]
    market = prepare_market(prices)
    assert market.filled[:, 0].tolist() == [False, True, True, False, True, False]
    assert market.tradable[:, 0].tolist() == [True, False, False, True, False, True]
    # Filled bars are still marked (at the last real bid): equity moves with bar 4's mark.
    qty = 1210 / 121
    assert result.equity.tolist() == pytest.approx(
        [1210, 1210, 1210, qty * 120, qty * 120, qty * 120]
    )


def test_the_data_service_flags_filled_bars_and_the_engine_waits_past_them() -> None:
    from datetime import UTC, datetime, timedelta

    from app.lab.engine.market_data import frame_from_rows

    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows = [
        (start + timedelta(minutes=5 * i), "BTC", bid, bid + 1, bid)
        for i, bid in ((0, 100.0), (1, 100.0), (4, 130.0), (5, 130.0))
    ]
    history = frame_from_rows(rows, ["BTC"], start, start + timedelta(minutes=25), ffill_limit=3)
    assert history.frame[("BTC", "filled")].tolist() == [0, 0, 1, 1, 0, 0]
    # Decision at bar 1 (the last real bar before the gap): the fill is at bar 4's ask, not at
    # the repeated 101 of bars 2-3.
    result = run_backtest(history.frame, [0, 1, 1, 1, 1, 1], BacktestConfig(1000.0, 0.0))
    ((bar, side, price),) = [(t.bar, t.side, t.price) for t in result.trades]
    assert (bar, side, price) == (4, "buy", 131.0)


def test_only_the_latest_decision_before_a_gap_ends_counts() -> None:
    prices = frame([100, NAN, NAN, 100], [100, NAN, NAN, 100])
    # 1 then back to 0 during the gap: nothing to do when trading resumes.
    result = run_backtest(prices, [0, 1, 0, 0], BacktestConfig(1000.0, 0.0))
    assert result.trades == ()
    result = run_backtest(prices, [0, 1, 0.5, 0.5], BacktestConfig(1000.0, 0.0))
    ((trade_bar, notional),) = [(t.bar, t.notional) for t in result.trades]
    assert trade_bar == 3
    assert notional == pytest.approx(500.0)


def test_nan_target_keeps_the_previous_decision() -> None:
    prices = frame([100] * 6, [100] * 6)
    result = run_backtest(prices, [NAN, NAN, 1, NAN, 0, NAN], BacktestConfig(1000.0, 0.0))
    assert [(t.bar, t.side) for t in result.trades] == [(3, "buy"), (5, "sell")]


def test_last_bar_decision_is_never_filled() -> None:
    prices = frame([100] * 3, [100] * 3)
    result = run_backtest(prices, [0, 0, 1], BacktestConfig(1000.0, 0.0))
    assert result.trades == ()
    assert result.equity.tolist() == [1000.0] * 3


def test_several_coins_trade_in_their_own_sleeves() -> None:
    index = pd.date_range("2024-03-01", periods=3, freq="5min", tz="UTC")
    prices = build_price_frame(
        index,
        {
            "ETH": {"bid": [10, 10, 20], "ask": [10, 10, 20], "last": [10, 10, 20]},
            "BTC": {"bid": [100, 100, 50], "ask": [100, 100, 50], "last": [100, 100, 50]},
        },
    )
    targets = pd.DataFrame({"BTC": [1.0, 1, 1], "eth": [1.0, 1, 1]}, index=index)
    config = BacktestConfig(1000.0, 0.0, allocation={"eth": 0.5, "BTC": 0.25})
    result = run_backtest(prices, targets, config)
    assert result.coins == ("ETH", "BTC")
    assert result.allocation == {"ETH": 0.5, "BTC": 0.25}
    # ETH: 500 AUD -> 50 coins; BTC: 250 AUD -> 2.5 coins; 250 AUD stays in cash.
    assert result.holdings[-1].tolist() == pytest.approx([50, 2.5])
    assert result.cash.tolist() == pytest.approx([1000, 250, 250])
    assert result.equity.tolist() == pytest.approx([1000, 1000, 250 + 50 * 20 + 2.5 * 50])
    assert [t.coin for t in result.trades] == ["ETH", "BTC"]


def test_default_allocation_is_equal_shares() -> None:
    prices = synthetic_price_frame(["A", "B", "C", "D"], 50, seed=3)
    result = run_backtest(prices, np.ones((50, 4)), BacktestConfig(1000.0, 0.0))
    assert result.allocation == dict.fromkeys("ABCD", 0.25)
    assert [t.notional for t in result.trades] == pytest.approx([250.0] * 4)


def test_buy_and_hold_through_the_engine_equals_the_closed_form() -> None:
    prices = synthetic_price_frame(["BTC"], 2000, seed=11, spread_bps=30)
    cash, fee, slip = 5000.0, 0.001, 7.0
    config = BacktestConfig(cash, fee, slippage_bps=slip)
    result = run_backtest(prices, np.ones(2000), config)

    bid = prices[("BTC", "bid")].to_numpy()
    ask = prices[("BTC", "ask")].to_numpy()
    qty = cash / (ask[1] * (1 + slip / 1e4) * (1 + fee))
    expected = np.concatenate(([cash], qty * bid[1:]))
    np.testing.assert_allclose(result.equity, expected, rtol=1e-12)
    np.testing.assert_allclose(buy_and_hold_equity(prices, config), expected, rtol=1e-12)
    assert buy_and_hold_return(prices, config) == pytest.approx(qty * bid[-1] / cash - 1, 1e-12)


def test_buy_and_hold_with_idle_cash_and_a_late_coin() -> None:
    index = pd.date_range("2024-03-01", periods=4, freq="5min", tz="UTC")
    prices = build_price_frame(
        index,
        {
            "A": {"bid": [1, 1, 2, 4], "ask": [1, 1, 2, 4], "last": [1, 1, 2, 4]},
            "B": {"bid": [NAN, NAN, 5, 10], "ask": [NAN, NAN, 5, 10], "last": [NAN] * 4},
        },
    )
    config = BacktestConfig(100.0, 0.0, allocation={"A": 0.5, "B": 0.3})
    # A: 50 AUD at 1 (bar 1); B: 30 AUD at 5 (bar 2, its first price); 20 AUD idle.
    expected = [100, 100, 20 + 50 * 2 + 30, 20 + 50 * 4 + 6 * 10]
    assert buy_and_hold_equity(prices, config).tolist() == pytest.approx(expected)
    assert buy_and_hold_return(prices, config) == pytest.approx(280 / 100 - 1)


def test_fee_defaults_to_the_coinspot_market_fee() -> None:
    config = BacktestConfig.with_defaults(1000)
    assert config.fee_rate == settings.COINSPOT_MARKET_FEE
    assert isinstance(config.starting_cash, float)


def test_a_prepared_market_gives_the_same_result() -> None:
    prices = synthetic_price_frame(["X"], 500, seed=5)
    rng = np.random.default_rng(0)
    targets = rng.choice([0.0, 0.3, 1.0], size=500)
    config = BacktestConfig(1000.0, 0.002)
    a = run_backtest(prices, targets, config)
    b = run_backtest(prepare_market(prices), targets, config)
    np.testing.assert_array_equal(a.equity, b.equity)
    assert a.trades == b.trades


def test_result_is_plain_json_with_none_for_nan() -> None:
    prices = frame([100, NAN, 110, 120], [100, NAN, 110, 120])
    result = run_backtest(prices, [1, 1, 1, 0], BacktestConfig(1000.0, 0.001))
    data = result.to_dict()
    text = json.dumps(data, allow_nan=False)  # raises on NaN/inf
    assert json.loads(text)["trades"][0]["side"] == "buy"
    assert data["series"]["time"][0] == "2024-03-01T00:00:00+00:00"
    assert len(data["series"]["equity"]) == 4
    assert data["round_trips"][0]["open"] is True
    assert data["config"]["fee_rate"] == 0.001


def test_to_dict_thins_long_series_keeping_the_ends() -> None:
    prices = synthetic_price_frame(["X"], 1001, seed=1)
    result = run_backtest(prices, np.zeros(1001), BacktestConfig(1000.0, 0.0))
    series = result.to_dict(series_max_points=100)["series"]
    assert 2 <= len(series["time"]) <= 100
    assert series["time"][0] == prices.index[0].isoformat()
    assert series["time"][-1] == prices.index[-1].isoformat()


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        ([0, 1.5, 0, 0], "in \\[0, 1\\]"),
        ([0, -0.5, 0, 0], "in \\[0, 1\\]"),
        ([0, math.inf, 0, 0], "in \\[0, 1\\]"),
        ([0, 1, 0], "shape"),
        (["a", "b", "c", "d"], "numbers"),
    ],
)
def test_bad_targets_are_refused_readably(targets: list[Any], message: str) -> None:
    prices = frame([100] * 4, [100] * 4)
    with pytest.raises(ValueError, match=message):
        run_backtest(prices, targets, BacktestConfig(1000.0, 0.0))


def test_targets_on_another_index_are_refused() -> None:
    prices = frame([100] * 4, [100] * 4)
    shifted = pd.Series([1.0] * 4, index=prices.index + pd.Timedelta(minutes=5))
    with pytest.raises(ValueError, match="same timestamps"):
        run_backtest(prices, shifted, BacktestConfig(1000.0, 0.0))


@pytest.mark.parametrize(
    ("bid", "message"),
    [([100, 0, 100], "positive"), ([100, -1, 100], "positive"), ([100, math.inf, 100], "positive")],
)
def test_bad_prices_are_refused_readably(bid: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_backtest(frame(bid, [100] * 3), [0, 0, 0], BacktestConfig(1000.0, 0.0))


def test_bad_frames_and_configs_are_refused_readably() -> None:
    index = pd.date_range("2024-03-01", periods=3, freq="5min")  # naive
    flat = pd.DataFrame({"bid": [1.0] * 3, "ask": [1.0] * 3}, index=index)
    with pytest.raises(ValueError, match="MultiIndex"):
        run_backtest(flat, [0, 0, 0], BacktestConfig(1000.0, 0.0))
    with pytest.raises(ValueError, match="timezone"):
        build_price_frame(index, {"X": {"bid": [1] * 3, "ask": [1] * 3, "last": [1] * 3}})
    with pytest.raises(ValueError, match="at least 2 bars"):
        run_backtest(frame([1], [1]), [0], BacktestConfig(1000.0, 0.0))
    with pytest.raises(ValueError, match="starting cash"):
        BacktestConfig(0.0, 0.0)
    with pytest.raises(ValueError, match="fee rate"):
        BacktestConfig(100.0, 1.5)
    prices = frame([100] * 3, [100] * 3)
    for allocation, message in [
        ({"BTC": 1.2}, "more than 1"),
        ({"BTC": -0.1}, ">= 0"),
        ({"ETH": 0.5, "BTC": 0.5}, "without prices"),
    ]:
        with pytest.raises(ValueError, match=message):
            run_backtest(prices, [0, 0, 0], BacktestConfig(100.0, 0.0, allocation=allocation))
