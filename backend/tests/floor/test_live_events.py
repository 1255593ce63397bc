"""The Floor's live updates: an executor cycle streams its orders, fills and P&L to the
owner's WebSocket only (through another app process); problems raise grouped alerts; a
rolled-back change publishes nothing."""

from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.alerts.models import Alert
from app.core.config import settings
from app.core.db import engine
from app.events.models import Event
from app.exchange.simulator import RunningSimulator, SimAccount
from app.floor.executor import BrokerFactory
from app.floor.ledger import Order
from app.floor.ledger import OrderStatus as S
from app.floor.models import DeployedAlgorithm
from app.floor.orders import locked_order, transition
from app.lab.sandbox.pool import SandboxPool
from app.users.models import User
from tests.events.helpers import emit, new_user, open_ws, recv, recv_event
from tests.events.server import app_process
from tests.floor.conftest import BAR_T
from tests.floor.factories import BAR, HOLD_CODE, make_deployment, make_release, seed_prices
from tests.floor.helpers import orders_of, position_of, trades_of
from tests.floor.test_live_faults import BUY_NOW, cycle, live

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(400)]  # a busy machine starts slowly
Brokers = Callable[..., BrokerFactory]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with app_process() as base:
        yield base


def alerts_of(user_id: object, kind: str) -> list[Alert]:
    with Session(engine) as s:
        query = select(Alert).where(col(Alert.user_id) == user_id, col(Alert.kind) == kind)
        return list(s.exec(query).all())


def events_of(user_id: object, kinds: list[str]) -> list[Event]:
    with Session(engine) as s:
        query = select(Event).where(col(Event.user_id) == user_id, col(Event.kind).in_(kinds))
        return list(s.exec(query.order_by(col(Event.seq))).all())


def live_for(
    db: Session, simulator: RunningSimulator, user: User
) -> tuple[DeployedAlgorithm, SimAccount]:
    release = make_release(db, user, HOLD_CODE, parameters={"fraction": 1.0}, warmup_bars=3)
    for i in range(4):
        seed_prices(db, "BTC", BAR_T + i * BAR, 4)
    account = simulator.admin.create_account({"AUD": "10000"})
    return make_deployment(db, release, mode="live", capital="10000"), account


async def test_a_cycle_streams_order_fill_and_pnl_events_to_its_owner_only(
    server: str,
    client: TestClient,
    db: Session,
    simulator: RunningSimulator,
    pool: SandboxPool,
    sim_brokers: Brokers,
) -> None:
    owner_id, owner_token = new_user(client, db)
    other_id, other_token = new_user(client, db)
    owner = db.get(User, owner_id)
    assert owner is not None
    deployment, account = live_for(db, simulator, owner)

    with open_ws(server, token=owner_token) as mine, open_ws(server, token=other_token) as theirs:
        assert recv(mine)["type"] == "welcome"
        assert recv(theirs)["type"] == "welcome"
        await cycle(deployment, 0, pool, sim_brokers(account))
        got = [recv_event(mine) for _ in range(6)]
        marker = emit(other_id, who="other")
        # The other user's next event is their own: none of the owner's came before it.
        assert recv_event(theirs)["seq"] == marker
        marker_owner = emit(owner_id, who="owner")
        assert recv_event(mine)["seq"] == marker_owner  # nothing more than the six

    (order,) = orders_of(deployment.id)
    (trade,) = trades_of(deployment.id)
    assert order.status == "filled"
    assert [m["kind"] for m in got] == [
        "order.created",
        "order.submitted",
        "order.filled",
        "fill",
        "pnl.update",  # with the fill, in its transaction
        "pnl.update",  # with the cycle's run record
    ]
    assert [m["seq"] for m in got] == sorted(m["seq"] for m in got)
    for message in got[:3]:
        assert message["payload"]["order_id"] == str(order.id)
        assert message["payload"]["deployment_id"] == str(deployment.id)
        assert not message["broadcast"]
    assert [m["payload"]["status"] for m in got[:3]] == ["intent", "submitting", "filled"]
    assert Decimal(got[2]["payload"]["filled_amount"]) == order.filled_quantity
    fill = got[3]["payload"]
    assert fill["fill_id"] == str(trade.id) and fill["order_id"] == str(order.id)
    assert Decimal(fill["amount"]) == trade.quantity
    assert Decimal(fill["fee"]) == trade.fee + trade.gst
    pnl = got[4]["payload"]
    assert pnl["deployment_id"] == str(deployment.id)
    # Just bought: nothing realised; equity is the sleeve's cash + the coin at the newest bid.
    assert Decimal(pnl["realised"]) == 0
    assert Decimal(pnl["fees"]) == (trade.fee + trade.gst).quantize(Decimal("0.01"))
    position = position_of(deployment.id)
    newest_bid = db.execute(
        sa.text(
            "SELECT bid FROM price_data_5min WHERE coin_type IN ('BTC', 'btc') "
            'ORDER BY "timestamp" DESC LIMIT 1'
        )
    ).scalar_one()
    equity = position.cash + position.quantity * newest_bid  # marked as the P&L routes do
    assert Decimal(pnl["equity"]) == equity.quantize(Decimal("0.01"))
    assert got[5]["payload"]["equity"] == pnl["equity"]
    assert alerts_of(owner_id, "order_problem") == []


