"""Collector figures: one run's wall time for 500 coins, bulk import rate for 1,000,000 rows,
and `GET /api/v1/prices/{coin}` latency for a year of 5-minute rows, raw and resampled to 1 h.

    cd backend && uv run python bench/collector.py [--rows 1000000] [--repeat 7]

Works in its own scratch database next to OMC_BENCH_ADMIN_URL (default: the PostgreSQL at
127.0.0.1:5432), dropped at the end; the Coinspot simulator runs in-process over real HTTP.
Targets: import >= 200,000 rows/s; a year raw <= 300 ms; resampled to 1 h <= 100 ms.
"""

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ADMIN_URL = os.environ.get("OMC_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = f"omc_bench_{os.getpid()}_{secrets.token_hex(3)}"
PASSWORD = secrets.token_urlsafe(16)
os.environ.update(
    {
        "DATABASE_URL": make_url(ADMIN_URL)
        .set(database=DB_NAME)
        .render_as_string(hide_password=False),
        "SECRET_KEY": secrets.token_urlsafe(32),
        "FIRST_SUPERUSER": "bench@example.com",
        "FIRST_SUPERUSER_PASSWORD": PASSWORD,
        "COLLECTOR_ENABLED": "false",
        "BACKTEST_WORKER_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
    }
)


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:8.1f} ms (best {min(samples) * 1000:.1f})"


def bench_collect(repeat: int) -> None:
    from app.collector.job import collect_once
    from app.exchange.client import CoinspotClient
    from app.exchange.simulator import run_simulator
    from app.exchange.transport import RetryPolicy

    with run_simulator() as sim:
        existing = len(sim.admin.prices())
        sim.admin.add_coins(500 - existing, prefix="BEN")
        assert len(sim.admin.prices()) == 500

        async def runs() -> list[float]:
            times = []
            async with CoinspotClient(sim.base_url, retry=RetryPolicy(attempts=1)) as client:
                for i in range(repeat):
                    slot = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(minutes=5 * i)
                    started = time.perf_counter()
                    summary = await collect_once(
                        client,
                        node="bench",
                        trigger="bench",
                        interval_seconds=300,
                        attempts=1,
                        delay_seconds=0,
                        slot=slot,
                    )
                    times.append(time.perf_counter() - started)
                    assert summary.rows_stored == 500, summary
            return times

        times = asyncio.run(runs())
    print(f"collector run, 500 coins (fetch + validate + store):  {median_ms(times)}")


def bench_import(rows: int) -> None:
    from app.collector.bulk import store_frames
    from app.collector.importer import ImportStats, read_chunks

    coins = 20
    bars = rows // coins
    index = pd.date_range("2020-01-01", periods=bars, freq="5min", tz=UTC)
    rng = np.random.default_rng(1)
    frames = []
    for c in range(coins):
        last = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, bars)))
        frames.append(
            pd.DataFrame(
                {
                    "timestamp": index.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "coin": f"IMP{c}",
                    "bid": last * 0.999,
                    "ask": last * 1.001,
                    "last": last,
                }
            )
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.csv"
        pd.concat(frames).to_csv(path, index=False)
        size_mb = path.stat().st_size / 1e6
        stats = ImportStats()
        started = time.perf_counter()
        offered, stored = store_frames(read_chunks(path, stats=stats))
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        _, again = store_frames(read_chunks(path, stats=ImportStats()))
        rerun = time.perf_counter() - started
    assert stored == rows and again == 0
    print(
        f"bulk import {rows:,} rows ({size_mb:.0f} MB CSV, parse + validate + COPY + rollup): "
        f"{seconds:6.2f} s = {rows / seconds:10,.0f} rows/s   (re-import, all duplicates: {rows / rerun:,.0f} rows/s)"
    )


def bench_api(repeat: int) -> None:
    from fastapi.testclient import TestClient

    from app.collector.bulk import store_frames
    from app.main import app

    bars = 105_120
    index = pd.date_range("2025-01-01", periods=bars, freq="5min", tz=UTC)
    last = 150_000 * np.exp(np.cumsum(np.random.default_rng(2).normal(0, 0.002, bars)))
    store_frames(
        [
            pd.DataFrame(
                {
                    "timestamp": index,
                    "coin_type": "YEAR",
                    "bid": last * 0.999,
                    "ask": last * 1.001,
                    "last": last,
                    "source": "import",
                }
            )
        ]
    )
    with TestClient(app) as client:
        token = client.post(
            "/api/v1/login/access-token",
            data={"username": "bench@example.com", "password": PASSWORD},
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        params = {"start": index[0].isoformat(), "end": index[-1].isoformat(), "limit": 200_000}
        baseline = []
        for _ in range(repeat):
            started = time.perf_counter()
            assert client.get("/api/v1/utils/health-check/").status_code == 200
            baseline.append(time.perf_counter() - started)
        print(
            f"baseline: GET /api/v1/utils/health-check/ through the same test client   {median_ms(baseline)}"
        )
        for path in ("/api/v1/prices/latest", "/api/v1/prices/coins"):
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                response = client.get(path, headers=headers)
                times.append(time.perf_counter() - started)
                assert response.status_code == 200
            rows = sum(
                c["rows"]
                for c in client.get("/api/v1/prices/coins", headers=headers).json()["data"]
            )
            print(
                f"GET {path:<24} ({response.json()['count']} coins, {rows:,} rows stored)        {median_ms(times)}"
            )
        cases = (
            ("5m", "rows", "raw 105,120 rows"),
            ("5m", "columns", "raw 105,120 rows, layout=columns"),
            ("1h", "rows", "resampled to 1 h (8,760 bars)"),
        )
        for interval, layout, label in cases:
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                response = client.get(
                    "/api/v1/prices/YEAR",
                    headers=headers,
                    params={**params, "interval": interval, "layout": layout},
                )
                times.append(time.perf_counter() - started)
                assert response.status_code == 200
            count = response.json()["count"]
            print(
                f"GET /api/v1/prices/{{coin}} a year, {label:<34} {median_ms(times)}  [{count} rows, {len(response.content) / 1e6:.1f} MB]"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))
    try:
        from alembic import command
        from alembic.config import Config

        config = Config(str(Path(__file__).resolve().parents[1] / "alembic.ini"))
        config.set_main_option("sqlalchemy.url", os.environ["DATABASE_URL"].replace("%", "%%"))
        command.upgrade(config, "head")
        from sqlmodel import Session

        from app.core.db import engine, init_db

        with Session(engine) as session:
            init_db(session)
        print(f"database: {DB_NAME} (scratch), PostgreSQL at {make_url(ADMIN_URL).host}")
        bench_collect(args.repeat)
        bench_import(args.rows)
        bench_api(args.repeat)
        engine.dispose()
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB_NAME))
            )


if __name__ == "__main__":
    main()
