"""What a user does about a break: adopt Coinspot's view, ignore it (with a note), or close
the position.

Rules:
- Only an open break of the caller's own account can be resolved (another user's: not
  found; a resolved one: a conflict). Each resolution records action, note, who and when.
- `adopt` takes Coinspot's view: a fill of one of our orders is booked through
  `orders.book_fills` (source `reconciliation`, so positions and P&L move once; its
  exchange key makes a second booking impossible) and the order settles; an `unknown` order
  is resolved against Coinspot's records without waiting for the grace period; an order
  gone from Coinspot is `cancelled`; a balance change becomes an accepted outside change
  (the expected balance moves by it); a trade or order outside the platform is accepted
  as the user's own.
- `ignore` changes nothing in the books; the note says why.
- `close` applies to breaks of one deployment's coin: adopt first, then sell the
  deployment's whole holding of the coin through the executor's order path (intent
  committed before sending, instant sell with the slippage guard). It is the user's explicit
  action, so the reconciliation gate does not hold it back.
- Book changes happen under the deployment's row lock (no cycle of it runs meanwhile).
"""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from app.core.config import settings
from app.exchange.client import CoinspotClient
from app.floor.brokers import CoinspotBroker, OrderRequest, fee_rate
from app.floor.executor import send_order
from app.floor.ledger import Order, Position, TradeSource
from app.floor.ledger import OrderStatus as S
from app.floor.orders import book_fills, claimed_keys, locked_order, settle_status, transition
from app.floor.reconciliation import checks
from app.floor.reconciliation.models import (
    BreakAction,
    BreakKind,
    BreakStatus,
    ReconciliationAccount,
    ReconciliationBreak,
)
from app.floor.resolver import resolve_unknown
from app.floor.signals import bar_of

DEPLOYMENT_KINDS = frozenset(
    {BreakKind.FILLED_THOUGHT_OPEN, BreakKind.MISSED_FILL, BreakKind.UNKNOWN_ORDER}
)


class BreakNotFound(LookupError):
    pass


class BreakConflict(RuntimeError):
    pass


def _load(session: Session, break_id: uuid.UUID, user_id: uuid.UUID) -> ReconciliationBreak:
    row = session.get(ReconciliationBreak, break_id, with_for_update=True)
    if row is None or row.user_id != user_id:
        raise BreakNotFound("no such break")
    if row.status != BreakStatus.OPEN:
        raise BreakConflict(f"the break was resolved already ({row.resolution_action})")
    return row


@contextmanager
def deployment_locked(engine: Engine, deployment_id: uuid.UUID | None) -> Iterator[None]:
    if deployment_id is None:
        yield
        return
    conn = engine.connect()
    try:
        conn.begin()
        wait_ms = int(settings.FLOOR_RECONCILE_LOCK_WAIT_SECONDS * 1000)
        conn.execute(sa.text(f"SET LOCAL lock_timeout = {wait_ms}"))
        try:
            conn.execute(
                sa.text("SELECT id FROM deployed_algorithms WHERE id = :id FOR NO KEY UPDATE"),
                {"id": deployment_id},
            )
        except OperationalError:
            raise BreakConflict("a cycle of the deployment is running; try again") from None
        yield
    finally:
        conn.rollback()
        conn.close()


async def resolve_break(
    engine: Engine,
    break_id: uuid.UUID,
    user_id: uuid.UUID,
    action: BreakAction,
    note: str | None,
    client: CoinspotClient | None,
) -> ReconciliationBreak:
    """Apply `action` to an open break of `user_id` (see the module rules)."""
    with Session(engine) as session:
        row = _load(session, break_id, user_id)
        kind, deployment_id = BreakKind(row.kind), row.deployment_id
        if action == BreakAction.CLOSE and (kind not in DEPLOYMENT_KINDS or deployment_id is None):
            raise BreakConflict(
                f"close applies to breaks of a deployment's position; a {kind} break is outside"
                " the platform's positions: adopt or ignore it, and trade it on Coinspot"
            )
        if action != BreakAction.IGNORE and kind == BreakKind.UNKNOWN_ORDER and client is None:
            raise BreakConflict("Coinspot keys are needed to resolve an unknown order")
    result: dict[str, Any] = {}
    with deployment_locked(engine, deployment_id):
        if action in (BreakAction.ADOPT, BreakAction.CLOSE):
            result = await _adopt(engine, break_id, kind, client)
        if action == BreakAction.CLOSE:
            assert client is not None and deployment_id is not None
            result["close"] = await _close(engine, break_id, deployment_id, client)
    with Session(engine) as session:
        row = _load(session, break_id, user_id)
        row.status = BreakStatus.RESOLVED.value
        row.resolution_action = action.value
        summary = "; ".join(f"{k}: {v}" for k, v in result.items())
        row.resolution_note = " | ".join(p for p in (note, summary) if p)[:1000] or None
        row.resolved_by = user_id
        row.resolved_at = datetime.now(UTC)
        session.add(row)
        session.commit()
        session.refresh(row)
        session.expunge(row)
        return row


