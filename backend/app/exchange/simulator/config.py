"""Simulator configuration (plain pydantic; nothing here reads the application settings)."""

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

Symbol = Annotated[str, AfterValidator(str.upper), Field(pattern=r"^[A-Za-z0-9]{1,15}$")]


class CoinSpec(BaseModel):
    """A coin of the random walk: starting mid price in AUD, per-tick volatility, spread."""

    model_config = ConfigDict(frozen=True)

    symbol: Symbol
    price: Decimal = Field(gt=0)
    # Standard deviation of the log return per tick (a tick stands for 5 minutes).
    volatility: float = Field(default=0.003, ge=0, le=0.5)
    # (ask - bid) / mid.
    spread: Decimal = Field(default=Decimal("0.005"), ge=0, lt=1)


class AccountSpec(BaseModel):
    api_key: str = Field(min_length=1, max_length=200)
    api_secret: str = Field(min_length=1, max_length=500)
    balances: dict[Symbol, Decimal] = {}
    read_only: bool = False


class PriceRow(BaseModel):
    """One coin's prices at one step of a replay."""

    bid: Decimal = Field(ge=0)
    ask: Decimal = Field(ge=0)
    last: Decimal = Field(ge=0)


class PriceSnapshot(BaseModel):
    """All replayed coins' prices at one step (timestamp is informational)."""

    timestamp: str = ""
    prices: dict[Symbol, PriceRow]


def _default_coins() -> list[CoinSpec]:
    from app.exchange.simulator.coins import DEFAULT_COINS

    return list(DEFAULT_COINS)


class SimulatorConfig(BaseModel):
    seed: int = 1
    coins: list[CoinSpec] = Field(default_factory=_default_coins)
    # Replay instead of the random walk: snapshots given here or loaded from a CSV with
    # columns timestamp,coin,bid,ask,last (one row per coin and step).
    replay: list[PriceSnapshot] | None = None
    replay_csv: Path | None = None
    replay_loop: bool = False
    # "manual": prices move only on POST /_admin/tick; "clock": one tick per tick_seconds.
    tick_mode: Literal["manual", "clock"] = "manual"
    tick_seconds: float = Field(default=1.0, gt=0)
    # Fee rates: order-book (limit) fills and instant buy/sell-now trades.
    market_fee: Decimal = Field(default=Decimal("0.001"), ge=0, lt=1)
    instant_fee: Decimal = Field(default=Decimal("0.01"), ge=0, lt=1)
    # Requests accepted per key (signed calls) or per client IP (public calls) per period.
    rate_limit: int = Field(default=1000, ge=1)
    rate_limit_period_seconds: float = Field(default=60.0, gt=0)
    # Send every 4xx error body with HTTP 200, as Coinspot sometimes does.
    errors_as_http_200: bool = False
    # Coins quoted against USDT too (`btc_usdt` in /latest); needs USDT among the coins.
    usdt_pairs: list[Symbol] = ["BTC", "ETH"]
    accounts: list[AccountSpec] = []
    # How long a "hang" fault keeps a request unanswered unless the fault says otherwise.
    hang_seconds: float = Field(default=30.0, ge=0)
    request_log_size: int = Field(default=20000, ge=0)
    book_depth: int = Field(default=5, ge=0, le=100)

    @model_validator(mode="after")
    def _one_replay_source(self) -> "SimulatorConfig":
        if self.replay is not None and self.replay_csv is not None:
            raise ValueError("give replay or replay_csv, not both")
        return self


# Fields PATCH /_admin/config may change on a running simulator.
RUNTIME_FIELDS = frozenset(
    {
        "tick_mode",
        "tick_seconds",
        "market_fee",
        "instant_fee",
        "rate_limit",
        "rate_limit_period_seconds",
        "errors_as_http_200",
        "hang_seconds",
    }
)
