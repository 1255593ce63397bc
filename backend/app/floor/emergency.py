"""The emergency stop: halt everything in scope first, then cancel, optionally flatten,
record and report. Also deactivate-with-flatten, which winds one deployment down the same way.

Rules (order of operations; DEVELOPMENT.md "Emergency stop"):
1. Halt first. One transaction records the stop and commits a halt marker for every running
   deployment in scope (app/floor/halts.py): from then on no cycle can send an order for
   them, running or not, and a restart changes nothing. Then each status moves to `halted`
   through `deployments.change_status` (audited, published), waiting at most
   FLOOR_ESTOP_LOCK_WAIT_SECONDS for a running cycle; a status a cycle still held is applied
   by that cycle when it ends (or by the wind-down once it holds the deployment).
2. Then every deployment in scope is wound down side by side (app/floor/winddown.py): its
   open orders cancelled, its positions optionally flattened; one deployment's or one coin's
   trouble never blocks the others, and all of it ends in the report.
3. The stop is recorded: its row with the report, an audit entry, a `floor.emergency_stop`
   event and an alert (kind `limit_breach`, critical) for each affected user.
- Scope `mine` = the caller's deployments; `everyone` needs a superuser (the route says 403).
- Resuming is a separate, explicit action (activate / resume), which removes the marker.
- Deactivate with flatten: marker, wind-down, then `stopped` only when every action was
  confirmed; otherwise the deployment stays `halted` (its unknown orders still need the
  resolver, which runs only for deployments that are not stopped) and the report says why.
"""

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Literal

import sqlalchemy as sa
from fastapi import Request
from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from app.alerts.schemas import AlertKind, Severity
from app.alerts.service import raise_alert
from app.audit import service as audit
from app.core.config import settings
from app.events import service as events
from app.events.schemas import EventKind
from app.floor import deployments
from app.floor.executor import BrokerFactory
from app.floor.halts import EmergencyStop, mark_halts
from app.floor.models import RUNNING_STATUSES, DeployedAlgorithm
from app.floor.winddown import OrderAction, not_confirmed, wind_down

logger = logging.getLogger(__name__)
Scope = Literal["mine", "everyone"]


class DeploymentHalted(BaseModel):
    deployment_id: uuid.UUID
    user_id: uuid.UUID
    name: str
    mode: str
    previous_status: str
    status: str
    detail: str


class EmergencyStopReport(BaseModel):
    stop_id: uuid.UUID
    scope: str
    flatten: bool
    reason: str | None
    started_at: datetime
    finished_at: datetime
    deployments: list[DeploymentHalted]
    actions: list[OrderAction]
    confirmed: int
    unconfirmed: int
    failed: int
    complete: bool
    not_confirmed: list[str]
    summary: str


class FlattenReport(BaseModel):
    actions: list[OrderAction]
    complete: bool
    not_confirmed: list[str]
    summary: str


def in_scope(session: Session, user_id: uuid.UUID | None) -> list[DeployedAlgorithm]:
    """Running deployments of `user_id` (everyone's when None)."""
    query = select(DeployedAlgorithm).where(
        col(DeployedAlgorithm.status).in_(sorted(RUNNING_STATUSES))
    )
    if user_id is not None:
        query = query.where(col(DeployedAlgorithm.user_id) == user_id)
    rows = list(session.exec(query.order_by(col(DeployedAlgorithm.id))).all())
    session.expunge_all()
    return rows


def halt_one(
    engine: Engine,
    deployment: DeployedAlgorithm,
    reason: str,
    actor_id: uuid.UUID | None,
    request: Request | None,
    wait: float,
) -> tuple[str, str]:
    """`halted` through the registry (audited), waiting at most `wait` s for the row lock.
    Returns (status, detail)."""
    with Session(engine) as session:
        session.execute(sa.text(f"SET LOCAL lock_timeout = '{max(int(wait * 1000), 1)}ms'"))
        try:
            # The row lock first, so the status read next is the one after any running cycle.
            session.execute(
                sa.text("SELECT id FROM deployed_algorithms WHERE id = :id FOR NO KEY UPDATE"),
                {"id": deployment.id},
            )
            row = deployments.change_status(
                session, deployment.user_id, deployment.id, "halt", reason, actor_id, request
            )
            return row.status, "halted"
        except OperationalError:
            session.rollback()
            return deployment.status, (
                "halt marker set (no order can be sent); a running cycle held the deployment, "
                "its status changes when that cycle ends"
            )
        except deployments.ConflictError as exc:
            session.rollback()
            current = session.get(DeployedAlgorithm, deployment.id)
            if current is not None and current.status == "halted":
                return "halted", "halted (by its running cycle, as that cycle ended)"
            return (current.status if current else "missing"), str(exc)


