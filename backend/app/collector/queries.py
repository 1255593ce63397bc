"""Read-side SQL for the prices API and the collector's status: latest prices, coin
coverage, history (raw with cursor pagination, or resampled in SQL) and gaps."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

Interval = Literal["5m", "15m", "1h", "4h", "1d"]
INTERVALS: dict[str, timedelta] = {
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "1d": timedelta(days=1),
}
SLOT = timedelta(minutes=5)

# Newest row of each coin and its last price 24 h before that row, for the change (none when
# history is shorter). The coins are found by hopping through the (coin_type, timestamp)
# index one coin at a time, so the cost follows the number of coins, not of rows.
_LATEST = sa.text(
    """
    WITH RECURSIVE coins AS (
        (SELECT coin_type FROM price_data_5min ORDER BY coin_type LIMIT 1)
        UNION ALL
        SELECT (SELECT p.coin_type FROM price_data_5min p WHERE p.coin_type > c.coin_type
                ORDER BY p.coin_type LIMIT 1)
        FROM coins c WHERE c.coin_type IS NOT NULL
    )
    SELECT p.coin_type AS coin, p."timestamp", p.bid::text AS bid, p.ask::text AS ask,
           p."last"::text AS "last", p.source,
           CASE WHEN prev."last" > 0
                THEN round(((p."last" - prev."last") / prev."last" * 100)::numeric, 4)::float8
           END AS change_24h_pct
    FROM coins c
    CROSS JOIN LATERAL (
        SELECT * FROM price_data_5min q WHERE q.coin_type = c.coin_type
        ORDER BY q."timestamp" DESC LIMIT 1
    ) p
    LEFT JOIN LATERAL (
        SELECT "last" FROM price_data_5min q
        WHERE q.coin_type = p.coin_type AND q."timestamp" <= p."timestamp" - interval '24 hours'
        ORDER BY q."timestamp" DESC LIMIT 1
    ) prev ON true
    ORDER BY p.coin_type
    """
)

# Coverage from the hourly rollup (exact: it is kept with every write), a twelfth of the rows.
_COINS = sa.text(
    """
    SELECT coin_type AS coin, min(first_at) AS first, max(last_at) AS last,
           sum(bars)::int8 AS rows
    FROM price_rollup_1h GROUP BY coin_type ORDER BY coin_type
    """
)

_COIN_EXISTS = sa.text("SELECT 1 FROM price_data_5min WHERE coin_type = :coin LIMIT 1")

_RAW = sa.text(
    """
    SELECT ("timestamp" AT TIME ZONE 'UTC') AS "timestamp", bid::float8 AS bid,
           ask::float8 AS ask, "last"::float8 AS "last"
    FROM price_data_5min
    WHERE coin_type = :coin AND "timestamp" >= :start AND "timestamp" <= :end
      AND "timestamp" > :after
    ORDER BY "timestamp"
    LIMIT :limit
    """
)

# The rows of the window's partial buckets: two index ranges, one at either end.
_ROWS_IN_RANGE = """
        SELECT date_bin(:step, "timestamp", TIMESTAMPTZ '1970-01-01 00:00:00+00') AS bucket,
               extract(epoch FROM "timestamp")::float8 AS ts, bid::float8 AS bid,
               ask::float8 AS ask, "last"::float8 AS "last"
        FROM price_data_5min
        WHERE coin_type = :coin AND "timestamp" <= :end AND "timestamp" >= :after_bucket
          AND {range}
"""
# OHLC of `last` and the closing bid/ask per bucket; buckets start at multiples of the
# interval since the epoch (UTC), like the collector's slots. The first/last values come from
# min/max over [epoch, value] pairs: one pass, no sort inside each bucket.
# bandit B608: only this module's constant SQL fragments are spliced in; values are bound.
_BUCKETS_FROM_ROWS = f"""
    SELECT (bucket AT TIME ZONE 'UTC') AS "timestamp",
           (min(ARRAY[ts, "last"]))[2] AS open,
           max("last") AS high,
           min("last") AS low,
           (max(ARRAY[ts, "last"]))[2] AS close,
           (max(ARRAY[ts, bid]))[2] AS bid,
           (max(ARRAY[ts, ask]))[2] AS ask,
           count(*) AS bars
    FROM (
        {_ROWS_IN_RANGE.format(range='"timestamp" >= :start AND "timestamp" < :whole_start')}
        UNION ALL
        {_ROWS_IN_RANGE.format(range='"timestamp" >= :whole_end')}
    ) b
    WHERE bucket > :after
    GROUP BY bucket
