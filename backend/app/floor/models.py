"""The deployment registry: which release runs where, with what money and limits.

Rules:
- A deployment points at one immutable release; its own parameters are the release's
  (copied at deploy time, for the record).
- Money is NUMERIC: capital in AUD with 2 decimals. Allocation fractions are decimal
  strings that sum to at most 1.
- Status: `active` (decides on its schedule) → `paused` (no new orders, positions kept)
  → `active` again, or → `stopped` (final; `stopped_at` set). The safety layer adds
  `reducing` and `halted`. Every change goes to the audit log.
"""

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, Index, Numeric
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class DeploymentMode(StrEnum):
    PAPER = "paper"
    LIVE = "live"


class DeploymentStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    REDUCING = "reducing"
    HALTED = "halted"
    STOPPED = "stopped"


RUNNING_STATUSES = frozenset(
    {
        DeploymentStatus.ACTIVE.value,
        DeploymentStatus.PAUSED.value,
        DeploymentStatus.REDUCING.value,
        DeploymentStatus.HALTED.value,
    }
)


class DeployedAlgorithm(SQLModel, table=True):
    __tablename__ = "deployed_algorithms"
    __table_args__ = (
        Index("ix_deployed_algorithms_user_status", "user_id", "status"),
        Index("ix_deployed_algorithms_release", "release_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    release_id: uuid.UUID = Field(foreign_key="releases.id", ondelete="RESTRICT")
    algorithm_id: uuid.UUID = Field(foreign_key="algorithms.id", ondelete="RESTRICT")
    user_id: uuid.UUID = Field(foreign_key="user.id", ondelete="CASCADE")
    name: str = Field(max_length=100)
    mode: str = Field(max_length=8)
    status: str = Field(default=DeploymentStatus.ACTIVE.value, max_length=16)
    capital: Decimal = Field(sa_type=Numeric(20, 2))
    coins: list[str] = Field(sa_type=JSONB)
    allocation: dict[str, str] = Field(sa_type=JSONB)
    schedule_bars: int = 1
    execution_style: str = Field(max_length=16)
    risk_limits: dict[str, Any] = Field(sa_type=JSONB)
    parameters: dict[str, Any] = Field(sa_type=JSONB)
    acknowledged_real_money: bool = False
    status_reason: str | None = Field(default=None, max_length=500)
    created_by: uuid.UUID | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    deployed_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    stopped_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    # Execution (see app/floor/scheduler.py): the bar the leader marked due, and the last bar
    # a cycle finished on. A deployment is due while due_bar > last_run_bar.
    due_bar: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    last_run_bar: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
