"""Live order-book orders against the Coinspot simulator over HTTP: resting, time-outs,
cancels, re-prices, partial fills and a cancel whose outcome is unknown.

A cycle follows its order-book orders while it runs, so each test starts the cycle as a
task, waits (polling with a deadline) until the order rests at the simulator, moves the
simulator's price, and then awaits the cycle.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from decimal import ROUND_DOWN, Decimal
from typing import Any, Literal

import pytest
from sqlmodel import Session

from app.core.config import settings
from app.core.db import engine
from app.exchange.client import CoinspotClient
from app.exchange.nonce import NonceGenerator
from app.exchange.simulator import RunningSimulator, SimAccount
from app.floor.executor import BrokerFactory, run_cycle
from app.floor.models import DeployedAlgorithm
from app.floor.orders import pending_coins
from app.floor.resolver import resolve_deployment
from app.lab.sandbox.pool import SandboxPool
from tests.floor.conftest import BAR_T
from tests.floor.factories import (
    BAR,
    HOLD_CODE,
    make_deployment,
    make_release,
    make_user,
    seed_prices,
)
from tests.floor.helpers import dec, orders_of, position_of, runs_of, sim_fills, trades_of

pytestmark = pytest.mark.anyio
PLACE_BUY = "/api/v2/my/buy"
CANCEL_BUY = "/api/v2/my/buy/cancel"
Brokers = Callable[..., BrokerFactory]
CAPITAL = Decimal(10000)


def book_settings(
    monkeypatch: pytest.MonkeyPatch,
    *,
    timeout: float,
    reprices: int = 0,
    rule: str = "touch",
) -> None:
    monkeypatch.setattr(settings, "FLOOR_ORDERBOOK_TIMEOUT_SECONDS", timeout)
    monkeypatch.setattr(settings, "FLOOR_ORDERBOOK_POLL_SECONDS", 0.05)
    monkeypatch.setattr(settings, "FLOOR_ORDERBOOK_MAX_REPRICES", reprices)
    monkeypatch.setattr(settings, "FLOOR_ORDERBOOK_REPRICE_RULE", rule)


def live_book(
    db: Session, simulator: RunningSimulator, *, bid: str = "99000", ask: str = "100000"
) -> tuple[DeployedAlgorithm, SimAccount]:
    user = make_user(db)
    release = make_release(db, user, HOLD_CODE, parameters={"fraction": 1.0}, warmup_bars=3)
    for i in range(4):
        seed_prices(db, "BTC", BAR_T + i * BAR, 4)
    simulator.admin.set_price("BTC", bid=bid, ask=ask)
    account = simulator.admin.create_account({"AUD": str(CAPITAL)})
    deployment = make_deployment(
        db, release, mode="live", capital=str(CAPITAL), execution_style="orderbook"
    )
    return deployment, account


def start_cycle(
    deployment: DeployedAlgorithm, step: int, pool: SandboxPool, factory: BrokerFactory
) -> "asyncio.Task[Any]":
    return asyncio.create_task(
        run_cycle(
            deployment.id, BAR_T + step * BAR, trigger="test", pool=pool, broker_factory=factory
        )
    )


async def wait_for(probe: Callable[[], Awaitable[bool]], what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not await probe():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def wait_logged(simulator: RunningSimulator, path: str, count: int) -> None:
    async def probe() -> bool:
        return len(await asyncio.to_thread(simulator.admin.requests, path)) >= count

    await wait_for(probe, f"{count} request(s) to {path} in the simulator's log")


async def resting_orders(simulator: RunningSimulator, account: SimAccount) -> list[Any]:
    view = await asyncio.to_thread(simulator.admin.account, account.api_key)
    orders = view["open_orders"]
    assert isinstance(orders, list)
    return orders


async def wait_resting(simulator: RunningSimulator, account: SimAccount) -> dict[str, Any]:
    async def probe() -> bool:
        return bool(await resting_orders(simulator, account))

    await wait_for(probe, "an order resting at the simulator")
    (order,) = await resting_orders(simulator, account)
    assert isinstance(order, dict)
    return order


def assert_books_match_exchange(
    deployment: DeployedAlgorithm, account: SimAccount, sim: Any
) -> None:
    view = sim.admin.account(account.api_key)
    position = position_of(deployment.id)
    assert position.quantity == view["balances"].get("BTC", Decimal(0))
    assert position.cash == view["balances"]["AUD"]
    trades = trades_of(deployment.id)
    assert sum(t.quantity for t in trades) == position.quantity
    assert [dec(f["amount"]) for f in sim_fills(view)] == [t.quantity for t in trades]
    assert [dec(f["fee"]) for f in sim_fills(view)] == [t.fee + t.gst for t in trades]
    assert view["open_orders"] == []


async def test_buy_rests_at_the_bid_and_fills_when_the_price_crosses(
    db: Session,
    simulator: RunningSimulator,
    pool: SandboxPool,
    sim_brokers: Brokers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    book_settings(monkeypatch, timeout=20)
    deployment, account = live_book(db, simulator)
    task = start_cycle(deployment, 0, pool, sim_brokers(account))
    resting = await wait_resting(simulator, account)
    assert dec(resting["rate"]) == Decimal(99000) and resting["side"] == "buy"
    assert sim_fills(simulator.admin.account(account.api_key)) == []

    simulator.admin.set_price("BTC", bid="98500", ask="99000")  # the ask comes down to it
    await task

    (order,) = orders_of(deployment.id)
    assert order.status == "filled" and order.style == "orderbook"
    assert order.open_at is not None and order.expires_at is not None
    assert order.exchange_order_id == resting["id"]
    assert order.limit_rate == Decimal(99000)
    (trade,) = trades_of(deployment.id)
    assert trade.source == "exchange" and trade.price == Decimal(99000)
    assert trade.quantity == order.requested_quantity == dec(resting["amount"])
    # The order-book fee (0.1 %), not the instant one.
    assert trade.fee + trade.gst == trade.quantity * Decimal(99000) * Decimal("0.001")
    assert_books_match_exchange(deployment, account, simulator)
    assert len(simulator.admin.requests(PLACE_BUY)) == 1
    decision = runs_of(deployment.id)[0].decisions["BTC"]
    assert decision["status"] == "filled" and decision["reprices"] == 0


async def test_time_out_cancels_then_the_reprice_fills(
    db: Session,
    simulator: RunningSimulator,
    pool: SandboxPool,
    sim_brokers: Brokers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    book_settings(monkeypatch, timeout=0.4, reprices=2, rule="cross")
    deployment, account = live_book(db, simulator, bid="99950", ask="100000")
    await start_cycle(deployment, 0, pool, sim_brokers(account))

    first, second = orders_of(deployment.id)
    assert first.status == "cancelled" and first.error == "timed out; cancelled"
    assert first.filled_quantity == 0 and first.limit_rate == Decimal(99950)
    assert second.replaces_id == first.id and second.status == "filled"
    assert second.limit_rate == Decimal(100000)  # "cross": the ask
    assert second.requested_quantity == first.requested_quantity
    assert second.submitting_at is not None and first.cancelled_at is not None
    assert second.submitting_at > first.cancelled_at  # re-priced only after the cancel
    (trade,) = trades_of(deployment.id)
    assert trade.order_id == second.id and trade.price == Decimal(100000)
    assert len(simulator.admin.requests(PLACE_BUY)) == 2
    assert len(simulator.admin.requests(CANCEL_BUY)) == 1
    assert_books_match_exchange(deployment, account, simulator)
    run = runs_of(deployment.id)[0]
    assert run.order_ids == [str(first.id), str(second.id)]
    assert run.decisions["BTC"]["reprices"] == 1


async def test_time_out_without_fill_gives_up_after_max_reprices(
    db: Session,
    simulator: RunningSimulator,
    pool: SandboxPool,
    sim_brokers: Brokers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    book_settings(monkeypatch, timeout=0.2, reprices=1, rule="touch")
    deployment, account = live_book(db, simulator)
    await start_cycle(deployment, 0, pool, sim_brokers(account))
    orders = orders_of(deployment.id)
    assert [o.status for o in orders] == ["cancelled", "cancelled"]
    assert orders[1].replaces_id == orders[0].id
    assert trades_of(deployment.id) == []
    assert len(simulator.admin.requests(PLACE_BUY)) == 2
    view = simulator.admin.account(account.api_key)
    assert view["open_orders"] == [] and view["balances"]["AUD"] == CAPITAL
    decision = runs_of(deployment.id)[0].decisions["BTC"]
    assert "gave up" in decision["detail"]
    # Nothing filled: the target was not acted on, so the next bar decides again.
    assert position_of(deployment.id).last_target is None


async def test_partial_fill_then_time_out_cancels_the_rest(
    db: Session,
    simulator: RunningSimulator,
    pool: SandboxPool,
    sim_brokers: Brokers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    book_settings(monkeypatch, timeout=3, reprices=0)
    deployment, account = live_book(db, simulator)
    task = start_cycle(deployment, 0, pool, sim_brokers(account))
    resting = await wait_resting(simulator, account)
    simulator.admin.partial_fills(1, ratio="0.4")
    simulator.admin.set_price("BTC", bid="98500", ask="99000")
    await task

    (order,) = orders_of(deployment.id)
    assert order.status == "cancelled" and order.partially_filled_at is not None
    expected = (dec(resting["amount"]) * Decimal("0.4")).quantize(Decimal("1E-8"), ROUND_DOWN)
    assert order.filled_quantity == expected < order.requested_quantity
    (trade,) = trades_of(deployment.id)
    assert trade.quantity == expected and trade.price == Decimal(99000)
    position = position_of(deployment.id)
    assert position.quantity == expected
    assert position.cash == CAPITAL - trade.total_aud
    assert position.cost_basis == trade.total_aud
    assert_books_match_exchange(deployment, account, simulator)  # the rest is not reserved
    assert len(simulator.admin.requests(CANCEL_BUY)) == 1
    assert position.last_target == Decimal(1)


async def test_order_cancelled_outside_is_not_repriced(
    db: Session,
    simulator: RunningSimulator,
    pool: SandboxPool,
    sim_brokers: Brokers,
    nonce_generator: NonceGenerator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    book_settings(monkeypatch, timeout=20, reprices=2)
    deployment, account = live_book(db, simulator)
    task = start_cycle(deployment, 0, pool, sim_brokers(account))
    resting = await wait_resting(simulator, account)
    async with CoinspotClient(
        simulator.base_url,
        api_key=account.api_key,
        api_secret=account.api_secret,
        nonce_generator=nonce_generator,
    ) as user_client:  # e.g. the user at Coinspot's website, or an emergency stop
        await user_client.cancel_buy_order(resting["id"])
    await task

    (order,) = orders_of(deployment.id)
    assert order.status == "cancelled" and order.error == "no longer open at the exchange"
    assert len(simulator.admin.requests(PLACE_BUY)) == 1
    assert runs_of(deployment.id)[0].decisions["BTC"]["detail"] == "cancelled outside: no re-price"
    assert trades_of(deployment.id) == []


@pytest.mark.parametrize("mode", ["after", "before"])
async def test_cancel_that_hangs_is_unknown_and_the_resolver_settles_it(
    mode: Literal["after", "before"],
    db: Session,
    simulator: RunningSimulator,
    pool: SandboxPool,
    sim_brokers: Brokers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    book_settings(monkeypatch, timeout=0.3, reprices=2, rule="touch")
    deployment, account = live_book(db, simulator)
    factory = sim_brokers(account, timeout=1.0)
    simulator.admin.hang_next(1, path=CANCEL_BUY, seconds=3, mode=mode)
    await start_cycle(deployment, 0, pool, factory)

    (order,) = orders_of(deployment.id)
    assert order.status == "unknown" and order.error
    assert "cancel outcome unknown" in order.error
    # No re-price while the cancel is unclear: one order ever placed.
    assert len(simulator.admin.requests(PLACE_BUY)) == 1
    with Session(engine) as s:
        assert pending_coins(s, deployment.id) == {"BTC": "unknown"}
    still_open = simulator.admin.account(account.api_key)["open_orders"]
    assert len(still_open) == (1 if mode == "before" else 0)

    broker = await factory(deployment)
    await resolve_deployment(engine, broker, deployment.id)

    (order,) = orders_of(deployment.id)
    assert order.status == "cancelled" and order.resolution
    assert len(simulator.admin.requests(PLACE_BUY)) == 1
    # "before": the first cancel never ran; the resolver found the order open and cancelled it.
    # (A hung request is logged when its withheld answer is finally sent.)
    cancels = 2 if mode == "before" else 1
    await wait_logged(simulator, CANCEL_BUY, cancels)
    assert len(simulator.admin.requests(CANCEL_BUY)) == cancels
    assert trades_of(deployment.id) == []
    view = simulator.admin.account(account.api_key)
    assert view["open_orders"] == [] and view["balances"]["AUD"] == CAPITAL
    with Session(engine) as s:
        assert pending_coins(s, deployment.id) == {}


async def test_resolver_books_fills_of_an_order_whose_cancel_was_unclear(
    db: Session,
    simulator: RunningSimulator,
    pool: SandboxPool,
    sim_brokers: Brokers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    book_settings(monkeypatch, timeout=3, reprices=2)
    deployment, account = live_book(db, simulator)
    factory = sim_brokers(account, timeout=1.0)
    simulator.admin.hang_next(1, path=CANCEL_BUY, seconds=3, mode="before")
    task = start_cycle(deployment, 0, pool, factory)
    await wait_resting(simulator, account)
    simulator.admin.partial_fills(1, ratio="0.25")
    simulator.admin.set_price("BTC", bid="98500", ask="99000")
    await task
    (order,) = orders_of(deployment.id)
    assert order.status == "unknown" and order.filled_quantity > 0

    # While unknown, the rest fills at the exchange (the cancel never ran).
    simulator.admin.set_price("BTC", bid="98400", ask="98900")
    await resolve_deployment(engine, await factory(deployment), deployment.id)
    (order,) = orders_of(deployment.id)
    assert order.status == "filled" and order.filled_quantity == order.requested_quantity
    assert len(simulator.admin.requests(PLACE_BUY)) == 1
    assert_books_match_exchange(deployment, account, simulator)
    await wait_logged(simulator, CANCEL_BUY, 1)  # the hung cancel, answered at last
