"""Historical prices for the Lab: `price_data_5min` rows on a regular 5-minute UTC grid.

`load_price_history` reads the table (owned by the collector; it is addressed here by its
column names only, so the Lab does not import the collector) and hands the observations to
`frame_from_columns`, a pure function that does the gridding and gap handling
(`frame_from_rows` is the same for rows of (timestamp, coin_type, bid, ask, last)):

- Each row's timestamp is rounded to the nearest 5-minute boundary (exactly half way rounds
  up; the collector runs on the boundaries, a few seconds late or early); when several rows
  of a coin land on the same boundary, the latest one wins. Coin symbols match in any case.
- A bar is present for a coin when its row has a positive bid, ask and last.
- A run of missing bars no longer than `ffill_limit` bars that follows a present bar is
  forward-filled from that bar (bid, ask and last together), counted in `filled_bars` and
  flagged in the frame's ``filled`` field: algorithms see the repeated prices, the engine
  marks holdings at them but never trades on them (an order waits for the next real bar).
- A longer run, or one with no earlier price to fill from, stays NaN in all three fields and
  is reported in `gaps`: long gaps are flagged, never bridged. The engine does not trade a
  coin on its NaN bars and marks its holdings at the last known bid meanwhile.
- Data up to `ffill_limit` bars before `start` is read too, so the first bars can be filled
  from a price just before the range.

The frame has the layout described in `frame.py`: UTC `DatetimeIndex` named ``timestamp``
with a 5-minute frequency, columns MultiIndex ``(coin, field)`` with fields bid/ask/last.
"""

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy.orm import Session

from app.lab.engine.frame import BAR, COLUMN_NAMES, FIELDS, FILLED, INDEX_NAME, normalise_coins
from app.lab.engine.jsonsafe import JSONDict
from app.lab.engine.market import FloatArray
from app.lab.engine.price_cache import PriceCache, float8_array

logger = logging.getLogger(__name__)

BAR_FREQ = "5min"
DEFAULT_FFILL_LIMIT = 3  # bars: up to 15 minutes of missing data is bridged
ROW_COLUMNS = ("timestamp", "coin_type", "bid", "ask", "last")

# One row per coin with its observations as float8 arrays in PostgreSQL's binary array form,
# which NumPy reads in place: a year of 20 coins is two million rows, and rows (or arrays
# parsed into Python floats) would cost seconds; NUMERIC -> Decimal would cost more. The
# engine computes in float64 anyway.
# No ORDER BY inside array_agg: aggregates of one query level consume the input rows together,
# so the four arrays stay aligned (separate sorts could order equal timestamps differently),
# and frame_from_columns sorts by timestamp itself. The table belongs to the collector and is
# addressed here by its column names only.
_HISTORY_QUERY = """
    SELECT coin_type,
           array_send(array_agg(date_part('epoch', "timestamp"))) AS ts,
           array_send(array_agg(coalesce(bid::float8, 'NaN'))) AS bid,
           array_send(array_agg(coalesce(ask::float8, 'NaN'))) AS ask,
           array_send(array_agg(coalesce("last"::float8, 'NaN'))) AS "last"
    FROM price_data_5min
    WHERE coin_type = ANY(%s) AND "timestamp" >= %s AND "timestamp" < %s
    GROUP BY coin_type
"""


@dataclass(frozen=True, slots=True)
class Gap:
    """Bars `start` to `end` (both included) of `coin` have no price in the frame."""

    coin: str
    start: datetime
    end: datetime
    bars: int

    def to_dict(self) -> JSONDict:
        return {
            "coin": self.coin,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "bars": self.bars,
        }


