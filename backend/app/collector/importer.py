"""Reading price history files: validation and normalisation to 5-minute rows.

Two layouts are understood (the header decides, or `layout` forces one):
- prices: ``timestamp, coin, bid, ask, last`` (``coin_type`` is accepted for ``coin``);
- ohlcv: ``timestamp, [coin,] open, high, low, close[, volume]``: ``last`` is the close and
  bid/ask are the close minus/plus half of `spread_bps`.
Timestamps may be ISO 8601 (naive ones are taken as UTC) or Unix seconds/milliseconds. Each
row's time is floored to its 5-minute slot; several rows of a coin in one slot keep the last.
A row that fails validation is rejected and counted (with the reason), never stored.
"""

import re
from collections import Counter
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from app.collector.models import MAX_PRICE, MIN_PRICE

Layout = Literal["auto", "prices", "ohlcv"]
CHUNK_ROWS = 100_000


class ImportFormatError(ValueError):
    """The file cannot be read as one of the known layouts."""


@dataclass
class ImportStats:
    read: int = 0
    valid: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def rejected(self) -> int:
        return self.read - self.valid


def _detect(columns: list[str], layout: Layout, coin: str | None) -> Literal["prices", "ohlcv"]:
    cols = set(columns)
    has_coin = bool(cols & {"coin", "coin_type"}) or coin is not None
    if layout in ("auto", "prices") and {"timestamp", "bid", "ask", "last"} <= cols and has_coin:
        return "prices"
    if layout in ("auto", "ohlcv") and {"timestamp", "close"} <= cols and has_coin:
        return "ohlcv"
    raise ImportFormatError(
        f"columns {', '.join(columns)} match no layout: expected timestamp, coin, bid, ask, last "
        "or timestamp, [coin,] open, high, low, close[, volume] (give --coin when there is no coin column)"
    )


def _timestamps(values: "pd.Series[str]") -> "pd.Series[pd.Timestamp]":
    first = str(values.iloc[0]).strip() if len(values) else ""
    if first.lstrip("-").replace(".", "", 1).isdigit():
        numeric = pd.to_numeric(values, errors="coerce")
        unit: Literal["ms", "s"] = "ms" if float(numeric.abs().max()) > 1e11 else "s"
        return pd.to_datetime(numeric, unit=unit, utc=True, errors="coerce")
    # Files repeat each time once per coin: parse each distinct string once.
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    parsed = pd.to_datetime(pd.Index(uniques), utc=True, errors="coerce", format="ISO8601")
    return pd.Series(parsed[codes], index=values.index)


def _numbers(values: "pd.Series[Any]") -> "pd.Series[float]":
    if pd.api.types.is_float_dtype(values) or pd.api.types.is_integer_dtype(values):
        return values.astype("float64")
    return pd.to_numeric(values, errors="coerce")


def _symbols(values: "pd.Series[Any]") -> "pd.Series[str]":
    """Upper-case, stripped symbols; normalised once per distinct value (files repeat them)."""
    codes, uniques = pd.factorize(values.fillna(""), use_na_sentinel=False)
    cleaned = pd.Index(uniques).astype(str).str.strip().str.upper()
    return pd.Series(np.asarray(cleaned, dtype=object)[codes], index=values.index)


def _reject(stats: ImportStats, mask: "pd.Series[bool]", reason: str) -> None:
    count = int(mask.sum())
    if count:
        stats.reasons[reason] += count


def normalise(
    chunk: pd.DataFrame,
    kind: Literal["prices", "ohlcv"],
    *,
    coin: str | None,
    spread_bps: float,
    source: str,
    stats: ImportStats,
) -> pd.DataFrame:
    """Validated rows in the table's columns; counts the rejected ones by reason."""
    stats.read += len(chunk)
    if "coin" in chunk:
        raw_coins = chunk["coin"]
    elif "coin_type" in chunk:
        raw_coins = chunk["coin_type"]
    else:
        raw_coins = pd.Series(coin or "", index=chunk.index)
    coins = _symbols(raw_coins)
    ts = _timestamps(chunk["timestamp"].astype(str))
    if kind == "prices":
        bid, ask, last = _numbers(chunk["bid"]), _numbers(chunk["ask"]), _numbers(chunk["last"])
    else:
        last = _numbers(chunk["close"])
        half = spread_bps / 20_000
        bid, ask = last * (1 - half), last * (1 + half)
    bad_time = ts.isna()
    valid_symbols = {c for c in coins.unique() if re.fullmatch(r"[A-Z0-9]{1,16}", c)}
    bad_coin = ~coins.isin(valid_symbols)
    missing = bid.isna() | ask.isna() | last.isna()
    values = np.column_stack([bid.to_numpy(float), ask.to_numpy(float), last.to_numpy(float)])
    not_finite = ~missing & ~pd.Series(np.isfinite(values).all(axis=1), index=chunk.index)
    not_positive = ~missing & ~not_finite & ((bid <= 0) | (ask <= 0) | (last <= 0))
    checked = ~missing & ~not_finite & ~not_positive
    out_of_range = checked & pd.Series(
        ((values < float(MIN_PRICE)) | (values >= float(MAX_PRICE))).any(axis=1), index=chunk.index
    )
    crossed = checked & ~out_of_range & (ask < bid)
    _reject(stats, bad_time, "timestamp not understood")
    _reject(stats, ~bad_time & bad_coin, "coin symbol missing or not alphanumeric")
    rest = ~bad_time & ~bad_coin
    _reject(stats, rest & missing, "price missing or not a number")
    _reject(stats, rest & not_finite, "price not finite")
    _reject(stats, rest & not_positive, "price not positive")
    _reject(stats, rest & out_of_range, f"price outside {MIN_PRICE} to {MAX_PRICE}")
    _reject(stats, rest & crossed, "ask below bid")
    keep = rest & ~missing & ~not_finite & ~not_positive & ~out_of_range & ~crossed
    out = pd.DataFrame(
        {
            "timestamp": ts[keep].dt.floor("5min"),
            "coin_type": coins[keep],
            "bid": bid[keep],
            "ask": ask[keep],
            "last": last[keep],
            "source": source,
        }
    )
    before = len(out)
    out = out.drop_duplicates(subset=["coin_type", "timestamp"], keep="last")
    if len(out) < before:
        stats.reasons["several rows in one 5-minute slot (the last kept)"] += before - len(out)
    stats.valid += len(out)
    return out


def read_chunks(
    path: Path,
    *,
    layout: Layout = "auto",
    coin: str | None = None,
    spread_bps: float = 20.0,
    source: str = "import",
    stats: ImportStats,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[pd.DataFrame]:
    """Validated frames of a CSV file, chunk by chunk (memory stays flat for big files)."""
    if not path.is_file():
        raise ImportFormatError(f"{path}: no such file")
    header = pd.read_csv(path, nrows=0, skipinitialspace=True).columns
    # Times and symbols stay text; prices are parsed by pandas' C parser (a column holding
    # something that is not a number comes back as text and is coerced, row by row, below).
    text_columns: dict[Hashable, type[str]] = {
        name: str
        for name in header
        if str(name).strip().lower() in {"timestamp", "coin", "coin_type"}
    }
    reader = pd.read_csv(path, dtype=text_columns, chunksize=chunk_rows, skipinitialspace=True)
    kind: Literal["prices", "ohlcv"] | None = None
    for chunk in reader:
        chunk.columns = [str(c).strip().lower() for c in chunk.columns]
        if kind is None:
            kind = _detect(list(chunk.columns), layout, coin)
        yield normalise(chunk, kind, coin=coin, spread_bps=spread_bps, source=source, stats=stats)
