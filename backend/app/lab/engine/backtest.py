"""The backtest engine: target positions per bar in, equity, trades and round trips out.

Rules (on top of the fill rules in `fills.py`, which this module calls for every order):

- A decision made at bar t executes at bar t+1, at that bar's ask (buys) or bid (sells);
  when a coin has no real price at t+1 (a gap in the data, or a bar the data service
  forward-filled, see `market.py`) it executes at the coin's next bar that has one, with
  the latest decision by then. No order ever fills at a stale price.
- The engine acts when the target changes: an order is considered when the latest decision
  differs from the last one acted on. Between changes, holdings are left alone (no
  rebalancing for price drift), so a constant 0.5 does not trade every bar.
- An order below the minimum order size (or of zero quantity) is skipped, and the decision
  still counts as acted on: it is not retried on later bars, only a new target trades again.
- Targets must be in [0, 1]. In targets handed to this function, NaN means "no new decision"
  and keeps the previous one (before the first decision the target is 0, i.e. flat). The
  Lab's `predict` may not return NaN: the sandbox refuses it (see `sdk.positions`), so
  positions from user code are always finite.
- With several coins, each coin trades in its own sleeve, funded with its allocation of the
  starting cash; a sleeve's targets are fractions of that sleeve's equity.

Why a loop: whether an order happens and how big it is depends on the cash and holdings the
previous orders left (cash limits, minimum-order skips), so the path is computed with a loop
that visits only the bars where a decision changes: `kernel.py`, the float form of
`fills.rebalance` compiled (bit for bit the same numbers); everything per-bar is numpy.
"""

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pandas as pd

from app.lab.engine.fills import rebalance
from app.lab.engine.frame import normalise_coin
from app.lab.engine.kernel import FILL_COLUMNS, sleeve_fills
from app.lab.engine.market import FloatArray, IntArray, Market, prepare_market
from app.lab.engine.results import BacktestConfig, BacktestResult, FillTable, TripTable

# A fill table's columns: bar, +1 buy / -1 sell, quantity, price, notional, fee, position
# after, cash after (`kernel.FILL_COLUMNS`); the engine adds the coin as a ninth.
_FILL_COLUMNS = FILL_COLUMNS


def run_backtest(
    prices: pd.DataFrame | Market,
    targets: pd.DataFrame | pd.Series | npt.ArrayLike,
    config: BacktestConfig,
) -> BacktestResult:
    """Run a backtest.

    `prices` is a price frame (see `frame.py`) or a `Market` prepared from one (cheaper when
    the same prices are used for many runs). `targets` gives, per bar and coin, the fraction of
    the coin's sleeve to hold: a DataFrame with a column per coin on the same index, a Series
    (one coin), or an array of shape (bars,) or (bars, coins) in the market's coin order.

    Raises ValueError with a readable message on bad input.
    """
    market = prices if isinstance(prices, Market) else prepare_market(prices)
    target = target_array(targets, market)
    weights = resolve_allocation(config.allocation, market.coins)
    n, k = target.shape

    fee = float(config.fee_rate)
    slip = float(config.slippage_bps)
    minimum = float(config.min_order_aud)

    cash_total = np.full(n, config.starting_cash * max(0.0, 1.0 - sum(weights)))
    holdings = np.zeros((n, k))
    equity = cash_total.copy()
    tables: list[FloatArray] = []

    for c in range(k):
        sleeve_cash = config.starting_cash * weights[c]
        table = _simulate_sleeve(target[:, c], market, c, sleeve_cash, fee, slip, minimum)
        if not len(table):
            cash_total += sleeve_cash
            equity += sleeve_cash
            continue
        bars = table[:, 0].astype(np.intp)
        counts = np.diff(np.concatenate(([0], bars, [n])))
        cash_c = np.repeat(np.concatenate(([sleeve_cash], table[:, 7])), counts)
        qty_c = np.repeat(np.concatenate(([0.0], table[:, 6])), counts)
        holdings[:, c] = qty_c
        cash_total += cash_c
        equity += cash_c + np.where(qty_c > 0, qty_c * market.mark[:, c], 0.0)
        tables.append(np.column_stack((table, np.full(len(table), c, dtype=np.float64))))

    fills = _fill_table(tables)
    trips = _trip_table(fills, market.mark[-1])
    allocation = dict(zip(market.coins, weights, strict=True))
    return BacktestResult(market, config, allocation, equity, cash_total, holdings, fills, trips)


