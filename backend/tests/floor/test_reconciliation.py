"""Reconciliation with the Coinspot simulator over HTTP, one injected fault per test: an
order placed behind our back, a trade placed behind our back, a deposit, a fill we missed
while down, an order stuck `unknown`. Each ends as the right break or resolution, and the
books (positions, trades, P&L lots) are checked exactly against the simulator."""

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.core.config import settings
from app.core.db import engine
from app.exchange.client import CoinspotClient
from app.exchange.nonce import NonceGenerator
from app.exchange.ratelimit import SlidingWindowLimiter
from app.exchange.simulator import RunningSimulator, SimAccount
from app.floor.brokers import CoinspotBroker
from app.floor.executor import BrokerFactory, ensure_positions
from app.floor.ledger import Order
from app.floor.models import DeployedAlgorithm
from app.floor.pnl.models import PnlOpenLot, PnlTotal
from app.floor.reconciliation import service
from app.floor.reconciliation.actions import BreakConflict, resolve_break
from app.floor.reconciliation.models import (
    BreakAction,
    ReconciliationBreak,
    ReconciliationRun,
)
from app.floor.resolver import resolve_unknown
from app.lab.sandbox.pool import SandboxPool
from app.users.models import User
from tests.floor.conftest import FAST_RETRY
from tests.floor.helpers import dec, orders_of, position_of, runs_of, sim_fills, trades_of
from tests.floor.test_live_faults import BUY_NOW, cycle, live
from tests.utils import create_random_user, error_text, user_token_headers

pytestmark = pytest.mark.anyio
Brokers = Callable[..., BrokerFactory]
COMPLETED = "/api/v2/ro/my/orders/completed"
LATER = timedelta(seconds=settings.FLOOR_RESOLVE_GRACE_SECONDS + 5)


def account_client(
    simulator: RunningSimulator, account: SimAccount, nonces: NonceGenerator, timeout: float = 5.0
) -> CoinspotClient:
    return CoinspotClient(
        simulator.base_url,
        api_key=account.api_key,
        api_secret=account.api_secret,
        retry=FAST_RETRY,
        rate_limiter=SlidingWindowLimiter(10_000, 60.0),
        nonce_generator=nonces,
        timeout_seconds=timeout,
    )


@pytest.fixture
async def clients(
    simulator: RunningSimulator, nonce_generator: NonceGenerator
) -> AsyncIterator[Callable[[SimAccount], CoinspotClient]]:
    made: list[CoinspotClient] = []

    def make(account: SimAccount) -> CoinspotClient:
        made.append(account_client(simulator, account, nonce_generator))
        return made[-1]

    yield make
    for c in made:
        await c.aclose()


def record_order(
    deployment: DeployedAlgorithm,
    amount: Decimal,
    rate: Decimal,
    *,
    style: str,
    exchange_id: str | None,
) -> uuid.UUID:
    """A live BTC buy in our books: `open` as the exchange order `exchange_id` (resting at
    Coinspot), or `unknown` when there is none (its answer was lost)."""
    moment = datetime.now(UTC)
    with Session(engine) as s:
        order = Order(
            deployment_id=deployment.id,
            user_id=deployment.user_id,
            mode="live",
            coin="BTC",
            side="buy",
            style=style,
            requested_quantity=amount,
            requested_notional=amount * rate,
            limit_rate=rate,
            target=Decimal("0.5"),
            status="open" if exchange_id else "unknown",
            exchange_order_id=exchange_id,
            reason="a book order resting at Coinspot" if exchange_id else "its answer was lost",
            submitting_at=moment,
            open_at=moment if exchange_id else None,
        )
        s.add(order)
        s.commit()
        return order.id


def breaks_of(user_id: uuid.UUID, status: str | None = None) -> list[ReconciliationBreak]:
    with Session(engine) as s:
        query = select(ReconciliationBreak).where(col(ReconciliationBreak.user_id) == user_id)
        if status is not None:
            query = query.where(col(ReconciliationBreak.status) == status)
        return list(s.exec(query.order_by(col(ReconciliationBreak.first_seen_at))).all())


