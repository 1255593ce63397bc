"""Tables of the promotion gate: per-user policies, releases and their artefacts.

Rules:
- A release is immutable. Nothing updates a `releases` row after it is inserted; its
  `content_hash` (sha256 over the canonical bundle, see `bundle.py`) names its content, so
  two promotions of the same content by one user give the same release.
- Fitted model state (bytes made by user code inside the sandbox) lives in
  `release_artefacts`, addressed by its sha256. The app process stores and returns these
  bytes but never unpickles or otherwise loads them: only a sandbox child does.
- A release that a deployment uses cannot be deleted (the foreign key of
  `deployed_algorithms.release_id` is RESTRICT, and the route refuses first).
"""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Index, LargeBinary, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class PromotionPolicyRow(SQLModel, table=True):
    """A user's own promotion criteria (absent: the defaults from settings)."""

    __tablename__ = "promotion_policies"

    user_id: uuid.UUID = Field(foreign_key="user.id", ondelete="CASCADE", primary_key=True)
    criteria: dict[str, Any] = Field(sa_type=JSONB)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class Release(SQLModel, table=True):
    """One packaged algorithm: code, parameters, fitted state, libraries, costs, evidence."""

    __tablename__ = "releases"
    __table_args__ = (
        UniqueConstraint("user_id", "content_hash", name="uq_releases_user_hash"),
        Index("ix_releases_user_created", "user_id", "created_at"),
        Index("ix_releases_algorithm", "algorithm_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", ondelete="CASCADE")
    algorithm_id: uuid.UUID = Field(foreign_key="algorithms.id", ondelete="RESTRICT")
    algorithm_version: int
    algorithm_name: str = Field(max_length=100)
    algorithm_type: str = Field(max_length=8)
    class_name: str = Field(max_length=100)
    code: str = Field(sa_type=Text)
    code_hash: str = Field(max_length=64)
    parameters: dict[str, Any] = Field(sa_type=JSONB)
    parameter_schema: dict[str, Any] = Field(sa_type=JSONB)
    # {"execution_style", "fee_rate", "slippage_bps", "min_order_aud"} (rates as strings)
    costs: dict[str, Any] = Field(sa_type=JSONB)
    warmup_bars: int
    libraries: dict[str, str] = Field(sa_type=JSONB)
    # ML: {"start", "end", "models": {coin: sha256}}; rules: None
    training: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
    evidence: dict[str, Any] = Field(sa_type=JSONB)
    checklist: list[dict[str, Any]] = Field(sa_type=JSONB)
    content_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class ReleaseArtefact(SQLModel, table=True):
    """Opaque bytes (a fitted model) addressed by their sha256; see the module rules."""

    __tablename__ = "release_artefacts"

    sha256: str = Field(primary_key=True, max_length=64)
    data: bytes = Field(sa_type=LargeBinary)
    size: int
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
