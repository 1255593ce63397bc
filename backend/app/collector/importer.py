"""Reading price history files: validation and normalisation to 5-minute rows.

Two layouts are understood (the header decides, or `layout` forces one):
- prices: ``timestamp, coin, bid, ask, last`` (``coin_type`` is accepted for ``coin``);
- ohlcv: ``timestamp, [coin,] open, high, low, close[, volume]``: ``last`` is the close and
  bid/ask are the close minus/plus half of `spread_bps`.
Timestamps may be ISO 8601 (naive ones are taken as UTC) or Unix seconds/milliseconds. Each
row's time is floored to its 5-minute slot; several rows of a coin in one slot keep the last.
A row that fails validation is rejected and counted (with the reason), never stored.
"""

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

Layout = Literal["auto", "prices", "ohlcv"]
CHUNK_ROWS = 250_000


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
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all() and len(values):
        unit: Literal["ms", "s"] = "ms" if float(numeric.abs().max()) > 1e11 else "s"
        return pd.to_datetime(numeric, unit=unit, utc=True)
    return pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")


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
    coins = raw_coins.fillna("").astype(str).str.strip().str.upper()
    ts = _timestamps(chunk["timestamp"].astype(str))
    if kind == "prices":
        bid = pd.to_numeric(chunk["bid"], errors="coerce")
        ask = pd.to_numeric(chunk["ask"], errors="coerce")
        last = pd.to_numeric(chunk["last"], errors="coerce")
    else:
        last = pd.to_numeric(chunk["close"], errors="coerce")
        half = spread_bps / 20_000
        bid, ask = last * (1 - half), last * (1 + half)
    bad_time = ts.isna()
    bad_coin = ~coins.str.fullmatch(r"[A-Z0-9]{1,16}")
    missing = bid.isna() | ask.isna() | last.isna()
    values = np.column_stack([bid.to_numpy(float), ask.to_numpy(float), last.to_numpy(float)])
    not_finite = ~missing & ~pd.Series(np.isfinite(values).all(axis=1), index=chunk.index)
    not_positive = ~missing & ~not_finite & ((bid <= 0) | (ask <= 0) | (last <= 0))
    crossed = ~missing & ~not_finite & ~not_positive & (ask < bid)
    _reject(stats, bad_time, "timestamp not understood")
    _reject(stats, ~bad_time & bad_coin, "coin symbol missing or not alphanumeric")
    rest = ~bad_time & ~bad_coin
    _reject(stats, rest & missing, "price missing or not a number")
    _reject(stats, rest & not_finite, "price not finite")
    _reject(stats, rest & not_positive, "price not positive")
    _reject(stats, rest & crossed, "ask below bid")
    keep = rest & ~missing & ~not_finite & ~not_positive & ~crossed
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
    reader = pd.read_csv(path, dtype=str, chunksize=chunk_rows, skipinitialspace=True)
    kind: Literal["prices", "ohlcv"] | None = None
    for chunk in reader:
        chunk.columns = [str(c).strip().lower() for c in chunk.columns]
        if kind is None:
            kind = _detect(list(chunk.columns), layout, coin)
        yield normalise(chunk, kind, coin=coin, spread_bps=spread_bps, source=source, stats=stats)
