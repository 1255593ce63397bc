"""The bulk loader's binary COPY (NUMERIC encoded by NumPy) and the hourly rollup that the
loader and the table's triggers keep, checked against the stored rows and against pandas."""

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.collector import pgcopy
from app.collector.bulk import store_frames
from app.collector.rollup import ROLLUP_BY_CALLER, ROLLUP_LOCK_KEY
from app.core.config import settings
from app.core.db import engine
from tests.collector.test_prices_api import all_pages, assert_bars_match, frame, pandas_bars

START = datetime(2026, 1, 1, tzinfo=UTC)
API = settings.API_V1_STR

# The rollup recomputed from the stored rows: what price_rollup_1h must always hold.
_FROM_ROWS = """
    SELECT coin_type, date_trunc('hour', "timestamp" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
           (array_agg("last" ORDER BY "timestamp"))[1], max("last"), min("last"),
           (array_agg("last" ORDER BY "timestamp" DESC))[1],
           (array_agg(bid ORDER BY "timestamp" DESC))[1],
           (array_agg(ask ORDER BY "timestamp" DESC))[1],
           count(*)::int, min("timestamp"), max("timestamp")
    FROM price_data_5min GROUP BY 1, 2
"""
_ROLLUP = """
    SELECT coin_type, bucket, open, high, low, close, bid, ask, bars, first_at, last_at
    FROM price_rollup_1h
"""


def sql(statement: str, params: dict[str, Any] | None = None) -> list[Any]:
    with Session(engine) as session:
        result = session.connection().execute(sa.text(statement), params or {})
        rows = list(result) if result.returns_rows else []
        session.commit()
        return rows


def assert_rollup_matches_rows() -> int:
    missing = sql(f"({_FROM_ROWS}) EXCEPT ({_ROLLUP})")
    extra = sql(f"({_ROLLUP}) EXCEPT ({_FROM_ROWS})")
    assert missing == [] and extra == []
    return int(sql("SELECT count(*) FROM price_rollup_1h")[0][0])


def test_numeric_encoding_matches_postgres_float_cast() -> None:
    rng = np.random.default_rng(7)
    values = np.concatenate(
        [
            10 ** rng.uniform(-9, 13.5, 20_000),
            [
                1.0,
                0.1,
                9.999999999999999,
                150_000.12345678,
                0.00001237,
                1e-12,
                99_999_999_999_999.0,
            ],
            # Values whose 15th digit sits exactly where a naive product rounds wrongly.
            [463967595.8892685, 7314.946057835195, 7872023.191911185],
        ]
    )
    rows = np.empty(
        len(values), dtype=[("fields", ">i2"), ("n", pgcopy.NUMERIC), ("f", ">i4"), ("v", ">f8")]
    )
    rows["fields"] = 2
    pgcopy.fill_numeric(rows["n"], values)
    rows["f"] = 8
    rows["v"] = values
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TEMP TABLE encoded (n numeric, v float8)")
        with conn.cursor().copy("COPY encoded FROM STDIN (FORMAT binary)") as copy:
            copy.write(pgcopy.HEADER + rows.tobytes() + pgcopy.TRAILER)
        total, different = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE n <> v::numeric) FROM encoded"
        ).fetchone() or (0, 0)
    assert total == len(values)
    assert different == 0


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_numeric_encoding_refuses_what_is_not_a_price(bad: float) -> None:
    field = np.empty(2, dtype=pgcopy.NUMERIC)
    with pytest.raises(ValueError, match="positive finite"):
        pgcopy.fill_numeric(field, np.array([1.0, bad]))


def test_rollup_follows_every_way_rows_arrive_or_leave() -> None:
    # Fresh rows: straight COPY, rollup merged by the loader.
    offered, stored = store_frames([frame("BTC", 100, start=START + timedelta(minutes=20))])
    assert (offered, stored) == (100, 100)
    assert assert_rollup_matches_rows() == 9
    # Overlapping rows: staged insert, existing rows kept, the trigger refreshes the hours.
    overlapping = frame("BTC", 60, start=START, seed=3)
    assert store_frames([overlapping]) == (60, 4)
    assert assert_rollup_matches_rows() == 9
    # New rows next to stored ones in the same hour, merged by the loader.
    after = frame("BTC", 5, start=START + timedelta(minutes=20 + 5 * 100), seed=4)
    assert store_frames([after]) == (5, 5)
    # Two sources for one coin and slot in one frame: the COPY meets a duplicate and the
    # frame falls back to the idempotent insert.
    twin = frame("ETH", 30, start=START, seed=5)
    assert store_frames([pd.concat([twin, twin.assign(source="synthetic")])]) == (60, 30)
    assert sql("SELECT count(*) FROM price_data_5min WHERE coin_type = 'ETH'")[0][0] == 30
    # Plain INSERT, UPDATE and DELETE go through the triggers.
    sql(
        'INSERT INTO price_data_5min ("timestamp", coin_type, bid, ask, "last", source) '
        "VALUES (:t, 'SOL', 9, 11, 10, 'import'), (:u, 'SOL', 9.5, 11.5, 10.5, 'import')",
        {"t": START, "u": START + timedelta(minutes=5)},
    )
    sql(
        'UPDATE price_data_5min SET "last" = 999 WHERE coin_type = \'BTC\' AND "timestamp" = :t',
        {"t": START + timedelta(hours=2)},
    )
    sql(
        "DELETE FROM price_data_5min WHERE coin_type = 'ETH' AND \"timestamp\" >= :t",
        {"t": START + timedelta(hours=1)},
    )
    # BTC 00:00-09:00 (10 hours), ETH back to its first hour, SOL one hour.
    assert assert_rollup_matches_rows() == 10 + 1 + 1
    sql("TRUNCATE price_data_5min")
    assert assert_rollup_matches_rows() == 0


