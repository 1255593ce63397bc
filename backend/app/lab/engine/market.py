"""A price frame turned into the arrays the engine loops over, prepared once per data set.

Sweeps run the engine many times over the same prices: `prepare_market` does the checking
and array work once, and `run_backtest` accepts the prepared `Market` directly.

Rules: a coin is tradable on a bar only when the bar has a real bid and ask. A missing bar
(NaN) and a forward-filled bar (the frame's ``filled`` field, see `frame.py`) are not: no one
can trade at a stale price, so an order waits for the coin's next real bar. Both are marked
at the last real bid; `Market.filled` flags the forward-filled ones.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from app.lab.engine.frame import FILLED, check_index, frame_coins

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True, eq=False)
class Market:
    """Per-bar prices of `coins` on `index`; arrays are (bars, coins), read-only."""

    index: pd.DatetimeIndex
    coins: tuple[str, ...]
    bid: FloatArray
    ask: FloatArray
    # A bar is tradable in a coin when it has a bid and an ask (missing bars are NaN).
    tradable: BoolArray
    # next_tradable[i, c]: the first tradable bar >= i for coin c, or n when none is left;
    # it has n + 1 rows so that next_tradable[n] == n.
    next_tradable: IntArray
    # The bid to mark holdings at: the last known bid (NaN before a coin's first bid).
    mark: FloatArray
    # Bars whose prices were forward-filled (marked, never traded).
    filled: BoolArray

    @property
    def bars(self) -> int:
        return len(self.index)


def prepare_market(frame: pd.DataFrame) -> Market:
    """Check a price frame (see `frame.py`) and build the engine's arrays.

    Raises ValueError when the frame is malformed or holds a price that is present but not a
    positive finite number.
    """
    coins = frame_coins(frame)
    values = frame.to_numpy(np.float64)  # a view when the frame is one float64 block
    # One positional take per field: label lookups per coin are slow with many coins.
    bid = values[:, [_position(frame.columns, c, "bid") for c in coins]]
    ask = values[:, [_position(frame.columns, c, "ask") for c in coins]]
    filled = None
    if any((c, FILLED) in frame.columns for c in coins):
        filled = np.column_stack(
            [
                values[:, _position(frame.columns, c, FILLED)] > 0
                if (c, FILLED) in frame.columns
                else np.zeros(len(frame), dtype=bool)
                for c in coins
            ]
        )
    return market_from_arrays(frame.index, coins, bid, ask, filled)


def _position(columns: pd.Index, coin: str, field: str) -> int:
    location = columns.get_loc((coin, field))
    if not isinstance(location, int):
        raise ValueError(f"price frame has more than one {field} column for {coin}")
    return location


def market_from_arrays(
    index: pd.Index,
    coins: tuple[str, ...],
    bid: FloatArray,
    ask: FloatArray,
    filled: BoolArray | None = None,
) -> Market:
    """A `Market` from (bars, coins) arrays; `filled` flags forward-filled bars."""
    index = check_index(index)
    n, k = len(index), len(coins)
    # Copies: the arrays are frozen below and must not be the caller's.
    bid = np.array(bid, dtype=np.float64)
    ask = np.array(ask, dtype=np.float64)
    if bid.shape != (n, k) or ask.shape != (n, k):
        raise ValueError(f"bid and ask must have shape ({n}, {k})")
    for name, prices in (("bid", bid), ("ask", ask)):
        if not (np.isnan(prices) | ((prices > 0) & (prices < np.inf))).all():
            raise ValueError(f"every {name} must be a positive number (NaN marks a missing bar)")
    if filled is None:
        filled = np.zeros((n, k), dtype=bool)
    filled = np.array(filled, dtype=bool)
    if filled.shape != (n, k):
        raise ValueError(f"filled must have shape ({n}, {k})")
    tradable = ~(np.isnan(bid) | np.isnan(ask) | filled)

    if tradable.all():  # the usual case, and a cheap one
        next_tradable = np.broadcast_to(np.arange(n + 1, dtype=np.intp)[:, None], (n + 1, k))
        mark = bid
    else:
        next_tradable, mark = _gap_aware(bid, tradable)
    for array in (bid, ask, tradable, next_tradable, mark, filled):
        array.flags.writeable = False
    return Market(index, coins, bid, ask, tradable, next_tradable, mark, filled)


def _gap_aware(bid: FloatArray, tradable: BoolArray) -> tuple[IntArray, FloatArray]:
    n, k = bid.shape
    # next_tradable by a reversed running minimum over "own row where tradable, else n".
    rows = np.where(tradable, np.arange(n)[:, None], n)
    next_tradable = np.empty((n + 1, k), dtype=np.intp)
    next_tradable[n] = n
    next_tradable[:n] = np.minimum.accumulate(rows[::-1], axis=0)[::-1]

    has_bid = ~np.isnan(bid)
    last_bid_row = np.maximum.accumulate(np.where(has_bid, np.arange(n)[:, None], -1), axis=0)
    mark = np.take_along_axis(bid, np.maximum(last_bid_row, 0), axis=0)
    mark[last_bid_row < 0] = np.nan
    return next_tradable, mark