def assert_books(deployment: DeployedAlgorithm, view: dict[str, object], capital: str) -> None:
    """Positions, trades and P&L lots agree with each other and with the simulator."""
    position = position_of(deployment.id)
    balances = view["balances"]
    assert isinstance(balances, dict)
    assert position.quantity == balances.get("BTC", Decimal(0))
    assert position.cash == balances["AUD"]
    trades = trades_of(deployment.id)
    fills = sim_fills(view)
    assert len(trades) == len(fills)  # one trade per exchange fill, none twice
    assert sum((t.quantity for t in trades if t.side == "buy"), Decimal(0)) == sum(
        (dec(f["amount"]) for f in fills if f["side"] == "buy"), Decimal(0)
    )
    spent = sum((t.total_aud for t in trades if t.side == "buy"), Decimal(0))
    got = sum((t.total_aud for t in trades if t.side == "sell"), Decimal(0))
    assert Decimal(capital) - spent + got == balances["AUD"]
    with Session(engine) as s:
        lots = s.exec(
            select(PnlOpenLot).where(col(PnlOpenLot.deployment_id) == deployment.id)
        ).all()
        totals = s.exec(select(PnlTotal).where(col(PnlTotal.deployment_id) == deployment.id)).all()
    assert sum((lot.quantity for lot in lots), Decimal(0)) == position.quantity
    paid = sum((t.fee + t.gst for t in trades), Decimal(0))
    assert (
        sum((lot.fee + lot.gst for lot in lots), Decimal(0))
        + sum((t.fees for t in totals), Decimal(0))
        == paid
    )


async def reconcile(
    user_id: uuid.UUID, client: CoinspotClient, now: datetime | None = None
) -> ReconciliationRun:
    return await service.reconcile_account(user_id, client, trigger="test", now=now)


def set_fraction(deployment: DeployedAlgorithm, fraction: float) -> None:
    with Session(engine) as s:
        row = s.get(DeployedAlgorithm, deployment.id)
        assert row is not None
        row.parameters = {"fraction": fraction}
        s.add(row)
        s.commit()


async def test_deposit_is_one_non_blocking_break_until_adopted(
    db: Session, simulator: RunningSimulator, pool: SandboxPool, sim_brokers: Brokers, clients: Any
) -> None:
    deployment, account = live(db, simulator, fraction=0.5)
    client = clients(account)
    first = await reconcile(deployment.user_id, client)
    assert first.outcome == "clean" and first.counts["baseline"] == "taken"
    await cycle(deployment, 0, pool, sim_brokers(account))
    assert (await reconcile(deployment.user_id, client)).outcome == "clean"

    simulator.admin.fund(account.api_key, "AUD", "250.50")
    run = await reconcile(deployment.user_id, client)
    assert run.outcome == "breaks" and run.counts["new_breaks"] == 1
    (item,) = breaks_of(deployment.user_id)
    assert item.kind == "balance_changed" and item.coin == "AUD" and not item.blocking
    assert item.theirs is not None and item.ours is not None
    assert item.theirs - item.ours == Decimal("250.50")
    again = await reconcile(deployment.user_id, client)
    assert again.counts["new_breaks"] == 0
    (seen,) = breaks_of(deployment.user_id)
    assert seen.id == item.id and seen.last_seen_at > item.last_seen_at
    # Non-blocking: the deployment keeps trading.
    set_fraction(deployment, 0.0)
    await cycle(deployment, 1, pool, sim_brokers(account))
    assert runs_of(deployment.id)[-1].decisions["BTC"]["status"] == "filled"

    resolved = await resolve_break(
        engine, item.id, deployment.user_id, BreakAction.ADOPT, "my top-up", client
    )
    assert resolved.status == "resolved" and resolved.resolution_action == "adopt"
    assert resolved.resolved_by == deployment.user_id and resolved.resolved_at is not None
    assert (await reconcile(deployment.user_id, client)).outcome == "clean"
    view = simulator.admin.account(account.api_key)
    # The deposit is the user's, outside the sleeve: our books equal Coinspot's without it.
    view["balances"]["AUD"] -= Decimal("250.50")
    assert_books(deployment, view, "10000")
    with Session(engine) as s:
        alerts = s.execute(
            sa.text("SELECT count(*) FROM alerts WHERE user_id = :u AND kind = :k"),
            {"u": deployment.user_id, "k": "reconciliation_break"},
        ).scalar()
        events = s.execute(
            sa.text("SELECT count(*) FROM events WHERE user_id = :u AND kind = :k"),
            {"u": deployment.user_id, "k": "reconciliation.break"},
        ).scalar()
    assert alerts == 1 and events == 1


