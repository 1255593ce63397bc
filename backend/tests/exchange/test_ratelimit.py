"""The client-side limiter keeps a burst under the exchange's limit; the simulator enforces it."""

import asyncio

import pytest

from app.exchange.client import CoinspotClient
from app.exchange.errors import RateLimitError
from app.exchange.ratelimit import SlidingWindowLimiter, shared_limiter
from app.exchange.simulator import RunningSimulator
from app.exchange.transport import RetryPolicy
from tests.exchange.conftest import ClientFactory

pytestmark = pytest.mark.anyio

LIMIT = 100
PERIOD = 2.0
LATEST = "/pubapi/v2/latest/BTC"


async def test_200_concurrent_reads_stay_under_the_rate_limit(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    simulator.admin.reset(rate_limit=LIMIT, rate_limit_period_seconds=PERIOD)
    limiter = SlidingWindowLimiter(LIMIT, PERIOD)
    # No retries: a single 429 would fail the test instead of being papered over.
    async with make_client(rate_limiter=limiter, retry=RetryPolicy(attempts=1)) as client:
        results = await asyncio.gather(*(client.latest_price("BTC") for _ in range(200)))
    assert len(results) == 200
    records = simulator.admin.requests(path=LATEST)
    assert [r["outcome"] for r in records] == ["ok"] * 200
    arrivals = sorted(r["at"] for r in records)
    # As the server saw them: never more than LIMIT inside any PERIOD window, which also
    # shows the limiter held the second hundred back for a full window.
    assert all(arrivals[i + LIMIT] - arrivals[i] >= PERIOD for i in range(len(arrivals) - LIMIT))
    assert limiter.in_use() <= LIMIT


async def test_without_the_client_limiter_the_simulator_rejects_the_excess(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    # A long window so that all 150 surely land inside one, however slow the machine.
    simulator.admin.reset(rate_limit=LIMIT, rate_limit_period_seconds=30)
    # And a long time-out: 150 requests at once on a loaded machine (the suite runs on every
    # core) may take longer than the usual 5 s to be answered, and an unanswered request is
    # not the answer this test is about.
    async with make_client(
        rate_limiter=SlidingWindowLimiter(10_000, 60.0),
        retry=RetryPolicy(attempts=1),
        timeout_seconds=60.0,
    ) as client:
        results = await asyncio.gather(
            *(client.latest_price("BTC") for _ in range(150)), return_exceptions=True
        )
    limited = [r for r in results if isinstance(r, RateLimitError)]
    others = sorted({type(r).__name__ for r in results if isinstance(r, BaseException)})
    assert len(limited) == 50, f"rate limited: {len(limited)}; other failures: {others}"
    assert all(r.retry_after is not None and r.retry_after >= 1 for r in limited)
    assert len(simulator.admin.requests(path=LATEST, outcome="rate_limited")) == 50


async def test_signed_calls_are_limited_per_key(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    simulator.admin.reset(rate_limit=3, rate_limit_period_seconds=60)
    first = simulator.admin.create_account()
    second = simulator.admin.create_account()
    no_retry = RetryPolicy(attempts=1)
    async with (
        make_client(first, retry=no_retry) as one,
        make_client(second, retry=no_retry) as two,
    ):
        for _ in range(3):
            await one.status()
        with pytest.raises(RateLimitError):
            await one.status()
        await two.status()  # another key has its own budget


def test_shared_limiter_is_one_per_exchange_and_limit() -> None:
    a = shared_limiter("http://exchange.test/", 1000, 60)
    assert shared_limiter("http://exchange.test", 1000, 60.0) is a
    assert shared_limiter("http://other.test", 1000, 60) is not a
    assert shared_limiter("http://exchange.test", 10, 60) is not a
    one = CoinspotClient("http://exchange.test")
    two = CoinspotClient("http://exchange.test", api_key="k", api_secret="s")
    assert one.rate_limiter is two.rate_limiter is a


async def test_limiter_holds_a_slot_until_one_period_after_the_answer() -> None:
    now = [100.0]
    limiter = SlidingWindowLimiter(2, 10.0, clock=lambda: now[0])
    await limiter.acquire()
    await limiter.acquire()
    assert limiter._try_acquire() is not None  # both in flight
    now[0] = 105.0
    limiter.release()  # answered at 105: its slot frees at 115
    assert limiter._try_acquire() == pytest.approx(10.0)
    now[0] = 114.9
    assert limiter._try_acquire() == pytest.approx(0.1)
    now[0] = 115.0
    assert limiter._try_acquire() is None
    assert limiter.in_use() == 2


def test_limiter_rejects_nonsense_limits() -> None:
    with pytest.raises(ValueError):
        SlidingWindowLimiter(0, 1.0)
    with pytest.raises(ValueError):
        SlidingWindowLimiter(1, 0)
