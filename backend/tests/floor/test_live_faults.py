"""Live orders against the Coinspot simulator over HTTP, each with a fault switched on."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session

from app.core.config import settings
from app.exchange.simulator import RunningSimulator, SimAccount
from app.floor.executor import BrokerFactory, run_cycle
from app.floor.models import DeployedAlgorithm
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
BUY_NOW = "/api/v2/my/buy/now"
Brokers = Callable[..., BrokerFactory]


def live(
    db: Session, simulator: RunningSimulator, *, capital: str = "10000", fraction: float = 1.0
) -> tuple[DeployedAlgorithm, SimAccount]:
    user = make_user(db)
    release = make_release(db, user, HOLD_CODE, parameters={"fraction": fraction}, warmup_bars=3)
    for i in range(4):
        seed_prices(db, "BTC", BAR_T + i * BAR, 4)
    account = simulator.admin.create_account({"AUD": capital})
    return make_deployment(db, release, mode="live", capital=capital), account


async def cycle(
    deployment: DeployedAlgorithm,
    step: int,
    pool: SandboxPool,
    factory: BrokerFactory,
    resolve_now: datetime | None = None,
) -> None:
    await run_cycle(
        deployment.id,
        BAR_T + step * BAR,
        trigger="test",
        pool=pool,
        broker_factory=factory,
        resolve_now=resolve_now,
    )


async def test_timeout_after_accept_is_unknown_then_resolved_filled(
    db: Session, simulator: RunningSimulator, pool: SandboxPool, sim_brokers: Brokers
) -> None:
    deployment, account = live(db, simulator)
    factory = sim_brokers(account, timeout=1.0)
    simulator.admin.hang_next(1, path=BUY_NOW, seconds=3, mode="after")

    await cycle(deployment, 0, pool, factory)
    (order,) = orders_of(deployment.id)
    assert order.status == "unknown" and order.error and "order_status_unknown" in order.error
    assert len(sim_fills(simulator.admin.account(account.api_key))) == 1
    assert trades_of(deployment.id) == []

    # While the exchange's history cannot be read, the order stays unknown and blocks BTC.
    simulator.admin.fail_next(20, path="/api/v2/ro/my/orders/completed")
    await cycle(deployment, 1, pool, factory)
    simulator.admin.clear_faults()
    assert [o.status for o in orders_of(deployment.id)] == ["unknown"]
    assert runs_of(deployment.id)[1].decisions["BTC"]["action"] == "blocked"

    await cycle(deployment, 2, pool, factory)
    view = simulator.admin.account(account.api_key)
    (fill,) = sim_fills(view)
    (order,) = orders_of(deployment.id)
    assert order.status == "filled" and order.resolution
    (trade,) = trades_of(deployment.id)
    assert trade.source == "reconciliation"
    assert trade.quantity == dec(fill["amount"]) == order.requested_quantity
    assert trade.fee + trade.gst == dec(fill["fee"])
    position = position_of(deployment.id)
    assert position.quantity == view["balances"]["BTC"]
    assert position.cash == view["balances"]["AUD"]
    # Already at its target: the third cycle placed nothing new.
    assert runs_of(deployment.id)[2].decisions["BTC"]["action"] == "skipped_below_minimum"


async def test_5xx_is_unknown_never_resent_then_closed_and_decided_again(
    db: Session, simulator: RunningSimulator, pool: SandboxPool, sim_brokers: Brokers
) -> None:
    deployment, account = live(db, simulator)
    factory = sim_brokers(account)
    simulator.admin.fail_next(1, path=BUY_NOW, status=503)

    await cycle(deployment, 0, pool, factory)
    (order,) = orders_of(deployment.id)
    assert order.status == "unknown"
    assert len(simulator.admin.requests(BUY_NOW)) == 1  # not retried
    assert sim_fills(simulator.admin.account(account.api_key)) == []

    # Inside the grace period nothing is concluded and nothing new is sent.
    await cycle(deployment, 1, pool, factory)
    assert [o.status for o in orders_of(deployment.id)] == ["unknown"]
    assert len(simulator.admin.requests(BUY_NOW)) == 1

    later = datetime.now(UTC) + timedelta(seconds=settings.FLOOR_RESOLVE_GRACE_SECONDS + 1)
    await cycle(deployment, 2, pool, factory, resolve_now=later)
    first, second = orders_of(deployment.id)
    assert first.status == "cancelled" and first.resolution == "not found at the exchange"
    assert second.status == "filled"
    assert len(sim_fills(simulator.admin.account(account.api_key))) == 1
    assert len(trades_of(deployment.id)) == 1


async def test_rate_limited_order_is_retried_once_and_filled_once(
    db: Session, simulator: RunningSimulator, pool: SandboxPool, sim_brokers: Brokers
) -> None:
    deployment, account = live(db, simulator)
    simulator.admin.rate_limit_next(1, path=BUY_NOW)
    await cycle(deployment, 0, pool, sim_brokers(account))
    outcomes = [r["outcome"] for r in simulator.admin.requests(BUY_NOW)]
    assert len(outcomes) == 2 and outcomes[0] != outcomes[1]
    (order,) = orders_of(deployment.id)
    assert order.status == "filled"
    assert len(sim_fills(simulator.admin.account(account.api_key))) == 1
    (trade,) = trades_of(deployment.id)
    assert trade.source == "exchange" and trade.exchange_time is not None


async def test_partial_fill_books_what_filled(
    db: Session, simulator: RunningSimulator, pool: SandboxPool, sim_brokers: Brokers
) -> None:
    deployment, account = live(db, simulator)
    simulator.admin.partial_fills(1, ratio="0.5")
    await cycle(deployment, 0, pool, sim_brokers(account))
    (order,) = orders_of(deployment.id)
    assert order.status == "cancelled" and order.partially_filled_at is not None
    assert order.filled_quantity < order.requested_quantity
    view = simulator.admin.account(account.api_key)
    (fill,) = sim_fills(view)
    (trade,) = trades_of(deployment.id)
    assert trade.quantity == dec(fill["amount"]) == order.filled_quantity
    assert trade.total_aud == Decimal(10000) - view["balances"]["AUD"]
    position = position_of(deployment.id)
    assert position.quantity == view["balances"]["BTC"]
    assert position.cash == view["balances"]["AUD"]
    assert position.cost_basis == trade.total_aud
    assert position.average_price == trade.total_aud / trade.quantity

    # Going flat sells exactly what the exchange says we hold.
    with Session(db.get_bind()) as s:
        row = s.get(DeployedAlgorithm, deployment.id)
        assert row is not None
        row.parameters = {"fraction": 0.0}
        s.add(row)
        s.commit()
    await cycle(deployment, 1, pool, sim_brokers(account))
    view = simulator.admin.account(account.api_key)
    assert view["balances"]["BTC"] == 0 == position_of(deployment.id).quantity
    assert position_of(deployment.id).cash == view["balances"]["AUD"]


async def test_order_below_minimum_is_skipped_and_recorded(
    db: Session, simulator: RunningSimulator, pool: SandboxPool, sim_brokers: Brokers
) -> None:
    deployment, account = live(db, simulator, capital="0.50")
    await cycle(deployment, 0, pool, sim_brokers(account))
    assert orders_of(deployment.id) == []
    assert simulator.admin.requests(BUY_NOW) == []
    (run,) = runs_of(deployment.id)
    assert run.status == "succeeded"
    decision = run.decisions["BTC"]
    assert (
        decision["action"] == "skipped_below_minimum" and "below the minimum" in decision["detail"]
    )


async def test_paused_deployment_places_nothing(
    db: Session, simulator: RunningSimulator, pool: SandboxPool, sim_brokers: Brokers
) -> None:
    deployment, account = live(db, simulator)
    with Session(db.get_bind()) as s:
        row = s.get(DeployedAlgorithm, deployment.id)
        assert row is not None
        row.status = "paused"
        s.add(row)
        s.commit()
    await cycle(deployment, 0, pool, sim_brokers(account))
    assert orders_of(deployment.id) == []
    assert runs_of(deployment.id)[0].decisions["BTC"]["action"] == "refused"
    assert simulator.admin.requests(BUY_NOW) == []
