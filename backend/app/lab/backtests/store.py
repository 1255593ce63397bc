"""State changes of queued jobs (backtest runs and sweeps), each one short transaction.

Claiming uses ``FOR UPDATE SKIP LOCKED`` so that several workers (threads or processes) never
take the same job. A job is `running` only while a worker heartbeats it; one whose heartbeat
is older than the stale limit was left by a crashed process and is queued again (or failed
once it has been tried too often), so no queued or running job is lost.

Every status change (claimed, finished, failed, cancelled, queued again) publishes a
`lab.job` event to the job's owner in the transaction that makes it, so a page or client
waiting for a job hears of it when it commits, not at its next poll.

A job's finishing write (its results and artefacts, megabytes for a long run) commits with
``synchronous_commit = off`` for that transaction only: it returns before the WAL reaches
the disk (PostgreSQL flushes it within a few hundred milliseconds). A server crash in that
window loses only the finish, never consistency: the job is still `running`, its heartbeat
goes stale and it is queued again and recomputed (runs are deterministic). This is Lab
bookkeeping; nothing on the Floor commits this way.
"""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.core.db import engine
from app.events.schemas import LabJobEvent
from app.events.service import publish_lab_job
from app.lab.backtests.models import BacktestRun, ParameterSweep, RunStatus

JobModel = type[BacktestRun] | type[ParameterSweep]
JOB_MODELS: tuple[type[BacktestRun], type[ParameterSweep]] = (BacktestRun, ParameterSweep)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _announce(session: Session, model: JobModel, rows: Any) -> None:
    """A `lab.job` event per changed job; `rows` are (id, user_id, algorithm_id, status,
    stage) as the UPDATE returned them."""
    job = "backtest" if model is BacktestRun else "sweep"
    for job_id, user_id, algorithm_id, status, stage in rows:
        change = LabJobEvent(
            job=job, job_id=job_id, algorithm_id=algorithm_id, status=status, stage=stage
        )
        publish_lab_job(session, user_id, change)


def _returning(model: JobModel) -> tuple[Any, ...]:
    return (model.id, model.user_id, model.algorithm_id, model.status, model.stage)


