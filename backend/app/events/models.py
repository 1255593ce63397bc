"""The event log: every live update (prices, orders, fills, deployment states, P&L, alerts).

Rules:
- `seq` is a bigserial and the only cursor: clients resume and poll with "after seq".
  `publish` takes one transaction-scoped advisory lock before it inserts, so sequence
  numbers are committed in order: once a client has seen seq N, no event <= N can appear
  later. Call `publish` last in a transaction, just before the commit.
- `user_id` is the owner who may see the event; NULL means a broadcast (prices) that every
  signed-in user sees. Rows are only ever inserted (old ones may be pruned by age).
- Payloads are JSON; money travels as decimal strings, never floats.
"""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Index
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class Event(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_user_seq", "user_id", "seq"),
        Index("ix_events_created_at", "created_at"),
    )

    seq: int | None = Field(
        default=None,
        sa_column=Column(BigInteger, primary_key=True, autoincrement=True),
    )
    user_id: uuid.UUID | None = Field(
        default=None, foreign_key="user.id", ondelete="CASCADE", nullable=True
    )
    kind: str = Field(max_length=40)
    payload: dict[str, Any] = Field(sa_type=JSONB)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
