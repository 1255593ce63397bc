"""Publishing and reading events.

Rules:
- `publish` inserts the event and queues its notification in the caller's transaction:
  listeners hear of it only if (and when) that transaction commits, in commit order. It
  first takes a transaction-scoped advisory lock, so sequence numbers commit in order and a
  reader that has seen seq N can never later miss an event <= N. Call it last, just before
  the commit; keep such transactions short.
- With the PostgreSQL backend the notification is `pg_notify` on `CHANNEL` in the same
  transaction. With Redis, the message is published after the commit (a session hook); the
  table stays the source of truth for resumes, polling and listener catch-up.
- A notification carries the whole event when it fits PostgreSQL's payload limit,
  otherwise only its seq (the listener reads the row).
- Reading is always user-scoped: a user gets their own events plus broadcasts.
"""

import uuid
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy import event as sa_event
from sqlmodel import Session, col, or_, select

from app.core.config import settings
from app.events.models import Event, utcnow
from app.events.schemas import (
    ORDER_KINDS,
    AccountStatusEvent,
    AlertEvent,
    DeploymentStatusEvent,
    EventKind,
    EventPublic,
    FillEvent,
    LabJobEvent,
    OrderEvent,
    PnlUpdate,
    PriceUpdate,
    ReconciliationBreakEvent,
    RiskBreachEvent,
)

CHANNEL = "omc_events"
# Any constant shared by every publisher; distinct from the other advisory-lock keys in use.
PUBLISH_LOCK_KEY = 0x4F4D4345  # "OMCE"
# PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
MAX_NOTIFY_BYTES = 7900


def to_public(row: Event) -> EventPublic:
    assert row.seq is not None
    return EventPublic(
        seq=row.seq,
        kind=row.kind,
        broadcast=row.user_id is None,
        payload=row.payload,
        created_at=row.created_at,
    )


def wire_message(
    seq: int, user_id: uuid.UUID | None, kind: str, payload: dict[str, Any], created_at: datetime
) -> bytes:
    """The notification body: the event with its owner, or only its seq when too large."""
    body = orjson.dumps(
        {
            "seq": seq,
            "user_id": str(user_id) if user_id else None,
            "kind": kind,
            "payload": payload,
            "created_at": created_at.isoformat(),
        }
    )
    if len(body) > MAX_NOTIFY_BYTES:
        return orjson.dumps({"seq": seq, "ref": True})
    return body


def publish(
    session: Session, user_id: uuid.UUID | None, kind: str, payload: dict[str, Any]
) -> Event:
    """Store one event and notify every app process when the transaction commits."""
    if kind not in EventKind._value2member_map_:
        raise ValueError(f"unknown event kind {kind!r}")
    # JSON-safe (decimals as strings, UUIDs and datetimes as text) before it is stored.
    clean: dict[str, Any] = orjson.loads(orjson.dumps(payload, default=str))
    session.execute(sa.select(sa.func.pg_advisory_xact_lock(PUBLISH_LOCK_KEY)))
    row = Event(user_id=user_id, kind=kind, payload=clean, created_at=utcnow())
    session.add(row)
    session.flush()
    assert row.seq is not None
    message = wire_message(row.seq, user_id, kind, clean, row.created_at)
    if settings.EVENTS_BACKEND == "redis":
        _publish_to_redis_after_commit(session, message)
    else:
        session.execute(sa.select(sa.func.pg_notify(CHANNEL, message.decode("utf-8"))))
    return row


def _publish_to_redis_after_commit(session: Session, message: bytes) -> None:
    from app.events.redis_backend import publish_sync

    pending: list[bytes] = session.info.setdefault("omc_redis_events", [])
    pending.append(message)
    if len(pending) > 1:
        return  # the hook is already registered for this transaction

    def _after_commit(sess: Any) -> None:
        messages = sess.info.pop("omc_redis_events", [])
        publish_sync(messages)

    def _after_rollback(sess: Any) -> None:
        sess.info.pop("omc_redis_events", None)

    sa_event.listen(session, "after_commit", _after_commit, once=True)
    sa_event.listen(session, "after_soft_rollback", _after_rollback, once=True)


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


def publish_price_update(session: Session, update: PriceUpdate) -> Event:
    """A broadcast: the latest prices of one collection run."""
    return publish(session, None, EventKind.PRICE_UPDATE, _dump(update))


def publish_order(
    session: Session, user_id: uuid.UUID, kind: EventKind, order: OrderEvent
) -> Event:
    if kind not in ORDER_KINDS:
        raise ValueError(f"{kind!r} is not an order event kind")
    return publish(session, user_id, kind, _dump(order))


def publish_fill(session: Session, user_id: uuid.UUID, fill: FillEvent) -> Event:
    return publish(session, user_id, EventKind.FILL, _dump(fill))


def publish_deployment_status(
    session: Session, user_id: uuid.UUID, change: DeploymentStatusEvent
) -> Event:
    return publish(session, user_id, EventKind.DEPLOYMENT_STATUS, _dump(change))


def publish_account_status(
    session: Session, user_id: uuid.UUID, change: AccountStatusEvent
) -> Event:
    return publish(session, user_id, EventKind.ACCOUNT_STATUS, _dump(change))


def publish_risk_breach(session: Session, user_id: uuid.UUID, breach: RiskBreachEvent) -> Event:
    return publish(session, user_id, EventKind.RISK_BREACH, _dump(breach))


def publish_pnl(session: Session, user_id: uuid.UUID, pnl: PnlUpdate) -> Event:
    return publish(session, user_id, EventKind.PNL_UPDATE, _dump(pnl))


def publish_alert(session: Session, user_id: uuid.UUID, alert: AlertEvent) -> Event:
    return publish(session, user_id, EventKind.ALERT, _dump(alert))


def publish_reconciliation_break(
    session: Session, user_id: uuid.UUID, item: ReconciliationBreakEvent
) -> Event:
    return publish(session, user_id, EventKind.RECONCILIATION_BREAK, _dump(item))


def visible_to(user_id: uuid.UUID) -> Any:
    return or_(col(Event.user_id) == user_id, col(Event.user_id).is_(None))


def events_after(
    session: Session,
    user_id: uuid.UUID,
    after: int,
    limit: int,
    kinds: list[str] | None = None,
) -> list[Event]:
    """The user's events (and broadcasts) with seq > `after`, oldest first."""
    query = select(Event).where(col(Event.seq) > after, visible_to(user_id))
    if kinds:
        query = query.where(col(Event.kind).in_(kinds))
    return list(session.exec(query.order_by(col(Event.seq)).limit(limit)).all())


def events_by_seq(session: Session, seqs: list[int]) -> list[Event]:
    return list(session.exec(select(Event).where(col(Event.seq).in_(seqs))).all())


def all_events_after(session: Session, after: int, limit: int) -> list[Event]:
    """Every user's events after `after` (the listener's catch-up after a reconnect)."""
    query = select(Event).where(col(Event.seq) > after).order_by(col(Event.seq)).limit(limit)
    return list(session.exec(query).all())


def last_seq(session: Session) -> int:
    value = session.exec(select(sa.func.max(Event.seq))).one()
    return int(value or 0)


def prune(session: Session, older_than: datetime) -> int:
    """Delete events created before `older_than`; returns how many."""
    result = session.execute(sa.delete(Event).where(col(Event.created_at) < older_than))
    session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def publish_lab_job(session: Session, user_id: uuid.UUID, change: LabJobEvent) -> Event:
    return publish(session, user_id, EventKind.LAB_JOB, _dump(change))
