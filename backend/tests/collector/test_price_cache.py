"""The Lab's price cache never differs from the database: after every write path (bulk
import, collector run, plain INSERT/UPDATE/DELETE, truncate and re-import) and when another
app process writes, a cached read equals a direct read, and unchanged days are not re-read.
Also the backtest coverage check, which counts rows from the same rollup."""

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlmodel import Session

from app.collector.bulk import store_frames
from app.collector.job import collect_once
from app.core.db import engine
from app.exchange.client import CoinspotClient
from app.lab.backtests.data import check_coverage
from app.lab.engine.market_data import PriceHistory, load_price_history
from app.lab.engine.price_cache import PriceCache
from tests.collector.price_cache_peer import COINS, END, START, digest
from tests.collector.test_prices_api import frame

BACKEND = Path(__file__).resolve().parents[2]
DAYS = 5  # UTC days read: the one before START (fill lead), three whole days, and END's


def load(cache: PriceCache | None, coins: tuple[str, ...] = COINS) -> PriceHistory:
    with Session(engine) as session:
        return load_price_history(session, coins, START, END, cache=cache)


def assert_exact(cache: PriceCache) -> PriceHistory:
    cached, direct = load(cache), load(None)
    pd.testing.assert_frame_equal(cached.frame, direct.frame)
    assert cached.gaps == direct.gaps
    assert cached.filled_bars == direct.filled_bars
    return cached


def last(history: PriceHistory, when: datetime, coin: str) -> float:
    return float(history.frame[(coin, "last")].to_numpy()[history.frame.index.get_loc(when)])


def sql(statement: str, **params: object) -> None:
    with Session(engine) as session:
        session.execute(sa.text(statement), params)
        session.commit()


def seed() -> None:
    # Two days of BTC with bar 300 (a collector slot) missing, one and a half of ETH.
    store_frames([frame("BTC", 576, start=START, skip=(300,)), frame("ETH", 432, start=START)])


@pytest.mark.anyio
async def test_the_cache_stays_exact_across_every_write_path(sim_client: CoinspotClient) -> None:
    seed()
    cache = PriceCache(64 * 1024 * 1024)
    first = assert_exact(cache)
    # Both symbol spellings of both coins, every day of the range, were read once.
    assert (cache.stats.misses, cache.stats.hits) == (2 * len(COINS) * DAYS, 0)
    assert_exact(cache)
    assert (cache.stats.misses, cache.stats.hits) == (2 * len(COINS) * DAYS, 2 * len(COINS) * DAYS)
    # An unchanged read hands out a copy of the frame it kept: changing it changes nothing.
    mine = load(cache)
    mine.frame.iloc[:, :] = -1.0
    pd.testing.assert_frame_equal(load(cache).frame, first.frame)

    def changed(before: PriceHistory, after: PriceHistory) -> int:
        a, b = before.frame.to_numpy(), after.frame.to_numpy()
        return int((~((a == b) | (np.isnan(a) & np.isnan(b)))).sum())

    # A collector run fills the missing slot with the simulator's prices: one day is re-read.
    slot = START + timedelta(minutes=5 * 300)
    summary = await collect_once(
        sim_client,
        node="test",
        trigger="test",
        interval_seconds=300,
        attempts=1,
        delay_seconds=0.01,
        slot=slot,
    )
    assert summary.rows_stored > 0
    stale = cache.stats.stale
    after_run = assert_exact(cache)
    assert cache.stats.stale - stale == 1  # BTC on the slot's day (ETH had that slot)
    assert last(after_run, slot, "BTC") != last(first, slot, "BTC")

    # A price in the middle of an hour (the rollup's OHLC does not move) changes.
    sql(
        "UPDATE price_data_5min SET bid = bid * 0.9 WHERE coin_type = 'BTC' AND \"timestamp\" = :t",
        t=START + timedelta(hours=3, minutes=25),
    )
    after_update = assert_exact(cache)
    assert changed(after_run, after_update) == 1

    # Deleting rows, and inserting a row by hand.
    sql(
        "DELETE FROM price_data_5min WHERE coin_type = 'ETH' AND \"timestamp\" >= :t",
        t=START + timedelta(days=1, hours=2),
    )
    sql(
        'INSERT INTO price_data_5min ("timestamp", coin_type, bid, ask, "last", source) '
        "VALUES (:t, 'BTC', 1, 2, 1.5, 'import')",
        t=START + timedelta(days=2, hours=1),
    )
    after_delete = assert_exact(cache)
    assert np.isnan(last(after_delete, START + timedelta(days=1, hours=3), "ETH"))
    assert last(after_delete, START + timedelta(days=2, hours=1), "BTC") == 1.5

    # An overlapping re-import (staged insert) adds only the missing rows.
    store_frames([frame("ETH", 432, start=START, seed=9)])
    after_reimport = assert_exact(cache)
    assert not np.isnan(last(after_reimport, START + timedelta(days=1, hours=3), "ETH"))

    # Everything gone and imported again with other prices: same rows, same hours, new data.
    sql("TRUNCATE price_data_5min")
    emptied = load(cache).frame
    prices = emptied.loc[:, emptied.columns.get_level_values(1) != "filled"]
    assert prices.isna().all().all() and not emptied.empty
    store_frames([frame("BTC", 576, start=START, seed=5), frame("ETH", 432, start=START, seed=6)])
    again = assert_exact(cache)
    assert changed(first, again) > 1000
    assert cache.stats.fallbacks == 0