async def _adopt(
    engine: Engine, break_id: uuid.UUID, kind: BreakKind, client: CoinspotClient | None
) -> dict[str, Any]:
    with Session(engine) as session:
        row = session.get(ReconciliationBreak, break_id)
        assert row is not None
        if kind in (BreakKind.FILLED_THOUGHT_OPEN, BreakKind.MISSED_FILL):
            return _book_missed(session, row)
        if kind == BreakKind.OPEN_ORDER_MISSING:
            assert row.order_id is not None
            order = locked_order(session, row.order_id)
            if order.status in (S.OPEN, S.PARTIALLY_FILLED):
                transition(order, S.CANCELLED, error="no longer open at Coinspot")
                order.resolution = "cancelled outside the platform (reconciliation)"
                session.add(order)
            session.commit()
            return {"order": order.status}
        if kind == BreakKind.BALANCE_CHANGED:
            account = session.get(ReconciliationAccount, row.user_id, with_for_update=True)
            assert account is not None and row.coin is not None
            adjustments = checks.as_decimals(account.adjustments)
            checks.add_into(adjustments, {row.coin: Decimal(row.detail["delta"])})
            account.adjustments = checks.as_texts(adjustments)
            account.updated_at = datetime.now(UTC)
            session.add(account)
            session.commit()
            return {"accepted outside change": row.detail["delta"]}
        order_id = row.order_id
    if kind == BreakKind.UNKNOWN_ORDER:
        assert client is not None and order_id is not None
        later = datetime.now(UTC) + timedelta(seconds=settings.FLOOR_RESOLVE_GRACE_SECONDS + 1)
        order = await resolve_unknown(engine, CoinspotBroker(client), order_id, now=later)
        return {"order": order.status}
    return {"accepted": "outside the platform"}


def _book_missed(session: Session, row: ReconciliationBreak) -> dict[str, Any]:
    assert row.order_id is not None and row.coin is not None
    order = locked_order(session, row.order_id)
    fill = checks.detail_fill(row.coin, row.detail)
    if claimed_keys(session, order.user_id, [fill.match_key]):
        session.rollback()
        return {"booked": "already"}
    book_fills(session, order, [fill.record(TradeSource.RECONCILIATION)], None)
    order.resolution = f"fill adopted from Coinspot's history ({fill.sold_at.isoformat()})"
    if order.status in (S.OPEN, S.PARTIALLY_FILLED):
        status = settle_status(order)
        if status != S.OPEN:
            transition(order, status)
        if status != S.FILLED and not row.detail.get("open_at_exchange", False):
            transition(order, S.CANCELLED, error="no longer open at Coinspot")
    session.add(order)
    session.commit()
    return {"booked": str(fill.amount), "order": order.status}


async def _close(
    engine: Engine, break_id: uuid.UUID, deployment_id: uuid.UUID, client: CoinspotClient
) -> str:
    with Session(engine) as session:
        row = session.get(ReconciliationBreak, break_id)
        assert row is not None and row.coin is not None
        position = session.get(Position, (deployment_id, row.coin))
        if position is None or position.quantity <= 0:
            return "nothing to sell"
        quantity, user_id = position.quantity, position.user_id
    broker = CoinspotBroker(client)
    quote = await broker.quote(row.coin)
    if quote is None:
        raise BreakConflict(f"no price for {row.coin} at Coinspot: nothing was sold")
    fee = fee_rate("instant")
    request = broker.prepare(
        OrderRequest(
            coin=row.coin,
            side="sell",
            quantity=quantity,
            notional=quantity * quote.bid,
            price=quote.bid,
            fee=quantity * quote.bid * fee,
            style="instant",
            limit_rate=quote.bid,
            threshold_pct=settings.FLOOR_MAX_SLIPPAGE_PCT,
        )
    )
    if request is None:
        return "nothing to sell at Coinspot's precision"
    order = Order(
        deployment_id=deployment_id,
        user_id=user_id,
        mode="live",
        coin=request.coin,
        side="sell",
        style="instant",
        requested_quantity=request.quantity,
        requested_notional=request.notional,
        limit_rate=request.limit_rate,
        threshold_pct=request.threshold_pct,
        target=Decimal(0),
        reason=f"close after reconciliation break {break_id}",
    )
    with Session(engine) as session:
        session.add(order)
        session.commit()  # the intent is committed before anything is sent
        session.refresh(order)
        order_id = order.id
    final = await send_order(engine, broker, order_id, request, bar_of(datetime.now(UTC)))
    return f"sell order {final.id} {final.status} ({final.filled_quantity} {row.coin})"