async def test_order_and_trade_behind_our_back_block_live_orders(
    db: Session, simulator: RunningSimulator, pool: SandboxPool, sim_brokers: Brokers, clients: Any
) -> None:
    deployment, account = live(db, simulator, fraction=0.5)
    client = clients(account)
    await reconcile(deployment.user_id, client)
    await cycle(deployment, 0, pool, sim_brokers(account))
    bid = simulator.admin.prices()["BTC"]["bid"]

    # Someone places a resting order on the account, outside the platform.
    placed = await client.place_buy_order("BTC", Decimal("0.001"), (bid / 2).quantize(Decimal(1)))
    run = await reconcile(deployment.user_id, client)
    (item,) = breaks_of(deployment.user_id)
    assert item.kind == "external_order" and item.blocking and placed.id in item.message
    assert run.counts["exchange_open_orders"] == 1
    # A blocking break: the live deployment places nothing, and says why.
    set_fraction(deployment, 0.0)
    await cycle(deployment, 1, pool, sim_brokers(account))
    decision = runs_of(deployment.id)[-1].decisions["BTC"]
    assert (
        decision["action"] == "refused"
        and "reconciliation break external_order" in (decision["detail"])
    )
    with pytest.raises(BreakConflict, match="close applies"):
        await resolve_break(engine, item.id, deployment.user_id, BreakAction.CLOSE, None, client)
    # Cancelled at the exchange: the break clears itself.
    await client.cancel_buy_order(placed.id)
    await reconcile(deployment.user_id, client)
    (cleared,) = breaks_of(deployment.user_id)
    assert cleared.status == "resolved" and cleared.resolution_action == "cleared"

    # A trade behind our back: one break (not also a balance break), blocking.
    await client.buy_now("BTC", Decimal("0.002"), "coin")
    run = await reconcile(deployment.user_id, client)
    assert run.counts["new_breaks"] == 1
    trade_break = breaks_of(deployment.user_id, "open")[0]
    assert trade_break.kind == "external_trade" and trade_break.theirs == Decimal("0.002")
    await cycle(deployment, 2, pool, sim_brokers(account))
    assert runs_of(deployment.id)[-1].decisions["BTC"]["action"] == "refused"
    await resolve_break(
        engine, trade_break.id, deployment.user_id, BreakAction.IGNORE, "my own buy", client
    )
    assert (await reconcile(deployment.user_id, client)).outcome == "clean"
    await cycle(deployment, 3, pool, sim_brokers(account))
    assert runs_of(deployment.id)[-1].decisions["BTC"]["status"] == "filled"
    view = simulator.admin.account(account.api_key)
    ours = [f for f in sim_fills(view) if dec(f["amount"]) != Decimal("0.002")]
    outside = next(f for f in sim_fills(view) if dec(f["amount"]) == Decimal("0.002"))
    assert position_of(deployment.id).quantity == 0
    assert view["balances"]["BTC"] == Decimal("0.002")  # only the user's own coin is left
    assert len(trades_of(deployment.id)) == len(ours) == 2
    paid = dec(outside["amount"]) * dec(outside["rate"]) + dec(outside["fee"])
    assert position_of(deployment.id).cash == view["balances"]["AUD"] + paid


