"""Request and response bodies of the backtest and sweep API."""

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from app.lab.backtests.sweep_space import ParameterRange, SweepMode

MAX_COINS = 20
# Metrics a sweep can rank by, and whether a higher value is better.
RANKING_METRICS: dict[str, bool] = {
    "sharpe": True,
    "sortino": True,
    "calmar": True,
    "total_return": True,
    "cagr": True,
    "profit_factor": True,
    "win_rate": True,
    "max_drawdown": False,
    "annualised_volatility": False,
}
RankingMetric = Literal[
    "sharpe",
    "sortino",
    "calmar",
    "total_return",
    "cagr",
    "profit_factor",
    "win_rate",
    "max_drawdown",
    "annualised_volatility",
]


def _coins(values: list[str]) -> list[str]:
    cleaned = [v.strip().upper() for v in values]
    if any(not c or len(c) > 16 or not c.replace("-", "").isalnum() for c in cleaned):
        raise ValueError("coin symbols are letters and digits, e.g. 'BTC'")
    if len(set(cleaned)) != len(cleaned):
        raise ValueError("each coin may appear once")
    return cleaned


class TradingSettings(BaseModel):
    """Money and costs of a simulated account."""

    model_config = ConfigDict(extra="forbid")

    starting_cash: float = Field(default=10_000.0, gt=0, le=1_000_000_000, description="AUD")
    fee_rate: float | None = Field(
        default=None, ge=0, le=0.1, description="Fraction of notional; default: Coinspot's fee"
    )
    slippage_bps: float = Field(default=0.0, ge=0, le=1000)
    min_order_aud: float = Field(default=0.0, ge=0, le=1_000_000)
    allocation: dict[str, float] | None = Field(
        default=None, description="Coin -> share of starting cash (sums to at most 1)"
    )
    train_fraction: float = Field(
        default=0.3,
        gt=0,
        lt=1,
        description="ML/RL algorithms: share of the bars used to fit the model; only the rest is traded",
    )
    ffill_limit: int = Field(default=3, ge=0, le=288, description="Bars of missing data to bridge")
    lookahead_samples: int = Field(
        default=12, ge=2, le=200, description="Bars the lookahead check truncates at"
    )

    @field_validator("allocation")
    @classmethod
    def _allocation(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is None:
            return None
        cleaned = {k.strip().upper(): float(v) for k, v in value.items()}
        if any(not 0 <= v <= 1 for v in cleaned.values()):
            raise ValueError("each allocation is a fraction between 0 and 1")
        if sum(cleaned.values()) > 1 + 1e-9:
            raise ValueError("allocations add up to more than 1")
        return cleaned


class _RangeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    algorithm_id: uuid.UUID
    version: int | None = Field(default=None, ge=1, description="Default: the latest version")
    coins: list[str] = Field(min_length=1, max_length=MAX_COINS)
    start: AwareDatetime
    end: AwareDatetime
    settings: TradingSettings = Field(default_factory=TradingSettings)

    @field_validator("coins")
    @classmethod
    def _check_coins(cls, value: list[str]) -> list[str]:
        return _coins(value)

    @model_validator(mode="after")
    def _check_range(self) -> "_RangeRequest":
        if self.start >= self.end:
            raise ValueError("start must be before end")
        allocation = self.settings.allocation
        if allocation is not None and set(allocation) != set(self.coins):
            raise ValueError("allocation must name exactly the coins of the run")
        return self


class BacktestCreate(_RangeRequest):
    parameters: dict[str, Any] | None = Field(
        default=None, description="Default: the algorithm's current parameter values"
    )
    label: str | None = Field(default=None, max_length=100)


class RunSummary(BaseModel):
    id: uuid.UUID
    algorithm_id: uuid.UUID
    algorithm_version: int
    label: str | None
    coins: list[str]
    start_date: datetime
    end_date: datetime
    parameters: dict[str, Any]
    settings: dict[str, Any]
    status: str
    progress: float
    stage: str | None
    error: str | None
    lookahead: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    key_metrics: dict[str, Any] | None = None


KEY_METRICS = ("total_return", "sharpe", "max_drawdown", "trades", "buy_and_hold_return")


class RunPublic(RunSummary):
    results: dict[str, Any] | None


class RunsPage(BaseModel):
    data: list[RunSummary]
    count: int


class QueuedJob(BaseModel):
    id: uuid.UUID
    status: str


class EquitySeries(BaseModel):
    run_id: uuid.UUID
    coins: list[str]
    bars: int
    points: int
    time: list[str]
    equity: list[float]
    cash: list[float]
    drawdown: list[float]
    buy_and_hold: list[float]
    holdings_value: dict[str, list[float]]


class TradePublic(BaseModel):
    time: str
    bar: int
    coin: str
    side: Literal["buy", "sell"]
    quantity: float
    price: float
    notional: float
    fee: float
    position: float
    cash: float


class TradesPage(BaseModel):
    data: list[TradePublic]
    count: int


class RoundTripPublic(BaseModel):
    coin: str
    entry_time: str
    exit_time: str | None
    open: bool
    cost: float
    proceeds: float
    pnl: float
    return_on_cost: float | None


class RoundTripsPage(BaseModel):
    data: list[RoundTripPublic]
    count: int


class ComparedRun(BaseModel):
    id: uuid.UUID
    algorithm_id: uuid.UUID
    algorithm_name: str
    algorithm_version: int
    label: str | None
    coins: list[str]
    start_date: datetime
    end_date: datetime
    settings: dict[str, Any] = Field(description="Cash, fee rate, slippage … the run used")
    parameters: dict[str, Any]
    metrics: dict[str, Any]
    lookahead: dict[str, Any] | None


class Comparison(BaseModel):
    runs: list[ComparedRun]
    best: dict[str, uuid.UUID | None]
    time: list[str]
    equity: dict[str, list[float | None]]


class SweepCreate(_RangeRequest):
    parameters: dict[str, ParameterRange] = Field(description="Parameter -> values or range to try")
    base_parameters: dict[str, Any] | None = Field(
        default=None, description="Values of the parameters not swept; default: the algorithm's"
    )
    mode: SweepMode = "grid"
    samples: int | None = Field(
        default=None, ge=1, description="Random mode: how many combinations"
    )
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    metric: RankingMetric = "sharpe"
    test_fraction: float = Field(
        default=0.3, gt=0, lt=1, description="The last share of the range kept out of sample"
    )


class SweepPublic(BaseModel):
    id: uuid.UUID
    algorithm_id: uuid.UUID
    algorithm_version: int
    coins: list[str]
    start_date: datetime
    end_date: datetime
    space: dict[str, Any]
    settings: dict[str, Any]
    status: str
    progress: float
    stage: str | None
    error: str | None
    results: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class SweepsPage(BaseModel):
    data: list[SweepPublic]
    count: int