async def test_an_unknown_order_raises_a_critical_alert_and_a_rollback_publishes_nothing(
    db: Session, simulator: RunningSimulator, pool: SandboxPool, sim_brokers: Brokers
) -> None:
    deployment, account = live(db, simulator)
    simulator.admin.hang_next(1, path=BUY_NOW, seconds=3, mode="after")
    await cycle(deployment, 0, pool, sim_brokers(account, timeout=1.0))

    (order,) = orders_of(deployment.id)
    assert order.status == "unknown"
    (alert,) = alerts_of(deployment.user_id, "order_problem")
    assert alert.severity == "critical" and alert.key == f"unknown:deployment:{deployment.id}:BTC"
    assert alert.data["order_id"] == str(order.id) and "unknown" in alert.message
    kinds = [e.kind for e in events_of(deployment.user_id, ["order.unknown", "alert"])]
    assert kinds == ["alert", "order.unknown"]  # alerts first, in the same transaction

    # A change that is rolled back is never heard of.
    with Session(engine) as session:
        transition(locked_order(session, order.id), S.OPEN)
        session.flush()
        session.rollback()
        session.get(Order, order.id)
        session.commit()  # the same session commits later: nothing was left queued
    assert events_of(deployment.user_id, ["order.open"]) == []


async def test_rejected_orders_raise_one_grouped_alert(
    db: Session,
    simulator: RunningSimulator,
    pool: SandboxPool,
    sim_brokers: Brokers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "FLOOR_RATE_LIMIT_RETRIES", 0)
    deployment, account = live(db, simulator)
    simulator.admin.rate_limit_next(2, path=BUY_NOW)
    factory = sim_brokers(account)
    await cycle(deployment, 0, pool, factory)
    await cycle(deployment, 1, pool, factory)

    assert [o.status for o in orders_of(deployment.id)] == ["rejected", "rejected"]
    (alert,) = alerts_of(deployment.user_id, "order_problem")
    assert alert.count == 2 and alert.severity == "warning"
    assert alert.key == f"rejected:deployment:{deployment.id}:BTC"
    assert "rate limited" in alert.message
    assert len(events_of(deployment.user_id, ["order.rejected"])) == 2
    assert len(events_of(deployment.user_id, ["alert"])) == 2  # the group, updated


async def test_a_failed_cycle_raises_an_executor_failure_alert(
    db: Session, simulator: RunningSimulator, pool: SandboxPool
) -> None:
    deployment, _ = live(db, simulator)

    async def broken(_: DeployedAlgorithm) -> object:
        raise RuntimeError("broker unavailable")

    await cycle(deployment, 0, pool, broken)  # type: ignore[arg-type]
    (alert,) = alerts_of(deployment.user_id, "system_failure")
    assert alert.severity == "critical" and alert.key == f"executor:deployment:{deployment.id}"
    assert "broker unavailable" in alert.message
    assert alert.data["deployment_id"] == str(deployment.id)
