"""Bodies of the promotion and release routes."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from app.lab.backtests.schemas import _coins


class ExecutionStyle(StrEnum):
    """How the Floor will trade: Coinspot's instant buy/sell (~1 % fee incl. GST) or
    price-bearing order-book orders (0.1 %)."""

    INSTANT = "instant"
    ORDERBOOK = "orderbook"


class Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backtest_run_ids: list[uuid.UUID] = Field(
        min_length=1,
        max_length=20,
        description="Backtests of this version and parameters; the first is the main evidence",
    )
    sweep_id: uuid.UUID | None = Field(
        default=None, description="A sweep whose test window gives the out-of-sample result"
    )


class TrainingWindow(BaseModel):
    """ML/RL algorithms: the window the release's model is fitted on, in the sandbox."""

    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime
    end: AwareDatetime
    coins: Annotated[list[str], Field(min_length=1, max_length=20)] | None = Field(
        default=None, description="Coins to fit a model for (default: the evidence's coins)"
    )

    @field_validator("coins")
    @classmethod
    def _coins(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _coins(value)

    @model_validator(mode="after")
    def _order(self) -> "TrainingWindow":
        if self.end <= self.start:
            raise ValueError("training.end must be after training.start")
        return self


class PromoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, ge=1, le=1_000_000, description="Default: latest")
    parameters: dict[str, Any] | None = Field(
        default=None, description="Default: the main evidence run's parameters"
    )
    execution_style: ExecutionStyle = ExecutionStyle.INSTANT
    slippage_bps: float = Field(default=0.0, ge=0, le=1000)
    min_order_aud: float = Field(default=0.0, ge=0, le=1_000_000)
    warmup_bars: int = Field(
        default=288, ge=1, le=20_000, description="5-minute bars the release needs to decide"
    )
    evidence: Evidence
    training: TrainingWindow | None = None


class ChecklistItem(BaseModel):
    key: str
    label: str
    required: bool
    threshold: Any | None
    measured: Any | None
    passed: bool
    detail: str


class PromotionCheck(BaseModel):
    """The checklist; `passed` is true when every required criterion passed."""

    passed: bool
    checklist: list[ChecklistItem]
    release_id: uuid.UUID | None = None


class ReleaseSummary(BaseModel):
    id: uuid.UUID
    algorithm_id: uuid.UUID
    algorithm_version: int
    algorithm_name: str
    algorithm_type: str
    content_hash: str
    parameters: dict[str, Any]
    costs: dict[str, Any]
    warmup_bars: int
    created_at: datetime
    in_use: bool = False


class ReleasePublic(ReleaseSummary):
    class_name: str
    code: str
    code_hash: str
    parameter_schema: dict[str, Any]
    libraries: dict[str, str]
    training: dict[str, Any] | None
    evidence: dict[str, Any]
    checklist: list[dict[str, Any]]


class ReleasesPage(BaseModel):
    data: list[ReleaseSummary]
    count: int
