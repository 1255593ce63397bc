"""Fault tests: retries for reads, no blind retries for orders, typed errors for the rest."""

import time
from collections.abc import Callable
from decimal import Decimal

import httpx
import pytest

from app.exchange import jsoncodec
from app.exchange.client import CoinspotClient
from app.exchange.errors import (
    AuthenticationError,
    ExchangeResponseError,
    ExchangeUnavailableError,
    InsufficientFundsError,
    OrderStatusUnknownError,
    RateLimitError,
)
from app.exchange.nonce import NonceGenerator
from app.exchange.signing import sign
from app.exchange.simulator import RunningSimulator, SimAccount
from app.exchange.transport import RetryPolicy
from tests.exchange.conftest import ClientFactory

pytestmark = pytest.mark.anyio

LATEST = "/pubapi/v2/latest"
BUY_NOW = "/api/v2/my/buy/now"
NO_RETRY = RetryPolicy(attempts=1)


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.02)


async def test_read_survives_two_5xx_and_succeeds_on_the_third_try(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    simulator.admin.fail_next(2, path=LATEST, status=503)
    async with make_client() as client:  # 3 attempts
        latest = await client.latest_prices()
    assert "BTC" in latest.prices
    assert [r["outcome"] for r in simulator.admin.requests(path=LATEST)] == [
        "fault_error",
        "fault_error",
        "ok",
    ]


async def test_read_gives_up_after_the_retry_budget(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    simulator.admin.fail_next(10, path=LATEST, status=502)
    async with make_client() as client:
        with pytest.raises(ExchangeUnavailableError) as caught:
            await client.latest_prices()
    assert caught.value.reason == "http_502"
    assert len(simulator.admin.requests(path=LATEST)) == 3


async def test_5xx_with_a_json_body_is_unavailable_too(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    body = '{"status":"error","message":"Service temporarily unavailable"}'
    simulator.admin.fail_next(5, path=LATEST, status=500, body=body)
    async with make_client(retry=NO_RETRY) as client:
        with pytest.raises(ExchangeUnavailableError) as caught:
            await client.latest_prices()
    assert caught.value.message == "Service temporarily unavailable"
    assert caught.value.status_code == 500


@pytest.mark.parametrize("mode", ["after", "before"])
async def test_order_that_times_out_is_status_unknown_and_sent_once(
    simulator: RunningSimulator, make_client: ClientFactory, funded: SimAccount, mode: str
) -> None:
    simulator.admin.hang_next(1, path=BUY_NOW, seconds=0.6, mode=mode)  # type: ignore[arg-type]
    async with make_client(funded, timeout_seconds=0.2) as client:
        with pytest.raises(OrderStatusUnknownError) as caught:
            await client.buy_now("BTC", "0.01")
    error = caught.value
    assert error.cause == "timeout"
    assert error.params == {"cointype": "BTC", "amounttype": "coin", "amount": Decimal("0.01")}
    assert error.nonce > 0 and error.sent_at_ms > 0
    wait_for(lambda: len(simulator.admin.requests(path=BUY_NOW)) == 1)
    [record] = simulator.admin.requests(path=BUY_NOW)
    assert record["outcome"] == ("hang_after" if mode == "after" else "hang")
    fills = simulator.admin.account(funded.api_key)["fills"]
    # "after": the exchange executed it (exactly once) although the client never heard back.
    assert len(fills) == (1 if mode == "after" else 0)


async def test_order_that_gets_a_5xx_is_status_unknown_and_not_retried(
    simulator: RunningSimulator, make_client: ClientFactory, funded: SimAccount
) -> None:
    simulator.admin.fail_next(1, path="/api/v2/my/buy", status=502)
    async with make_client(funded) as client:
        with pytest.raises(OrderStatusUnknownError) as caught:
            await client.place_buy_order("BTC", "0.01", "1000")
    assert caught.value.cause == "http_502"
    assert len(simulator.admin.requests(path="/api/v2/my/buy")) == 1


async def test_malformed_body_raises_response_error_without_retry(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    simulator.admin.malformed_next(1, path=LATEST)
    async with make_client() as client:
        with pytest.raises(ExchangeResponseError) as caught:
            await client.latest_prices()
        assert caught.value.reason == "bad_response"
        assert "BTC" in (await client.latest_prices()).prices  # fault used up
    assert [r["outcome"] for r in simulator.admin.requests(path=LATEST)] == ["malformed", "ok"]


async def test_unexpected_shape_raises_response_error(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    simulator.admin.malformed_next(1, path=LATEST, body='{"status":"ok","message":"ok"}')
    simulator.admin.malformed_next(
        1,
        path="/pubapi/v2/latest/BTC",
        body='{"status":"ok","prices":{"bid":"-1","ask":"2","last":"1"}}',
    )
    async with make_client() as client:
        with pytest.raises(ExchangeResponseError):
            await client.latest_prices()
        with pytest.raises(ExchangeResponseError):
            await client.latest_price("BTC")


async def test_malformed_answer_to_an_order_is_status_unknown(
    simulator: RunningSimulator, make_client: ClientFactory, funded: SimAccount
) -> None:
    simulator.admin.malformed_next(1, path=BUY_NOW)
    async with make_client(funded) as client:
        with pytest.raises(OrderStatusUnknownError) as caught:
            await client.buy_now("ETH", "0.1")
    assert caught.value.cause == "bad_response"
    assert len(simulator.admin.account(funded.api_key)["fills"]) == 1


async def test_error_status_with_http_200_is_still_an_error(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    simulator.admin.configure(errors_as_http_200=True)
    account = simulator.admin.create_account({"AUD": "5"})
    async with make_client(account) as client:
        with pytest.raises(InsufficientFundsError) as funds:
            await client.buy_now("BTC", "1")
        simulator.admin.rate_limit_next(5, path="/api/v2/ro/my/balances")
        with pytest.raises(RateLimitError) as limited:
            await client.balances()
    async with make_client(SimAccount(account.api_key, "wrong-secret")) as wrong:
        with pytest.raises(AuthenticationError) as auth:
            await wrong.balances()
    assert funds.value.status_code == 200
    assert limited.value.status_code == 200
    assert (auth.value.reason, auth.value.status_code) == ("invalid_signature", 200)


async def test_read_timeout_is_retried(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    simulator.admin.hang_next(1, path=LATEST, seconds=1.2)
    async with make_client(timeout_seconds=0.4) as client:
        latest = await client.latest_prices()
    assert latest.prices
    wait_for(lambda: len(simulator.admin.requests(path=LATEST)) == 2)


async def test_latency_beyond_the_timeout_is_unavailable(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    simulator.admin.add_latency(0.5, path=LATEST)
    async with make_client(timeout_seconds=0.1, retry=NO_RETRY) as client:
        with pytest.raises(ExchangeUnavailableError) as caught:
            await client.latest_prices()
    assert caught.value.reason == "timeout"


async def test_rate_limited_reads_are_retried_then_reported(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    simulator.admin.rate_limit_next(1, path=LATEST)
    async with make_client() as client:
        assert (await client.latest_prices()).prices
        simulator.admin.rate_limit_next(3, path=LATEST)
        with pytest.raises(RateLimitError) as caught:
            await client.latest_prices()
    assert (caught.value.status_code, caught.value.retry_after) == (429, 1.0)


async def test_retry_waits_at_least_the_servers_retry_after(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    simulator.admin.rate_limit_next(1, path=LATEST)  # answers Retry-After: 1
    policy = RetryPolicy(attempts=2, initial_seconds=0.01, max_seconds=5, jitter_seconds=0)
    async with make_client(retry=policy) as client:
        assert (await client.latest_prices()).prices
    first, second = simulator.admin.requests(path=LATEST)
    assert first["outcome"] == "fault_rate_limit" and second["outcome"] == "ok"
    assert second["at"] - first["at"] >= 1.0


async def test_exchange_down_is_unavailable_even_for_orders(funded: SimAccount) -> None:
    # Nothing listens on port 9: the order provably never left, so it is not "unknown".
    async with CoinspotClient(
        "http://127.0.0.1:9",
        api_key=funded.api_key,
        api_secret=funded.api_secret,
        retry=RetryPolicy(attempts=2, initial_seconds=0.01, max_seconds=0.01, jitter_seconds=0),
        nonce_generator=NonceGenerator(state_dir=None),
    ) as client:
        with pytest.raises(ExchangeUnavailableError) as read:
            await client.latest_prices()
        with pytest.raises(ExchangeUnavailableError) as order:
            await client.buy_now("BTC", "1")
    assert read.value.reason == order.value.reason == "connect_error"


async def test_credential_failures_are_told_apart(
    simulator: RunningSimulator, make_client: ClientFactory, funded: SimAccount
) -> None:
    """What credential validation needs: bad key / bad signature / rate limited / down."""
    cases: list[tuple[SimAccount, type[Exception], str]] = [
        (SimAccount("unknown-key", funded.api_secret), AuthenticationError, "invalid_key"),
        (SimAccount(funded.api_key, "not-the-secret"), AuthenticationError, "invalid_signature"),
    ]
    for account, error_type, reason in cases:
        async with make_client(account, retry=NO_RETRY) as client:
            with pytest.raises(error_type) as caught:
                await client.balances()
            assert caught.value.reason == reason  # type: ignore[attr-defined]
    async with make_client(funded, retry=NO_RETRY) as client:
        simulator.admin.rate_limit_next(1, path="/api/v2/ro/my/balances")
        with pytest.raises(RateLimitError):
            await client.balances()
        simulator.admin.fail_next(1, path="/api/v2/ro/my/balances", status=503)
        with pytest.raises(ExchangeUnavailableError) as down:
            await client.balances()
        assert down.value.reason == "http_503"
        assert (await client.balances()).amount("AUD") == 100000


async def test_a_refused_nonce_is_re_signed(
    simulator: RunningSimulator, make_client: ClientFactory, funded: SimAccount
) -> None:
    frozen = NonceGenerator(state_dir=None, clock=lambda: 1_000.0)  # first nonce: 1_000_000
    body = jsoncodec.dumps({"nonce": 1_000_000}).encode()
    httpx.post(
        simulator.base_url + "/api/v2/ro/status",
        content=body,
        headers={"key": funded.api_key, "sign": sign(body, funded.api_secret)},
    ).raise_for_status()
    async with make_client(funded, nonce_generator=frozen) as client:
        balances = await client.balances()
    assert balances.amount("AUD") == 100000
    outcomes = [r["status"] for r in simulator.admin.requests(path="/api/v2/ro/my/balances")]
    assert outcomes == [401, 200]


async def test_a_nonce_that_keeps_failing_is_an_authentication_error(
    simulator: RunningSimulator, make_client: ClientFactory, funded: SimAccount
) -> None:
    body = jsoncodec.dumps({"nonce": 10**16}).encode()  # far beyond any clock
    httpx.post(
        simulator.base_url + "/api/v2/ro/status",
        content=body,
        headers={"key": funded.api_key, "sign": sign(body, funded.api_secret)},
    ).raise_for_status()
    async with make_client(funded) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.buy_now("BTC", "0.01")
    assert caught.value.reason == "invalid_nonce"
    assert len(simulator.admin.requests(path=BUY_NOW)) == 3
    assert simulator.admin.account(funded.api_key)["fills"] == []