@pytest.mark.timeout(300)  # the peer imports the whole app, slow on a loaded machine
def test_the_cache_stays_exact_when_another_app_process_writes() -> None:
    seed()
    cache = PriceCache(64 * 1024 * 1024)
    ours = assert_exact(cache)
    with subprocess.Popen(
        [sys.executable, "-m", "tests.collector.price_cache_peer"],
        cwd=BACKEND,
        env=os.environ.copy(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as peer:
        assert peer.stdin is not None and peer.stdout is not None

        def ask(command: str) -> str:
            assert peer.stdin is not None and peer.stdout is not None
            peer.stdin.write(command + "\n")
            peer.stdin.flush()
            return peer.stdout.readline().strip()

        assert ask("read") == digest(ours)
        assert ask("write") == "written"
        after = assert_exact(cache)
        assert digest(after) != digest(ours)
        assert not np.isnan(last(after, START + timedelta(days=2, hours=1), "ETH"))
        # The peer's own cache, warm from its first read, sees the change too.
        assert ask("read") == digest(after)
        peer.stdin.close()
        assert peer.wait() == 0


def test_a_small_cache_evicts_but_still_answers_exactly() -> None:
    seed()
    cache = PriceCache(40_000)  # about two days of one coin
    assert_exact(cache)
    assert 0 < cache.size_bytes <= 40_000
    assert_exact(cache)
    assert cache.stats.fallbacks == 0


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (START, END),  # whole hours and more
        (START + timedelta(minutes=7), START + timedelta(minutes=48)),  # inside one hour
        (START + timedelta(minutes=55), START + timedelta(hours=1, minutes=10)),  # two edges
        (START + timedelta(hours=2, minutes=20), START + timedelta(days=1, hours=5)),
        (START + timedelta(hours=3), START + timedelta(hours=9)),  # on hour boundaries
    ],
)
def test_coverage_counts_rows_like_a_count_of_the_rows(start: datetime, end: datetime) -> None:
    seed()
    with Session(engine) as session:
        coverage = check_coverage(session, ["BTC", "ETH"], start, end)
        expected = {
            row.coin_type: (row.first, row.last, row.rows)
            for row in session.execute(
                sa.text(
                    'SELECT coin_type, min("timestamp") AS first, max("timestamp") AS last, '
                    "count(*) AS rows FROM price_data_5min "
                    'WHERE "timestamp" BETWEEN :start AND :end GROUP BY coin_type'
                ),
                {"start": start, "end": end},
            )
        }
    assert {c: (v.first, v.last, v.rows) for c, v in coverage.items()} == expected
