"""Trading states of deployments and accounts, and what a breach writes.

Rules:
- The account (`floor_accounts`, one row per user, created on first use) holds the
  account's limits and its state: `active`, `reducing` or `halted`, with the reason and
  when it changed. It governs the user's live deployments (they share one Coinspot
  account); paper deployments each trade their own sleeve and answer only to their own
  limits and state. Both survive restarts: they are rows, read on every order.
- A breach with an escalating action moves the deployment (or the account) and records,
  in one short transaction: the audit row (actor: none, the risk engine), the alert
  (`limit_breach`, grouped per deployment/account and limit) and the events
  (`risk.breach` with the numbers, and `deployment.status` / `account.status` when the
  state moved). A `refuse` breach records the same, without the state change.
- A deployment's row is locked by its running cycle (`executor.deployment_lock`): its
  status is written on that cycle's connection (`bind_cycle`), so it commits with the
  cycle; outside a cycle it is written directly.
- Resuming (`resume_account`) is an explicit, audited action of the user.
"""

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from fastapi import Request
from sqlalchemy import DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field, Session, SQLModel, select

from app.alerts.schemas import AlertKind, Severity
from app.alerts.service import raise_alert
from app.audit import service as audit
from app.events.schemas import AccountStatusEvent, DeploymentStatusEvent, RiskBreachEvent
from app.events.service import (
    publish_account_status,
    publish_deployment_status,
    publish_risk_breach,
)
from app.floor.brokers import OrderRequest
from app.floor.models import DeployedAlgorithm
from app.floor.risk.limits import ACTIVE, HALTED, Breach, escalates
from app.floor.schemas import AccountLimits

logger = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class FloorAccount(SQLModel, table=True):
    __tablename__ = "floor_accounts"

    user_id: uuid.UUID = Field(foreign_key="user.id", ondelete="CASCADE", primary_key=True)
    status: str = Field(default=ACTIVE, max_length=16)
    status_reason: str | None = Field(default=None, max_length=500)
    limits: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    status_changed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


_cycle_conn: ContextVar[Connection | None] = ContextVar("risk_cycle_conn", default=None)


@contextmanager
def bind_cycle(conn: Connection) -> Iterator[None]:
    """Within a cycle: write the deployment's status on the connection holding its lock."""
    token = _cycle_conn.set(conn)
    try:
        yield
    finally:
        _cycle_conn.reset(token)


def account(session: Session, user_id: uuid.UUID, *, lock: bool = False) -> FloorAccount:
    """The user's account row, created (active, no limits) when missing."""
    session.execute(
        sa.text(
            "INSERT INTO floor_accounts (user_id, status, limits, updated_at) "
            "VALUES (:u, 'active', '{}', now()) ON CONFLICT DO NOTHING"
        ),
        {"u": user_id},
    )
    query = select(FloorAccount).where(FloorAccount.user_id == user_id)
    if lock:
        query = query.with_for_update()
    return session.exec(query).one()


def account_status(conn: Connection, user_id: uuid.UUID) -> tuple[str, dict[str, Any]]:
    """(state, stored limits) without creating the row."""
    row = conn.execute(
        sa.text("SELECT status, limits FROM floor_accounts WHERE user_id = :u"), {"u": user_id}
    ).first()
    return (ACTIVE, {}) if row is None else (str(row[0]), dict(row[1] or {}))


def _set_deployment_status(db: Engine, deployment_id: uuid.UUID, status: str, reason: str) -> None:
    statement = sa.text(
        "UPDATE deployed_algorithms SET status = :s, status_reason = :r, updated_at = now() "
        "WHERE id = :id AND status IN ('active', 'reducing')"
    )
    params = {"s": status, "r": reason[:500], "id": deployment_id}
    conn = _cycle_conn.get()
    if conn is not None:
        conn.execute(statement, params)
        return
    with db.begin() as own:
        own.execute(statement, params)


