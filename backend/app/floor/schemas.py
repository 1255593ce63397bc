"""Bodies of the deployment registry routes.

Rules: money is Decimal (capital with at most 2 decimals, as Coinspot keeps AUD);
allocation fractions are Decimals in [0, 1] summing to at most 1, one per deployed coin;
every risk limit is optional (None = not enforced) and bounded when given; a breach action
override names a known limit.
"""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.core.config import settings
from app.floor.models import DeploymentMode, DeploymentStatus
from app.lab.backtests.schemas import _coins

Money = Annotated[Decimal, Field(gt=0, le=Decimal("1000000000"), decimal_places=2)]
Fraction = Annotated[Decimal, Field(ge=0, le=1, decimal_places=8)]


BreachAction = Literal["refuse", "reducing", "halted"]
DeploymentLimitName = Literal[
    "max_order_aud",
    "max_position_aud",
    "max_position_fraction",
    "daily_loss_aud",
    "max_drawdown_fraction",
    "max_orders_per_hour",
    "cooldown_minutes",
    "max_price_age_seconds",
    "max_price_jump_fraction",
    "max_spread_fraction",
]
AccountLimitName = Literal["max_exposure_aud", "daily_loss_aud"]
Aud = Annotated[Decimal, Field(gt=0, le=Decimal("1e9"), decimal_places=2)]


def _price_age() -> int:
    return settings.FLOOR_RISK_MAX_PRICE_AGE_SECONDS


def _price_jump() -> Decimal:
    return settings.FLOOR_RISK_MAX_PRICE_JUMP_FRACTION


def _spread() -> Decimal:
    return settings.FLOOR_RISK_MAX_SPREAD_FRACTION


class RiskLimits(BaseModel):
    """Per-deployment limits; the Floor's risk engine enforces them on every order.

    None = not enforced. `actions` overrides what a breach does to the deployment
    (`refuse` the order only, or move the deployment to `reducing` or `halted`); limits not
    named there keep their default action (DEVELOPMENT.md, "Risk engine")."""

    model_config = ConfigDict(extra="forbid")

    max_order_aud: Aud | None = Field(default=None, description="Largest buy, AUD")
    max_position_aud: Aud | None = Field(
        default=None, description="Largest holding of one coin after a buy, AUD"
    )
    max_position_fraction: Annotated[Decimal, Field(gt=0, le=1)] | None = Field(
        default=Decimal("1"), description="Largest holding of one coin / capital"
    )
    daily_loss_aud: Aud | None = Field(
        default=None, description="Loss since 00:00 in your time zone (realised + unrealised)"
    )
    max_drawdown_fraction: Annotated[Decimal, Field(gt=0, le=1)] | None = Field(
        default=Decimal("0.5"), description="Fall of equity from its peak / the peak"
    )
    max_orders_per_hour: Annotated[int, Field(ge=1, le=10_000)] | None = 60
    cooldown_minutes: Annotated[int, Field(ge=0, le=10_080)] | None = Field(
        default=None, description="No buys this long after a losing round trip"
    )
    max_price_age_seconds: Annotated[int, Field(ge=1, le=86_400)] | None = Field(
        default_factory=_price_age
    )
    max_price_jump_fraction: Annotated[Decimal, Field(gt=0, le=10)] | None = Field(
        default_factory=_price_jump, description="Bid/ask move from the previous bar"
    )
    max_spread_fraction: Annotated[Decimal, Field(gt=0, le=1)] | None = Field(
        default_factory=_spread, description="(ask - bid) / mid"
    )
    actions: dict[DeploymentLimitName, BreachAction] = Field(
        default_factory=dict, max_length=10, description="Per-limit breach action overrides"
    )


class AccountLimits(BaseModel):
    """Limits across the user's live deployments (they share one Coinspot account).

    None = not enforced; `actions` as in `RiskLimits`."""

    model_config = ConfigDict(extra="forbid")

    max_exposure_aud: Aud | None = Field(
        default=None, description="Coins held by all live deployments, AUD at the bid"
    )
    daily_loss_aud: Aud | None = Field(
        default=None, description="Live deployments' loss since 00:00 in your time zone"
    )
    actions: dict[AccountLimitName, BreachAction] = Field(default_factory=dict, max_length=2)


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
