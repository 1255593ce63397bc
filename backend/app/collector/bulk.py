"""The fast path for many prices (imports, demo history).

Frames are packed into PostgreSQL's binary COPY format on a helper thread while the
database stores the previous frame. Each frame's coins then take one of two paths:

- a coin with nothing stored in the frame's time range is COPied straight into
  `price_data_5min`, and its hourly rollup rows are merged from the same numbers; should
  another writer store one of those rows meanwhile, the frame falls back to the next path;
- a coin with rows already in that range goes through a temporary table and one
  INSERT … ON CONFLICT DO NOTHING, so loading is idempotent (stored rows are never
  overwritten) and the table's trigger refreshes the rollup of the rows actually inserted.

Everything is one transaction: a failed import stores nothing.
"""

import logging
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import psycopg
from psycopg import errors as pg_errors
from sqlalchemy.engine import Engine

from app.collector import pgcopy
from app.collector.rollup import ROLLUP_BY_CALLER, ROLLUP_LOCK_KEY, hourly_rollup
from app.core.db import engine as default_engine

logger = logging.getLogger(__name__)

COLUMNS = ["timestamp", "coin_type", "bid", "ask", "last", "source"]
ANALYZE_AFTER_ROWS = 50_000
_PREFETCH_FRAMES = 2

_CREATE_STAGING = """
    CREATE TEMP TABLE price_import ("timestamp" timestamptz, coin_type text, source text,
        bid numeric, ask numeric, "last" numeric) ON COMMIT DROP;
    CREATE TEMP TABLE price_rollup_import (coin_type text, bucket timestamptz, open numeric,
        high numeric, low numeric, close numeric, bid numeric, ask numeric, bars int4,
        first_at timestamptz, last_at timestamptz) ON COMMIT DROP
"""
_COPY_PRICES = (
    'COPY {table} ("timestamp", coin_type, source, bid, ask, "last") FROM STDIN (FORMAT binary)'
)
_COPY_ROLLUP = (
    "COPY price_rollup_import (coin_type, bucket, open, high, low, close, bid, ask, bars, "
    "first_at, last_at) FROM STDIN (FORMAT binary)"
)
_INSERT_STAGED = """
    INSERT INTO price_data_5min ("timestamp", coin_type, bid, ask, "last", source)
    SELECT "timestamp", coin_type, bid, ask, "last", source FROM price_import
    ON CONFLICT (coin_type, "timestamp") DO NOTHING
"""
# Merging two rollups of disjoint rows of one hour: extremes combine, the open comes from
# the earlier first row and the close (with its bid/ask) from the later last row.
_MERGE_ROLLUP = """
    INSERT INTO price_rollup_1h AS r (coin_type, bucket, open, high, low, close, bid, ask,
                                      bars, first_at, last_at)
    SELECT coin_type, bucket, open, high, low, close, bid, ask, bars, first_at, last_at
    FROM price_rollup_import
    ON CONFLICT (coin_type, bucket) DO UPDATE SET
        open = CASE WHEN excluded.first_at < r.first_at THEN excluded.open ELSE r.open END,
        close = CASE WHEN excluded.last_at > r.last_at THEN excluded.close ELSE r.close END,
        bid = CASE WHEN excluded.last_at > r.last_at THEN excluded.bid ELSE r.bid END,
        ask = CASE WHEN excluded.last_at > r.last_at THEN excluded.ask ELSE r.ask END,
        high = greatest(r.high, excluded.high),
        low = least(r.low, excluded.low),
        bars = r.bars + excluded.bars,
        first_at = least(r.first_at, excluded.first_at),
        last_at = greatest(r.last_at, excluded.last_at)
"""
_STORED_IN_RANGE = """
    SELECT c.coin FROM unnest(%s::text[], %s::timestamptz[], %s::timestamptz[]) AS c(coin, lo, hi)
    WHERE EXISTS (SELECT 1 FROM price_data_5min p
                  WHERE p.coin_type = c.coin AND p."timestamp" BETWEEN c.lo AND c.hi)
"""


@dataclass(frozen=True)
class PackedCoin:
    """One coin's rows of a frame, ready for COPY, with their hourly rollup."""

    coin: str
    rows: int
    first: datetime
    last: datetime
    prices: bytes
    rollup: bytes


def _unix_us(stamps: pd.Series) -> npt.NDArray[np.int64]:
    index = pd.DatetimeIndex(stamps)
    if index.tz is None:
        raise ValueError("timestamps must be timezone-aware (UTC)")
    naive_utc = index.tz_convert("UTC").tz_localize(None)
    return np.asarray(naive_utc, dtype="datetime64[us]").view(np.int64)


