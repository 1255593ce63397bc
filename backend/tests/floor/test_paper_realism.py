"""Paper trading's optional realism (partial fills, extra slippage, the order book's depth)
and paper order-book orders that rest until a later quote crosses them; quotes come from
the Coinspot simulator over HTTP. Positions and cash must be exact in Decimal."""

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from app.core.config import settings
from app.exchange.simulator import RunningSimulator
from app.floor.executor import BrokerFactory, run_cycle
from app.floor.models import DeployedAlgorithm
from app.lab.engine.fills import rebalance
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
from tests.floor.helpers import orders_of, position_of, runs_of, trades_of

pytestmark = pytest.mark.anyio
Brokers = Callable[..., BrokerFactory]
CAPITAL = Decimal(10000)
INSTANT_FEE = Decimal("0.01")
BOOK_FEE = Decimal("0.001")


def paper(
    db: Session,
    simulator: RunningSimulator,
    *,
    style: str = "instant",
    slippage_bps: str = "0",
    bid: str = "99000",
    ask: str = "100000",
) -> DeployedAlgorithm:
    user = make_user(db)
    release = make_release(
        db,
        user,
        HOLD_CODE,
        parameters={"fraction": 1.0},
        warmup_bars=3,
        slippage_bps=slippage_bps,
    )
    for i in range(4):
        seed_prices(db, "BTC", BAR_T + i * BAR, 4)
    simulator.admin.set_price("BTC", bid=bid, ask=ask)
    return make_deployment(db, release, capital=str(CAPITAL), execution_style=style)


def cycle(
    deployment: DeployedAlgorithm, pool: SandboxPool, factory: BrokerFactory
) -> "asyncio.Task[Any]":
    return asyncio.create_task(
        run_cycle(deployment.id, BAR_T, trigger="test", pool=pool, broker_factory=factory)
    )


def assert_position_is_the_trades(deployment: DeployedAlgorithm) -> None:
    trades = trades_of(deployment.id)
    position = position_of(deployment.id)
    assert position.quantity == sum(t.quantity for t in trades)
    assert position.cash == CAPITAL - sum(t.total_aud for t in trades)
    assert position.cost_basis == sum(t.total_aud for t in trades)
    assert position.cash >= 0


async def test_partial_fill_and_extra_slippage_follow_the_fills_rules(
    db: Session,
    simulator: RunningSimulator,
    pool: SandboxPool,
    sim_brokers: Brokers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "FLOOR_PAPER_FILL_RATIO", Decimal("0.5"))
    monkeypatch.setattr(settings, "FLOOR_PAPER_SLIPPAGE_BPS", Decimal("20"))
    deployment = paper(db, simulator, slippage_bps="5")
    await cycle(deployment, pool, sim_brokers())

    # fills.py with the release's 5 bps plus paper's 20: the ask x 1.0025, all the cash.
    sized = rebalance(
        CAPITAL, Decimal(0), Decimal(1), Decimal(99000), Decimal(100000), INSTANT_FEE,
        Decimal(25), Decimal(0),
    )  # fmt: skip
    assert sized is not None and sized.price == Decimal("100250.0000")
    (order,) = orders_of(deployment.id)
    assert order.requested_quantity == sized.quantity
    assert order.status == "cancelled" and order.partially_filled_at is not None
    assert order.error == "partly filled; the remainder was not executed"
    (trade,) = trades_of(deployment.id)
    half = sized.quantity * Decimal("0.5")
    assert trade.source == "paper"
    assert trade.quantity == half == order.filled_quantity
    assert trade.price == sized.price
    assert trade.fee + trade.gst == sized.fee * Decimal("0.5")
    assert trade.total_aud == half * sized.price + sized.fee * Decimal("0.5")
    assert_position_is_the_trades(deployment)
    assert position_of(deployment.id).cash > CAPITAL / 2 - 1  # half the sleeve still cash