@pytest.mark.parametrize("action", [BreakAction.ADOPT, BreakAction.CLOSE])
async def test_fill_missed_while_down_is_adopted_once(
    db: Session, simulator: RunningSimulator, clients: Any, action: BreakAction
) -> None:
    """An order we hold as `open` in a style the order-book follow-up does not watch (an
    instant order the exchange left resting): its fill while we were down is a
    `filled_thought_open` break, adopted (or closed) once."""
    deployment, account = live(db, simulator)
    client = clients(account)
    ensure_positions(engine, deployment)
    await reconcile(deployment.user_id, client)
    ask = simulator.admin.prices()["BTC"]["ask"]
    rate = (ask * Decimal("0.9")).quantize(Decimal(1))
    amount = Decimal("0.01")
    placed = await client.place_buy_order("BTC", amount, rate)
    order_id = record_order(deployment, amount, rate, style="instant", exchange_id=placed.id)
    assert (await reconcile(deployment.user_id, client)).outcome == "clean"

    # While we are down, the price comes to the order and it fills.
    simulator.admin.set_price("BTC", bid=rate - 100, ask=rate - 50)
    (fill,) = sim_fills(simulator.admin.account(account.api_key))
    run = await reconcile(deployment.user_id, client)
    (item,) = breaks_of(deployment.user_id)
    assert item.kind == "filled_thought_open" and item.order_id == order_id and item.blocking
    assert run.counts["new_breaks"] == 1  # the balance moved too, but the fill explains it
    assert (await reconcile(deployment.user_id, client)).counts["new_breaks"] == 0

    resolved = await resolve_break(engine, item.id, deployment.user_id, action, None, client)
    assert resolved.status == "resolved" and resolved.resolution_action == action.value
    order, *closing = orders_of(deployment.id)
    assert order.status == "filled" and order.filled_quantity == amount
    trade, *sold = trades_of(deployment.id)
    assert trade.source == "reconciliation" and trade.quantity == dec(fill["amount"])
    assert trade.fee + trade.gst == dec(fill["fee"])
    if action == BreakAction.CLOSE:
        # Adopted, then the position was sold through the executor's order path.
        (sell,) = closing
        assert sell.side == "sell" and sell.status == "filled" and sell.reason.startswith("close")
        assert [t.order_id for t in sold] == [sell.id] and sold[0].quantity == amount
        assert position_of(deployment.id).quantity == 0
        assert "sell order" in (resolved.resolution_note or "")
    else:
        assert closing == [] and sold == []
    assert (await reconcile(deployment.user_id, client)).outcome == "clean"
    with pytest.raises(BreakConflict, match="resolved already"):
        await resolve_break(engine, item.id, deployment.user_id, BreakAction.ADOPT, None, client)
    assert len(trades_of(deployment.id)) == (2 if action == BreakAction.CLOSE else 1)
    assert_books(deployment, simulator.admin.account(account.api_key), "10000")


async def test_resting_book_order_filled_while_down_is_booked_by_the_follow_up(
    db: Session, simulator: RunningSimulator, clients: Any
) -> None:
    """An order-book order left open by an earlier cycle that filled while we were down:
    reconciliation's resolver pass follows it (`orderbook.settle_stale`), books the fill once
    from the exchange's history, and no break is raised."""
    deployment, account = live(db, simulator)
    client = clients(account)
    ensure_positions(engine, deployment)
    await reconcile(deployment.user_id, client)
    ask = simulator.admin.prices()["BTC"]["ask"]
    rate = (ask * Decimal("0.9")).quantize(Decimal(1))
    amount = Decimal("0.01")
    placed = await client.place_buy_order("BTC", amount, rate)
    record_order(deployment, amount, rate, style="orderbook", exchange_id=placed.id)
    simulator.admin.set_price("BTC", bid=rate - 100, ask=rate - 50)
    (fill,) = sim_fills(simulator.admin.account(account.api_key))
    run = await reconcile(deployment.user_id, client)
    assert run.outcome == "clean" and breaks_of(deployment.user_id) == []
    (order,) = orders_of(deployment.id)
    assert order.status == "filled" and order.filled_quantity == amount
    (trade,) = trades_of(deployment.id)
    assert trade.quantity == dec(fill["amount"]) and trade.fee + trade.gst == dec(fill["fee"])
    assert (await reconcile(deployment.user_id, client)).outcome == "clean"
    assert len(trades_of(deployment.id)) == 1
    assert_books(deployment, simulator.admin.account(account.api_key), "10000")


