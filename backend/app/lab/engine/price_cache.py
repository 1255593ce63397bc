"""An in-memory cache of `price_data_5min` rows per coin and UTC day, as float64 columns, that
never hands out data differing from the database.

Rules it keeps:

- A cached day is the exact rows of one stored coin symbol whose timestamps fall in one UTC
  day, as read by one statement, stamped with that day's fingerprint read by the same
  statement (one snapshot): the number of `price_rollup_1h` rows of the day and their largest
  `version`.
- The rollup is kept exact by every write path (triggers on the prices table, the bulk
  loader's merge), every rollup insert or update takes a new `version` from a sequence, and
  rollup writers hold one advisory lock until they commit (migration h18). So when any row of
  a day is added, changed or deleted, the day's max(version) grows or its hour count drops:
  equal fingerprints mean equal rows.
- Every read is validated: one statement returns the fingerprints of every requested day
  together with the rows of the days not cached. Cached days whose fingerprint differs are
  read again with a fresh statement that re-checks every day, so the rows returned are exactly
  those of the last statement's snapshot. After a few rounds of concurrent writes it reads the
  whole range in one statement without the cache.
- Entries are keyed by the database (server, database OID and the version sequence's OID, so a
  re-created database or sequence never matches old entries) and evicted least recently used
  beyond `max_bytes`. Thread-safe: backtests load prices on worker threads.
"""

import logging
import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy.orm import Session

from app.lab.engine.market import FloatArray

logger = logging.getLogger(__name__)

DAY_NS = 86_400 * 1_000_000_000
_ENTRY_OVERHEAD = 256  # bytes of bookkeeping per cached day, for the size bound
MAX_ROUNDS = 3
MAX_DERIVED = 8  # results computed from whole reads (gridded frames) kept at most

# Fingerprints of every requested (coin, day) from the rollup, and rows of the wanted ranges,
# in one statement: one snapshot. Observations as binary float8 arrays (see market_data).
_READ = """
WITH fp AS (
    SELECT coin_type,
           -- UTC day start in seconds: arithmetic, cheaper than date_trunc in a time zone
           (floor(date_part('epoch', bucket) / 86400) * 86400)::int8 AS day,
           count(*)::int8 AS hours, max(version) AS version
    FROM price_rollup_1h
    WHERE coin_type = ANY(%(names)s) AND bucket >= %(low)s AND bucket < %(high)s
    GROUP BY 1, 2
), fps AS (
    SELECT coin_type, array_agg(day) AS days, array_agg(hours) AS hours,
           array_agg(version) AS versions
    FROM fp GROUP BY coin_type
), wanted AS (
    SELECT * FROM unnest(%(w_names)s::text[], %(w_low)s::timestamptz[], %(w_high)s::timestamptz[])
        AS w(coin_type, low, high)
), observed AS (
    SELECT p.coin_type,
           array_send(array_agg(date_part('epoch', p."timestamp"))) AS ts,
           array_send(array_agg(coalesce(p.bid::float8, 'NaN'))) AS bid,
           array_send(array_agg(coalesce(p.ask::float8, 'NaN'))) AS ask,
           array_send(array_agg(coalesce(p."last"::float8, 'NaN'))) AS "last"
    FROM wanted w JOIN price_data_5min p
        ON p.coin_type = w.coin_type AND p."timestamp" >= w.low AND p."timestamp" < w.high
    GROUP BY p.coin_type
)
SELECT coalesce(fps.coin_type, observed.coin_type), fps.days, fps.hours, fps.versions,
       observed.ts, observed.bid, observed.ask, observed."last"
FROM fps FULL JOIN observed ON observed.coin_type = fps.coin_type
"""
_NAMESPACE = """
SELECT (SELECT oid FROM pg_database WHERE datname = current_database())::int8,
       to_regclass('price_rollup_1h_version_seq')::oid::int8
"""
# Elements of a binary float8 array: length (always 8: a missing price is sent as NaN), value.
_FLOAT8_ELEMENT = np.dtype([("len", ">i4"), ("value", ">f8")])


def float8_array(data: bytes) -> FloatArray:
    """A one-dimensional float8[] in binary form as a float64 array."""
    dimensions, has_nulls = int.from_bytes(data[0:4], "big"), int.from_bytes(data[4:8], "big")
    if dimensions == 0:
        return np.empty(0)
    if dimensions != 1 or has_nulls:
        raise ValueError("expected a one-dimensional float8 array without NULLs")
    elements = np.frombuffer(data, dtype=_FLOAT8_ELEMENT, offset=12 + 8 * dimensions)
    return elements["value"].astype(np.float64)


