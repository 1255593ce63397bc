"""Live updates and alerts from the Floor's orders, fills and cycles, in the same transaction.

Rules:
- Producers only queue: a new order (`order.created`, seen at flush), each state change
  (`orders.transition` -> its `ORDER_EVENT` kind, in the order they happened, so
  `partially_filled` then `cancelled` are both sent), each booked fill
  (`orders.book_fills` -> `fill`) and a finished cycle. The queue lives on the SQLAlchemy
  session that holds the change; a `before_commit` hook publishes it inside that
  transaction (NOTIFY is transactional), and a rollback drops it, so a client never hears
  of a change that was rolled back.
- At commit, in this order: alerts (`order_problem`: `rejected` is a warning, `unknown` is
  critical; grouped per deployment, coin and status, so a deployment rejected every bar has
  one alert with a count), then the order events, the fills, and one `pnl.update` per
  deployment that had fills or finished a cycle (its all-time P&L exactly as the P&L
  routes compute it, unrealised at the newest bid). Alerts go first because `raise_alert`
  takes its group lock before the publish lock; taking them the other way round could
  deadlock with another raiser.
- A failed cycle raises `system_failure` (critical) keyed by the deployment, grouped too.
- An object outside any session (detached) publishes nothing: there is no transaction to
  publish in.
"""

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import object_session
from sqlmodel import Session

from app.alerts.schemas import AlertKind, Severity
from app.alerts.service import raise_alert
from app.events.schemas import EventKind, FillEvent, OrderEvent, PnlUpdate
from app.events.service import publish_fill, publish_order, publish_pnl
from app.floor.ledger import Order, Trade
from app.floor.pnl.ledger import cents
from app.floor.pnl.service import breakdown

logger = logging.getLogger(__name__)

_KEY = "omc_floor_live_events"
# The order's state -> its event kind (the event says what happened: "submitted").
ORDER_EVENT = {
    "intent": EventKind.ORDER_CREATED,
    "submitting": EventKind.ORDER_SUBMITTED,
    "open": EventKind.ORDER_OPEN,
    "partially_filled": EventKind.ORDER_PARTIALLY_FILLED,
    "filled": EventKind.ORDER_FILLED,
    "cancelled": EventKind.ORDER_CANCELLED,
    "rejected": EventKind.ORDER_REJECTED,
    "unknown": EventKind.ORDER_UNKNOWN,
}


@dataclass
class _Alert:
    user_id: uuid.UUID
    kind: AlertKind
    key: str
    message: str
    data: dict[str, Any]
    severity: Severity


@dataclass
class _Queue:
    orders: list[tuple[uuid.UUID, EventKind, OrderEvent]] = field(default_factory=list)
    fills: list[tuple[uuid.UUID, FillEvent]] = field(default_factory=list)
    pnl: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # deployment -> owner
    alerts: list[_Alert] = field(default_factory=list)
    created: set[uuid.UUID] = field(default_factory=set)


def _queue(session: OrmSession) -> _Queue:
    queue = session.info.get(_KEY)
    if queue is None:
        queue = session.info[_KEY] = _Queue()
    return cast(_Queue, queue)


def _order_event(order: Order) -> OrderEvent:
    return OrderEvent(
        order_id=order.id,
        deployment_id=order.deployment_id,
        coin=order.coin,
        side=order.side,
        status=order.status,
        amount=order.requested_quantity,
        price=order.average_price if order.average_price is not None else order.limit_rate,
        filled_amount=order.filled_quantity,
        reason=order.error,
    )


def order_changed(order: Order) -> None:
    """Queue the event of the order's new state (and its alert when it is a problem)."""
    session = object_session(order)
    if session is None:
        return
    queue = _queue(session)
    kind = ORDER_EVENT[order.status]
    queue.orders.append((order.user_id, kind, _order_event(order)))
    if order.status in ("rejected", "unknown"):
        critical = order.status == "unknown"
        queue.alerts.append(
            _Alert(
                user_id=order.user_id,
                kind=AlertKind.ORDER_PROBLEM,
                key=f"{order.status}:deployment:{order.deployment_id}:{order.coin}",
                message=(
                    f"{order.side.capitalize()} order on {order.coin} is {order.status}"
                    + (": its outcome must be resolved with Coinspot" if critical else "")
                    + (f" ({order.error})" if order.error else "")
                ),
                data={
                    "order_id": str(order.id),
                    "deployment_id": str(order.deployment_id),
                    "coin": order.coin,
                    "side": order.side,
                    "status": order.status,
                    "error": order.error,
                },
                severity=Severity.CRITICAL if critical else Severity.WARNING,
            )
        )