async def test_unknown_order_is_resolved_by_reconciliation(
    db: Session, simulator: RunningSimulator, pool: SandboxPool, sim_brokers: Brokers, clients: Any
) -> None:
    deployment, account = live(db, simulator)
    client = clients(account)
    await reconcile(deployment.user_id, client)
    simulator.admin.hang_next(1, path=BUY_NOW, seconds=3, mode="after")
    await cycle(deployment, 0, pool, sim_brokers(account, timeout=1.0))
    assert [o.status for o in orders_of(deployment.id)] == ["unknown"]

    run = await reconcile(deployment.user_id, client)
    assert run.outcome == "clean" and run.counts["unknown_resolved"] == 1
    (order,) = orders_of(deployment.id)
    assert order.status == "filled"
    (trade,) = trades_of(deployment.id)
    assert trade.source == "reconciliation"
    assert (await reconcile(deployment.user_id, client)).outcome == "clean"
    assert breaks_of(deployment.user_id) == []
    assert_books(deployment, simulator.admin.account(account.api_key), "10000")


async def test_unknown_order_stuck_is_a_blocking_break_until_adopted(
    db: Session, simulator: RunningSimulator, pool: SandboxPool, sim_brokers: Brokers, clients: Any
) -> None:
    deployment, account = live(db, simulator)
    client = clients(account)
    await reconcile(deployment.user_id, client)
    # Never executed, and no answer: unknown.
    simulator.admin.hang_next(1, path=BUY_NOW, seconds=3, mode="before")
    await cycle(deployment, 0, pool, sim_brokers(account, timeout=1.0))
    assert [o.status for o in orders_of(deployment.id)] == ["unknown"]

    # Past the grace period, the resolver cannot read the history (3 attempts fail).
    simulator.admin.fail_next(3, path=COMPLETED)
    run = await reconcile(deployment.user_id, client, now=datetime.now(UTC) + LATER)
    assert "resolver_error" in run.counts
    (item,) = breaks_of(deployment.user_id)
    assert item.kind == "unknown_order" and item.blocking and item.coin == "BTC"
    assert run.counts["skipped_coins"] == ["AUD", "BTC"]  # balances with an order in flight

    resolved = await resolve_break(
        engine, item.id, deployment.user_id, BreakAction.ADOPT, None, client
    )
    assert "cancelled" in (resolved.resolution_note or "")
    (order,) = orders_of(deployment.id)
    assert order.status == "cancelled" and order.resolution == "not found at the exchange"
    assert (await reconcile(deployment.user_id, client)).outcome == "clean"
    await cycle(deployment, 1, pool, sim_brokers(account))
    assert [o.status for o in orders_of(deployment.id)] == ["cancelled", "filled"]
    assert len(sim_fills(simulator.admin.account(account.api_key))) == 1
    assert_books(deployment, simulator.admin.account(account.api_key), "10000")


