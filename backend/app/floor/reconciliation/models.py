"""Reconciliation records: each run, each break found, and each account's baseline.

Rules:
- A break is recorded once per (user, key): a later run that sees the same difference
  only moves `last_seen_at`; once resolved, the same key is never raised again.
- A break is `open` until resolved by a user (`adopt`, `ignore` with a note, `close`) or
  by the service (`cleared`: no longer observed). `blocking` breaks stop every live
  deployment of the account from placing orders while open.
- Amounts are NUMERIC at full precision (exact Decimal); every time is UTC.
- The account row keeps the expected-balance baseline: Coinspot's balances and our
  explained balances at the first complete check, plus the outside changes adopted since.
"""

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, Index, Numeric, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class BreakKind(StrEnum):
    UNKNOWN_ORDER = "unknown_order"  # our order still unknown after the grace period
    FILLED_THOUGHT_OPEN = "filled_thought_open"  # ours open here, filled at Coinspot
    MISSED_FILL = "missed_fill"  # a fill of one of our settled orders we never booked
    EXTERNAL_TRADE = "external_trade"  # a fill at Coinspot matching none of our orders
    EXTERNAL_ORDER = "external_order"  # an open order at Coinspot we did not place
    OPEN_ORDER_MISSING = "open_order_missing"  # ours open here, gone at Coinspot, no fill
    BALANCE_CHANGED = "balance_changed"  # a balance moved by nothing we know of


FILL_KINDS = frozenset(
    {BreakKind.FILLED_THOUGHT_OPEN, BreakKind.MISSED_FILL, BreakKind.EXTERNAL_TRADE}
)


class BreakStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class BreakAction(StrEnum):
    ADOPT = "adopt"
    IGNORE = "ignore"
    CLOSE = "close"
    CLEARED = "cleared"


class ReconciliationRun(SQLModel, table=True):
    __tablename__ = "reconciliation_runs"
    __table_args__ = (Index("ix_reconciliation_runs_user_started", "user_id", "started_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", ondelete="CASCADE")
    trigger: str = Field(max_length=16)
    node: str = Field(max_length=80)
    # running | clean | breaks | deferred | failed
    outcome: str = Field(default="running", max_length=16)
    counts: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    error: str | None = Field(default=None, sa_type=Text)
    started_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    finished_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class ReconciliationBreak(SQLModel, table=True):
    __tablename__ = "reconciliation_breaks"
    __table_args__ = (
        UniqueConstraint("user_id", "key", name="uq_reconciliation_breaks_user_key"),
        Index("ix_reconciliation_breaks_user_status", "user_id", "status"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", ondelete="CASCADE")
    key: str = Field(max_length=300)
    kind: str = Field(max_length=32)
    coin: str | None = Field(default=None, max_length=20)
    deployment_id: uuid.UUID | None = Field(
        default=None, foreign_key="deployed_algorithms.id", ondelete="SET NULL"
    )
    order_id: uuid.UUID | None = Field(default=None, foreign_key="orders.id", ondelete="SET NULL")
    ours: Decimal | None = Field(default=None, sa_type=Numeric())
    theirs: Decimal | None = Field(default=None, sa_type=Numeric())
    message: str = Field(max_length=500)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    blocking: bool = True
    status: str = Field(default=BreakStatus.OPEN.value, max_length=16)
    first_run_id: uuid.UUID | None = Field(
        default=None, foreign_key="reconciliation_runs.id", ondelete="SET NULL"
    )
    first_seen_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    resolution_action: str | None = Field(default=None, max_length=16)
    resolution_note: str | None = Field(default=None, max_length=1000)
    resolved_by: uuid.UUID | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    resolved_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class ReconciliationAccount(SQLModel, table=True):
    """The expected-balance baseline of one Coinspot account (one user's keys)."""

    __tablename__ = "reconciliation_accounts"

    user_id: uuid.UUID = Field(foreign_key="user.id", ondelete="CASCADE", primary_key=True)
    # {coin: decimal string}: Coinspot's balances and our explained balances at baseline.
    baseline_exchange: dict[str, str] = Field(default_factory=dict, sa_type=JSONB)
    baseline_explained: dict[str, str] = Field(default_factory=dict, sa_type=JSONB)
    # {coin: decimal string}: outside changes adopted since the baseline.
    adjustments: dict[str, str] = Field(default_factory=dict, sa_type=JSONB)
    # None until the first check that could compare every balance (no order in flight).
    baseline_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    # Exchange fills are read from here (minus an overlap) on the next run.
    fills_checked_until: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
