"""The compiled per-order loop (`engine/kernel.py`) is `fills.rebalance` for floats, bit for
bit: long random decision sequences (fractional targets, repeats, cash-limited buys, minimum
order skips, slippage) give the same fills as a plain loop over `rebalance`, and an input the
fill rules refuse raises their own ValueError through the engine."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.lab.engine import build_price_frame, prepare_market, rebalance
from app.lab.engine.backtest import _simulate_sleeve
from app.lab.engine.kernel import sleeve_fills, warm_up

targets = st.one_of(st.sampled_from([0.0, 1.0, 0.5]), st.floats(0.0, 1.0))


def reference(
    bars: np.ndarray,
    wanted: list[float],
    bids: list[float],
    asks: list[float],
    cash: float,
    costs: tuple[float, float, float],
) -> list[tuple[float, ...]]:
    """The loop the kernel replaced: `rebalance` once per decision acted on."""
    rows: list[tuple[float, ...]] = []
    holdings, acted_on = 0.0, 0.0
    for j, bar in enumerate(bars.tolist()):
        if wanted[j] == acted_on:
            continue
        acted_on = wanted[j]
        fill = rebalance(cash, holdings, wanted[j], bids[j], asks[j], *costs)
        if fill is None:
            continue
        cash, holdings = fill.cash, fill.holdings
        side = 1.0 if fill.side == "buy" else -1.0
        rows.append((bar, side, fill.quantity, fill.price, fill.notional, fill.fee, holdings, cash))
    return rows


@settings(max_examples=150, deadline=None)
@given(
    wanted=st.lists(targets, min_size=1, max_size=300),
    seed=st.integers(0, 2**32 - 1),
    cash=st.floats(1.0, 1e7),
    fee=st.sampled_from([0.0, 0.001, 0.01, 0.1]),
    slip=st.sampled_from([0.0, 5.0, 250.0]),
    minimum=st.sampled_from([0.0, 1.0, 25.0, 5000.0]),
)
def test_the_kernel_gives_the_fills_of_rebalance_bit_for_bit(
    wanted: list[float], seed: int, cash: float, fee: float, slip: float, minimum: float
) -> None:
    rng = np.random.default_rng(seed)
    n = len(wanted)
    bids = (100 * np.exp(np.cumsum(rng.normal(0, 0.05, n)))).tolist()
    asks = [b * (1 + s) for b, s in zip(bids, rng.uniform(0, 0.02, n).tolist(), strict=True)]
    bars = np.cumsum(rng.integers(1, 4, n))
    table, stopped = sleeve_fills(
        bars, np.array(wanted), np.array(bids), np.array(asks), cash, fee, slip, minimum
    )
    expected = reference(bars, wanted, bids, asks, cash, (fee, slip, minimum))
    assert stopped == -1
    assert table.shape == (len(expected), 8)
    # Bit for bit: the same doubles, not merely close ones.
    assert [tuple(row) for row in table.tolist()] == expected


def test_a_long_all_in_all_out_path_is_identical() -> None:
    """Thousands of round trips compound the rounding: any difference would show."""
    rng = np.random.default_rng(11)
    n = 20_000
    wanted = np.tile([1.0, 0.0], n // 2)
    bids = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    asks = bids * 1.0005
    bars = np.arange(1, n + 1)
    table, _ = sleeve_fills(bars, wanted, bids, asks, 10_000.0, 0.001, 1.0, 0.0)
    expected = reference(
        bars, wanted.tolist(), bids.tolist(), asks.tolist(), 10_000.0, (0.001, 1.0, 0.0)
    )
    assert len(expected) == n
    assert table[-1, 7] == expected[-1][7] and table.tolist() == [list(r) for r in expected]


def test_an_input_the_rules_refuse_raises_their_error() -> None:
    """Markets refuse bad prices before the engine runs; should one get through anyway, the
    kernel stops at it and `rebalance` raises its own message, with the state of the loop."""
    index = pd.date_range("2024-01-01", periods=4, freq="5min", tz="UTC")
    bid = np.array([100.0, 100.0, 100.0, 100.0])
    frame = build_price_frame(index, {"BTC": {"bid": bid, "ask": bid + 1, "last": bid}})
    market = prepare_market(frame)
    broken = dataclasses.replace(market, bid=np.array([[100.0], [100.0], [-1.0], [100.0]]))
    table, stopped = sleeve_fills(
        np.array([1, 2]),
        np.array([1.0, 0.0]),
        broken.bid[1:3, 0],
        broken.ask[1:3, 0],
        1_000.0,
        0.0,
        0.0,
        0.0,
    )
    assert stopped == 1 and len(table) == 1 and table[0, 1] == 1.0
    with pytest.raises(ValueError, match="prices must be positive, got bid=-1.0"):
        _simulate_sleeve(np.array([1.0, 0.0, 0.0, 0.0]), broken, 0, 1_000.0, 0.0, 0.0, 0.0)


def test_warm_up_compiles_once() -> None:
    first = warm_up()
    assert math.isfinite(first) and warm_up() <= max(first, 0.5)