def test_a_failed_import_leaves_neither_rows_nor_rollup() -> None:
    def frames() -> Any:
        yield frame("BTC", 50)
        raise OSError("disk went away")

    with pytest.raises(OSError, match="disk went away"):
        store_frames(frames())
    assert sql("SELECT count(*) FROM price_data_5min")[0][0] == 0
    assert assert_rollup_matches_rows() == 0


@pytest.mark.parametrize(
    ("interval", "rule"), [("15m", "15min"), ("1h", "1h"), ("4h", "4h"), ("1d", "1D")]
)
@pytest.mark.parametrize(
    ("start", "end"),
    [
        (START, START + timedelta(days=3)),
        (START + timedelta(minutes=50), START + timedelta(days=2, hours=7, minutes=20)),
        (START + timedelta(hours=5, minutes=3), START + timedelta(hours=5, minutes=40)),
    ],
    ids=["aligned", "split-buckets", "inside-one-hour"],
)
def test_resampling_from_rollup_and_rows_matches_pandas(
    client: TestClient,
    normal_user_token_headers: dict[str, str],
    interval: str,
    rule: str,
    start: datetime,
    end: datetime,
) -> None:
    # Stored in pieces that take every path: fresh COPY, overlapping insert, plain INSERT.
    data = frame(
        "BTC", 2 * 288 + 200, start=START + timedelta(minutes=35), skip=(3, 4, 5, 300, 301)
    )
    store_frames([data.iloc[:400]])
    store_frames([data.iloc[350:]])
    extra = data.iloc[-1:].assign(timestamp=data["timestamp"].iloc[-1] + timedelta(minutes=5))
    sql(
        'INSERT INTO price_data_5min ("timestamp", coin_type, bid, ask, "last", source) '
        "VALUES (:t, 'BTC', :b, :a, :l, 'import')",
        {
            "t": extra["timestamp"].iloc[0],
            "b": extra["bid"].iloc[0],
            "a": extra["ask"].iloc[0],
            "l": extra["last"].iloc[0],
        },
    )
    assert_rollup_matches_rows()
    everything = pd.concat([data, extra]).set_index("timestamp")
    window = everything[(everything.index >= start) & (everything.index <= end)]
    expected = pandas_bars(window, rule)
    rows = all_pages(
        client,
        normal_user_token_headers,
        "BTC",
        start=start.isoformat(),
        end=end.isoformat(),
        interval=interval,
        limit=7,
    )
    assert len(rows) == len(expected) > 0
    assert_bars_match(rows, expected)


def test_a_price_write_waits_for_a_running_import_instead_of_failing() -> None:
    """An import merges its rollup rows itself; a plain INSERT meeting one it has not
    committed yet must wait for it (the rollup lock), not fail on the rollup's key."""
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    importer = psycopg.connect(url)
    # An import halfway: lock taken, a row COPied and its rollup row merged, not committed.
    importer.execute("SELECT pg_advisory_xact_lock(%s)", (ROLLUP_LOCK_KEY,))
    importer.execute("SELECT set_config(%s, 'on', true)", (ROLLUP_BY_CALLER,))
    importer.execute(
        'INSERT INTO price_data_5min ("timestamp", coin_type, bid, ask, "last", source) '
        "VALUES (%s, 'BTC', 9, 11, 10, 'import')",
        (START,),
    )
    importer.execute(
        "INSERT INTO price_rollup_1h VALUES ('BTC', %s, 10, 10, 10, 10, 9, 11, 1, %s, %s)",
        (START, START, START),
    )
    outcome: list[BaseException | None] = []

    def collector_write() -> None:
        try:
            sql(
                'INSERT INTO price_data_5min ("timestamp", coin_type, bid, ask, "last", source) '
                "VALUES (:t, 'BTC', 19, 21, 20, 'collector')",
                {"t": START + timedelta(minutes=5)},
            )
            outcome.append(None)
        except BaseException as error:  # reported to the test below
            outcome.append(error)

    writer = threading.Thread(target=collector_write)
    writer.start()
    try:
        waiting = 0
        for _ in range(5_000):  # until the writer is seen queued on the advisory lock
            waiting = importer.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory' "
                "AND pid <> pg_backend_pid() AND datname = current_database()"
            ).fetchone()[0]  # type: ignore[index]
            if waiting:
                break
            writer.join(0.002)
        assert waiting == 1 and not outcome
        importer.commit()
    finally:
        importer.close()
        writer.join()
    assert outcome == [None]
    assert assert_rollup_matches_rows() == 1
    assert sql("SELECT bars, open, close FROM price_rollup_1h")[0] == (2, 10, 20)


def test_the_triggers_take_the_same_rollup_lock_as_the_app() -> None:
    source = sql("SELECT prosrc FROM pg_proc WHERE proname = 'price_rollup_1h_refresh'")[0][0]
    assert f"pg_advisory_xact_lock({ROLLUP_LOCK_KEY})" in source
