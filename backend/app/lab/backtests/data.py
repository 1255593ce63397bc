"""Which prices exist for a run, and the per-coin frames the algorithm sees."""

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.core.config import settings
from app.lab.engine.frame import FIELDS
from app.lab.engine.price_cache import PriceCache

# The collector owns price_data_5min and price_rollup_1h; the Lab addresses them by column
# names only. Symbols are stored upper-case, so a plain comparison uses the (coin, timestamp)
# index. Every figure is an index hop or a rollup sum, never a scan of the range's rows: the
# first and last row by the index; the row count from the rollup hours strictly between the
# hours of `start` and `end` (wholly inside the range) plus the rows of those two edge hours.
_COVERAGE_QUERY = sa.text(
    """
    SELECT c.coin, r.first, r.last,
           (SELECT count(*) FROM price_data_5min p
            WHERE p.coin_type = c.coin AND p."timestamp" BETWEEN :start AND :end
              AND (p."timestamp" < :first_hour_end OR p."timestamp" >= :last_hour))
           + (SELECT coalesce(sum(h.bars), 0) FROM price_rollup_1h h
              WHERE h.coin_type = c.coin AND h.bucket > :first_hour AND h.bucket < :last_hour)
           AS rows
    FROM unnest(CAST(:coins AS text[])) AS c(coin)
    CROSS JOIN LATERAL (
        SELECT min(p."timestamp") AS first, max(p."timestamp") AS last FROM price_data_5min p
        WHERE p.coin_type = c.coin AND p."timestamp" BETWEEN :start AND :end
    ) r
    WHERE r.first IS NOT NULL
    """
)
_KNOWN_QUERY = sa.text(
    "SELECT c.coin FROM unnest(CAST(:coins AS text[])) AS c(coin) "
    "WHERE EXISTS (SELECT 1 FROM price_data_5min p WHERE p.coin_type = c.coin)"
)


@dataclass(frozen=True)
class Coverage:
    coin: str
    first: datetime
    last: datetime
    rows: int


class DataUnavailableError(ValueError):
    """The requested coins or range hold no prices; the message says which and where."""


_price_cache: PriceCache | None = None


def price_cache() -> PriceCache | None:
    """This process's cache of prices read by backtests and sweeps (None when turned off)."""
    global _price_cache
    if settings.LAB_PRICE_CACHE_MB <= 0:
        return None
    if _price_cache is None:
        _price_cache = PriceCache(settings.LAB_PRICE_CACHE_MB * 1024 * 1024)
    return _price_cache


def check_coverage(
    session: Session, coins: list[str], start: datetime, end: datetime
) -> dict[str, Coverage]:
    """Every coin must be known and have prices in [start, end]; raises with a clear message."""
    known = {row.coin for row in session.connection().execute(_KNOWN_QUERY, {"coins": coins})}
    unknown = [c for c in coins if c not in known]
    if unknown:
        raise DataUnavailableError(
            f"unknown coin(s): {', '.join(unknown)} (no price history collected)"
        )
    first_hour = pd.Timestamp(start).tz_convert("UTC").floor("h")
    last_hour = pd.Timestamp(end).tz_convert("UTC").floor("h")
    rows = session.connection().execute(
        _COVERAGE_QUERY,
        {
            "coins": coins,
            "start": start,
            "end": end,
            "first_hour": first_hour.to_pydatetime(),
            "first_hour_end": (first_hour + pd.Timedelta(hours=1)).to_pydatetime(),
            "last_hour": last_hour.to_pydatetime(),
        },
    )
    coverage = {r.coin: Coverage(r.coin, r.first, r.last, int(r.rows)) for r in rows}
    missing = [c for c in coins if c not in coverage]
    if missing:
        raise DataUnavailableError(
            f"no price data for {', '.join(missing)} between {start.isoformat()} and {end.isoformat()}"
        )
    return coverage


def coin_frame(frame: pd.DataFrame, coin: str) -> pd.DataFrame:
    """One coin's bid/ask/last on the grid, without the bars where it has no price."""
    single = frame.xs(coin, axis=1, level=0)
    assert isinstance(single, pd.DataFrame)
    return single.loc[:, list(FIELDS)].dropna(how="any")


def positions_on_grid(positions: "pd.Series[float]", index: pd.DatetimeIndex) -> "pd.Series[float]":
    """Positions decided on the coin's own bars, held through its missing bars, flat before."""
    aligned = positions.reindex(index).ffill().fillna(0.0)
    return aligned.clip(0.0, 1.0)


def grid_indexer(index: pd.Index, grid: pd.DatetimeIndex) -> "npt.NDArray[np.intp]":
    """For each bar of `grid`, the position of that bar in a coin's own `index` (-1 where the
    coin has no bar): computed once, it aligns many position arrays on that index."""
    indexer: npt.NDArray[np.intp] = np.asarray(index.get_indexer(grid), dtype=np.intp)
    return indexer


def positions_on_grid_array(
    values: "npt.NDArray[np.float64]", indexer: "npt.NDArray[np.intp]"
) -> "npt.NDArray[np.float64]":
    """`positions_on_grid` for positions as an array on the index `indexer` was made from:
    the same numbers, without pandas' per-call alignment."""
    aligned = np.where(indexer >= 0, values[np.maximum(indexer, 0)], np.nan)
    present = ~np.isnan(aligned)
    if not present.all():
        last = np.maximum.accumulate(np.where(present, np.arange(len(aligned)), -1))
        aligned = np.where(last >= 0, aligned[np.maximum(last, 0)], 0.0)
    return np.clip(aligned, 0.0, 1.0)