@dataclass(frozen=True, slots=True, eq=False)
class Observations:
    """Rows of one stored coin symbol in time order of the database's choosing: timestamps in
    nanoseconds since the epoch (from float8 seconds, as `market_data` always did)."""

    timestamps: npt.NDArray[np.int64]
    bid: FloatArray
    ask: FloatArray
    last: FloatArray

    @property
    def nbytes(self) -> int:
        return int(self.timestamps.nbytes + self.bid.nbytes + self.ask.nbytes + self.last.nbytes)

    def between(self, low_ns: int, high_ns: int) -> "Observations":
        keep = (self.timestamps >= low_ns) & (self.timestamps < high_ns)
        if keep.all():
            return self
        return Observations(self.timestamps[keep], self.bid[keep], self.ask[keep], self.last[keep])

    @staticmethod
    def join(parts: Sequence["Observations"]) -> "Observations":
        if not parts:
            return EMPTY
        if len(parts) == 1:
            return parts[0]
        return Observations(
            np.concatenate([p.timestamps for p in parts]),
            np.concatenate([p.bid for p in parts]),
            np.concatenate([p.ask for p in parts]),
            np.concatenate([p.last for p in parts]),
        )

    @staticmethod
    def from_arrays(ts: bytes, bid: bytes, ask: bytes, last: bytes) -> "Observations":
        return Observations(
            np.rint(float8_array(ts) * 1e9).astype(np.int64),
            float8_array(bid),
            float8_array(ask),
            float8_array(last),
        )


EMPTY = Observations(np.empty(0, np.int64), np.empty(0), np.empty(0), np.empty(0))
Fingerprint = tuple[int, int]  # (rollup hours of the day, their largest version)
NO_ROWS: Fingerprint = (0, 0)
_Key = tuple[tuple[Any, ...], str, int]  # (database, coin symbol, day start in ns)


@dataclass(frozen=True, slots=True, eq=False)
class _Day:
    fingerprint: Fingerprint
    rows: Observations


@dataclass
class CacheStats:
    hits: int = 0  # days served from the cache
    misses: int = 0  # days read because they were not cached
    stale: int = 0  # cached days read again because the database changed
    fallbacks: int = 0  # reads done without the cache after too many changes