def claim_next(model: JobModel, worker_id: str) -> uuid.UUID | None:
    """Take the oldest queued job of this kind, or None."""
    with Session(engine) as session:
        statement = (
            select(model.id)
            .where(model.status == RunStatus.QUEUED.value)
            .order_by(col(model.created_at))
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        job_id = session.exec(statement).first()
        if job_id is None:
            return None
        now = utcnow()
        result = session.execute(
            sa.update(model)
            .where(col(model.id) == job_id)
            .values(
                status=RunStatus.RUNNING.value,
                worker_id=worker_id,
                started_at=now,
                heartbeat_at=now,
                attempts=model.attempts + 1,
                progress=0.0,
                stage="starting",
                error=None,
            )
            .returning(*_returning(model))
        )
        _announce(session, model, result.all())
        session.commit()
        return job_id


def report_progress(
    model: JobModel, job_id: uuid.UUID, worker_id: str, progress: float, stage: str
) -> bool:
    """Record progress; False when the job is no longer ours to run (cancelled, taken over)."""
    with Session(engine) as session:
        result = session.execute(
            sa.update(model)
            .where(
                col(model.id) == job_id,
                col(model.status) == RunStatus.RUNNING.value,
                col(model.worker_id) == worker_id,
            )
            .values(
                progress=round(min(max(progress, 0.0), 1.0), 4), stage=stage, heartbeat_at=utcnow()
            )
        )
        session.commit()
        return bool(result.rowcount)  # type: ignore[attr-defined]


def heartbeat(worker_id: str) -> None:
    with Session(engine) as session:
        for model in JOB_MODELS:
            session.execute(
                sa.update(model)
                .where(
                    col(model.status) == RunStatus.RUNNING.value, col(model.worker_id) == worker_id
                )
                .values(heartbeat_at=utcnow())
            )
        session.commit()


def finish(model: JobModel, job_id: uuid.UUID, worker_id: str, **values: Any) -> bool:
    """Store the outcome of a run that is still ours; False when it was cancelled meanwhile."""
    with Session(engine) as session:
        session.execute(sa.text("SET LOCAL synchronous_commit = off"))  # see the module's rules
        result = session.execute(
            sa.update(model)
            .where(
                col(model.id) == job_id,
                col(model.status) == RunStatus.RUNNING.value,
                col(model.worker_id) == worker_id,
            )
            .values(finished_at=utcnow(), heartbeat_at=utcnow(), **values)
            .returning(*_returning(model))
        )
        changed = result.all()
        _announce(session, model, changed)
        session.commit()
        return bool(changed)


def is_running_here(model: JobModel, job_id: uuid.UUID, worker_id: str) -> bool:
    with Session(engine) as session:
        row = session.exec(select(model.status, model.worker_id).where(model.id == job_id)).first()
    return row is not None and row[0] == RunStatus.RUNNING.value and row[1] == worker_id


def cancel(model: JobModel, job_id: uuid.UUID) -> str | None:
    """Cancel a queued or running job; returns its status afterwards (None: no such job)."""
    with Session(engine) as session:
        result = session.execute(
            sa.update(model)
            .where(
                col(model.id) == job_id,
                col(model.status).in_([RunStatus.QUEUED.value, RunStatus.RUNNING.value]),
            )
            .values(
                status=RunStatus.CANCELLED.value,
                finished_at=utcnow(),
                stage="cancelled",
                error="cancelled by the user",
            )
            .returning(*_returning(model))
        )
        _announce(session, model, result.all())
        session.commit()
        row = session.exec(select(model.status).where(model.id == job_id)).first()
        return row


def recover_stale(stale_after: timedelta, max_attempts: int) -> list[tuple[str, uuid.UUID, str]]:
    """Re-queue (or fail, after `max_attempts`) running jobs whose worker stopped heartbeating."""
    limit = utcnow() - stale_after
    changed: list[tuple[str, uuid.UUID, str]] = []
    with Session(engine) as session:
        for model in JOB_MODELS:
            stale = session.exec(
                select(model)
                .where(
                    col(model.status) == RunStatus.RUNNING.value,
                    sa.or_(col(model.heartbeat_at).is_(None), col(model.heartbeat_at) < limit),
                )
                .with_for_update(skip_locked=True)
            ).all()
            for job in stale:
                if job.attempts >= max_attempts:
                    job.status = RunStatus.FAILED.value
                    job.error = (
                        f"the server stopped while running this job {job.attempts} times; "
                        "it was not retried again"
                    )
                    job.finished_at = utcnow()
                    job.stage = "failed"
                else:
                    job.status = RunStatus.QUEUED.value
                    job.stage = "re-queued after an interrupted run"
                    job.progress = 0.0
                job.worker_id = None
                session.add(job)
                changed.append((model.__tablename__, job.id, job.status))
            _announce(
                session,
                model,
                [(j.id, j.user_id, j.algorithm_id, j.status, j.stage) for j in stale],
            )
        session.commit()
    return changed


def requeue_own(worker_id: str) -> int:
    """On a clean shutdown, hand this worker's running jobs back to the queue."""
    count = 0
    with Session(engine) as session:
        for model in JOB_MODELS:
            result = session.execute(
                sa.update(model)
                .where(
                    col(model.status) == RunStatus.RUNNING.value, col(model.worker_id) == worker_id
                )
                .values(
                    status=RunStatus.QUEUED.value,
                    worker_id=None,
                    progress=0.0,
                    stage="re-queued at server shutdown",
                    attempts=sa.func.greatest(model.attempts - 1, 0),
                )
                .returning(*_returning(model))
            )
            requeued = result.all()
            _announce(session, model, requeued)
            count += len(requeued)
        session.commit()
    return count