def _pack_prices(
    coin: str, source: str, stamps: npt.NDArray[np.int64], frame: pd.DataFrame
) -> bytes:
    rows = np.empty(
        len(stamps),
        dtype=[
            ("fields", ">i2"),
            ("timestamp", pgcopy.TIMESTAMPTZ),
            ("coin", pgcopy.text_field(coin)),
            ("source", pgcopy.text_field(source)),
            ("bid", pgcopy.NUMERIC),
            ("ask", pgcopy.NUMERIC),
            ("last", pgcopy.NUMERIC),
        ],
    )
    rows["fields"] = len(rows.dtype.names or ()) - 1
    pgcopy.fill_timestamptz(rows["timestamp"], stamps)
    pgcopy.fill_text(rows["coin"], coin)
    pgcopy.fill_text(rows["source"], source)
    for name in ("bid", "ask", "last"):
        pgcopy.fill_numeric(rows[name], frame[name].to_numpy(np.float64))
    return rows.tobytes()


def _pack_rollup(coin: str, stamps: npt.NDArray[np.int64], frame: pd.DataFrame) -> bytes:
    hours = hourly_rollup(
        stamps,
        frame["last"].to_numpy(np.float64),
        frame["bid"].to_numpy(np.float64),
        frame["ask"].to_numpy(np.float64),
    )
    rows = np.empty(
        len(hours.bucket),
        dtype=[
            ("fields", ">i2"),
            ("coin", pgcopy.text_field(coin)),
            ("bucket", pgcopy.TIMESTAMPTZ),
            ("open", pgcopy.NUMERIC),
            ("high", pgcopy.NUMERIC),
            ("low", pgcopy.NUMERIC),
            ("close", pgcopy.NUMERIC),
            ("bid", pgcopy.NUMERIC),
            ("ask", pgcopy.NUMERIC),
            ("bars", pgcopy.INT4),
            ("first_at", pgcopy.TIMESTAMPTZ),
            ("last_at", pgcopy.TIMESTAMPTZ),
        ],
    )
    rows["fields"] = len(rows.dtype.names or ()) - 1
    pgcopy.fill_text(rows["coin"], coin)
    pgcopy.fill_timestamptz(rows["bucket"], hours.bucket)
    for name in ("open", "high", "low", "close", "bid", "ask"):
        pgcopy.fill_numeric(rows[name], getattr(hours, name))
    pgcopy.fill_int4(rows["bars"], hours.bars)
    pgcopy.fill_timestamptz(rows["first_at"], hours.first_at)
    pgcopy.fill_timestamptz(rows["last_at"], hours.last_at)
    return rows.tobytes()


@dataclass(frozen=True)
class PackedFrame:
    offered: int
    coins: list[PackedCoin]