async def halt_all(
    engine: Engine,
    rows: list[DeployedAlgorithm],
    stop_id: uuid.UUID,
    reason: str,
    actor_id: uuid.UUID | None,
    request: Request | None,
) -> list[DeploymentHalted]:
    """Step 1: markers in one transaction, then each status (see the module rules)."""
    with engine.begin() as conn:
        mark_halts(conn, [r.id for r in rows], stop_id, reason)
    wait = settings.FLOOR_ESTOP_LOCK_WAIT_SECONDS

    async def one(row: DeployedAlgorithm) -> DeploymentHalted:
        if row.status == "halted":
            status, detail = "halted", "already halted"
        else:
            status, detail = await asyncio.to_thread(
                halt_one, engine, row, reason, actor_id, request, wait
            )
        return DeploymentHalted(
            deployment_id=row.id,
            user_id=row.user_id,
            name=row.name,
            mode=row.mode,
            previous_status=row.status,
            status=status,
            detail=detail,
        )

    return list(await asyncio.gather(*(one(r) for r in rows)))


def _summary(halted: list[DeploymentHalted], actions: list[OrderAction]) -> str:
    count = {
        o: sum(a.outcome == o for a in actions) for o in ("confirmed", "unconfirmed", "failed")
    }
    cancels = sum(a.action == "cancel" and a.outcome == "confirmed" for a in actions)
    sold = sum(a.action == "flatten" and a.outcome == "confirmed" for a in actions)
    text = (
        f"{sum(h.status == 'halted' for h in halted)} of {len(halted)} deployments halted; "
        f"{cancels} orders cancelled, {sold} positions flat"
    )
    if count["unconfirmed"] or count["failed"]:
        return (
            f"{text}; NOT CONFIRMED: {count['unconfirmed']} unconfirmed and {count['failed']} "
            "failed (see not_confirmed)"
        )
    return f"{text}; everything confirmed"


def _record(
    engine: Engine,
    report: EmergencyStopReport,
    actor_id: uuid.UUID,
    request: Request | None,
) -> None:
    with Session(engine) as session:
        row = session.get(EmergencyStop, report.stop_id)
        assert row is not None
        row.status = "finished"
        row.finished_at = report.finished_at
        row.report = report.model_dump(mode="json")
        session.add(row)
        audit.record(
            session,
            owner_id=actor_id,
            actor_id=actor_id,
            action="floor.emergency_stop",
            object_type="emergency_stop",
            object_id=report.stop_id,
            after={
                "scope": report.scope,
                "flatten": report.flatten,
                "reason": report.reason,
                "deployments": [str(h.deployment_id) for h in report.deployments],
                "summary": report.summary,
                "not_confirmed": report.not_confirmed,
            },
            request=request,
        )
        users = {h.user_id for h in report.deployments} | {actor_id}
        for user_id in sorted(users, key=str):
            mine = [h for h in report.deployments if h.user_id == user_id]
            ids = {h.deployment_id for h in mine}
            lines = [a for a in report.actions if a.deployment_id in ids]
            if mine:
                raise_alert(
                    session,
                    user_id,
                    AlertKind.LIMIT_BREACH,
                    f"emergency_stop:{report.stop_id}",
                    f"Emergency stop: {len(mine)} deployment(s) halted; "
                    + _summary(mine, lines).split("; ", 1)[1],
                    {"stop_id": str(report.stop_id), "not_confirmed": not_confirmed(lines)},
                    severity=Severity.CRITICAL,
                )
            events.publish(
                session,
                user_id,
                EventKind.EMERGENCY_STOP,
                {
                    "stop_id": report.stop_id,
                    "scope": report.scope,
                    "flatten": report.flatten,
                    "actor_id": actor_id,
                    "deployments": [h.deployment_id for h in mine],
                    "summary": _summary(mine, lines),
                    "not_confirmed": not_confirmed(lines),
                },
            )
        session.commit()


