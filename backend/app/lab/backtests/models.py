"""Tables of backtest runs and parameter sweeps."""

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, Index, LargeBinary, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})


class _JobColumns(SQLModel):
    """What backtest runs and sweeps share: owner, algorithm version, data range, state.

    Columns are declared with `sa_type` (not `sa_column`) so each table gets its own copy.
    """

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    algorithm_id: uuid.UUID = Field(foreign_key="algorithms.id", ondelete="CASCADE")
    user_id: uuid.UUID = Field(foreign_key="user.id", ondelete="CASCADE", index=True)
    algorithm_version: int
    coins: list[str] = Field(sa_type=JSONB)
    start_date: datetime = Field(sa_type=DateTime(timezone=True))
    end_date: datetime = Field(sa_type=DateTime(timezone=True))
    settings: dict[str, Any] = Field(sa_type=JSONB)
    status: str = Field(default=RunStatus.QUEUED.value, max_length=16)
    progress: float = 0.0
    stage: str | None = Field(default=None, max_length=64)
    error: str | None = Field(default=None, sa_type=Text)
    attempts: int = 0
    worker_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    started_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    heartbeat_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    finished_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class BacktestRun(_JobColumns, table=True):
    """One backtest of one algorithm version over coins and a date range."""

    __tablename__ = "algorithm_backtest_runs"
    __table_args__ = (
        Index("ix_algorithm_backtest_runs_algorithm_created", "algorithm_id", "created_at"),
        Index("ix_algorithm_backtest_runs_status", "status"),
    )

    label: str | None = Field(default=None, max_length=100)
    parameters: dict[str, Any] = Field(sa_type=JSONB)
    lookahead: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
    results_json: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
    artefacts: bytes | None = Field(default=None, sa_type=LargeBinary)


class ParameterSweep(_JobColumns, table=True):
    """Many parameter sets of one algorithm version, ranked, with an out-of-sample check."""

    __tablename__ = "algorithm_sweeps"
    __table_args__ = (
        Index("ix_algorithm_sweeps_algorithm_created", "algorithm_id", "created_at"),
        Index("ix_algorithm_sweeps_status", "status"),
    )

    space: dict[str, Any] = Field(sa_type=JSONB)
    results_json: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