def record_breach(
    db: Engine, deployment: DeployedAlgorithm, request: OrderRequest, breach: Breach
) -> str:
    """Apply `breach` (see the module rules); returns the state after it."""
    reason = f"risk: {breach.message}"
    with Session(db) as session:
        if breach.scope == "account":
            row = account(session, deployment.user_id, lock=True)
            before = row.status
            after = breach.action if escalates(before, breach.action) else before
            if after != before:
                row.status, row.status_reason = after, reason[:500]
                row.status_changed_at = row.updated_at = utcnow()
                session.add(row)
            object_type, object_id = "floor_account", deployment.user_id
        else:
            before = deployment.status
            after = breach.action if escalates(before, breach.action) else before
            if after != before:
                _set_deployment_status(db, deployment.id, after, reason)
                deployment.status, deployment.status_reason = after, reason[:500]
            object_type, object_id = "deployment", deployment.id
        numbers = {k: str(v) for k, v in breach.figures.items()}
        audit.record(
            session,
            owner_id=deployment.user_id,
            actor_id=None,
            action=f"{object_type}.risk_breach",
            object_type=object_type,
            object_id=object_id,
            before={"status": before},
            after={
                "status": after,
                "limit": breach.limit,
                "value": breach.value,
                "threshold": breach.threshold,
                "deployment_id": deployment.id,
                "figures": numbers,
            },
        )
        raise_alert(
            session,
            deployment.user_id,
            AlertKind.LIMIT_BREACH,
            f"{breach.scope}:{object_id}:{breach.limit}",
            f"{deployment.name}: {breach.message}"
            + (f" — {breach.scope} is now {after}" if after != before else ""),
            {
                "scope": breach.scope,
                "deployment_id": str(deployment.id),
                "limit": breach.limit,
                "value": str(breach.value),
                "threshold": str(breach.threshold),
                "action": breach.action,
                "status": after,
            },
            severity=Severity.CRITICAL if after == HALTED else Severity.WARNING,
        )
        publish_risk_breach(
            session,
            deployment.user_id,
            RiskBreachEvent(
                scope=breach.scope,
                deployment_id=deployment.id,
                limit=breach.limit,
                action=breach.action,
                value=breach.value,
                threshold=breach.threshold,
                coin=request.coin,
                side=request.side,
                notional=request.notional,
                state_before=before,
                state_after=after,
                message=breach.message,
                figures=numbers,
            ),
        )
        if after != before and breach.scope == "account":
            publish_account_status(
                session,
                deployment.user_id,
                AccountStatusEvent(status=after, previous=before, reason=reason),
            )
        elif after != before:
            publish_deployment_status(
                session,
                deployment.user_id,
                DeploymentStatusEvent(
                    deployment_id=deployment.id, status=after, previous=before, reason=reason
                ),
            )
        session.commit()
    logger.warning(
        "risk limit breached",
        extra={
            "deployment": str(deployment.id),
            "scope": breach.scope,
            "limit": breach.limit,
            "value": str(breach.value),
            "threshold": str(breach.threshold),
            "coin": request.coin,
            "state": after,
        },
    )
    return after


class AccountConflictError(ValueError):
    pass


def update_account_limits(
    session: Session, user_id: uuid.UUID, limits: AccountLimits, http: Request | None
) -> FloorAccount:
    row = account(session, user_id, lock=True)
    before = dict(row.limits)
    row.limits = limits.model_dump(mode="json")
    row.updated_at = utcnow()
    session.add(row)
    audit.record(
        session,
        owner_id=user_id,
        actor_id=user_id,
        action="floor_account.limits_update",
        object_type="floor_account",
        object_id=user_id,
        before={"limits": before},
        after={"limits": row.limits},
        request=http,
    )
    session.commit()
    session.refresh(row)
    return row


def resume_account(
    session: Session, user_id: uuid.UUID, reason: str | None, http: Request | None
) -> FloorAccount:
    """reducing | halted -> active (409 when already active)."""
    row = account(session, user_id, lock=True)
    if row.status == ACTIVE:
        session.rollback()
        raise AccountConflictError("the account is active already")
    before = {"status": row.status, "status_reason": row.status_reason}
    row.status, row.status_reason = ACTIVE, reason
    row.status_changed_at = row.updated_at = utcnow()
    session.add(row)
    audit.record(
        session,
        owner_id=user_id,
        actor_id=user_id,
        action="floor_account.resume",
        object_type="floor_account",
        object_id=user_id,
        before=before,
        after={"status": ACTIVE, "status_reason": reason},
        request=http,
    )
    publish_account_status(
        session,
        user_id,
        AccountStatusEvent(status=ACTIVE, previous=before["status"], reason=reason),
    )
    session.commit()
    session.refresh(row)
    return row
