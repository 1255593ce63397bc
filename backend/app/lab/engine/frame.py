"""The price frame layout shared by the data service, the engine and the algorithms.

A price frame is a `pandas.DataFrame`:

- index: a `DatetimeIndex` in UTC, strictly increasing, named ``timestamp`` — normally the
  regular 5-minute grid produced by `market_data.frame_from_rows`;
- columns: a two-level `MultiIndex` named ``("coin", "field")``: coin symbols in upper case,
  and for each coin the fields ``bid``, ``ask`` and ``last`` (float64, AUD per coin);
- a missing bar (a gap the data service would not bridge) is NaN in all three fields;
- optionally a fourth field per coin, ``filled``: 1.0 on bars the data service forward-filled
  (their prices are the last real bar's, repeated), 0.0 elsewhere. The engine marks holdings
  on such bars but never trades on them (see `market.py`); algorithms never see this field.

``frame["BTC"]`` is then a single-coin frame with columns bid/ask/last, the shape an
algorithm's ``predict`` sees for one coin.
"""

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

FIELDS: tuple[str, str, str] = ("bid", "ask", "last")
FILLED = "filled"
COLUMN_NAMES = ("coin", "field")
INDEX_NAME = "timestamp"
BAR = pd.Timedelta(minutes=5)
BARS_PER_DAY = 288
PERIODS_PER_YEAR = 365 * BARS_PER_DAY  # crypto trades every day: 105,120 five-minute bars


def normalise_coin(coin: str) -> str:
    symbol = coin.strip().upper()
    if not symbol:
        raise ValueError("coin symbols must not be empty")
    return symbol


def normalise_coins(coins: Sequence[str]) -> tuple[str, ...]:
    """Upper-cased, de-duplicated, in the order given."""
    if isinstance(coins, str):
        coins = [coins]
    result = tuple(dict.fromkeys(normalise_coin(c) for c in coins))
    if not result:
        raise ValueError("at least one coin is required")
    return result


def build_price_frame(
    index: pd.DatetimeIndex,
    data: Mapping[str, Mapping[str, npt.ArrayLike]],
) -> pd.DataFrame:
    """A price frame from ``{coin: {"bid": values, "ask": values, "last": values}}``."""
    if index.tz is None:
        raise ValueError("the index must be timezone-aware (UTC)")
    coins = normalise_coins(list(data))
    columns = pd.MultiIndex.from_product([coins, FIELDS], names=COLUMN_NAMES)
    n = len(index)
    values = np.empty((n, len(columns)), dtype=np.float64)
    for i, coin in enumerate(coins):
        fields = data[coin] if coin in data else _lookup(data, coin)
        for j, field in enumerate(FIELDS):
            column = np.asarray(fields[field], dtype=np.float64)
            if column.shape != (n,):
                raise ValueError(f"{coin} {field}: expected {n} values, got shape {column.shape}")
            values[:, i * len(FIELDS) + j] = column
    return pd.DataFrame(
        values, index=index.tz_convert("UTC").rename(INDEX_NAME), columns=columns, copy=False
    )


def _lookup(
    data: Mapping[str, Mapping[str, npt.ArrayLike]], coin: str
) -> Mapping[str, npt.ArrayLike]:
    for key, value in data.items():
        if normalise_coin(key) == coin:
            return value
    raise KeyError(coin)


def frame_coins(frame: pd.DataFrame) -> tuple[str, ...]:
    """The coins of a price frame, in column order; raises ValueError when it is not one."""
    columns = frame.columns
    if not isinstance(columns, pd.MultiIndex) or columns.nlevels != 2:
        raise ValueError("price frame columns must be a (coin, field) MultiIndex")
    coins = tuple(dict.fromkeys(str(c) for c in columns.get_level_values(0)))
    if not coins:
        raise ValueError("price frame has no coins")
    present = {(str(c), str(f)) for c, f in columns}
    for coin in coins:
        missing = [f for f in FIELDS[:2] if (coin, f) not in present]
        if missing:
            raise ValueError(f"price frame lacks {', '.join(missing)} for {coin}")
    return coins


def check_index(index: pd.Index) -> pd.DatetimeIndex:
    if not isinstance(index, pd.DatetimeIndex):
        raise ValueError("price frame index must be a DatetimeIndex")
    if index.tz is None:
        raise ValueError("price frame index must be timezone-aware (UTC)")
    if len(index) < 2:
        raise ValueError("a backtest needs at least 2 bars")
    if not index.is_monotonic_increasing or not index.is_unique:
        raise ValueError("price frame index must be strictly increasing")
    return index.tz_convert("UTC")
