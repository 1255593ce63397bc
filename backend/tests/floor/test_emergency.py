"""The emergency stop and deactivate-with-flatten, over HTTP, against the Coinspot simulator
with its fault switches (5xx and hangs on cancels, a slow quote during a running cycle)."""

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.alerts.models import Alert
from app.audit.models import AuditLog
from app.core.config import settings
from app.core.db import engine
from app.events.models import Event
from app.exchange.client import CoinspotClient
from app.exchange.nonce import NonceGenerator
from app.exchange.ratelimit import SlidingWindowLimiter
from app.exchange.simulator import RunningSimulator, SimAccount
from app.floor import emergency
from app.floor.executor import BrokerFactory, run_cycle
from app.floor.halts import DeploymentHalt, EmergencyStop
from app.floor.ledger import Order
from app.floor.models import DeployedAlgorithm
from app.lab.sandbox.pool import SandboxPool
from app.users.models import User
from tests.floor.conftest import BAR_T, FAST_RETRY
from tests.floor.factories import (
    BAR,
    HOLD_CODE,
    make_deployment,
    make_release,
    seed_prices,
    store_keys,
)
from tests.floor.helpers import dec, orders_of, position_of, runs_of, sim_fills, trades_of
from tests.utils import create_random_user, error_text, user_token_headers

pytestmark = pytest.mark.anyio
FLOOR = f"{settings.API_V1_STR}/floor"
BUY_NOW = "/api/v2/my/buy/now"
SELL_NOW = "/api/v2/my/sell/now"
Brokers = Callable[..., BrokerFactory]


