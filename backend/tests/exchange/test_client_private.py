"""Contract tests: read-only and full-access client methods against the simulator."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from app.exchange.errors import (
    AuthenticationError,
    InsufficientFundsError,
    InvalidOrderError,
)
from app.exchange.simulator import RunningSimulator, SimAccount
from tests.exchange.conftest import ClientFactory

pytestmark = pytest.mark.anyio

INSTANT_FEE = Decimal("0.01")
MARKET_FEE = Decimal("0.001")


async def test_round_trip_buy_then_sell_btc(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    account = simulator.admin.create_account()
    simulator.admin.fund(account.api_key, "AUD", "50000")
    prices = simulator.admin.set_price("BTC", bid="149876.54", ask="150123.45", last="150000")
    amount = Decimal("0.01234567")
    async with make_client(account) as client:
        before = await client.balances()
        bought = await client.buy_now("BTC", amount)
        middle = await client.balances()
        sold = await client.sell_now("BTC", amount)
        after = await client.balances()
        completed = await client.my_completed_orders()

    cost = amount * prices["ask"]
    buy_fee = cost * INSTANT_FEE
    assert before.amount("AUD") == Decimal(50000)
    assert before.amount("BTC") == 0
    assert middle.amount("AUD") == Decimal(50000) - (cost + buy_fee)
    assert middle.amount("BTC") == amount
    assert (bought.coin, bought.market, bought.amount, bought.total) == (
        "BTC",
        "BTC/AUD",
        amount,
        cost + buy_fee,
    )

    proceeds = amount * prices["bid"]
    sell_fee = proceeds * INSTANT_FEE
    assert after.amount("AUD") == middle.amount("AUD") + proceeds - sell_fee
    assert after.amount("BTC") == 0
    assert (sold.amount, sold.rate, sold.total) == (amount, prices["bid"], proceeds - sell_fee)

    [buy] = completed.buy_orders
    [sell] = completed.sell_orders
    assert (buy.coin, buy.amount, buy.rate, buy.total) == ("BTC", amount, prices["ask"], cost)
    assert buy.aud_fee_ex_gst + buy.aud_gst == buy_fee
    assert buy.aud_total == cost + buy_fee
    assert (sell.amount, sell.rate, sell.aud_total) == (amount, prices["bid"], proceeds - sell_fee)
    assert sell.sold_at >= buy.sold_at


async def test_status_and_balances(simulator: RunningSimulator, make_client: ClientFactory) -> None:
    account = simulator.admin.create_account({"AUD": "1234.5", "ETH": "2"})
    eth_bid = simulator.admin.set_price("ETH", bid="5000", ask="5010", last="5005")["bid"]
    async with make_client(account) as client:
        await client.status()
        await client.full_access_status()
        balances = await client.balances()
        eth = await client.balance("eth")
        zero = await client.balance("SOL")
    assert set(balances.balances) == {"AUD", "ETH"}
    assert balances.balances["ETH"].aud_balance == 2 * eth_bid
    assert balances.balances["AUD"].rate == 1
    assert (eth.coin, eth.balance, eth.rate, eth.available) == ("ETH", Decimal(2), eth_bid, None)
    assert zero.balance == 0


async def test_available_balance_excludes_funds_held_by_open_orders(
    simulator: RunningSimulator, make_client: ClientFactory, funded: SimAccount
) -> None:
    simulator.admin.set_price("BTC", bid="100000", ask="100100", last="100050")
    async with make_client(funded) as client:
        await client.place_buy_order("BTC", "0.1", "90000")
        aud = await client.balance("AUD", available=True)
    assert aud.balance == Decimal(100000)
    assert aud.available == Decimal(100000) - Decimal("9000") * (1 + MARKET_FEE)


async def test_limit_buy_rests_then_fills_when_the_price_crosses(
    simulator: RunningSimulator, make_client: ClientFactory, funded: SimAccount
) -> None:
    simulator.admin.set_price("ETH", bid="5000", ask="5010", last="5005")
    async with make_client(funded) as client:
        placed = await client.place_buy_order("ETH", "2", "4900")
        open_orders = await client.my_open_orders()
        assert [(o.id, o.amount, o.rate, o.total) for o in open_orders.buy_orders] == [
            (placed.id, Decimal(2), Decimal(4900), Decimal(9800))
        ]
        assert (placed.coin, placed.market, placed.amount, placed.rate) == (
            "ETH",
            "ETH/AUD",
            Decimal(2),
            Decimal(4900),
        )
        simulator.admin.set_price("ETH", bid="4890", ask="4895", last="4893")
        after = await client.my_open_orders()
        balances = await client.balances()
        completed = await client.my_completed_orders("ETH")
    assert after.buy_orders == []
    assert balances.amount("ETH") == 2
    # Resting orders fill at their own rate with the market fee.
    assert balances.amount("AUD") == Decimal(100000) - Decimal(9800) * (1 + MARKET_FEE)
    assert [(o.rate, o.amount) for o in completed.buy_orders] == [(Decimal(4900), Decimal(2))]


async def test_limit_sell_that_crosses_on_arrival_fills_at_the_bid(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    account = simulator.admin.create_account({"SOL": "10"})
    simulator.admin.set_price("SOL", bid="300", ask="301", last="300.5")
    async with make_client(account) as client:
        await client.place_sell_order("SOL", "4", "250")
        balances = await client.balances()
        still_open = await client.my_open_orders("SOL")
    assert still_open.sell_orders == []
    assert balances.amount("SOL") == 6
    assert balances.amount("AUD") == Decimal(1200) * (1 - MARKET_FEE)


async def test_cancel_edit_and_cancel_all(
    simulator: RunningSimulator, make_client: ClientFactory, funded: SimAccount
) -> None:
    simulator.admin.fund(funded.api_key, "XRP", "1000")
    simulator.admin.set_price("XRP", bid="3.00", ask="3.02", last="3.01")
    async with make_client(funded) as client:
        buy1 = await client.place_buy_order("XRP", "100", "2.5")
        buy2 = await client.place_buy_order("XRP", "50", "2.4")
        sell1 = await client.place_sell_order("XRP", "10", "4")
        sell2 = await client.place_sell_order("XRP", "20", "4.5")

        edited = await client.edit_buy_order("XRP", buy1.id, "2.5", "2.6")
        assert (edited.id, edited.rate, edited.new_rate, edited.total, edited.updated) == (
            buy1.id,
            Decimal("2.5"),
            Decimal("2.6"),
            Decimal(260),
            True,
        )
        sell_edit = await client.edit_sell_order("XRP", sell1.id, "4", "3.9")
        assert sell_edit.new_rate == Decimal("3.9")

        await client.cancel_buy_order(buy2.id)
        await client.cancel_sell_order(sell2.id)
        mid = await client.my_open_orders()
        assert [(o.id, o.rate) for o in mid.buy_orders] == [(buy1.id, Decimal("2.6"))]
        assert [(o.id, o.rate) for o in mid.sell_orders] == [(sell1.id, Decimal("3.9"))]

        with pytest.raises(InvalidOrderError) as caught:
            await client.cancel_buy_order(buy2.id)
        assert caught.value.reason == "not_found"
        with pytest.raises(InvalidOrderError):
            await client.edit_buy_order("XRP", buy1.id, "9.99", "2.7")  # wrong current rate

        await client.cancel_all_buy_orders("XRP")
        await client.cancel_all_sell_orders()
        final = await client.my_open_orders()
    assert final.buy_orders == [] and final.sell_orders == []


async def test_quotes_are_ask_and_bid(
    simulator: RunningSimulator, make_client: ClientFactory, funded: SimAccount
) -> None:
    simulator.admin.set_price("DOGE", bid="0.35", ask="0.36", last="0.355")
    async with make_client(funded) as client:
        buy = await client.quote_buy("DOGE", "1000")
        sell = await client.quote_sell("DOGE", "100", "aud")
    assert (buy.coin, buy.amount, buy.amount_type, buy.rate) == (
        "DOGE",
        Decimal(1000),
        "coin",
        Decimal("0.36"),
    )
    assert (sell.amount_type, sell.rate) == ("aud", Decimal("0.35"))


async def test_buy_now_by_aud_amount_never_spends_more(
    simulator: RunningSimulator, make_client: ClientFactory, funded: SimAccount
) -> None:
    simulator.admin.set_price("SOL", bid="299", ask="300", last="299.5")
    async with make_client(funded) as client:
        trade = await client.buy_now("SOL", "1000", "aud")
        balances = await client.balances()
    # 1000 / (300 * 1.01) = 3.30033003... coins, rounded down to 8 decimals.
    assert trade.amount == Decimal("3.30033003")
    assert trade.total <= Decimal(1000)
    assert balances.amount("AUD") == Decimal(100000) - trade.total
    assert balances.amount("SOL") == trade.amount


async def test_shib_trade_is_exact(
    simulator: RunningSimulator, make_client: ClientFactory, funded: SimAccount
) -> None:
    simulator.admin.set_price("SHIB", bid="0.00001233", ask="0.00001234", last="0.00001234")
    amount = Decimal("12345678.9")
    async with make_client(funded) as client:
        await client.buy_now("SHIB", amount)
        balances = await client.balances()
    cost = amount * Decimal("0.00001234")
    assert cost == Decimal("152.345677626")
    assert balances.amount("AUD") == Decimal(100000) - cost * (1 + INSTANT_FEE)
    assert balances.amount("SHIB") == amount


async def test_threshold_guard_refuses_a_moved_price(
    simulator: RunningSimulator, make_client: ClientFactory, funded: SimAccount
) -> None:
    simulator.admin.set_price("BTC", bid="101000", ask="102000", last="101500")
    async with make_client(funded) as client:
        with pytest.raises(InvalidOrderError) as caught:
            await client.buy_now("BTC", "0.01", rate="100000", threshold="1", direction="UP")
        assert "threshold" in caught.value.message
        within = await client.buy_now("BTC", "0.01", rate="100000", threshold="3")
        assert within.amount == Decimal("0.01")
        with pytest.raises(InvalidOrderError):
            await client.sell_now("BTC", "0.005", rate="110000", threshold="5", direction="BOTH")
        sold = await client.sell_now("BTC", "0.005", rate="110000", threshold="5", direction="UP")
    assert sold.rate == Decimal(101000)


async def test_insufficient_funds(simulator: RunningSimulator, make_client: ClientFactory) -> None:
    poor = simulator.admin.create_account({"AUD": "10"})
    async with make_client(poor) as client:
        with pytest.raises(InsufficientFundsError):
            await client.buy_now("BTC", "1")
        with pytest.raises(InsufficientFundsError):
            await client.sell_now("ETH", "1")
        with pytest.raises(InsufficientFundsError):
            await client.place_buy_order("ETH", "1", "100")
        with pytest.raises(InsufficientFundsError):
            await client.place_sell_order("ETH", "1", "100")


async def test_invalid_orders(make_client: ClientFactory, funded: SimAccount) -> None:
    async with make_client(funded) as client:
        with pytest.raises(InvalidOrderError) as unknown:
            await client.buy_now("NOPE", "1")
        with pytest.raises(InvalidOrderError) as market:
            await client.place_buy_order("BTC", "1", "1", market="USDT")
    assert unknown.value.reason == "not_found"
    assert "Market not supported" in market.value.message
    with pytest.raises(ValueError):
        await client.buy_now("BTC", "-1")
    with pytest.raises(ValueError):
        await client.buy_now("BTC", "abc")


async def test_partial_fills(
    simulator: RunningSimulator, make_client: ClientFactory, funded: SimAccount
) -> None:
    simulator.admin.set_price("ETH", bid="5000", ask="5010", last="5005")
    simulator.admin.partial_fills(2, ratio="0.25")
    async with make_client(funded) as client:
        instant = await client.buy_now("ETH", "1")
        order = await client.place_buy_order("ETH", "2", "5100")  # crosses: fills 25 % now
        open_orders = await client.my_open_orders("ETH")
        simulator.admin.tick()  # no fault left: the rest fills at its rate on the next tick
        simulator.admin.set_price("ETH", bid="5000", ask="5010", last="5005")
        done = await client.my_open_orders("ETH")
        balances = await client.balances()
    assert instant.amount == Decimal("0.25")
    assert [(o.id, o.amount) for o in open_orders.buy_orders] == [(order.id, Decimal("1.5"))]
    assert done.buy_orders == []
    assert balances.amount("ETH") == Decimal("0.25") + Decimal(2)


async def test_order_history_and_date_filters(
    simulator: RunningSimulator, make_client: ClientFactory, funded: SimAccount
) -> None:
    simulator.admin.set_price("LTC", bid="150", ask="151", last="150.5")
    async with make_client(funded) as client:
        await client.buy_now("LTC", "1")
        await client.buy_now("ETH", "0.1")
        await client.sell_now("LTC", "0.5")
        history = await client.order_history()
        ltc_only = await client.order_history("LTC", limit=1)
        today = datetime.now(UTC).date()
        in_range = await client.my_completed_orders(start=today, end=today)
        future = await client.my_completed_orders(start=datetime.now(UTC) + timedelta(hours=1))
        past = await client.order_history(end=date(2020, 1, 1))
    assert len(history.buy_orders) == 2 and len(history.sell_orders) == 1
    assert {o.type for o in history.buy_orders} == {"instant"}
    assert history.buy_orders[0].coin == "ETH"  # newest first
    assert len(ltc_only.buy_orders) + len(ltc_only.sell_orders) == 1
    assert len(in_range.buy_orders) == 2
    assert future.buy_orders == [] and past.buy_orders == []


async def test_deposits_record_aud_funding(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    account = simulator.admin.create_account({"AUD": "500"})
    simulator.admin.fund(account.api_key, "AUD", "250.75")
    async with make_client(account) as client:
        deposits = await client.deposits()
        none_later = await client.deposits(start=datetime.now(UTC) + timedelta(days=1))
    assert [d.amount for d in deposits] == [Decimal("250.75"), Decimal(500)]
    assert deposits[0].reference.startswith("SIM")
    assert none_later == []


async def test_read_only_key_is_refused_on_trading(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    reader = simulator.admin.create_account({"AUD": "100"}, read_only=True)
    async with make_client(reader) as client:
        await client.status()
        with pytest.raises(AuthenticationError) as caught:
            await client.full_access_status()
    assert caught.value.reason == "permission_denied"


async def test_signed_calls_without_credentials_fail_fast(make_client: ClientFactory) -> None:
    async with make_client() as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.balances()
    assert caught.value.reason == "no_credentials"


async def test_with_credentials_shares_pool_and_limiter(
    simulator: RunningSimulator, make_client: ClientFactory, funded: SimAccount
) -> None:
    other = simulator.admin.create_account({"AUD": "7"})
    async with make_client(funded) as client:
        derived = client.with_credentials(other.api_key, other.api_secret)
        assert derived.rate_limiter is client.rate_limiter
        assert (await derived.balances()).amount("AUD") == 7
        assert (await client.balances()).amount("AUD") == 100000
        await derived.aclose()  # does not close the shared pool
        assert (await client.balances()).amount("AUD") == 100000


async def test_concurrent_signed_calls_on_one_key_all_succeed(
    simulator: RunningSimulator, make_client: ClientFactory, funded: SimAccount
) -> None:
    import asyncio

    async with make_client(funded) as client:
        results = await asyncio.gather(*(client.balances() for _ in range(30)))
    assert all(r.amount("AUD") == 100000 for r in results)
    rejected = simulator.admin.requests(path="/api/v2/ro/my/balances", outcome="error")
    assert rejected == []
