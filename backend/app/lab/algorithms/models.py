"""Tables of algorithms and their versions, and the API's bodies."""

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator
from sqlalchemy import Column, DateTime, Index, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

MAX_CODE_CHARS = 200_000


def utcnow() -> datetime:
    return datetime.now(UTC)


class AlgorithmType(StrEnum):
    RULE = "rule"
    ML = "ml"
    RL = "rl"


class AlgorithmStatus(StrEnum):
    DRAFT = "draft"
    LAB = "lab"
    DEPLOYABLE = "deployable"
    DEPLOYED = "deployed"
    ARCHIVED = "archived"


class Algorithm(SQLModel, table=True):
    __tablename__ = "algorithms"
    __table_args__ = (
        UniqueConstraint("user_id", "name", name="uq_algorithms_user_name"),
        Index("ix_algorithms_user_updated", "user_id", "updated_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", ondelete="CASCADE")
    name: str = Field(max_length=100)
    description: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))
    type: str = Field(max_length=8)
    parameters: dict[str, Any] = Field(sa_column=Column(JSONB(), nullable=False))
    status: str = Field(default=AlgorithmStatus.DRAFT.value, max_length=16)
    latest_version: int = 1
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class AlgorithmVersion(SQLModel, table=True):
    """One saved state of an algorithm's code; never changed after it is written."""

    __tablename__ = "algorithm_versions"
    __table_args__ = (
        UniqueConstraint("algorithm_id", "version", name="uq_algorithm_versions_version"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    algorithm_id: uuid.UUID = Field(foreign_key="algorithms.id", ondelete="CASCADE")
    version: int
    code: str = Field(sa_column=Column(Text(), nullable=False))
    class_name: str = Field(max_length=100)
    parameter_schema: dict[str, Any] = Field(sa_column=Column(JSONB(), nullable=False))
    code_hash: str = Field(max_length=64)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Description = Annotated[str, StringConstraints(max_length=2000)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CODE_CHARS)]


class AlgorithmCreate(BaseModel):
    """New algorithm from `code`, or from a `template` key (then `code` is the template's)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "MA crossover", "template": "ma_crossover"}]},
    )

    name: Name
    description: Description | None = None
    code: Code | None = None
    template: str | None = None
    parameters: dict[str, Any] | None = None
    status: AlgorithmStatus = AlgorithmStatus.DRAFT

    @model_validator(mode="after")
    def _code_or_template(self) -> "AlgorithmCreate":
        if (self.code is None) == (self.template is None):
            raise ValueError("give either code or a template key")
        return self


class AlgorithmUpdate(BaseModel):
    """Changes; new `code` makes a new version (unless it is the same as the latest)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description | None = None
    code: Code | None = None
    parameters: dict[str, Any] | None = None
    status: AlgorithmStatus | None = None


class AlgorithmPublic(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    type: str
    status: str
    parameters: dict[str, Any]
    latest_version: int
    created_at: datetime
    updated_at: datetime


class LastBacktest(BaseModel):
    id: uuid.UUID
    status: str
    created_at: datetime
    total_return: float | None = None
    sharpe: float | None = None
    max_drawdown: float | None = None


class AlgorithmListItem(AlgorithmPublic):
    last_backtest: LastBacktest | None = None


class AlgorithmDetail(AlgorithmPublic):
    code: str
    class_name: str
    parameter_schema: dict[str, Any]


class AlgorithmsPage(BaseModel):
    data: list[AlgorithmListItem]
    count: int


class VersionSummary(BaseModel):
    version: int
    class_name: str
    code_hash: str
    created_at: datetime


class VersionPublic(VersionSummary):
    code: str
    parameter_schema: dict[str, Any]


class VersionsPage(BaseModel):
    data: list[VersionSummary]
    count: int


class ValidateRequest(BaseModel):
    code: Code


class TemplatePublic(BaseModel):
    key: str
    name: str
    description: str
    type: str
    class_name: str
    source: str
    parameter_schema: dict[str, Any]
