"""Throughput and latency of the exchange client's public price reads against the simulator.

    cd backend && uv run python bench/exchange_client.py [--requests 2000] [--concurrency 20]

By default the simulator runs in this process (a uvicorn thread), so client and server
share one interpreter; `--url http://127.0.0.1:8900` measures against a simulator
started separately (`python -m app.exchange.simulator --rate-limit 100000000`) instead.
The client-side limiter is raised out of the way: with Coinspot's 1000 requests/minute
the client would, correctly, never exceed 16.7 requests/s.
"""

import argparse
import asyncio
import logging
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path

# Runnable as a plain script from anywhere: make `app` importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.exchange.client import CoinspotClient
from app.exchange.ratelimit import SlidingWindowLimiter
from app.exchange.simulator import SimulatorConfig, run_simulator
from app.exchange.transport import RetryPolicy


async def measure(
    name: str, call: Callable[[], Awaitable[object]], requests: int, concurrency: int
) -> None:
    latencies: list[float] = []
    errors = 0
    queue = iter(range(requests))

    async def worker() -> None:
        nonlocal errors
        for _ in queue:
            started = time.perf_counter()
            try:
                await call()
            except Exception:
                errors += 1
                continue
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    print(
        f"{name:<28} {requests / elapsed:8.0f} req/s   p50 {p50:6.2f} ms   "
        f"p99 {p99:6.2f} ms   errors {errors}   ({requests} requests, {concurrency} concurrent)"
    )


async def run(base_url: str, requests: int, concurrency: int) -> None:
    async with CoinspotClient(
        base_url,
        rate_limiter=SlidingWindowLimiter(10**9, 60.0),
        retry=RetryPolicy(attempts=1),
        max_connections=concurrency,
    ) as client:
        coins = len((await client.latest_prices()).prices)
        for _ in range(50):  # warm up connections
            await client.latest_price("BTC")
        print(f"simulator at {base_url} with {coins} coins")
        await measure(
            "latest_price('BTC')", lambda: client.latest_price("BTC"), requests, concurrency
        )
        await measure(
            f"latest_prices() [{coins} coins]", client.latest_prices, requests, concurrency
        )
        await measure(
            "latest_price, 1 at a time", lambda: client.latest_price("ETH"), requests // 4, 1
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--extra-coins", type=int, default=0, help="add N coins to /latest")
    parser.add_argument("--url", help="an already running simulator instead of an in-process one")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with ExitStack() as stack:
        url = args.url
        if url is None:
            sim = stack.enter_context(run_simulator(SimulatorConfig(rate_limit=10**9)))
            if args.extra_coins:
                sim.admin.add_coins(args.extra_coins)
            url = sim.base_url
        asyncio.run(run(url, args.requests, args.concurrency))


if __name__ == "__main__":
    main()