def pack_frame(frame: pd.DataFrame) -> PackedFrame:
    """A validated frame (columns COLUMNS, tz-aware timestamps, positive finite prices),
    split by coin and source, each part in time order; of several rows of a coin at one
    time, the last is kept."""
    if frame.empty:
        return PackedFrame(0, [])
    stamps_all = _unix_us(frame["timestamp"])
    coin_codes, coins = pd.factorize(frame["coin_type"].astype(str))
    source_codes, sources = pd.factorize(frame["source"].astype(str))
    codes = coin_codes * len(sources) + source_codes
    packed = []
    for code in np.unique(codes):
        coin = str(coins[code // len(sources)])
        source = str(sources[code % len(sources)])
        positions = np.flatnonzero(codes == code)
        order = positions[np.argsort(stamps_all[positions], kind="stable")]
        ordered = stamps_all[order]
        order = order[np.append(ordered[1:] != ordered[:-1], True)]
        stamps = stamps_all[order]
        part = frame.iloc[order]
        packed.append(
            PackedCoin(
                coin=coin,
                rows=len(order),
                first=_datetime(stamps[0]),
                last=_datetime(stamps[-1]),
                prices=_pack_prices(coin, source, stamps, part),
                rollup=_pack_rollup(coin, stamps, part),
            )
        )
    return PackedFrame(len(frame), packed)


def _datetime(unix_us: np.int64) -> datetime:
    return datetime.fromtimestamp(int(unix_us) / 1e6, UTC)


def _prefetch(frames: Iterable[pd.DataFrame]) -> Iterator[PackedFrame]:
    """Read and pack frames on a helper thread, a couple of frames ahead of the database."""
    slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=_PREFETCH_FRAMES)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for frame in frames:
                if not put(("frame", pack_frame(frame))):
                    return
            put(("done", None))
        except BaseException as error:  # handed to the consumer, which re-raises it
            put(("error", error))

    worker = threading.Thread(target=produce, name="price-import-reader", daemon=True)
    worker.start()
    try:
        while True:
            kind, item = slots.get()
            if kind == "done":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def _copy_in(cur: psycopg.Cursor[Any], statement: str, tuples: list[bytes]) -> None:
    """One binary COPY of packed tuples."""
    with cur.copy(statement) as copy:
        copy.write(pgcopy.HEADER)
        for chunk in tuples:
            copy.write(chunk)
        copy.write(pgcopy.TRAILER)


class _Loader:
    """Stores packed frames on one connection inside one transaction."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.offered = 0
        self.stored = 0
        self.direct = 0
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (ROLLUP_LOCK_KEY,))
            cur.execute(_CREATE_STAGING)

    def store(self, frame: PackedFrame) -> None:
        self.offered += frame.offered
        packed = frame.coins
        if not packed:
            return
        overlapping = self._stored_in_range(packed)
        fresh = [p for p in packed if p.coin not in overlapping]
        if fresh and not self._copy_fresh(fresh):
            overlapping |= {p.coin for p in fresh}
        staged = [p for p in packed if p.coin in overlapping]
        if staged:
            self._insert_staged(staged)

    def _stored_in_range(self, packed: list[PackedCoin]) -> set[str]:
        with self.conn.cursor() as cur:
            cur.execute(
                _STORED_IN_RANGE,
                ([p.coin for p in packed], [p.first for p in packed], [p.last for p in packed]),
            )
            return {row[0] for row in cur.fetchall()}

    def _copy_fresh(self, fresh: list[PackedCoin]) -> bool:
        """COPY rows into the table and merge their rollup; False (and nothing stored) when
        a row turned out to be there already."""
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                # The rows are new, so their rollup merges from the numbers at hand; the
                # table's trigger would otherwise recompute every touched hour.
                cur.execute("SELECT set_config(%s, 'on', true)", (ROLLUP_BY_CALLER,))
                _copy_in(
                    cur, _COPY_PRICES.format(table="price_data_5min"), [p.prices for p in fresh]
                )
                _copy_in(cur, _COPY_ROLLUP, [p.rollup for p in fresh])
                cur.execute(_MERGE_ROLLUP)
                cur.execute("TRUNCATE price_rollup_import")
                cur.execute("SELECT set_config(%s, 'off', true)", (ROLLUP_BY_CALLER,))
        except (pg_errors.UniqueViolation, pg_errors.CardinalityViolation):
            logger.info("prices appeared while importing; storing this frame idempotently")
            return False
        rows = sum(p.rows for p in fresh)
        self.stored += rows
        self.direct += rows
        return True

    def _insert_staged(self, staged: list[PackedCoin]) -> None:
        with self.conn.cursor() as cur:
            _copy_in(cur, _COPY_PRICES.format(table="price_import"), [p.prices for p in staged])
            cur.execute(_INSERT_STAGED)
            self.stored += max(cur.rowcount, 0)
            cur.execute("TRUNCATE price_import")


def store_frames(
    frames: Iterable[pd.DataFrame], *, db_engine: Engine | None = None
) -> tuple[int, int]:
    """Store validated frames (columns COLUMNS, tz-aware UTC timestamps, positive finite
    prices below 10^14); returns (rows offered, rows newly stored)."""
    raw = (db_engine or default_engine).raw_connection()
    started = time.monotonic()
    try:
        conn = raw.driver_connection
        assert conn is not None
        loader = _Loader(conn)
        for packed in _prefetch(frames):
            loader.store(packed)
        conn.commit()
        if loader.stored >= ANALYZE_AFTER_ROWS:
            # Fresh planner statistics, so queries over what was just loaded plan well.
            with conn.cursor() as cur:
                cur.execute("ANALYZE price_data_5min")
                cur.execute("ANALYZE price_rollup_1h")
            conn.commit()
    except Exception:
        raw.rollback()
        raise
    finally:
        raw.close()
    logger.info(
        "prices bulk-stored",
        extra={
            "offered": loader.offered,
            "stored": loader.stored,
            "copied_directly": loader.direct,
            "duration_ms": round((time.monotonic() - started) * 1000),
        },
    )
    return loader.offered, loader.stored