def fills_booked(session: OrmSession, order: Order, trades: list[Trade]) -> None:
    """Queue one `fill` per booked trade and a P&L update for the order's deployment."""
    if not trades:
        return
    queue = _queue(session)
    for trade in trades:
        queue.fills.append(
            (
                trade.user_id,
                FillEvent(
                    fill_id=trade.id,
                    order_id=trade.order_id,
                    deployment_id=trade.deployment_id,
                    coin=trade.coin,
                    side=trade.side,
                    amount=trade.quantity,
                    price=trade.price,
                    fee=trade.fee + trade.gst,
                    filled_at=trade.exchange_time or trade.created_at,
                ),
            )
        )
    queue.pnl[order.deployment_id] = order.user_id


def cycle_finished(
    session: OrmSession,
    deployment_id: uuid.UUID,
    user_id: uuid.UUID,
    bar: datetime,
    error: str | None,
) -> None:
    """Queue the deployment's P&L update and, for a failed cycle, the failure alert."""
    queue = _queue(session)
    queue.pnl[deployment_id] = user_id
    if error is not None:
        queue.alerts.append(
            _Alert(
                user_id=user_id,
                kind=AlertKind.SYSTEM_FAILURE,
                key=f"executor:deployment:{deployment_id}",
                message=f"The execution cycle of bar {bar.isoformat()} failed: {error}",
                data={"deployment_id": str(deployment_id), "bar": bar.isoformat(), "error": error},
                severity=Severity.CRITICAL,
            )
        )


def _pnl_update(session: Session, deployment_id: uuid.UUID, user_id: uuid.UUID) -> PnlUpdate:
    rows = breakdown(session, user_id, None, None, deployment_id).by("deployment")
    row = rows.get(deployment_id)
    if row is None:
        zero = Decimal("0.00")
        return PnlUpdate(
            deployment_id=deployment_id,
            realised=zero,
            unrealised=zero,
            fees=zero,
            equity=zero,
            as_of=datetime.now(UTC),
        )
    return PnlUpdate(
        deployment_id=deployment_id,
        realised=cents(row.realised_net),
        unrealised=cents(row.unrealised_net),
        fees=cents(row.realised_fees + row.fees_open),
        equity=cents(row.cash + row.market_value),
        as_of=datetime.now(UTC),
    )


def _on_flush(session: OrmSession, _context: Any, _instances: Any) -> None:
    for obj in session.new:
        if isinstance(obj, Order):
            queue = _queue(session)
            if obj.id not in queue.created:
                queue.created.add(obj.id)
                queue.orders.append((obj.user_id, EventKind.ORDER_CREATED, _order_event(obj)))


def _on_before_commit(orm_session: OrmSession) -> None:
    if any(isinstance(obj, Order) for obj in orm_session.new):
        orm_session.flush()  # commit flushes only after this hook: queue `order.created` now
    queue = orm_session.info.pop(_KEY, None)
    if not isinstance(queue, _Queue) or not (
        queue.orders or queue.fills or queue.pnl or queue.alerts
    ):
        return
    session = cast(Session, orm_session)
    session.flush()  # the P&L reads the rows this transaction wrote
    pnl = [(user, _pnl_update(session, dep, user)) for dep, user in queue.pnl.items()]
    for alert in queue.alerts:
        raise_alert(
            session,
            alert.user_id,
            alert.kind,
            alert.key,
            alert.message,
            alert.data,
            severity=alert.severity,
        )
    for user_id, kind, order_event in queue.orders:
        publish_order(session, user_id, kind, order_event)
    for user_id, fill in queue.fills:
        publish_fill(session, user_id, fill)
    for user_id, update in pnl:
        publish_pnl(session, user_id, update)
    # Anything the publishing itself queued (nothing today) must not leak to the next commit.
    orm_session.info.pop(_KEY, None)


def _on_rollback(orm_session: OrmSession, previous: Any) -> None:
    if not getattr(previous, "nested", False):
        orm_session.info.pop(_KEY, None)


sa_event.listen(OrmSession, "before_flush", _on_flush)
sa_event.listen(OrmSession, "before_commit", _on_before_commit)
sa_event.listen(OrmSession, "after_soft_rollback", _on_rollback)