def _simulate_sleeve(
    target: FloatArray,
    market: Market,
    c: int,
    cash: float,
    fee: float,
    slip: float,
    minimum: float,
) -> FloatArray:
    """The sleeve's fill table (a row per fill, `kernel.FILL_COLUMNS` columns)."""
    n = len(target)
    # Bars whose decision differs from the bar before (bar 0 against the initial flat 0).
    decided = np.flatnonzero(np.diff(target, prepend=0.0)).astype(np.intp)
    decided = decided[decided + 1 < n]
    # next_tradable never decreases down a column, so these are sorted: drop repeats.
    executions = market.next_tradable[decided + 1, c]
    executions = executions[executions < n]
    if executions.size > 1:
        executions = executions[np.concatenate(([True], executions[1:] != executions[:-1]))]
    if executions.size == 0:
        return np.empty((0, FILL_COLUMNS))

    wanted = target[executions - 1]
    bids = market.bid[executions, c]
    asks = market.ask[executions, c]
    table, stopped = sleeve_fills(executions, wanted, bids, asks, cash, fee, slip, minimum)
    if stopped >= 0:
        # An input the fill rules refuse: let them say why, in their own words.
        before = (float(table[-1, 7]), float(table[-1, 6])) if len(table) else (cash, 0.0)
        rebalance(
            before[0],
            before[1],
            float(wanted[stopped]),
            float(bids[stopped]),
            float(asks[stopped]),
            fee,
            slip,
            minimum,
        )
        raise AssertionError("the fill rules accepted what the kernel refused")  # pragma: no cover
    return table


def _fill_table(tables: list[FloatArray]) -> FillTable:
    if tables:
        table = np.concatenate(tables)
        table = table[np.lexsort((table[:, _FILL_COLUMNS], table[:, 0]))]
    else:
        table = np.empty((0, _FILL_COLUMNS + 1))
    return FillTable(
        bar=table[:, 0].astype(np.intp),
        coin=table[:, _FILL_COLUMNS].astype(np.intp),
        buy=table[:, 1] > 0,
        quantity=table[:, 2],
        price=table[:, 3],
        notional=table[:, 4],
        fee=table[:, 5],
        position=table[:, 6],
        cash=table[:, 7],
    )


def _trip_table(fills: FillTable, last_mark: FloatArray) -> TripTable:
    """Round trips: a trip opens with a buy from a flat position and closes with the sell that
    leaves the position flat again."""
    coins = np.unique(fills.coin)
    parts: list[tuple[IntArray, ...]] = []
    money: list[tuple[FloatArray, FloatArray]] = []
    for c in coins.tolist():
        rows = np.flatnonzero(fills.coin == c)
        buy = fills.buy[rows]
        position = fills.position[rows]
        before = np.concatenate(([0.0], position[:-1]))
        opens = buy & (before == 0)
        trip = np.cumsum(opens) - 1  # every coin's first fill is a buy from flat
        count = int(opens.sum())
        notional, fee = fills.notional[rows], fills.fee[rows]
        cost = _sums(trip, np.where(buy, notional + fee, 0.0), count)
        proceeds = _sums(trip, np.where(buy, 0.0, notional - fee), count)
        closes = ~buy & (position == 0)
        exit_bar = np.full(count, -1, dtype=np.intp)
        exit_bar[trip[closes]] = fills.bar[rows][closes]
        if exit_bar[-1] < 0:  # only the last trip can still be open
            proceeds[-1] += position[-1] * last_mark[c]
        parts.append(
            (
                np.full(count, c, dtype=np.intp),
                fills.bar[rows][opens],
                exit_bar,
                np.bincount(trip, minlength=count).astype(np.intp),
            )
        )
        money.append((cost, proceeds))
    if not parts:
        empty_i = np.empty(0, dtype=np.intp)
        empty_f = np.empty(0)
        return TripTable(empty_i, empty_i, empty_i, empty_i, empty_f, empty_f)
    coin, entry, exit_, nfills = (np.concatenate(col) for col in zip(*parts, strict=True))
    cost, proceeds = (np.concatenate(col) for col in zip(*money, strict=True))
    order = np.lexsort((coin, entry))
    return TripTable(
        coin[order], entry[order], exit_[order], nfills[order], cost[order], proceeds[order]
    )


def _sums(groups: IntArray, values: FloatArray, count: int) -> FloatArray:
    total: FloatArray = np.bincount(groups, weights=values, minlength=count).astype(np.float64)
    return total