async def emergency_stop(
    *,
    actor_id: uuid.UUID,
    scope: Scope,
    flatten: bool,
    reason: str | None,
    broker_factory: BrokerFactory,
    request: Request | None = None,
    engine: Engine,
) -> EmergencyStopReport:
    """Halt, cancel, optionally flatten, record, report (see the module rules)."""
    clock = time.perf_counter()
    started = datetime.now(UTC)
    why = f"emergency stop: {reason}" if reason else "emergency stop"
    with Session(engine) as session:
        rows = in_scope(session, actor_id if scope == "mine" else None)
        stop = EmergencyStop(
            actor_id=actor_id,
            scope=scope,
            flatten=flatten,
            reason=reason,
            deployment_ids=[str(r.id) for r in rows],
            started_at=started,
        )
        session.add(stop)
        session.commit()
        stop_id = stop.id
    halted = await halt_all(engine, rows, stop_id, why[:500], actor_id, request)
    logger.warning(
        "emergency stop: halted",
        extra={
            "stop": str(stop_id),
            "deployments": len(rows),
            "ms": round((time.perf_counter() - clock) * 1000, 1),
        },
    )
    results = await asyncio.gather(
        *(wind_down(engine, broker_factory, r, flatten=flatten, why=why) for r in rows)
    )
    actions = [a for part in results for a in part]
    for h in halted:  # a status a cycle held while we halted: it is ours to set now
        if h.status != "halted":
            h.status, h.detail = await asyncio.to_thread(
                _recheck, engine, h, why[:500], actor_id, request
            )
    report = EmergencyStopReport(
        stop_id=stop_id,
        scope=scope,
        flatten=flatten,
        reason=reason,
        started_at=started,
        finished_at=datetime.now(UTC),
        deployments=halted,
        actions=actions,
        confirmed=sum(a.outcome == "confirmed" for a in actions),
        unconfirmed=sum(a.outcome == "unconfirmed" for a in actions),
        failed=sum(a.outcome == "failed" for a in actions),
        complete=all(a.outcome == "confirmed" for a in actions)
        and all(h.status == "halted" for h in halted),
        not_confirmed=not_confirmed(actions),
        summary=_summary(halted, actions),
    )
    _record(engine, report, actor_id, request)
    logger.warning(
        "emergency stop finished",
        extra={
            "stop": str(stop_id),
            "scope": scope,
            "deployments": len(rows),
            "confirmed": report.confirmed,
            "unconfirmed": report.unconfirmed,
            "failed": report.failed,
            "ms": round((time.perf_counter() - clock) * 1000, 1),
        },
    )
    return report


def _recheck(
    engine: Engine,
    halted: DeploymentHalted,
    reason: str,
    actor_id: uuid.UUID,
    request: Request | None,
) -> tuple[str, str]:
    with Session(engine) as session:
        row = session.get(DeployedAlgorithm, halted.deployment_id)
        if row is not None:
            session.expunge(row)
    if row is None:
        return "missing", "the deployment was deleted"
    if row.status == "halted":
        return "halted", "halted (applied under the deployment's lock after its cycle ended)"
    if row.status not in RUNNING_STATUSES:
        return row.status, f"{row.status}: not halted"
    return halt_one(engine, row, reason, actor_id, request, 1.0)


async def deactivate_with_flatten(
    session: Session,
    user_id: uuid.UUID,
    deployment_id: uuid.UUID,
    reason: str | None,
    broker_factory: BrokerFactory,
    request: Request | None,
    engine: Engine,
) -> tuple[DeployedAlgorithm, FlattenReport]:
    """Mark, wind down (cancel + flatten), then stop when all of it was confirmed."""
    row = deployments.get(session, user_id, deployment_id)
    if row.status not in RUNNING_STATUSES:
        raise deployments.ConflictError(f"a {row.status} deployment cannot stop")
    session.expunge(row)
    session.rollback()
    why = f"deactivate: {reason}" if reason else "deactivate"
    with engine.begin() as conn:
        mark_halts(conn, [row.id], None, f"{why}: winding down"[:500])
    actions = await wind_down(engine, broker_factory, row, flatten=True, why=why)
    lines = not_confirmed(actions)
    complete = not lines
    if complete:
        final = deployments.change_status(
            session, user_id, deployment_id, "stop", reason, user_id, request
        )
    else:
        status, _ = await asyncio.to_thread(
            halt_one,
            engine,
            row,
            f"{why}: not stopped, {len(lines)} action(s) not confirmed"[:500],
            user_id,
            request,
            settings.FLOOR_ESTOP_LOCK_WAIT_SECONDS,
        )
        session.expire_all()
        final = deployments.get(session, user_id, deployment_id)
    report = FlattenReport(
        actions=actions,
        complete=complete,
        not_confirmed=lines,
        summary=(
            f"stopped: {len(actions)} action(s) confirmed"
            if complete
            else f"left {final.status}, not stopped: {len(lines)} action(s) not confirmed"
        ),
    )
    audit.record(
        session,
        owner_id=user_id,
        actor_id=user_id,
        action="deployment.deactivate_flatten",
        object_type="deployment",
        object_id=deployment_id,
        after=report.model_dump(mode="json"),
        request=request,
    )
    session.commit()
    session.refresh(final)
    return final, report
