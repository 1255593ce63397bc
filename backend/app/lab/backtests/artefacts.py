"""A finished run's series and trades, stored compactly in one blob.

The blob is a compressed NumPy archive of plain numeric arrays (never pickled objects):
per-bar times, equity, cash, buy-and-hold equity and holdings, and the fills as columns.
A year of 5-minute bars for one coin is about 3 MB. Reading it back uses
``allow_pickle=False``, so the blob cannot carry code even if the database were tampered with.
"""

import io
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from app.lab.engine.backtest import buy_and_hold_equity
from app.lab.engine.results import BacktestResult

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

SIDES = ("sell", "buy")


@dataclass(frozen=True, eq=False)
class RunArtefacts:
    coins: tuple[str, ...]
    times: IntArray  # epoch seconds, UTC
    equity: FloatArray
    cash: FloatArray
    buy_and_hold: FloatArray
    holdings: FloatArray  # (bars, coins) coin units
    holdings_value: FloatArray  # (bars, coins) AUD, marked at the last known bid
    trade_bar: IntArray
    trade_coin: IntArray
    trade_buy: IntArray
    trade_quantity: FloatArray
    trade_price: FloatArray
    trade_notional: FloatArray
    trade_fee: FloatArray
    trade_position: FloatArray
    trade_cash: FloatArray
    trip_coin: IntArray
    trip_entry_bar: IntArray
    trip_exit_bar: IntArray  # -1 while still open at the end
    trip_cost: FloatArray
    trip_proceeds: FloatArray

    @property
    def bars(self) -> int:
        return len(self.times)

    @property
    def trade_count(self) -> int:
        return len(self.trade_bar)

    def drawdown(self) -> FloatArray:
        peak = np.maximum.accumulate(self.equity)
        result: FloatArray = np.where(peak > 0, self.equity / peak - 1.0, 0.0)
        return result


def from_result(result: BacktestResult) -> RunArtefacts:
    fills, trips = result.fills, result.trips
    naive = result.index.tz_convert("UTC").tz_localize(None)
    times = np.asarray(naive, dtype="datetime64[ns]").view(np.int64) // 1_000_000_000
    return RunArtefacts(
        coins=result.coins,
        times=times,
        equity=np.asarray(result.equity, dtype=np.float64),
        cash=np.asarray(result.cash, dtype=np.float64),
        buy_and_hold=np.asarray(
            buy_and_hold_equity(result.market, result.config), dtype=np.float64
        ),
        holdings=np.asarray(result.holdings, dtype=np.float64),
        holdings_value=np.asarray(result.holdings_value, dtype=np.float64),
        trade_bar=np.asarray(fills.bar, dtype=np.int64),
        trade_coin=np.asarray(fills.coin, dtype=np.int64),
        trade_buy=np.asarray(fills.buy, dtype=np.int64),
        trade_quantity=np.asarray(fills.quantity, dtype=np.float64),
        trade_price=np.asarray(fills.price, dtype=np.float64),
        trade_notional=np.asarray(fills.notional, dtype=np.float64),
        trade_fee=np.asarray(fills.fee, dtype=np.float64),
        trade_position=np.asarray(fills.position, dtype=np.float64),
        trade_cash=np.asarray(fills.cash, dtype=np.float64),
        trip_coin=np.asarray(trips.coin, dtype=np.int64),
        trip_entry_bar=np.asarray(trips.entry_bar, dtype=np.int64),
        trip_exit_bar=np.asarray(trips.exit_bar, dtype=np.int64),
        trip_cost=np.asarray(trips.cost, dtype=np.float64),
        trip_proceeds=np.asarray(trips.proceeds, dtype=np.float64),
    )


_ARRAYS = (
    "times",
    "equity",
    "cash",
    "buy_and_hold",
    "holdings",
    "holdings_value",
    "trade_bar",
    "trade_coin",
    "trade_buy",
    "trade_quantity",
    "trade_price",
    "trade_notional",
    "trade_fee",
    "trade_position",
    "trade_cash",
    "trip_coin",
    "trip_entry_bar",
    "trip_exit_bar",
    "trip_cost",
    "trip_proceeds",
)


# Per-bar series of money that change every bar deflate to half at best, at a cost that
# dominated packing (a year of 20 coins is tens of megabytes of them): they are stored as
# they are; the rest (times, cash, holdings, trades) deflate well and cheaply.
_STORED = frozenset({"equity", "buy_and_hold", "holdings_value"})


def pack(artefacts: RunArtefacts) -> bytes:
    """A plain .npz archive (what `np.savez_compressed` writes, read back by `np.load`),
    with the members in `_STORED` not compressed and the others deflated at level 1."""
    buffer = io.BytesIO()
    arrays: dict[str, Any] = {name: getattr(artefacts, name) for name in _ARRAYS}
    arrays["coins"] = np.array(artefacts.coins, dtype="U32")
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, value in arrays.items():
            # Each member takes the archive's current method (and level 1 when deflated).
            zf.compression = zipfile.ZIP_STORED if name in _STORED else zipfile.ZIP_DEFLATED
            with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)
    return buffer.getvalue()


def unpack(blob: bytes) -> RunArtefacts:
    with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
        values = {name: archive[name] for name in _ARRAYS}
        coins = tuple(str(c) for c in archive["coins"].tolist())
    return RunArtefacts(coins=coins, **values)


def thinned(n: int, max_points: int | None) -> npt.NDArray[np.intp]:
    """Row numbers for a chart of at most `max_points` points: every k-th bar and the last."""
    if max_points is None or n <= max_points:
        return np.arange(n, dtype=np.intp)
    step = -(-(n - 1) // (max_points - 1))
    rows = np.arange(0, n, step, dtype=np.intp)
    if rows[-1] != n - 1:
        rows = np.append(rows, n - 1)
    return rows


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(int(seconds), tz=UTC).isoformat()
