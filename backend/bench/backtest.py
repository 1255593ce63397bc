"""How fast a backtest runs, from the engine alone up to (later) the whole Lab path.

    cd backend && uv run python bench/backtest.py [--bars 105120] [--coins 20] [--repeat 15]

Engine figures (this file, no database, no user code): seeded synthetic prices
(`app.lab.engine.synthetic`), an SMA crossover (fast 12 bars = 1 hour, slow 48 bars = 4 hours,
long when fast > slow) computed outside the timed part, then `run_backtest` on a prepared
`Market`, for 1 coin and for many coins; with `prepare_market`, `compute_metrics` and
`to_dict` timed apart, a sweep of SMA parameter sets over one prepared market, and a worst
case where the target changes every bar, and gridding a year of raw observations with
`market_data.frame_from_columns` (the database read itself is not included). Each figure is the median of `--repeat` runs
(best in brackets). The target for the engine is <= 20 ms for 1 coin x 105,120 bars.

`--only lookahead` prints the lookahead check's extra time for one coin (a rule template and
an ML template), the time a backtest run spends after its predict.

To add figures for the API, the sandbox or end-to-end sweeps, write a function
``def section(args: argparse.Namespace) -> None`` that prints its lines, and add it to
`SECTIONS` at the bottom; `--only NAME` runs one section.
"""

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

# Runnable as a plain script from anywhere: make `app` importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Before anything from `app`: the settings must see the scratch database of the api section
# (created only when that section runs).
import scratchdb

from app.lab.engine import (
    BacktestConfig,
    Market,
    compute_metrics,
    prepare_market,
    run_backtest,
)
from app.lab.engine.market_data import PriceColumns, frame_from_columns
from app.lab.engine.synthetic import synthetic_price_frame

YEAR_OF_BARS = 365 * 288  # 105,120 five-minute bars


def timed(call: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """(median ms, best ms, last result) of `repeat` calls after one warm-up call."""
    result = call()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), min(times), result


def sma_crossover(last: np.ndarray, fast: int, slow: int) -> np.ndarray:
    """1.0 where the fast mean is above the slow one, else 0.0; NaN while warming up.

    `last` is (bars,) or (bars, coins); causal: row t uses rows <= t."""
    prices = last if last.ndim == 2 else last[:, None]
    csum = np.vstack([np.zeros((1, prices.shape[1])), np.cumsum(prices, axis=0)])

    def mean(window: int) -> np.ndarray:
        out = np.full(prices.shape, np.nan)
        out[window - 1 :] = (csum[window:] - csum[:-window]) / window
        return out

    target = (mean(fast) > mean(slow)).astype(np.float64)
    target[: slow - 1] = np.nan
    return target if last.ndim == 2 else target[:, 0]


def last_prices(market_frame: Any, coins: Sequence[str]) -> np.ndarray:
    return np.column_stack([market_frame[(c, "last")].to_numpy() for c in coins])


def report(label: str, median: float, best: float, extra: str = "") -> None:
    print(f"  {label:<44} {median:9.2f} ms  (best {best:8.2f})  {extra}")


def engine_section(args: argparse.Namespace) -> None:
    config = BacktestConfig.with_defaults(10_000.0)
    print(
        f"engine: seed {args.seed}, fee {config.fee_rate:g}, SMA {args.fast}/{args.slow}, "
        f"median of {args.repeat} runs"
    )
    for n_coins in (1, args.coins):
        coins = [f"C{i:02d}" for i in range(n_coins)]
        frame = synthetic_price_frame(coins, args.bars, seed=args.seed)
        targets = sma_crossover(last_prices(frame, coins), args.fast, args.slow)
        print(f"{n_coins} coin(s) x {args.bars:,} bars")

        median, best, market = timed(partial(prepare_market, frame), args.repeat)
        report("prepare_market (once per data set)", median, best)

        median, best, result = timed(partial(run_backtest, market, targets, config), args.repeat)
        report(
            "run_backtest (prepared market)",
            median,
            best,
            f"{len(result.fills):,} fills, {len(result.trips):,} round trips",
        )
        median, best, _ = timed(partial(run_backtest, frame, targets, config), args.repeat)
        report("run_backtest (from the price frame)", median, best)
        median, best, _ = timed(partial(compute_metrics, result), args.repeat)
        report("compute_metrics", median, best)
        median, best, _ = timed(partial(result.to_dict, series_max_points=2000), args.repeat)
        report("to_dict(series_max_points=2000)", median, best, "with the trade list")