@pytest.fixture
def sim(simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> RunningSimulator:
    """The app's own brokers (default_broker) talk to the simulator; short time-outs."""
    monkeypatch.setattr(settings, "COINSPOT_BASE_URL", simulator.base_url)
    monkeypatch.setattr(settings, "FLOOR_ESTOP_CALL_TIMEOUT_SECONDS", 1.0)
    monkeypatch.setattr(settings, "FLOOR_ESTOP_RETRY_BACKOFF_SECONDS", 0.01)
    monkeypatch.setattr(settings, "FLOOR_ESTOP_CANCEL_ATTEMPTS", 3)
    monkeypatch.setattr(settings, "FLOOR_ESTOP_LOCK_WAIT_SECONDS", 10.0)
    return simulator


def user_of(
    client: TestClient, db: Session, sim: RunningSimulator, balances: dict[str, str] | None
) -> tuple[User, dict[str, str], SimAccount | None]:
    email, password = create_random_user(db)
    user = db.exec(select(User).where(User.email == email)).one()
    account = None
    if balances is not None:
        account = sim.admin.create_account(balances)
        store_keys(db, user, account.api_key, account.api_secret)
    return user, user_token_headers(client, email, password), account


def seed_bars() -> None:
    with Session(engine) as s:
        for coin in ("BTC", "ETH", "LTC"):
            for i in range(6):
                seed_prices(s, coin, BAR_T + i * BAR, 4)


async def resting(
    sim: RunningSimulator,
    account: SimAccount,
    nonces: NonceGenerator,
    side: str,
    coin: str,
    amount: str,
    rate: str,
) -> str:
    """A limit order resting on the simulator's book (far from the market)."""
    async with CoinspotClient(
        sim.base_url,
        api_key=account.api_key,
        api_secret=account.api_secret,
        retry=FAST_RETRY,
        rate_limiter=SlidingWindowLimiter(10_000, 60.0),
        nonce_generator=nonces,
    ) as c:
        place = c.place_buy_order if side == "buy" else c.place_sell_order
        return str((await place(coin, Decimal(amount), Decimal(rate))).id)


def open_order_row(
    deployment: DeployedAlgorithm, exchange_id: str, side: str, coin: str, amount: str, rate: str
) -> uuid.UUID:
    """Our record of that resting order, as the order-book execution style keeps it."""
    now = datetime.now(UTC)
    order = Order(
        deployment_id=deployment.id,
        user_id=deployment.user_id,
        mode=deployment.mode,
        coin=coin,
        side=side,
        style="orderbook",
        requested_quantity=Decimal(amount),
        requested_notional=Decimal(amount) * Decimal(rate),
        limit_rate=Decimal(rate),
        target=Decimal(0),
        reason="test: resting order",
        status="open",
        exchange_order_id=exchange_id,
        created_at=now,
        submitting_at=now,
        open_at=now,
    )
    with Session(engine) as s:
        s.add(order)
        s.commit()
        return order.id


def order_row(order_id: uuid.UUID) -> Order:
    with Session(engine) as s:
        row = s.get(Order, order_id)
        assert row is not None
        return row


def status_of(deployment_id: uuid.UUID) -> str:
    with Session(engine) as s:
        row = s.get(DeployedAlgorithm, deployment_id)
        assert row is not None
        return row.status


def sim_open_ids(sim: RunningSimulator, account: SimAccount) -> set[str]:
    return {str(o["id"]) for o in sim.admin.account(account.api_key)["open_orders"]}


def test_everyone_needs_a_superuser_and_bad_input_names_the_field(
    client: TestClient, db: Session, sim: RunningSimulator
) -> None:
    _, headers, _ = user_of(client, db, sim, None)
    r = client.post(f"{FLOOR}/emergency-stop", headers=headers, json={"scope": "everyone"})
    assert r.status_code == 403 and "superuser" in error_text(r)
    bad = client.post(f"{FLOOR}/emergency-stop", headers=headers, json={"scope": "all"})
    assert bad.status_code == 422 and "'mine' or 'everyone'" in error_text(bad)
    assert bad.json()["detail"][0]["loc"] == ["body", "scope"]
    extra = client.post(f"{FLOOR}/emergency-stop", headers=headers, json={"flaten": True})
    assert extra.status_code == 422 and "not permitted" in error_text(extra)
    assert extra.json()["detail"][0]["loc"] == ["body", "flaten"]
    # Nothing running: an empty, complete report.
    empty = client.post(f"{FLOOR}/emergency-stop", headers=headers, json={})
    assert empty.status_code == 200, empty.text
    body = empty.json()
    assert body["deployments"] == [] and body["actions"] == [] and body["complete"] is True


async def test_stop_with_erroring_and_hanging_cancels_reports_what_was_not_confirmed(
    client: TestClient,
    db: Session,
    sim: RunningSimulator,
    nonce_generator: NonceGenerator,
    superuser_token_headers: dict[str, str],
) -> None:
    seed_bars()
    # Two users (two Coinspot keys: one key's hung call cannot hold up the other's).
    buyer, _, buyer_account = user_of(client, db, sim, {"AUD": "100000"})
    seller, _, seller_account = user_of(client, db, sim, {"AUD": "1000", "LTC": "50"})
    paper_user, _, _ = user_of(client, db, sim, None)
    assert buyer_account is not None and seller_account is not None
    dep_a = make_deployment(
        db, make_release(db, buyer, HOLD_CODE), mode="live", coins=("BTC", "ETH")
    )
    dep_b = make_deployment(db, make_release(db, seller, HOLD_CODE), mode="live", coins=("LTC",))
    dep_c = make_deployment(db, make_release(db, paper_user, HOLD_CODE), status="paused")
    ids = {
        "btc": await resting(sim, buyer_account, nonce_generator, "buy", "BTC", "0.01", "1000"),
        "eth": await resting(sim, buyer_account, nonce_generator, "buy", "ETH", "0.5", "100"),
        "ltc": await resting(sim, seller_account, nonce_generator, "sell", "LTC", "10", "99999"),
    }
    first = open_order_row(dep_a, ids["btc"], "buy", "BTC", "0.01", "1000")
    second = open_order_row(dep_a, ids["eth"], "buy", "ETH", "0.5", "100")
    hung = open_order_row(dep_b, ids["ltc"], "sell", "LTC", "10", "99999")
    # Every attempt of the first buy cancel gets a 503; every sell cancel hangs.
    sim.admin.fail_next(3, path="/api/v2/my/buy/cancel", status=503)
    sim.admin.hang_next(50, path="/api/v2/my/sell/cancel", seconds=4)

    started = time.perf_counter()
    r = client.post(
        f"{FLOOR}/emergency-stop",
        headers=superuser_token_headers,
        json={"scope": "everyone", "reason": "exchange misbehaving"},
    )
    elapsed = time.perf_counter() - started
    sim.admin.clear_faults()
    assert r.status_code == 200, r.text
    report = r.json()
    print(f"emergency stop over 3 deployments with faults: {elapsed:.2f} s")  # noqa: T201
    assert elapsed < 20
    halted = {h["deployment_id"]: h for h in report["deployments"]}
    for dep in (dep_a, dep_b, dep_c):
        assert halted[str(dep.id)]["status"] == "halted"
        assert status_of(dep.id) == "halted"
    assert halted[str(dep_c.id)]["previous_status"] == "paused"
    mine = {a["order_id"]: a for a in report["actions"]}
    assert mine[str(first)]["outcome"] == "unconfirmed"
    assert "503" in mine[str(first)]["detail"]
    assert mine[str(second)]["outcome"] == "confirmed"
    assert mine[str(hung)]["outcome"] == "unconfirmed"
    assert "no answer within 1 s" in mine[str(hung)]["detail"]
    for key in ("order_id", "deployment_id", "coin", "side", "action", "outcome", "detail"):
        assert key in mine[str(first)]
    named = [line for line in report["not_confirmed"] if str(first) in line or str(hung) in line]
    assert len(named) == 2
    assert not any(str(second) in line for line in report["not_confirmed"])
    assert report["complete"] is False and "NOT CONFIRMED" in report["summary"]
    # Our books: the unclear ones are unknown (for the resolver), the cancelled one cancelled.
    assert order_row(first).status == "unknown" and order_row(hung).status == "unknown"
    assert order_row(second).status == "cancelled"
    # The exchange: the second buy is gone; the two unconfirmed still rest there.
    assert ids["btc"] in sim_open_ids(sim, buyer_account)
    assert ids["eth"] not in sim_open_ids(sim, buyer_account)
    assert ids["ltc"] in sim_open_ids(sim, seller_account)

    # Recorded: the stop row, audits, the event and the alerts.
    stop_id = uuid.UUID(report["stop_id"])
    with Session(engine) as s:
        stop = s.get(EmergencyStop, stop_id)
        assert stop is not None and stop.status == "finished" and stop.scope == "everyone"
        assert stop.report["not_confirmed"] == report["not_confirmed"]
        halts = s.exec(
            select(AuditLog).where(
                col(AuditLog.action) == "deployment.halt",
                col(AuditLog.object_id).in_([dep_a.id, dep_b.id, dep_c.id]),
            )
        ).all()
        assert len(halts) == 3
        assert all("emergency stop: exchange misbehaving" in str(a.after) for a in halts)
        assert s.exec(
            select(AuditLog).where(
                col(AuditLog.action) == "floor.emergency_stop", col(AuditLog.object_id) == stop_id
            )
        ).one()
        for user in (buyer, seller, paper_user):
            event = s.exec(
                select(Event).where(
                    col(Event.user_id) == user.id, col(Event.kind) == "floor.emergency_stop"
                )
            ).one()
            assert event.payload["stop_id"] == str(stop_id)
            # (An order left `unknown` raises its own order alert beside the stop's.)
            stop_alerts = [
                a
                for a in s.exec(select(Alert).where(col(Alert.user_id) == user.id)).all()
                if "Emergency stop" in a.message
            ]
            assert len(stop_alerts) == 1 and stop_alerts[0].severity == "critical"
        assert s.exec(
            select(Event).where(
                col(Event.user_id) == buyer.id, col(Event.kind) == "deployment.status"
            )
        ).first()


async def test_flatten_paper_and_live_then_halted_survives_a_restart(
    client: TestClient,
    db: Session,
    sim: RunningSimulator,
    pool: SandboxPool,
    sim_brokers: Brokers,
) -> None:
    seed_bars()
    user, headers, account = user_of(client, db, sim, {"AUD": "10000"})
    assert account is not None
    release = make_release(db, user, HOLD_CODE, parameters={"fraction": 1.0}, warmup_bars=3)
    live = make_deployment(db, release, mode="live", capital="5000")
    paper = make_deployment(db, release, capital="5000")
    factory = sim_brokers(account)
    for dep in (live, paper):
        await run_cycle(dep.id, BAR_T, trigger="test", pool=pool, broker_factory=factory)
        assert position_of(dep.id).quantity > 0
    bought = {dep.id: position_of(dep.id) for dep in (live, paper)}

    r = client.post(
        f"{FLOOR}/emergency-stop", headers=headers, json={"scope": "mine", "flatten": True}
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["complete"] is True and report["not_confirmed"] == []
    flattens = [a for a in report["actions"] if a["action"] == "flatten"]
    assert {a["deployment_id"] for a in flattens} == {str(live.id), str(paper.id)}
    assert all(a["outcome"] == "confirmed" and a["order_id"] for a in flattens)
    assert len(sim.admin.requests(SELL_NOW)) == 1  # the live one, sent once

    view = sim.admin.account(account.api_key)
    assert view["balances"].get("BTC", Decimal(0)) == 0
    for dep in (live, paper):
        assert status_of(dep.id) == "halted"
        position = position_of(dep.id)
        assert position.quantity == 0 and position.last_target == 0
        buy, sell = trades_of(dep.id)
        assert (buy.side, sell.side) == ("buy", "sell") and sell.quantity == buy.quantity
        # Cash = capital - what the buy cost + what the sell brought (fees included).
        assert position.cash == Decimal(5000) - buy.total_aud + sell.total_aud
        assert position.cash < Decimal(5000)  # the round trip paid two fees
        (flat,) = [o for o in orders_of(dep.id) if o.side == "sell"]
        assert flat.status == "filled" and flat.reason.startswith("emergency stop")
        assert bought[dep.id].quantity == flat.filled_quantity
    live_position = position_of(live.id)
    assert live_position.cash == view["balances"]["AUD"] - Decimal(5000)
    (sell_fill,) = [f for f in sim_fills(view) if f["side"] == "sell"]
    live_sell = trades_of(live.id)[1]
    assert live_sell.fee + live_sell.gst == dec(sell_fill["fee"])
    # P&L: realised on both deployments, nothing left open.
    pnl = client.get(f"{FLOOR}/pnl/by-algorithm", headers=headers)
    assert pnl.status_code == 200, pnl.text

    # A restart: a new executor (new brokers, new cycles) keeps them halted and sends nothing.
    before = len(sim.admin.requests(BUY_NOW))
    fresh = sim_brokers(account)
    for dep in (live, paper):
        result = await run_cycle(
            dep.id, BAR_T + BAR, trigger="test", pool=pool, broker_factory=fresh
        )
        assert result.order_ids == [] and result.decisions["BTC"]["action"] == "refused"
        assert "halted" in result.decisions["BTC"]["detail"]
        assert status_of(dep.id) == "halted"
    assert len(sim.admin.requests(BUY_NOW)) == before
    # run-now over HTTP places nothing either.
    now_bar = client.post(f"{FLOOR}/deployments/{paper.id}/run-now", headers=headers)
    assert now_bar.status_code == 200 and now_bar.json()["order_ids"] == []
    # Resuming is explicit: activate moves halted -> active and removes the marker.
    resumed = client.post(f"{FLOOR}/algorithms/{paper.id}/activate", headers=headers)
    assert resumed.status_code == 200 and resumed.json()["status"] == "active"
    with Session(engine) as s:
        assert s.get(DeploymentHalt, paper.id) is None
        assert s.get(DeploymentHalt, live.id) is not None


@pytest.mark.parametrize("lock_wait", [10.0, 0.2])
async def test_a_running_cycle_cannot_send_after_the_halt(
    db: Session,
    sim: RunningSimulator,
    pool: SandboxPool,
    sim_brokers: Brokers,
    monkeypatch: pytest.MonkeyPatch,
    lock_wait: float,
) -> None:
    """The stop waits for the running cycle (10 s), or gives up waiting (0.2 s): either way the
    marker stops the send, and the cycle itself applies the halt when it ends."""
    monkeypatch.setattr(settings, "FLOOR_ESTOP_LOCK_WAIT_SECONDS", lock_wait)
    seed_bars()
    email, _ = create_random_user(db)
    user = db.exec(select(User).where(User.email == email)).one()
    account = sim.admin.create_account({"AUD": "10000"})
    release = make_release(db, user, HOLD_CODE, parameters={"fraction": 1.0}, warmup_bars=3)
    dep = make_deployment(db, release, mode="live")
    factory = sim_brokers(account)
    # The cycle's quote is slow: the stop arrives while the cycle holds the deployment (its
    # run row is written under the lock, before the quote is asked for).
    sim.admin.add_fault("latency", count=1, path="/pubapi/v2/latest/*", seconds=4)
    cycle = asyncio.create_task(
        run_cycle(dep.id, BAR_T, trigger="test", pool=pool, broker_factory=factory)
    )
    deadline = time.monotonic() + 30
    while not any(r.status == "running" for r in runs_of(dep.id)):
        assert time.monotonic() < deadline and not cycle.done(), "the cycle never started"
        await asyncio.sleep(0.02)
    report = await emergency.emergency_stop(
        actor_id=user.id,
        scope="mine",
        flatten=False,
        reason="race",
        broker_factory=factory,
        engine=engine,
    )
    result = await cycle
    assert sim.admin.requests(BUY_NOW) == []  # nothing reached the exchange
    (order,) = orders_of(dep.id)
    assert order.status == "cancelled" and order.submitting_at is None
    assert order.error and "not sent: emergency stop: race" in order.error
    assert result.order_ids == [str(order.id)]
    assert status_of(dep.id) == "halted"
    (halted,) = report.deployments
    with Session(engine) as s:  # one halt, audited once, by whoever got the row first
        (entry,) = s.exec(
            select(AuditLog).where(
                col(AuditLog.action) == "deployment.halt", col(AuditLog.object_id) == dep.id
            )
        ).all()
    assert entry.after is not None and entry.after["applied_by"] == "executor"
    if lock_wait > 1:  # the stop waited for the cycle, which applied the halt as it ended
        assert halted.status == "halted" and "by its running cycle" in halted.detail
        assert report.complete is True
    else:  # the stop did not wait: it reports the halt as pending
        assert halted.status == "active" and "halt marker set" in halted.detail
        assert report.complete is False
    assert runs_of(dep.id)[0].decisions["BTC"]["status"] == "cancelled"


async def test_deactivate_with_flatten_and_without(
    client: TestClient,
    db: Session,
    sim: RunningSimulator,
    pool: SandboxPool,
    sim_brokers: Brokers,
) -> None:
    seed_bars()
    user, headers, _ = user_of(client, db, sim, None)
    _, other_headers, _ = user_of(client, db, sim, None)
    release = make_release(db, user, HOLD_CODE, parameters={"fraction": 1.0}, warmup_bars=3)
    held = make_deployment(db, release, capital="1000")
    plain = make_deployment(db, release, capital="1000")

    await run_cycle(held.id, BAR_T, trigger="test", pool=pool, broker_factory=sim_brokers())
    assert position_of(held.id).quantity > 0

    url = f"{FLOOR}/algorithms/{held.id}/deactivate"
    assert client.post(url, headers=other_headers, json={"flatten": True}).status_code == 404
    bad = client.post(url, headers=headers, json={"flatten": True, "sell": 1})
    assert bad.status_code == 422 and "not permitted" in error_text(bad)
    assert bad.json()["detail"][0]["loc"] == ["body", "sell"]
    r = client.post(url, headers=headers, json={"flatten": True, "reason": "done"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "stopped" and body["status_reason"] == "done"
    assert body["flatten"]["complete"] is True
    (sold,) = body["flatten"]["actions"]
    assert sold["action"] == "flatten" and sold["outcome"] == "confirmed" and sold["coin"] == "BTC"
    assert position_of(held.id).quantity == 0
    assert [t.side for t in trades_of(held.id)] == ["buy", "sell"]
    with Session(engine) as s:
        assert s.get(DeploymentHalt, held.id) is None  # stopping removed the marker
        assert s.exec(
            sa.select(AuditLog).where(
                col(AuditLog.action) == "deployment.deactivate_flatten",
                col(AuditLog.object_id) == held.id,
            )
        ).first()
    again = client.post(url, headers=headers, json={"flatten": True})
    assert again.status_code == 409 and "stopped" in error_text(again)

    # The old shapes still work: no body, or only a reason; positions stay, no flatten report.
    old = client.post(f"{FLOOR}/algorithms/{plain.id}/deactivate", headers=headers)
    assert old.status_code == 200 and old.json()["status"] == "stopped"
    assert old.json()["flatten"] is None


async def test_deactivate_flatten_with_a_failing_sell_is_not_retried_and_not_stopped(
    client: TestClient,
    db: Session,
    sim: RunningSimulator,
    pool: SandboxPool,
    sim_brokers: Brokers,
) -> None:
    seed_bars()
    user, headers, account = user_of(client, db, sim, {"AUD": "10000"})
    assert account is not None
    release = make_release(db, user, HOLD_CODE, parameters={"fraction": 1.0}, warmup_bars=3)
    dep = make_deployment(db, release, mode="live", capital="5000")
    await run_cycle(dep.id, BAR_T, trigger="test", pool=pool, broker_factory=sim_brokers(account))
    held = position_of(dep.id).quantity
    assert held > 0
    sim.admin.fail_next(5, path=SELL_NOW, status=502)

    r = client.post(
        f"{FLOOR}/algorithms/{dep.id}/deactivate", headers=headers, json={"flatten": True}
    )
    sim.admin.clear_faults()
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "halted" and body["flatten"]["complete"] is False
    (sold,) = body["flatten"]["actions"]
    assert sold["outcome"] == "unconfirmed" and "not retried" in sold["detail"]
    assert (
        body["flatten"]["not_confirmed"] and sold["order_id"] in body["flatten"]["not_confirmed"][0]
    )
    assert len(sim.admin.requests(SELL_NOW)) == 1  # a flatten sell is sent once, never again
    assert order_row(uuid.UUID(sold["order_id"])).status == "unknown"
    assert position_of(dep.id).quantity == held  # nothing booked without an answer
    assert status_of(dep.id) == "halted"