class PriceCache:
    """Per (database, coin, UTC day) rows, at most `max_bytes` of them (see the module rules)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.stats = CacheStats()
        self._days: OrderedDict[_Key, _Day] = OrderedDict()
        self._derived: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def clear(self) -> None:
        with self._lock:
            self._days.clear()
            self._derived.clear()
            self._bytes = 0

    def read(
        self, session: Session, names: Sequence[str], low: pd.Timestamp, high: pd.Timestamp
    ) -> "CachedRead":
        """Rows of the stored symbols `names` with low <= timestamp < high."""
        low_ns, high_ns = int(low.value), int(high.value)
        first_day = low_ns // DAY_NS * DAY_NS
        days = list(range(first_day, high_ns, DAY_NS))
        driver = session.connection().connection.driver_connection
        assert driver is not None
        with driver.cursor(binary=True) as cursor:
            cursor.execute("SET LOCAL work_mem = '256MB'")
            cursor.execute("SET LOCAL jit = off")
            cursor.execute(_NAMESPACE)
            db_oid, seq_oid = cursor.fetchone() or (None, None)
            if seq_oid is None:
                raise RuntimeError("price_rollup_1h has no version sequence (migration h18)")
            info = driver.info
            database = (info.host, info.port, info.dbname, db_oid, seq_oid)
            bounds = _Bounds(days[0], days[-1] + DAY_NS)
            chosen, exact = self._run(cursor, database, list(names), days, bounds)
        signature = None
        if exact:
            fingerprints = tuple(day.fingerprint for per_day in chosen.values() for day in per_day)
            signature = (database, tuple(names), low_ns, high_ns, fingerprints)
        return CachedRead(chosen, low_ns, high_ns, signature)

    def recall(self, key: Hashable) -> Any | None:
        """What `remember` kept under `key` (derived from a `CachedRead.signature`)."""
        with self._lock:
            entry = self._derived.get(key)
            if entry is not None:
                self._derived.move_to_end(key)
                return entry[0]
            return None

    def remember(self, key: Hashable, value: Any, nbytes: int) -> None:
        """Keep something computed from the rows of one read (e.g. its gridded frame) under
        a key that contains the read's signature; it counts against the size bound and goes
        first when space is needed."""
        with self._lock:
            old = self._derived.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._derived[key] = (value, nbytes)
            self._bytes += nbytes
            while len(self._derived) > MAX_DERIVED:
                self._bytes -= self._derived.popitem(last=False)[1][1]
            self._evict()

    def _evict(self) -> None:
        while self._bytes > self.max_bytes and self._derived:
            self._bytes -= self._derived.popitem(last=False)[1][1]
        while self._bytes > self.max_bytes and self._days:
            _, evicted = self._days.popitem(last=False)
            self._bytes -= evicted.rows.nbytes + _ENTRY_OVERHEAD

    def _run(
        self,
        cursor: Any,
        database: tuple[Any, ...],
        names: list[str],
        days: list[int],
        bounds: "_Bounds",
    ) -> tuple[dict[str, list[_Day]], bool]:
        """The days of every name, and whether they carry the fingerprints they were read
        under (False after the fallback read)."""
        keys = [(name, day) for name in names for day in days]
        with self._lock:
            known = {
                key: entry
                for key in keys
                if (entry := self._days.get((database, *key))) is not None
            }
        want = {key for key in keys if key not in known}
        self.stats.misses += len(want)
        fresh: set[tuple[str, int]] = set()
        for _ in range(MAX_ROUNDS):
            fingerprints, loaded = _read_days(cursor, names, want, bounds)
            for key, rows in loaded.items():
                known[key] = _Day(fingerprints.get(key, NO_ROWS), rows)
            fresh |= loaded.keys()
            want = {key for key in keys if known[key].fingerprint != fingerprints.get(key, NO_ROWS)}
            if not want:
                self._store(database, keys, known, fresh)
                self.stats.hits += len(keys) - len(fresh)
                return {name: [known[(name, day)] for day in days] for name in names}, True
            self.stats.stale += len(want)
        # The rows keep changing under us: read everything in one statement, cache nothing.
        self.stats.fallbacks += 1
        _, loaded = _read_days(cursor, names, set(keys), bounds)
        return {name: [_Day(NO_ROWS, loaded[(name, day)]) for day in days] for name in names}, False

    def _store(
        self,
        database: tuple[Any, ...],
        keys: list[tuple[str, int]],
        known: dict[tuple[str, int], _Day],
        fresh: set[tuple[str, int]],
    ) -> None:
        with self._lock:
            for name, day in keys:
                key = (database, name, day)
                if (name, day) in fresh:
                    old = self._days.pop(key, None)
                    if old is not None:
                        self._bytes -= old.rows.nbytes + _ENTRY_OVERHEAD
                    entry = known[(name, day)]
                    self._days[key] = entry
                    self._bytes += entry.rows.nbytes + _ENTRY_OVERHEAD
                elif key in self._days:
                    self._days.move_to_end(key)
            self._evict()


@dataclass(frozen=True, slots=True, eq=False)
class CachedRead:
    """The outcome of `PriceCache.read`. `signature` identifies the rows exactly (database,
    names, range and every day's fingerprint), or is None when they were read without the
    cache's fingerprints: equal signatures mean equal rows."""

    days: dict[str, list[_Day]]
    low_ns: int
    high_ns: int
    signature: Hashable | None

    def rows(self) -> dict[str, Observations]:
        """Per stored symbol, its rows in time order."""
        return {
            name: Observations.join([day.rows for day in per_day]).between(
                self.low_ns, self.high_ns
            )
            for name, per_day in self.days.items()
        }


@dataclass(frozen=True, slots=True)
class _Bounds:
    low_ns: int  # first day's start
    high_ns: int  # end of the last day


def _timestamp(ns: int) -> Any:
    return pd.Timestamp(ns, tz="UTC").to_pydatetime()


def _read_days(
    cursor: Any, names: list[str], want: set[tuple[str, int]], bounds: _Bounds
) -> tuple[dict[tuple[str, int], Fingerprint], dict[tuple[str, int], Observations]]:
    """One statement: fingerprints of every day in `bounds` for `names`, and the rows of the
    `want`ed days (read as one range per symbol, from its first to its last wanted day)."""
    ranges: dict[str, tuple[int, int]] = {}
    for name, day in want:
        lo, hi = ranges.get(name, (day, day + DAY_NS))
        ranges[name] = (min(lo, day), max(hi, day + DAY_NS))
    w_names = sorted(ranges)
    cursor.execute(
        _READ,
        {
            "names": names,
            "low": _timestamp(bounds.low_ns),
            "high": _timestamp(bounds.high_ns),
            "w_names": w_names,
            "w_low": [_timestamp(ranges[n][0]) for n in w_names],
            "w_high": [_timestamp(ranges[n][1]) for n in w_names],
        },
    )
    fingerprints: dict[tuple[str, int], Fingerprint] = {}
    observed: dict[str, Observations] = {}
    for name, fp_days, fp_hours, fp_versions, ts, bid, ask, last in cursor.fetchall():
        if fp_days is not None:
            for day, hours, version in zip(fp_days, fp_hours, fp_versions, strict=True):
                fingerprints[(name, int(day) * 1_000_000_000)] = (int(hours), int(version))
        if ts is not None:
            observed[name] = Observations.from_arrays(ts, bid, ask, last)
    loaded: dict[tuple[str, int], Observations] = {}
    for name, (lo, hi) in ranges.items():
        rows = observed.get(name, EMPTY)
        order = np.argsort(rows.timestamps, kind="stable")
        ordered = Observations(
            rows.timestamps[order], rows.bid[order], rows.ask[order], rows.last[order]
        )
        starts = list(range(lo, hi, DAY_NS))
        cuts = np.searchsorted(ordered.timestamps, [*starts, hi])
        for day, a, b in zip(starts, cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
            loaded[(name, day)] = Observations(
                ordered.timestamps[a:b].copy(),
                ordered.bid[a:b].copy(),
                ordered.ask[a:b].copy(),
                ordered.last[a:b].copy(),
            )
    return fingerprints, loaded