def sweep_section(args: argparse.Namespace) -> None:
    """The engine's share of a parameter sweep: one prepared market, many target sets."""
    config = BacktestConfig.with_defaults(10_000.0)
    frame = synthetic_price_frame(["BTC"], args.bars, seed=args.seed)
    market: Market = prepare_market(frame)
    last = frame[("BTC", "last")].to_numpy()
    grid = [(fast, slow) for fast in (6, 12, 24, 48) for slow in (72, 144, 288, 576, 1152)]
    target_sets = [sma_crossover(last, fast, slow) for fast, slow in grid]

    def sweep() -> list[float | None]:
        return [compute_metrics(run_backtest(market, t, config)).sharpe for t in target_sets]

    median, best, _ = timed(sweep, max(3, args.repeat // 5))
    print(f"sweep: {len(grid)} SMA parameter sets x 1 coin x {args.bars:,} bars")
    report("run_backtest + compute_metrics, all sets", median, best)
    report("per set", median / len(grid), best / len(grid))


def worst_case_section(args: argparse.Namespace) -> None:
    """A target that changes every bar: the engine's loop visits every bar."""
    config = BacktestConfig.with_defaults(10_000.0)
    frame = synthetic_price_frame(["BTC"], args.bars, seed=args.seed)
    market = prepare_market(frame)
    targets = np.random.default_rng(args.seed).uniform(0.0, 1.0, args.bars)
    median, best, result = timed(
        lambda: run_backtest(market, targets, config), max(3, args.repeat // 5)
    )
    print(f"worst case: target changes every bar, 1 coin x {args.bars:,} bars")
    report("run_backtest", median, best, f"{len(result.fills):,} fills")


def market_data_section(args: argparse.Namespace) -> None:
    """Gridding a year of observations (no database): `frame_from_columns`, 1% of rows
    missing at random, timestamps a few seconds after the boundaries."""
    rng = np.random.default_rng(args.seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    end = start + (args.bars - 1) * timedelta(minutes=5)
    print(f"market data: frame_from_columns, {args.bars:,} bars, 1% of observations missing")
    for n_coins in (1, args.coins):
        coins = [f"C{i:02d}" for i in range(n_coins)]
        first = np.datetime64("2024-01-01T00:00:02", "ns").astype(np.int64)
        stamps = np.tile(first + np.arange(args.bars) * 300_000_000_000, n_coins)
        labels = np.repeat(np.array(coins, dtype=object), args.bars)
        keep = rng.random(len(stamps)) > 0.01
        price = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, len(stamps))))[keep]
        columns = PriceColumns(stamps[keep], labels[keep], price * 0.999, price * 1.001, price)
        median, best, history = timed(
            partial(frame_from_columns, columns, coins, start, end), max(3, args.repeat // 5)
        )
        report(
            f"{n_coins} coin(s), {int(keep.sum()):,} observations",
            median,
            best,
            f"{sum(history.filled_bars.values()):,} bars filled, {len(history.gaps)} gaps",
        )


def api_section(args: argparse.Namespace) -> None:
    """End to end: POST /lab/backtest and /lab/sweep, the worker, the sandbox and the engine,
    on seeded synthetic prices stored in a scratch database; timed from the POST until the
    job has been read back after its `lab.job` event arrived on the WebSocket (as the SPA
    waits), so no status polling competes with the run."""
    scratchdb.create()
    import pandas as pd
    from fastapi.testclient import TestClient

    from app.collector.bulk import store_frames
    from app.core.config import settings
    from app.lab.engine.synthetic import synthetic_price_frame
    from app.main import app

    coins = [f"B{i:02d}" for i in range(args.coins)]
    frame = synthetic_price_frame(coins, bars=args.bars, seed=args.seed)
    rows = []
    for coin in coins:
        single = frame.xs(coin, axis=1, level=0)
        rows.append(
            pd.DataFrame(
                {
                    "timestamp": single.index,
                    "coin_type": coin,
                    "bid": single["bid"].to_numpy(),
                    "ask": single["ask"].to_numpy(),
                    "last": single["last"].to_numpy(),
                    "source": "synthetic",
                }
            )
        )
    started = time.perf_counter()
    store_frames(rows)
    print(
        f"\n[api] stored {args.coins} coins x {args.bars:,} bars in {time.perf_counter() - started:.1f} s"
    )
    start, end = frame.index[0].isoformat(), frame.index[-1].isoformat()

    with TestClient(app) as client:
        token = client.post(
            "/api/v1/login/access-token",
            data={"username": scratchdb.EMAIL, "password": scratchdb.PASSWORD},
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        algo = client.post(
            "/api/v1/lab/algorithms",
            headers=headers,
            json={
                "name": "bench sma",
                "template": "ma_crossover",
                "parameters": {"fast": args.fast, "slow": args.slow},
            },
        ).json()

        # What a user waits for: the SPA hears a job finish on its WebSocket (`lab.job`) and
        # then reads it; so does the bench, with one connection open throughout.
        ws_context = client.websocket_connect(f"{settings.API_V1_STR}/ws")
        ws = ws_context.__enter__()
        ws.send_json({"token": token})
        assert ws.receive_json()["type"] == "welcome"

        def wait(path: str, job_id: str) -> dict[str, Any]:
            while True:
                message = ws.receive_json()
                if message.get("type") != "event" or message["kind"] != "lab.job":
                    continue
                payload = message["payload"]
                if payload["job_id"] == job_id and payload["status"] not in ("queued", "running"):
                    break
            body: dict[str, Any] = client.get(
                f"/api/v1/lab/{path}/{job_id}", headers=headers
            ).json()
            assert body["status"] == "succeeded", body["error"]
            return body

        def spread(values: list[float]) -> str:
            med = statistics.median(values)
            return f"{med:7.0f} ms (min {min(values):.0f}, max {max(values):.0f})"

        def backtest(run_coins: list[str]) -> tuple[float, dict[str, float]]:
            started = time.perf_counter()
            run_id = client.post(
                "/api/v1/lab/backtest",
                headers=headers,
                json={"algorithm_id": algo["id"], "coins": run_coins, "start": start, "end": end},
            ).json()["id"]
            run = wait("backtest", run_id)
            total = (time.perf_counter() - started) * 1000
            timings: dict[str, float] = run["results"]["timings"]
            per_coin = sum(v for k, v in timings.items() if k.startswith("sandbox_"))

            def moment(field: str) -> float:
                return datetime.fromisoformat(run[field]).timestamp() * 1000

            return total, {
                "queued": moment("started_at") - moment("created_at"),
                "load prices": timings.get("load_prices_ms", 0.0),
                "sandbox (predict + lookahead check, one job per coin)": timings.get(
                    "sandbox_ms", per_coin
                ),
                "of which predict": timings.get("predict_ms", 0.0),
                "of which lookahead check": timings.get("lookahead_ms", 0.0),
                "engine": timings["engine_ms"],
                "pack results": timings.get("pack_ms", 0.0),
                "run in all": moment("finished_at") - moment("started_at"),
            }

        print(
            f"[api] each figure: median of {args.api_repeat} runs after the first (min, max); "
            "the first run of each reads prices cold"
        )
        for label, run_coins, target in (
            ("1 coin", coins[:1], 300),
            (f"{args.coins} coins", coins, 3000),
        ):
            cold_total, cold = backtest(run_coins)
            runs = [backtest(run_coins) for _ in range(args.api_repeat)]
            totals = [t for t, _ in runs]
            parts = ", ".join(
                f"{name} {statistics.median(r[name] for _, r in runs):.0f} ms" for name in cold
            )
            print(
                f"[api] backtest {label:>9} x {args.bars:,} bars end to end: {spread(totals)} "
                f"({parts})  target <= {target} ms"
            )
            print(
                f"[api]   first run (prices not cached): {cold_total:.0f} ms "
                f"(load prices {cold['load prices']:.0f} ms)"
            )

        fast = list(range(4, 24, 2))
        slow = list(range(30, 130, 10))

        def sweep() -> tuple[float, dict[str, float]]:
            started = time.perf_counter()
            sweep_id = client.post(
                "/api/v1/lab/sweep",
                headers=headers,
                json={
                    "algorithm_id": algo["id"],
                    "coins": coins[:1],
                    "start": start,
                    "end": end,
                    "parameters": {"fast": {"values": fast}, "slow": {"values": slow}},
                    "metric": "sharpe",
                },
            ).json()["id"]
            body = wait("sweep", sweep_id)
            return (time.perf_counter() - started) * 1000, body["results"]["timings"]

        sweeps = [sweep() for _ in range(args.api_repeat)]
        totals = [t for t, _ in sweeps]
        parts = ", ".join(
            f"{name} {statistics.median(t[key] for _, t in sweeps):.0f} ms"
            for name, key in (
                ("load prices", "load_prices_ms"),
                ("sandbox", "sandbox_ms"),
                ("engine in+out of sample", "engine_ms"),
            )
            if all(key in t for _, t in sweeps)
        )
        print(
            f"[api] sweep {len(fast) * len(slow)} combinations, 1 coin x {args.bars:,} bars end to "
            f"end: {spread(totals)} ({parts})  target <= 1500 ms"
        )
        ws_context.__exit__(None, None, None)


def lookahead_section(args: argparse.Namespace) -> None:
    """The lookahead check's extra time on one coin: a run's sandbox job that predicts and
    checks (`checked_signals`) against the plain prediction job it replaced (median of
    `--api-repeat` pairs)."""
    import asyncio

    import pandas as pd

    from app.lab.backtests.data import coin_frame
    from app.lab.backtests.signals import Algo, checked_signals, lookahead_verdict
    from app.lab.sandbox import FitJob, Limits, PredictJob, SandboxPool
    from app.lab.templates import get_template

    frame = synthetic_price_frame(["B00"], bars=args.bars, seed=args.seed)
    limits = Limits(cpu_seconds=60, wall_seconds=120, memory_mb=2048, max_processes=4)
    cases: tuple[tuple[str, dict[str, Any]], ...] = (
        ("ma_crossover", {"fast": args.fast, "slow": args.slow}),
        ("ml_classification", {}),
    )

    async def measure(pool: SandboxPool, key: str, params: dict[str, Any]) -> None:
        template = get_template(key)
        algo = Algo(code=template.source, type=template.type)
        index = pd.DatetimeIndex(frame.index)
        start = index[int(len(index) * 0.3)] if algo.needs_fit else index[0]
        x = coin_frame(frame, "B00")
        plain, batched, inside = [], [], []
        for _ in range(max(1, args.api_repeat)):
            began = time.perf_counter()
            if algo.needs_fit:
                await pool.fit(
                    FitJob(algo.code, x.loc[x.index < start], params=params, predict_frame=x)
                )
            else:
                await pool.predict(PredictJob(algo.code, x, params))
            plain.append((time.perf_counter() - began) * 1000)
            began = time.perf_counter()
            _, result = await checked_signals(pool, algo, frame, "B00", params, start, samples=12)
            batched.append((time.perf_counter() - began) * 1000)
            inside.append(result.check_ms)
        verdict = lookahead_verdict({"B00": result})
        extra = statistics.median(b - p for b, p in zip(batched, plain, strict=True))
        print(
            f"[lookahead] {key:<17} 1 coin x {args.bars:,} bars: predict alone "
            f"{statistics.median(plain):6.0f} ms, predict + check in one job "
            f"{statistics.median(batched):6.0f} ms: the check adds {extra:5.0f} ms "
            f"(truncations inside the child {statistics.median(inside):.0f} ms; "
            f"{verdict.decision_changes_checked} of {verdict.decision_changes} decision changes "
            f"+ {verdict.sampled_bars} sampled bars; bias detected: {verdict.bias_detected})"
        )

    async def main() -> None:
        with SandboxPool(workers=1, limits=limits, uid_base=63000) as pool:
            for key, params in cases:
                await measure(pool, key, params)

    print()
    asyncio.run(main())


SECTIONS: dict[str, Callable[[argparse.Namespace], None]] = {
    "engine": engine_section,
    "market-data": market_data_section,
    "sweep": sweep_section,
    "worst-case": worst_case_section,
    "lookahead": lookahead_section,
    "api": api_section,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bars", type=int, default=YEAR_OF_BARS)
    parser.add_argument("--coins", type=int, default=20, help="coins in the multi-coin run")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fast", type=int, default=12)
    parser.add_argument("--slow", type=int, default=48)
    parser.add_argument("--api-repeat", type=int, default=5, help="runs per API figure")
    parser.add_argument("--only", choices=sorted(SECTIONS), help="run one section")
    args = parser.parse_args()
    for name, section in SECTIONS.items():
        if args.only in (None, name):
            section(args)


if __name__ == "__main__":
    main()
