"""Emergency-stop records and the halt marker that no running cycle can get past.

Rules:
- An emergency stop is one `emergency_stops` row (who, scope, flatten, reason, times, the
  per-order report); it is written before anything is halted and finished with its report.
- The halt marker (`deployment_halts`, one row per deployment) is committed first, before
  the deployment's status changes and without waiting for a running cycle: the cycle holds
  the deployment's row lock (`FOR NO KEY UPDATE`), which an insert that only references the
  row does not wait for.
- Sending and halting serialise on a transaction-scoped advisory lock per deployment
  (`hold_send_lock`): the executor takes it, checks the marker and commits `submitting` in
  one transaction; the stop takes it to insert the marker. So an order is either
  `submitting` before the halt (the stop then treats it as in flight) or never sent.
- A marker whose status change could not be made yet (a cycle held the row) is applied by
  the executor under its own lock, at the start or the end of a cycle (`apply_pending_halt`).
- The marker is removed when the deployment leaves `halted` by an explicit action (activate /
  resume, or stop); a restart changes nothing.
"""

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlmodel import Field, Session, SQLModel

from app.audit import service as audit
from app.events.schemas import DeploymentStatusEvent
from app.events.service import publish_deployment_status

# The advisory-lock namespace (first int4 key) of "sending vs halting one deployment".
SEND_LOCK_NAMESPACE = 0x0E5709


def utcnow() -> datetime:
    return datetime.now(UTC)


class EmergencyStop(SQLModel, table=True):
    __tablename__ = "emergency_stops"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    actor_id: uuid.UUID | None = Field(
        default=None, foreign_key="user.id", ondelete="SET NULL", index=True
    )
    scope: str = Field(max_length=16)  # mine | everyone | deployment
    flatten: bool = False
    reason: str | None = Field(default=None, max_length=500)
    status: str = Field(default="running", max_length=16)  # running | finished
    deployment_ids: list[str] = Field(default_factory=list, sa_type=JSONB)
    report: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    started_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    finished_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class DeploymentHalt(SQLModel, table=True):
    __tablename__ = "deployment_halts"

    deployment_id: uuid.UUID = Field(
        foreign_key="deployed_algorithms.id", ondelete="CASCADE", primary_key=True
    )
    stop_id: uuid.UUID | None = Field(
        default=None, foreign_key="emergency_stops.id", ondelete="SET NULL"
    )
    reason: str = Field(max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


def hold_send_lock(conn: Connection, deployment_id: uuid.UUID) -> None:
    """Take the per-deployment send/halt advisory lock until `conn`'s transaction ends."""
    conn.execute(
        sa.text("SELECT pg_advisory_xact_lock(:ns, hashtext(:d))"),
        {"ns": SEND_LOCK_NAMESPACE, "d": str(deployment_id)},
    )


def halt_reason(conn: Connection, deployment_id: uuid.UUID) -> str | None:
    """The marker's reason when the deployment is being halted (caller holds the send lock)."""
    row = conn.execute(
        sa.text("SELECT reason FROM deployment_halts WHERE deployment_id = :d"),
        {"d": deployment_id},
    ).first()
    return None if row is None else str(row[0])


def mark_halts(
    conn: Connection, deployment_ids: Iterable[uuid.UUID], stop_id: uuid.UUID | None, reason: str
) -> None:
    """Insert (or refresh) the markers, in `conn`'s transaction; lock order is by id."""
    for deployment_id in sorted(set(deployment_ids), key=str):
        hold_send_lock(conn, deployment_id)
        conn.execute(
            sa.text(
                "INSERT INTO deployment_halts (deployment_id, stop_id, reason, created_at) "
                "VALUES (:d, :s, :r, now()) ON CONFLICT (deployment_id) DO UPDATE "
                "SET stop_id = EXCLUDED.stop_id, reason = EXCLUDED.reason, created_at = now()"
            ),
            {"d": deployment_id, "s": stop_id, "r": reason[:500]},
        )


def clear_halt(conn: Connection, deployment_id: uuid.UUID) -> None:
    conn.execute(
        sa.text("DELETE FROM deployment_halts WHERE deployment_id = :d"), {"d": deployment_id}
    )


def apply_pending_halt(conn: Connection, deployment_id: uuid.UUID) -> str | None:
    """Executor only, holding the deployment's row lock: set `halted` (audited, published)
    when a marker asks for it and the status is still a running one. Returns the status it
    replaced, if any."""
    row = conn.execute(
        sa.text(
            "SELECT d.status, d.user_id, h.reason FROM deployed_algorithms d "
            "JOIN deployment_halts h ON h.deployment_id = d.id WHERE d.id = :d"
        ),
        {"d": deployment_id},
    ).first()
    if row is None or row[0] not in _HALTABLE:
        return None
    previous, owner, reason = str(row[0]), uuid.UUID(str(row[1])), str(row[2])
    conn.execute(
        sa.text(
            "UPDATE deployed_algorithms SET status = 'halted', status_reason = :r, "
            "updated_at = now() WHERE id = :d"
        ),
        {"r": reason, "d": deployment_id},
    )
    session = Session(bind=conn)
    audit.record(
        session,
        owner_id=owner,
        actor_id=None,
        action="deployment.halt",
        object_type="deployment",
        object_id=deployment_id,
        before={"status": previous},
        after={"status": "halted", "status_reason": reason, "applied_by": "executor"},
    )
    publish_deployment_status(
        session,
        owner,
        DeploymentStatusEvent(
            deployment_id=deployment_id, status="halted", previous=previous, reason=reason
        ),
    )
    session.flush()
    session.close()
    return previous


_HALTABLE = frozenset({"active", "paused", "reducing"})