async def test_book_depth_fills_level_by_level_within_the_budget(
    db: Session,
    simulator: RunningSimulator,
    pool: SandboxPool,
    sim_brokers: Brokers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "FLOOR_PAPER_USE_BOOK_DEPTH", True)
    deployment = paper(db, simulator)
    async with httpx.AsyncClient(base_url=simulator.base_url) as http:
        answer = await http.get("/pubapi/v2/orders/open/BTC")
    levels = [
        (Decimal(str(o["rate"])), Decimal(str(o["amount"]))) for o in answer.json()["sellorders"]
    ]
    await cycle(deployment, pool, sim_brokers())

    # The same walk, by hand: the best asks first, within 0.5 % of the best, never
    # spending more than the sized notional plus fee (all 10000 AUD here).
    sized = rebalance(
        CAPITAL, Decimal(0), Decimal(1), Decimal(99000), Decimal(100000), INSTANT_FEE,
        Decimal(0), Decimal(0),
    )  # fmt: skip
    assert sized is not None
    budget, left, expected = CAPITAL, sized.quantity, []
    for rate, amount in sorted(levels):
        if left <= 0 or rate > levels[0][0] * Decimal("1.005"):
            break
        take = min(left, amount, budget / (rate * (1 + INSTANT_FEE)))
        if take <= 0:
            break
        expected.append((take, rate))
        left -= take
        budget -= take * rate * (1 + INSTANT_FEE)
    trades = trades_of(deployment.id)
    assert len(trades) >= 2, "10000 AUD should walk more than one level"
    assert [(t.quantity, t.price) for t in trades] == expected
    for trade in trades:
        assert trade.fee + trade.gst == trade.quantity * trade.price * INSTANT_FEE
    (order,) = orders_of(deployment.id)
    assert order.filled_quantity == sum(t.quantity for t in trades) <= order.requested_quantity
    assert order.status in ("filled", "cancelled")
    assert_position_is_the_trades(deployment)


async def test_paper_order_book_order_fills_when_a_later_quote_crosses(
    db: Session,
    simulator: RunningSimulator,
    pool: SandboxPool,
    sim_brokers: Brokers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "FLOOR_ORDERBOOK_TIMEOUT_SECONDS", 20.0)
    monkeypatch.setattr(settings, "FLOOR_ORDERBOOK_POLL_SECONDS", 0.05)
    deployment = paper(db, simulator, style="orderbook")
    task = cycle(deployment, pool, sim_brokers())
    deadline = time.monotonic() + 20
    while not any(o.status == "open" for o in orders_of(deployment.id)):
        assert time.monotonic() < deadline and not task.done(), "the order never rested"
        await asyncio.sleep(0.02)
    assert trades_of(deployment.id) == []
    simulator.admin.set_price("BTC", bid="98500", ask="99000")
    await task

    (order,) = orders_of(deployment.id)
    assert order.status == "filled" and order.style == "orderbook"
    assert order.limit_rate == Decimal(99000)  # rested at the decision's bid
    assert order.exchange_order_id and order.exchange_order_id.startswith("paper-")
    (trade,) = trades_of(deployment.id)
    assert trade.price == Decimal(99000) and trade.quantity == order.requested_quantity
    assert trade.fee + trade.gst == trade.quantity * Decimal(99000) * BOOK_FEE
    assert_position_is_the_trades(deployment)


async def test_paper_order_book_time_out_then_cross_reprice(
    db: Session,
    simulator: RunningSimulator,
    pool: SandboxPool,
    sim_brokers: Brokers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "FLOOR_ORDERBOOK_TIMEOUT_SECONDS", 0.2)
    monkeypatch.setattr(settings, "FLOOR_ORDERBOOK_POLL_SECONDS", 0.05)
    monkeypatch.setattr(settings, "FLOOR_ORDERBOOK_MAX_REPRICES", 1)
    monkeypatch.setattr(settings, "FLOOR_ORDERBOOK_REPRICE_RULE", "cross")
    deployment = paper(db, simulator, style="orderbook", bid="99950", ask="100000")
    await cycle(deployment, pool, sim_brokers())

    first, second = orders_of(deployment.id)
    assert first.status == "cancelled" and first.filled_quantity == 0
    assert second.replaces_id == first.id and second.status == "filled"
    assert second.limit_rate == Decimal(100000)
    (trade,) = trades_of(deployment.id)
    assert trade.order_id == second.id and trade.price == Decimal(100000)
    assert_position_is_the_trades(deployment)
    assert runs_of(deployment.id)[0].decisions["BTC"]["reprices"] == 1