def target_array(targets: pd.DataFrame | pd.Series | npt.ArrayLike, market: Market) -> FloatArray:
    """Targets as a (bars, coins) float array with NaN carried forward (0 before the first
    decision); raises ValueError when their shape, index or values are wrong."""
    n, k = market.bars, len(market.coins)
    if isinstance(targets, pd.DataFrame):
        _check_same_index(targets.index, market)
        columns = {normalise_coin(str(col)): col for col in targets.columns}
        missing = [c for c in market.coins if c not in columns]
        if missing:
            raise ValueError(f"targets lack a column for {', '.join(missing)}")
        array = np.column_stack(
            [targets[columns[c]].to_numpy(dtype=np.float64) for c in market.coins]
        )
    elif isinstance(targets, pd.Series):
        _check_same_index(targets.index, market)
        if k != 1:
            raise ValueError("a Series of targets is for one coin; use a DataFrame for several")
        array = targets.to_numpy(dtype=np.float64).reshape(n, 1)
    else:
        try:
            array = np.asarray(targets, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError("targets must be numbers") from None
        if array.ndim == 1 and k == 1:
            array = array.reshape(-1, 1)
        if array.shape != (n, k):
            raise ValueError(f"targets must have shape ({n}, {k}), got {array.shape}")

    present = ~np.isnan(array)
    values = array[present]
    if not ((values >= 0) & (values <= 1)).all():
        raise ValueError("targets must be in [0, 1] (or NaN for no new decision)")
    if present.all():
        return np.ascontiguousarray(array)
    last = np.maximum.accumulate(np.where(present, np.arange(n)[:, None], -1), axis=0)
    filled = np.take_along_axis(array, np.maximum(last, 0), axis=0)
    filled[last < 0] = 0.0
    return np.ascontiguousarray(filled)


def _check_same_index(index: pd.Index, market: Market) -> None:
    if len(index) != market.bars or not index.equals(market.index):
        raise ValueError("targets must be indexed by the same timestamps as the prices")


def resolve_allocation(
    allocation: Mapping[str, float] | None, coins: tuple[str, ...]
) -> list[float]:
    """Each coin's fraction of the starting cash, in coin order."""
    if allocation is None:
        return [1.0 / len(coins)] * len(coins)
    shares: dict[str, float] = {}
    for coin, share in allocation.items():
        shares[normalise_coin(coin)] = float(share)
    unknown = sorted(set(shares) - set(coins))
    if unknown:
        raise ValueError(f"allocation names coins without prices: {', '.join(unknown)}")
    missing = [c for c in coins if c not in shares]
    if missing:
        raise ValueError(f"allocation lacks a share for {', '.join(missing)}")
    weights = [shares[c] for c in coins]
    if not all(np.isfinite(w) and w >= 0 for w in weights):
        raise ValueError("allocation shares must be finite numbers >= 0")
    total = sum(weights)
    if total > 1 + 1e-9:
        raise ValueError(f"allocation shares add up to {total:g}, more than 1")
    if total > 1:  # rounding in the caller's shares: never hand out more than the cash
        weights = [w / total for w in weights]
    return weights


def buy_and_hold_equity(prices: pd.DataFrame | Market, config: BacktestConfig) -> FloatArray:
    """Equity of buying every coin's full allocation at the first chance (the decision at bar
    0, so the fill at bar 1 or the coin's next priced bar) and holding to the end, with the
    same fills, fees and slippage as the engine; marked at the bid like the strategy."""
    market = prices if isinstance(prices, Market) else prepare_market(prices)
    weights = resolve_allocation(config.allocation, market.coins)
    n = market.bars
    equity = np.full(n, config.starting_cash * max(0.0, 1.0 - sum(weights)))
    for c, (bar, qty, cash) in enumerate(_buy_and_hold_entries(market, config, weights)):
        allocated = config.starting_cash * weights[c]
        if bar is None:
            equity += allocated
        else:
            equity[:bar] += allocated
            equity[bar:] += cash + qty * market.mark[bar:, c]
    return equity


def buy_and_hold_return(prices: pd.DataFrame | Market, config: BacktestConfig) -> float:
    """Total return of `buy_and_hold_equity` (computed without building the curve)."""
    market = prices if isinstance(prices, Market) else prepare_market(prices)
    weights = resolve_allocation(config.allocation, market.coins)
    final = config.starting_cash * max(0.0, 1.0 - sum(weights))
    for c, (bar, qty, cash) in enumerate(_buy_and_hold_entries(market, config, weights)):
        final += config.starting_cash * weights[c] if bar is None else cash
        if bar is not None:
            final += qty * float(market.mark[-1, c])
    return final / config.starting_cash - 1.0


def _buy_and_hold_entries(
    market: Market, config: BacktestConfig, weights: list[float]
) -> list[tuple[int | None, float, float]]:
    """(fill bar or None, quantity, cash left) per coin."""
    entries: list[tuple[int | None, float, float]] = []
    first: IntArray = market.next_tradable[1]
    for c in range(len(market.coins)):
        bar = int(first[c])
        fill = None
        if bar < market.bars:
            fill = rebalance(
                config.starting_cash * weights[c],
                0.0,
                1.0,
                float(market.bid[bar, c]),
                float(market.ask[bar, c]),
                float(config.fee_rate),
                float(config.slippage_bps),
                float(config.min_order_aud),
            )
        entries.append((None, 0.0, 0.0) if fill is None else (bar, fill.holdings, fill.cash))
    return entries