"""  # nosec B608

# Buckets wholly inside [start, end] come from the hourly rollup: an hour is one rollup row;
# 4 h and 1 d buckets combine their hours (open of the first, close of the last).
_HOURS_FROM_ROLLUP = """
    SELECT (bucket AT TIME ZONE 'UTC') AS "timestamp", open::float8 AS open,
           high::float8 AS high, low::float8 AS low, close::float8 AS close,
           bid::float8 AS bid, ask::float8 AS ask, bars::int8 AS bars
    FROM price_rollup_1h
    WHERE coin_type = :coin AND bucket >= :whole_start AND bucket < :whole_end
      AND bucket > :after
"""
_SPANS_FROM_ROLLUP = """
    SELECT (span AT TIME ZONE 'UTC') AS "timestamp",
           ((array_agg(open ORDER BY bucket))[1])::float8 AS open,
           max(high)::float8 AS high, min(low)::float8 AS low,
           ((array_agg(close ORDER BY bucket DESC))[1])::float8 AS close,
           ((array_agg(bid ORDER BY bucket DESC))[1])::float8 AS bid,
           ((array_agg(ask ORDER BY bucket DESC))[1])::float8 AS ask,
           sum(bars)::int8 AS bars
    FROM (
        SELECT date_bin(:step, bucket, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS span, *
        FROM price_rollup_1h
        WHERE coin_type = :coin AND bucket >= :whole_start AND bucket < :whole_end
          AND bucket >= :after_bucket
    ) h
    WHERE span > :after
    GROUP BY span
"""


def _resampled(rollup_part: str) -> sa.TextClause:
    # bandit B608: splices constant SQL fragments; values are bound
    return sa.text(
        f"""
        SELECT * FROM (({_BUCKETS_FROM_ROWS}) UNION ALL ({rollup_part})) u
        ORDER BY "timestamp"
        LIMIT :limit
        """  # nosec B608
    )


_RESAMPLED_HOURLY = _resampled(_HOURS_FROM_ROLLUP)
_RESAMPLED_SPANS = _resampled(_SPANS_FROM_ROLLUP)
_RESAMPLED_ROWS = sa.text(
    f"""
    {_BUCKETS_FROM_ROWS}
    ORDER BY "timestamp"
    LIMIT :limit
    """
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_HOUR = timedelta(hours=1)


def _whole_buckets(start: datetime, end: datetime, step: timedelta) -> tuple[datetime, datetime]:
    """[first, end) of the buckets lying wholly inside [start, end]; empty when there are
    none (both ends past `end`)."""
    unit = step // _MICROSECOND
    first = -(-((start - _EPOCH) // _MICROSECOND) // unit) * unit
    stop = (((end - _EPOCH) // _MICROSECOND) + 1) // unit * unit
    if first >= stop:
        beyond = end + _MICROSECOND
        return beyond, beyond
    return _EPOCH + first * _MICROSECOND, _EPOCH + stop * _MICROSECOND


# Runs of missing slots per coin. The coins with rows in the window come from the rollup's
# bucket index; each coin's rows are then read through the (coin, timestamp) index.
_GAPS = sa.text(
    """
    SELECT c.coin_type AS coin, g.prev AS after, g."timestamp" AS before, g.missing
    FROM (
        SELECT DISTINCT coin_type FROM price_rollup_1h
        WHERE bucket >= date_trunc('hour', CAST(:start AS timestamptz) AT TIME ZONE 'UTC')
                        AT TIME ZONE 'UTC'
          AND bucket <= :end
          AND (CAST(:coin AS text) IS NULL OR coin_type = :coin)
    ) c
    CROSS JOIN LATERAL (
        SELECT prev, "timestamp",
               (extract(epoch FROM ("timestamp" - prev)) / 300)::int - 1 AS missing
        FROM (
            SELECT "timestamp", lag("timestamp") OVER (ORDER BY "timestamp") AS prev
            FROM price_data_5min
            WHERE coin_type = c.coin_type AND "timestamp" >= :start AND "timestamp" <= :end
        ) t
        WHERE prev IS NOT NULL AND "timestamp" - prev > interval '5 minutes'
    ) g
    ORDER BY c.coin_type, g.prev
    LIMIT :limit
    """
)


def latest_prices(session: Session) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in session.connection().execute(_LATEST)]


def coins(session: Session) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in session.connection().execute(_COINS)]


def coin_exists(session: Session, coin: str) -> bool:
    return session.connection().execute(_COIN_EXISTS, {"coin": coin}).first() is not None


@dataclass(frozen=True)
class HistoryPage:
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]  # the naive UTC datetime first, then values as float64
    next_after: datetime | None


def history(
    session: Session,
    coin: str,
    start: datetime,
    end: datetime,
    *,
    interval: str,
    limit: int,
    after: datetime | None,
) -> HistoryPage:
    """Up to `limit` rows (or buckets) after the cursor; `next_after` is None on the last page."""
    floor = after if after is not None else start - INTERVALS[interval] - SLOT
    params: dict[str, Any] = {
        "coin": coin,
        "start": start,
        "end": end,
        "after": floor,
        "limit": limit + 1,
    }
    statement = _RAW
    if interval != "5m":
        step = INTERVALS[interval]
        params["step"] = step
        # Rows of the bucket holding the cursor belong to an earlier page: skip them cheaply.
        params["after_bucket"] = floor + step if after is not None else floor
        if step % _HOUR:
            # Shorter than the rollup's hour: every bucket comes from the rows.
            params["whole_start"] = params["whole_end"] = end + _MICROSECOND
            statement = _RESAMPLED_ROWS
        else:
            params["whole_start"], params["whole_end"] = _whole_buckets(start, end, step)
            statement = _RESAMPLED_HOURLY if step == _HOUR else _RESAMPLED_SPANS
    # Straight to psycopg with binary results: a year is 100k rows of floats, and the text
    # protocol and SQLAlchemy's Row objects would cost more than the query itself.
    compiled = statement.compile(dialect=session.get_bind().dialect)
    driver = session.connection().connection.driver_connection
    assert driver is not None
    with driver.cursor(binary=True) as cursor:
        # Grouping a year of rows into buckets sorts them: keep that sort in memory.
        cursor.execute("SET LOCAL work_mem = '64MB'")
        # JIT compilation costs more than it saves on these short queries.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(str(compiled), {k: params[k] for k in compiled.params})
        columns = tuple(d.name for d in cursor.description or ())
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    if len(rows) > limit:
        rows = rows[:limit]
        return HistoryPage(columns, rows, rows[-1][0].replace(tzinfo=UTC))
    return HistoryPage(columns, rows, None)


def gaps(
    session: Session,
    start: datetime,
    end: datetime,
    *,
    coin: str | None = None,
    limit: int = 10_000,
) -> list[dict[str, Any]]:
    """Runs of missing 5-minute slots between two stored rows of a coin."""
    params = {"start": start, "end": end, "coin": coin, "limit": limit}
    return [dict(row._mapping) for row in session.connection().execute(_GAPS, params)]


_RUN_COUNTS = sa.text(
    """
    SELECT count(*) AS runs, count(*) FILTER (WHERE status = 'failed') AS errors,
           coalesce(sum(rows_stored), 0) AS rows_stored,
           coalesce(sum(rows_rejected), 0) AS rows_rejected
    FROM collection_runs WHERE started_at >= :since
    """
)
_LAST_RUN = sa.text("SELECT * FROM collection_runs ORDER BY started_at DESC, id DESC LIMIT 1")


def run_counts(session: Session, since: datetime) -> dict[str, Any]:
    row = session.connection().execute(_RUN_COUNTS, {"since": since}).one()
    return {k: int(v) for k, v in row._mapping.items()}


def last_run(session: Session) -> dict[str, Any] | None:
    row = session.connection().execute(_LAST_RUN).first()
    return dict(row._mapping) if row is not None else None