@dataclass(frozen=True, slots=True, eq=False)
class PriceHistory:
    frame: pd.DataFrame
    gaps: tuple[Gap, ...]
    filled_bars: dict[str, int]
    ffill_limit: int

    @property
    def coins(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(str(c) for c in self.frame.columns.get_level_values(0)))

    @property
    def complete(self) -> bool:
        """True when every bar of every coin has a price (after forward filling)."""
        return not self.gaps

    def report(self) -> JSONDict:
        """The data-quality part, as JSON: range, bars, gaps and forward-filled bars."""
        index = self.frame.index
        return {
            "start": index[0].isoformat() if len(index) else None,
            "end": index[-1].isoformat() if len(index) else None,
            "bars": len(index),
            "coins": list(self.coins),
            "ffill_limit": self.ffill_limit,
            "filled_bars": dict(self.filled_bars),
            "notes": [
                "forward-filled bars repeat the last real price: holdings are marked at it, "
                "but no order fills on them (an order waits for the next bar with a real price)",
                "bars in gaps are removed before predict: the algorithm sees each coin's priced "
                "bars only, so rolling windows span gaps",
            ],
            "missing_bars": {c: sum(g.bars for g in self.gaps if g.coin == c) for c in self.coins},
            "gaps": [g.to_dict() for g in self.gaps],
        }


def grid(start: datetime, end: datetime) -> pd.DatetimeIndex:
    """Every 5-minute boundary in [start, end], UTC."""
    first, last = _utc(start, "start").ceil(BAR_FREQ), _utc(end, "end").floor(BAR_FREQ)
    if first > last:
        raise ValueError("the range from start to end holds no 5-minute bar")
    return pd.date_range(first, last, freq=BAR, name=INDEX_NAME)


@dataclass(frozen=True, slots=True, eq=False)
class PriceColumns:
    """Price observations as columns: `timestamps` in nanoseconds since the epoch (UTC),
    `coins` as labels (any case; an object array or a categorical), `bid`/`ask`/`last` as floats (NaN when missing). Rows of the
    same coin and bar count in timestamp order: the latest wins."""

    timestamps: npt.NDArray[np.int64]
    coins: "npt.NDArray[np.object_] | pd.Categorical"
    bid: FloatArray
    ask: FloatArray
    last: FloatArray


def frame_from_rows(
    rows: Iterable[Sequence[Any]] | pd.DataFrame,
    coins: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    ffill_limit: int = DEFAULT_FFILL_LIMIT,
) -> PriceHistory:
    """Grid rows of (timestamp, coin_type, bid, ask, last) onto 5-minute bars from `start` to
    `end` (inclusive) for `coins`; see the module docstring for the rules. `rows` may also be
    a DataFrame with those columns."""
    if isinstance(rows, pd.DataFrame):
        data = rows
    else:
        records: list[tuple[Any, ...]] = [tuple(row) for row in rows]
        data = pd.DataFrame.from_records(records, columns=list(ROW_COLUMNS))
    missing = [c for c in ROW_COLUMNS if c not in data.columns]
    if missing:
        raise ValueError(f"price rows lack columns: {', '.join(missing)}")
    stamps = pd.DatetimeIndex(pd.to_datetime(data["timestamp"], utc=True))
    columns = PriceColumns(
        timestamps=_nanoseconds(stamps),
        coins=data["coin_type"].to_numpy(dtype=object),
        bid=_floats(data["bid"]),
        ask=_floats(data["ask"]),
        last=_floats(data["last"]),
    )
    return frame_from_columns(columns, coins, start, end, ffill_limit=ffill_limit)


