"""Alert rules (one row per user) and the alerts raised for them.

Rules:
- A user without a rules row has the default rules (see schemas.AlertRules).
- The webhook secret is stored only as Fernet ciphertext bound to its owner and column
  (`app.core.crypto`); the API shows whether one is set and its last 4 characters.
- An alert groups its repeats: `count` says how often it was raised between `first_at` and
  `last_at`; only the first of a group is delivered by email or webhook.
- `deliveries` records, per channel, the outcome of the delivery (status, attempts, error).
"""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Index, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class AlertRulesRow(SQLModel, table=True):
    __tablename__ = "alert_rules"

    user_id: uuid.UUID = Field(foreign_key="user.id", ondelete="CASCADE", primary_key=True)
    rules: dict[str, Any] = Field(sa_type=JSONB)
    email_to: str | None = Field(default=None, max_length=255)
    webhook_url: str | None = Field(default=None, max_length=2000)
    webhook_secret_encrypted: str | None = Field(default=None, sa_type=Text)
    webhook_secret_hint: str | None = Field(default=None, max_length=4)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class Alert(SQLModel, table=True):
    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_user_last", "user_id", "last_at"),
        Index("ix_alerts_group", "user_id", "kind", "key", "last_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", ondelete="CASCADE")
    kind: str = Field(max_length=32)
    key: str = Field(max_length=200)
    severity: str = Field(max_length=16)
    message: str = Field(sa_type=Text)
    data: dict[str, Any] = Field(sa_type=JSONB)
    count: int = 1
    first_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    last_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    read_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    deliveries: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
