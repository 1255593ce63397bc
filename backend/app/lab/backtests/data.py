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

# The collector owns price_data_5min; the Lab addresses it by column names only. Symbols
# are stored upper-case, so a plain comparison uses the (coin, timestamp) index.
_COVERAGE_QUERY = sa.text(
    """
    SELECT coin_type AS coin, min("timestamp") AS first, max("timestamp") AS last,
           count(*) AS rows
    FROM price_data_5min
    WHERE coin_type = ANY(:coins) AND "timestamp" BETWEEN :start AND :end
    GROUP BY coin_type
    """
)
_KNOWN_QUERY = sa.text(
    "SELECT DISTINCT coin_type AS coin FROM price_data_5min WHERE coin_type = ANY(:coins)"
)


_price_cache: PriceCache | None = None


def price_cache() -> PriceCache | None:
    """This process's cache of prices read by backtests and sweeps (None when turned off)."""
    global _price_cache
    if settings.LAB_PRICE_CACHE_MB <= 0:
        return None
    if _price_cache is None:
        _price_cache = PriceCache(settings.LAB_PRICE_CACHE_MB * 1024 * 1024)
    return _price_cache


@dataclass(frozen=True)
class Coverage:
    coin: str
    first: datetime
    last: datetime
    rows: int


class DataUnavailableError(ValueError):
    """The requested coins or range hold no prices; the message says which and where."""


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
    rows = session.connection().execute(
        _COVERAGE_QUERY, {"coins": coins, "start": start, "end": end}
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