def frame_from_columns(
    columns: PriceColumns,
    coins: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    ffill_limit: int = DEFAULT_FFILL_LIMIT,
) -> PriceHistory:
    """`frame_from_rows` for columns: vectorised, for the millions of rows of long ranges."""
    if ffill_limit < 0:
        raise ValueError("ffill_limit must be >= 0")
    symbols = normalise_coins(coins)
    bars = grid(start, end)
    lead = ffill_limit
    n, k, f = len(bars) + lead, len(symbols), len(FIELDS)

    # Coin labels -> column numbers (-1 for coins not asked for), via the few distinct labels.
    codes, labels = pd.factorize(columns.coins, use_na_sentinel=False)
    wanted = {coin: i for i, coin in enumerate(symbols)}
    label_column = np.array([wanted.get(str(x).strip().upper(), -1) for x in labels], np.intp)
    coin = label_column[codes] if len(labels) else np.empty(0, np.intp)

    # Nearest bar on the grid extended `lead` bars back (half a bar rounds up).
    bar_ns = BAR.value
    origin = _nanoseconds(pd.DatetimeIndex([bars[0] - lead * BAR]))[0]
    position = (columns.timestamps - origin + bar_ns // 2) // bar_ns
    prices = np.column_stack([columns.bid, columns.ask, columns.last]).astype(np.float64)
    with np.errstate(invalid="ignore"):
        good_prices = ((prices > 0) & (prices < np.inf)).all(axis=1)
    keep = (coin >= 0) & (position >= 0) & (position < n) & good_prices

    # One row per (coin, bar): the latest timestamp wins.
    key = coin[keep] * n + position[keep]
    if len(key) < 2 or bool((key[1:] > key[:-1]).all()):
        # Already one row per (coin, bar) in order (the usual case for rows read by coin in
        # time order): the sort below would not move anything.
        kept_prices = prices[keep]
        latest = np.ones(len(key), dtype=bool)
    else:
        stamps = columns.timestamps[keep]
        order = np.lexsort((stamps, key))
        key, kept_prices = key[order], prices[keep][order]
        latest = np.concatenate((key[1:] != key[:-1], [True]))
    block = np.full((k, n, f), np.nan)
    block.reshape(k * n, f)[key[latest]] = kept_prices[latest]

    width = f + 1  # the price fields and the filled flag
    values = np.empty((len(bars), k * width))
    gaps: list[Gap] = []
    filled: dict[str, int] = {}
    for i, symbol in enumerate(symbols):
        present = ~np.isnan(block[i]).any(axis=1)
        coin_block, fill_mask, gap_runs = _fill_short_runs(block[i], present, ffill_limit)
        values[:, i * width : i * width + f] = coin_block[lead:]
        values[:, i * width + f] = fill_mask[lead:]
        filled[symbol] = int(fill_mask[lead:].sum())
        for run_start, run_end in gap_runs:
            first = max(run_start, lead)
            if run_end < first:
                continue  # entirely before the requested range
            first_bar = bars[first - lead].to_pydatetime()
            last_bar = bars[run_end - lead].to_pydatetime()
            gaps.append(Gap(symbol, first_bar, last_bar, run_end - first + 1))

    frame_columns = pd.MultiIndex.from_product([symbols, (*FIELDS, FILLED)], names=COLUMN_NAMES)
    frame = pd.DataFrame(values, index=bars, columns=frame_columns)
    gaps.sort(key=lambda g: (g.start, symbols.index(g.coin)))
    return PriceHistory(frame, tuple(gaps), filled, ffill_limit)


def _nanoseconds(index: pd.DatetimeIndex) -> npt.NDArray[np.int64]:
    stamps: npt.NDArray[np.int64] = np.asarray(
        index.tz_convert("UTC").tz_localize(None).as_unit("ns").values
    ).view(np.int64)
    return stamps


def _floats(values: "pd.Series[Any]") -> FloatArray:
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _joined(arrays: list[FloatArray]) -> FloatArray:
    return np.concatenate(arrays) if arrays else np.empty(0)


def _utc(moment: datetime, name: str) -> pd.Timestamp:
    stamp = pd.Timestamp(moment)
    if stamp.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return stamp.tz_convert("UTC")


def _fill_short_runs(
    block: np.ndarray[Any, np.dtype[np.float64]],
    present: np.ndarray[Any, np.dtype[np.bool_]],
    limit: int,
) -> tuple[
    np.ndarray[Any, np.dtype[np.float64]],
    np.ndarray[Any, np.dtype[np.bool_]],
    list[tuple[int, int]],
]:
    """Forward-fill runs of missing rows of length <= limit that follow a present row;
    return the block, which rows were filled and the (start, end) rows of unfilled runs."""
    n = len(present)
    fill_mask = np.zeros(n, dtype=bool)
    edges = np.diff(np.concatenate(([0], (~present).astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    block = block.copy()
    block[~present] = np.nan  # a half-present row counts as missing
    unfilled: list[tuple[int, int]] = []
    for run_start, run_end in zip(starts.tolist(), ends.tolist(), strict=True):
        if run_start > 0 and run_end - run_start + 1 <= limit:
            block[run_start : run_end + 1] = block[run_start - 1]
            fill_mask[run_start : run_end + 1] = True
        else:
            unfilled.append((run_start, run_end))
    return block, fill_mask, unfilled


def load_price_history(
    session: Session,
    coins: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    ffill_limit: int = DEFAULT_FFILL_LIMIT,
    cache: PriceCache | None = None,
) -> PriceHistory:
    """Prices of `coins` from `price_data_5min` on the 5-minute grid from `start` to `end`.
    With a `cache` (see `price_cache`), days already read and unchanged since are not read
    again; the result is the same."""
    symbols = normalise_coins(coins)
    bars = grid(start, end)
    # Rows round to the nearest boundary, so read half a bar either side of the grid.
    low = bars[0] - max(ffill_limit, 0) * BAR - BAR / 2
    high = bars[-1] + BAR / 2
    # The collector's spelling of symbols is its own business: ask for both cases.
    names = sorted({s for c in symbols for s in (c, c.lower())})
    memo_key: tuple[Any, ...] | None = None
    if cache is not None:
        read = cache.read(session, names, low, high)
        if read.signature is not None:
            # Same rows, same request: the same frame (a copy, so callers cannot touch it).
            memo_key = ("price history", read.signature, symbols, bars[0], bars[-1], ffill_limit)
            kept = cache.recall(memo_key)
            if isinstance(kept, PriceHistory):
                logger.info(
                    "price history loaded",
                    extra={"coins": list(symbols), "bars": len(kept.frame), "cached": "frame"},
                )
                return _copy(kept)
        observed = read.rows()
        # In the frame's coin order, each in time order: gridding then needs no sort.
        spellings = [name for c in symbols for name in dict.fromkeys((c, c.lower()))]
        present = [(n, observed[n]) for n in spellings if len(observed[n].timestamps)]
        columns = PriceColumns(
            timestamps=np.concatenate([r.timestamps for _, r in present])
            if present
            else np.empty(0, np.int64),
            coins=_labels([n for n, _ in present], [len(r.timestamps) for _, r in present]),
            bid=_joined([r.bid for _, r in present]),
            ask=_joined([r.ask for _, r in present]),
            last=_joined([r.last for _, r in present]),
        )
    else:
        columns = _read_columns(session, names, low, high)
    history = frame_from_columns(columns, symbols, start, end, ffill_limit=ffill_limit)
    logger.info(
        "price history loaded",
        extra={
            "coins": list(symbols),
            "bars": len(history.frame),
            "rows": len(columns.timestamps),
            "gaps": len(history.gaps),
            "cached": cache is not None,
        },
    )
    if cache is not None and memo_key is not None:
        cache.remember(memo_key, _copy(history), int(history.frame.memory_usage(deep=False).sum()))
    return history


def _copy(history: PriceHistory) -> PriceHistory:
    return PriceHistory(
        history.frame.copy(), history.gaps, dict(history.filled_bars), history.ffill_limit
    )


def _labels(names: list[str], counts: list[int]) -> "pd.Categorical":
    """Per row, its coin label: a categorical (one code per row), which factorises at once
    where an object array of strings would be hashed row by row."""
    codes = np.repeat(np.arange(len(names), dtype=np.int32), counts)
    # pandas-stubs type `codes` as a sequence; pandas itself wants exactly this array.
    return pd.Categorical.from_codes(codes, categories=pd.Index(names, dtype=object))  # type: ignore[arg-type]


def _read_columns(
    session: Session, names: list[str], low: pd.Timestamp, high: pd.Timestamp
) -> PriceColumns:
    driver = session.connection().connection.driver_connection
    assert driver is not None
    with driver.cursor(binary=True) as cursor:
        # Twenty coin-years of arrays are built in memory: let them, rather than spill.
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(_HISTORY_QUERY, (names, low.to_pydatetime(), high.to_pydatetime()))
        groups: list[tuple[str, bytes, bytes, bytes, bytes]] = cursor.fetchall()
    arrays = [[float8_array(data) for data in group[1:]] for group in groups]
    return PriceColumns(
        timestamps=np.rint(_joined([a[0] for a in arrays]) * 1e9).astype(np.int64),
        coins=_labels([g[0] for g in groups], [len(a[0]) for a in arrays]),
        bid=_joined([a[1] for a in arrays]),
        ask=_joined([a[2] for a in arrays]),
        last=_joined([a[3] for a in arrays]),
    )
