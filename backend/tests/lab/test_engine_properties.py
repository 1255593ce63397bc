"""Properties of the engine on random markets, targets and costs (hypothesis):

- cash and holdings never go negative, and equity == cash + holdings * bid at every bar;
- the engine agrees exactly with a plain per-bar reference loop built on `fills.rebalance`
  (the rule the Floor will use), so skipping to the bars where decisions change loses nothing;
- the money adds up: cash moves only by fills, fills happen only on priced bars at the
  ask/bid with slippage, fees are the fee rate times notional, orders respect the minimum.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.lab.engine import BacktestConfig, Fill, build_price_frame, rebalance, run_backtest

NAN = float("nan")


@dataclass
class Case:
    prices: pd.DataFrame
    targets: np.ndarray
    config: BacktestConfig


@st.composite
def cases(draw: st.DrawFn) -> Case:
    n = draw(st.integers(2, 40))
    k = draw(st.integers(1, 3))
    coins = [f"C{i}" for i in range(k)]
    index = pd.date_range("2024-01-01", periods=n, freq="5min", tz="UTC")
    data = {}
    for coin in coins:
        bid = np.array(draw(st.lists(st.floats(0.01, 1e5), min_size=n, max_size=n)))
        spread = np.array(draw(st.lists(st.floats(0.0, 0.05), min_size=n, max_size=n)))
        ask = bid * (1 + spread)
        gaps = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
        if draw(st.booleans()):
            gaps[:] = False  # many cases without gaps
        bid[gaps] = NAN
        ask[gaps] = NAN
        data[coin] = {"bid": bid, "ask": ask, "last": bid}
    level = st.one_of(st.sampled_from([0.0, 0.25, 0.5, 1.0, NAN]), st.floats(0.0, 1.0))
    targets = np.array(draw(st.lists(level, min_size=n * k, max_size=n * k))).reshape(n, k)
    weights = draw(st.lists(st.floats(0.0, 1.0), min_size=k, max_size=k))
    total = sum(weights)
    allocation = None
    if total > 1e-3 and draw(st.booleans()):
        scale = draw(st.floats(0.1, 1.0)) / total
        allocation = {c: w * scale for c, w in zip(coins, weights, strict=True)}
    config = BacktestConfig(
        starting_cash=draw(st.floats(1.0, 1e6)),
        fee_rate=draw(st.sampled_from([0.0, 0.001, 0.01, 0.05])),
        slippage_bps=draw(st.sampled_from([0.0, 5.0, 100.0])),
        min_order_aud=draw(st.sampled_from([0.0, 1.0, 100.0])),
        allocation=allocation,
    )
    return Case(build_price_frame(index, data), targets, config)


def reference(case: Case) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, Fill[float]]]]:
    """The rules, spelled out bar by bar: at every bar with a price, act on the latest
    decision made before it if it differs from the last decision acted on."""
    prices, targets, config = case.prices, case.targets, case.config
    coins = list(dict.fromkeys(prices.columns.get_level_values(0)))
    n, k = targets.shape
    shares = config.allocation
    weights = [1 / k] * k if shares is None else [shares[c] for c in coins]
    cash_out = np.zeros((n, k))
    qty_out = np.zeros((n, k))
    fills: list[tuple[int, int, Fill[float]]] = []
    for c, coin in enumerate(coins):
        bid = prices[(coin, "bid")].to_numpy()
        ask = prices[(coin, "ask")].to_numpy()
        cash, qty = config.starting_cash * weights[c], 0.0
        decision, acted = 0.0, 0.0
        for t in range(n):
            if t > 0 and not np.isnan(targets[t - 1, c]):
                decision = float(targets[t - 1, c])
            if t > 0 and not np.isnan(bid[t]) and decision != acted:
                acted = decision
                fill = rebalance(
                    cash, qty, decision, float(bid[t]), float(ask[t]),
                    config.fee_rate, config.slippage_bps, config.min_order_aud,
                )  # fmt: skip
                if fill is not None:
                    cash, qty = fill.cash, fill.holdings
                    fills.append((t, c, fill))
            cash_out[t, c], qty_out[t, c] = cash, qty
    return cash_out, qty_out, fills


@settings(max_examples=250, deadline=None)
@given(cases())
def test_engine_matches_the_per_bar_reference(case: Case) -> None:
    result = run_backtest(case.prices, case.targets, case.config)
    cash, qty, fills = reference(case)
    unallocated = case.config.starting_cash - sum(result.allocation.values()) * (
        case.config.starting_cash
    )
    np.testing.assert_array_equal(result.holdings, qty)
    np.testing.assert_allclose(
        result.cash,
        cash.sum(axis=1) + unallocated,
        rtol=1e-12,
        atol=1e-12 * case.config.starting_cash,
    )
    fills.sort(key=lambda f: (f[0], f[1]))
    assert len(result.trades) == len(fills)
    for trade, (bar, c, fill) in zip(result.trades, fills, strict=True):
        assert (trade.bar, trade.coin) == (bar, result.coins[c])
        assert (trade.side, trade.quantity, trade.price) == (fill.side, fill.quantity, fill.price)
        assert (trade.fee, trade.position, trade.cash) == (fill.fee, fill.holdings, fill.cash)


@settings(max_examples=250, deadline=None)
@given(cases())
def test_invariants(case: Case) -> None:
    config = case.config
    result = run_backtest(case.prices, case.targets, config)
    market = result.market

    # Never negative.
    assert (result.cash >= 0).all()
    assert (result.holdings >= 0).all()

    # Equity is cash plus holdings marked at the (last known) bid, at every bar.
    bid = np.column_stack([case.prices[(c, "bid")].to_numpy() for c in result.coins])
    marked = pd.DataFrame(bid).ffill().to_numpy()
    value = np.where(result.holdings > 0, result.holdings * marked, 0.0)
    np.testing.assert_allclose(result.equity, result.cash + value.sum(axis=1), rtol=1e-9, atol=1e-9)
    gapless = ~np.isnan(bid).any(axis=1)
    np.testing.assert_allclose(
        result.equity[gapless],
        result.cash[gapless] + (result.holdings * bid)[gapless].sum(axis=1),
        rtol=1e-9,
        atol=1e-9,
    )
    assert result.equity[0] == pytest.approx(config.starting_cash)

    # Fills: only on priced bars after bar 0, at ask/bid with slippage, fee on notional.
    slip = config.slippage_bps / 1e4
    for trade in result.trades:
        c = result.coins.index(trade.coin)
        assert trade.bar >= 1 and market.tradable[trade.bar, c]
        if trade.side == "buy":
            assert trade.price == pytest.approx(market.ask[trade.bar, c] * (1 + slip))
        else:
            assert trade.price == pytest.approx(market.bid[trade.bar, c] * (1 - slip))
        assert trade.notional == pytest.approx(trade.quantity * trade.price)
        assert trade.fee == pytest.approx(trade.notional * config.fee_rate, rel=1e-9, abs=1e-9)
        assert trade.notional >= config.min_order_aud
        assert trade.notional > 0

    # Cash moves only by fills: final cash = start - buys (with fees) + sells (less fees).
    flows = [
        -(t.notional + t.fee) if t.side == "buy" else t.notional - t.fee for t in result.trades
    ]
    scale = config.starting_cash + sum(abs(f) for f in flows)  # rounding grows with turnover
    assert result.cash[-1] == pytest.approx(config.starting_cash + sum(flows), abs=1e-12 * scale)
    assert result.fees_paid == pytest.approx(sum(t.fee for t in result.trades))

    # Round trips account for every fill, and closed ones end flat.
    assert sum(r.fills for r in result.round_trips) == len(result.trades)
    for trip in result.round_trips:
        if not trip.open:
            exit_trade = next(
                t for t in result.trades if t.bar == trip.exit_bar and t.coin == trip.coin
            )
            assert exit_trade.position == 0.0