def test_reconciliation_api(
    client: TestClient,
    db: Session,
    simulator: RunningSimulator,
    nonce_generator: NonceGenerator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    email, password = create_random_user(db)
    user = db.exec(select(User).where(col(User.email) == email)).one()
    headers = user_token_headers(client, email, password)
    other_email, other_password = create_random_user(db)
    other = user_token_headers(client, other_email, other_password)
    account = simulator.admin.create_account({"AUD": "1000"})

    async def sim_client(user_id: uuid.UUID) -> CoinspotClient:
        assert user_id == user.id
        return account_client(simulator, account, nonce_generator)

    monkeypatch.setattr(service, "account_client", sim_client)
    base = f"{settings.API_V1_STR}/floor/reconciliation"
    first = client.post(f"{base}/run", headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["outcome"] == "clean" and first.json()["counts"]["baseline"] == "taken"
    simulator.admin.fund(account.api_key, "AUD", "5")
    second = client.post(f"{base}/run", headers=headers).json()
    assert second["outcome"] == "breaks"

    page = client.get(base, headers=headers, params={"limit": 1}).json()
    assert [r["id"] for r in page["runs"]] == [second["id"], first.json()["id"]]
    assert page["count"] == 1 and page["blocked"] is None
    (item,) = page["breaks"]
    assert item["kind"] == "balance_changed" and Decimal(item["theirs"]) == Decimal("1005")
    assert client.get(base, headers=other).json()["breaks"] == []
    url = f"{base}/breaks/{item['id']}/resolve"
    assert client.post(url, headers=other, json={"action": "adopt"}).status_code == 404
    bad = client.post(url, headers=headers, json={"action": "forget"})
    assert bad.status_code == 422 and "'adopt', 'ignore' or 'close'" in error_text(bad)
    assert bad.json()["detail"][0]["loc"] == ["body", "action"]
    no_note = client.post(url, headers=headers, json={"action": "ignore", "note": " "})
    assert no_note.status_code == 422 and "note is required" in error_text(no_note)
    assert no_note.json()["detail"][0]["loc"] == ["body", "note"]
    close = client.post(url, headers=headers, json={"action": "close"})
    assert close.status_code == 409 and "close applies" in error_text(close)
    done = client.post(url, headers=headers, json={"action": "ignore", "note": "a test top-up"})
    assert done.status_code == 200 and done.json()["resolution_note"] == "a test top-up"
    assert client.post(url, headers=headers, json={"action": "adopt"}).status_code == 409
    resolved = client.get(base, headers=headers, params={"status": "resolved"}).json()
    assert resolved["count"] == 1 and resolved["breaks"][0]["status"] == "resolved"
    # Ignored, not adopted: the same difference is not raised again.
    assert client.post(f"{base}/run", headers=headers).json()["counts"]["new_breaks"] == 0
    missing = client.post(f"{base}/breaks/{uuid.uuid4()}/resolve", headers=headers, json={})
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "action"]
    nobody = client.post(
        f"{base}/breaks/{uuid.uuid4()}/resolve", headers=headers, json={"action": "adopt"}
    )
    assert nobody.status_code == 404
    monkeypatch.undo()
    assert client.post(f"{base}/run", headers=other).status_code == 400


async def test_an_unknown_buy_is_never_matched_to_a_resting_sell(
    db: Session, simulator: RunningSimulator, clients: Any
) -> None:
    """The exchange lists open orders per side; an unknown instant buy whose coin, amount and
    rate equal a resting *sell* on the account must not take that sell's id (it would then
    be followed, cancelled or booked as ours)."""
    deployment, account = live(db, simulator)
    simulator.admin.fund(account.api_key, "BTC", "0.5")
    client = clients(account)
    ask = simulator.admin.prices()["BTC"]["ask"]
    rate = (ask * Decimal("1.5")).quantize(Decimal(1))  # far above the market: it rests
    amount = Decimal("0.01")
    sell = await client.place_sell_order("BTC", amount, rate)
    order_id = record_order(deployment, amount, rate, style="instant", exchange_id=None)
    resolved = await resolve_unknown(engine, CoinspotBroker(client), order_id)
    assert resolved.exchange_order_id != sell.id
    assert resolved.status != "open"
    # The same order on the sell side is found among the open orders: the match works.
    with Session(engine) as s:
        row = s.get(Order, order_id)
        assert row is not None
        row.side, row.status, row.exchange_order_id = "sell", "unknown", None
        s.add(row)
        s.commit()
    found = await resolve_unknown(engine, CoinspotBroker(client), order_id)
    assert found.status == "open" and found.exchange_order_id == sell.id
