"""Bodies of the deployment registry routes.

Rules: money is Decimal (capital with at most 2 decimals, as Coinspot keeps AUD);
allocation fractions are Decimals in [0, 1] summing to at most 1, one per deployed coin;
every risk limit is optional (None = not enforced) and bounded when given.
"""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.floor.models import DeploymentMode, DeploymentStatus
from app.lab.backtests.schemas import _coins

Money = Annotated[Decimal, Field(gt=0, le=Decimal("1000000000"), decimal_places=2)]
Fraction = Annotated[Decimal, Field(ge=0, le=1, decimal_places=8)]


class RiskLimits(BaseModel):
    """Per-deployment limits; the Floor's risk engine enforces them on every order."""

    model_config = ConfigDict(extra="forbid")

    max_order_aud: Annotated[Decimal, Field(gt=0, le=Decimal("1e9"), decimal_places=2)] | None = (
        None
    )
    max_position_aud: (
        Annotated[Decimal, Field(gt=0, le=Decimal("1e9"), decimal_places=2)] | None
    ) = None
    max_position_fraction: Annotated[Decimal, Field(gt=0, le=1)] | None = Decimal("1")
    daily_loss_aud: Annotated[Decimal, Field(gt=0, le=Decimal("1e9"), decimal_places=2)] | None = (
        None
    )
    max_drawdown_fraction: Annotated[Decimal, Field(gt=0, le=1)] | None = Decimal("0.5")
    max_orders_per_hour: Annotated[int, Field(ge=1, le=10_000)] | None = 60
    cooldown_minutes: Annotated[int, Field(ge=0, le=10_080)] | None = None
    max_price_age_seconds: Annotated[int, Field(ge=1, le=86_400)] | None = 600
    max_price_jump_fraction: Annotated[Decimal, Field(gt=0, le=10)] | None = Decimal("0.2")
    max_spread_fraction: Annotated[Decimal, Field(gt=0, le=1)] | None = Decimal("0.05")


class DeployRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    release_id: uuid.UUID
    mode: DeploymentMode = DeploymentMode.PAPER
    name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    capital: Money = Field(description="AUD given to this deployment")
    coins: Annotated[list[str], Field(min_length=1, max_length=20)]
    allocation: dict[str, Fraction] | None = Field(
        default=None, description="Coin -> share of capital (default: equal shares)"
    )
    schedule_bars: int = Field(
        default=1, ge=1, le=288, description="Decide every N five-minute bars"
    )
    risk_limits: RiskLimits = Field(default_factory=RiskLimits)
    acknowledge_real_money: bool = Field(
        default=False, description="Live only: you confirm this deployment trades real money"
    )

    @field_validator("coins")
    @classmethod
    def _clean_coins(cls, value: list[str]) -> list[str]:
        return _coins(value)

    @model_validator(mode="after")
    def _allocation(self) -> "DeployRequest":
        if self.allocation is None:
            share = (Decimal(1) / len(self.coins)).quantize(Decimal("0.00000001"), "ROUND_DOWN")
            self.allocation = dict.fromkeys(self.coins, share)
            return self
        cleaned = {k.strip().upper(): v for k, v in self.allocation.items()}
        if set(cleaned) != set(self.coins):
            raise ValueError("allocation must give a share for each coin in coins, and only them")
        if sum(cleaned.values(), Decimal(0)) > 1:
            raise ValueError("allocation shares add up to more than 1")
        self.allocation = cleaned
        return self


class DeploymentPublic(BaseModel):
    id: uuid.UUID
    release_id: uuid.UUID
    algorithm_id: uuid.UUID
    name: str
    mode: DeploymentMode
    status: DeploymentStatus
    capital: Decimal
    coins: list[str]
    allocation: dict[str, str]
    schedule_bars: int
    execution_style: str
    risk_limits: dict[str, Any]
    parameters: dict[str, Any]
    acknowledged_real_money: bool
    status_reason: str | None
    deployed_at: datetime
    updated_at: datetime
    stopped_at: datetime | None


class DeploymentsPage(BaseModel):
    data: list[DeploymentPublic]
    count: int


class AvailableRelease(BaseModel):
    release_id: uuid.UUID
    algorithm_id: uuid.UUID
    algorithm_name: str
    algorithm_version: int
    algorithm_type: str
    content_hash: str
    parameters: dict[str, Any]
    costs: dict[str, Any]
    trained_coins: list[str] | None
    paper_hours: float = Field(description="Longest paper run of this release so far, in hours")
    live_allowed_after_hours: float
    created_at: datetime


class AvailablePage(BaseModel):
    data: list[AvailableRelease]
    count: int


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(max_length=500)] | None = None
