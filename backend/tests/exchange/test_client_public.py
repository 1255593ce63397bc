"""Contract tests: the client's public-API methods against the simulator over HTTP."""

from decimal import Decimal

import pytest

from app.exchange.errors import ExchangeRejectedError
from app.exchange.simulator import RunningSimulator, SimAccount
from tests.exchange.conftest import ClientFactory

pytestmark = pytest.mark.anyio

REQUIRED_COINS = {"BTC", "ETH", "XRP", "SOL", "DOGE", "SHIB"}


async def test_latest_prices_lists_every_coin_as_decimals(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    truth = simulator.admin.prices()
    async with make_client() as client:
        latest = await client.latest_prices()
    assert len(latest.prices) >= 20
    assert set(latest.prices) >= REQUIRED_COINS
    assert latest.rejected == {}
    for coin, ticker in latest.prices.items():
        assert (ticker.bid, ticker.ask, ticker.last) == (
            truth[coin]["bid"],
            truth[coin]["ask"],
            truth[coin]["last"],
        )
        assert isinstance(ticker.bid, Decimal)
        assert ticker.bid < ticker.ask
    assert set(latest.pairs) == {"BTC/USDT", "ETH/USDT"}
    assert latest.get("btc") == latest.prices["BTC"]


async def test_latest_price_of_one_coin_and_of_a_pair(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    simulator.admin.set_price("BTC", bid="150000", ask="151000", last="150500")
    simulator.admin.set_price("USDT", bid="1.50", ask="1.60", last="1.55")
    async with make_client() as client:
        btc = await client.latest_price("btc")
        pair = await client.latest_price("BTC", "USDT")
        aud = await client.latest_price("BTC", "AUD")
    assert (btc.bid, btc.ask, btc.last) == (Decimal(150000), Decimal(151000), Decimal(150500))
    assert aud == btc
    # Cross rate through USDT/AUD: bid / usdt ask, ask / usdt bid.
    assert pair.bid == Decimal("93750")
    assert pair.ask == Decimal("100666.667")  # rounded up to the pair's tick


async def test_shib_keeps_its_precision(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    simulator.admin.set_price("SHIB", bid="0.00001233", ask="0.00001234", last="0.00001234")
    async with make_client() as client:
        shib = await client.latest_price("SHIB")
        buy = await client.buy_price("SHIB")
    assert shib.ask == Decimal("0.00001234")
    assert buy.rate == Decimal("0.00001234")
    assert shib.ask * 3 == Decimal("0.00003702")


async def test_buy_and_sell_price_are_ask_and_bid(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    simulator.admin.set_price("ETH", bid="5000.10", ask="5010.20", last="5005")
    async with make_client() as client:
        buy = await client.buy_price("ETH")
        sell = await client.sell_price("ETH")
        usdt = await client.buy_price("ETH", "usdt")
    assert (buy.rate, buy.market) == (Decimal("5010.20"), "ETH/AUD")
    assert (sell.rate, sell.market) == (Decimal("5000.10"), "ETH/AUD")
    assert usdt.market == "ETH/USDT"


async def test_unknown_coin_is_a_typed_rejection(make_client: ClientFactory) -> None:
    async with make_client() as client:
        with pytest.raises(ExchangeRejectedError) as caught:
            await client.latest_price("NOPE")
    assert caught.value.reason == "not_found"
    assert "Coin not found" in caught.value.message


async def test_open_orders_book_includes_resting_orders(
    simulator: RunningSimulator, make_client: ClientFactory, funded: SimAccount
) -> None:
    simulator.admin.set_price("BTC", bid="100000", ask="100500", last="100200")
    async with make_client(funded) as client:
        await client.place_buy_order("BTC", "0.5", "90000")
        book = await client.open_orders("BTC")
    assert book.buy_orders and book.sell_orders
    assert book.buy_orders[0].rate == Decimal(100000)
    assert book.sell_orders[0].rate == Decimal(100500)
    rates = [o.rate for o in book.buy_orders]
    assert rates == sorted(rates, reverse=True)
    mine = [o for o in book.buy_orders if o.rate == Decimal(90000)]
    assert [(o.amount, o.total, o.coin, o.market) for o in mine] == [
        (Decimal("0.5"), Decimal(45000), "BTC", "BTC/AUD")
    ]


async def test_completed_orders_show_recent_trades(
    simulator: RunningSimulator, make_client: ClientFactory, funded: SimAccount
) -> None:
    simulator.admin.set_price("ETH", bid="4000", ask="4010", last="4005")
    async with make_client(funded) as client:
        await client.buy_now("ETH", "0.25")
        await client.sell_now("ETH", "0.1")
        completed = await client.completed_orders("ETH")
        empty = await client.completed_orders("XRP")
    assert [(o.amount, o.rate) for o in completed.buy_orders] == [(Decimal("0.25"), Decimal(4010))]
    assert [(o.amount, o.rate) for o in completed.sell_orders] == [(Decimal("0.1"), Decimal(4000))]
    assert completed.buy_orders[0].sold_at.tzinfo is not None
    assert empty.buy_orders == [] and empty.sell_orders == []
