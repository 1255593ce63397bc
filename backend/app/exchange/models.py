"""Typed results of the Coinspot client. Every price, amount and balance is a `Decimal`.

Field names are ours (snake_case); aliases are Coinspot's JSON keys, so the models
validate exchange answers directly. Coin symbols are upper case (``BTC``), markets are
``COIN/QUOTE`` (``BTC/AUD``) as Coinspot writes them.
"""

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

AmountType = Literal["coin", "aud"]
Direction = Literal["UP", "DOWN", "BOTH"]


def _finite(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("must be a finite number")
    return value


def _finite_non_negative(value: Decimal) -> Decimal:
    if _finite(value) < 0:
        raise ValueError("must not be negative")
    return value


Number = Annotated[Decimal, AfterValidator(_finite)]
NonNegative = Annotated[Decimal, AfterValidator(_finite_non_negative)]
OrderId = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)]
Coin = Annotated[str, AfterValidator(str.upper)]


class ExchangeModel(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")


class PriceTicker(ExchangeModel):
    bid: NonNegative
    ask: NonNegative
    last: NonNegative


class LatestPrices(ExchangeModel):
    """`/latest`: AUD prices by coin, other markets by ``COIN/QUOTE``.

    An entry the exchange sent but that is not a usable price (missing field, negative,
    NaN, not a number) is left out of `prices`/`pairs` and listed in `rejected` with the
    reason, so one bad coin never hides all the others.
    """

    prices: dict[str, PriceTicker]
    pairs: dict[str, PriceTicker] = {}
    rejected: dict[str, str] = {}

    def get(self, coin: str) -> PriceTicker | None:
        return self.prices.get(coin.upper())


class MarketRate(ExchangeModel):
    rate: NonNegative
    market: str


class BookOrder(ExchangeModel):
    amount: Number
    rate: NonNegative
    total: Number
    coin: Coin
    market: str


class OrderBook(ExchangeModel):
    buy_orders: list[BookOrder] = Field(alias="buyorders")
    sell_orders: list[BookOrder] = Field(alias="sellorders")


class PublicCompletedOrder(BookOrder):
    sold_at: AwareDatetime = Field(alias="solddate")


class PublicCompletedOrders(ExchangeModel):
    buy_orders: list[PublicCompletedOrder] = Field(alias="buyorders")
    sell_orders: list[PublicCompletedOrder] = Field(alias="sellorders")


class Balance(ExchangeModel):
    coin: Coin
    balance: Number
    aud_balance: Number = Field(alias="audbalance")
    rate: Number
    available: Number | None = None


class Balances(ExchangeModel):
    balances: dict[str, Balance]

    def amount(self, coin: str) -> Decimal:
        """The balance of `coin`, zero when the exchange lists none."""
        entry = self.balances.get(coin.upper())
        return entry.balance if entry else Decimal(0)


class MyOpenOrder(ExchangeModel):
    id: OrderId
    coin: Coin
    market: str
    amount: Number
    rate: NonNegative
    total: Number
    created: AwareDatetime


class MyOpenOrders(ExchangeModel):
    buy_orders: list[MyOpenOrder] = Field(alias="buyorders")
    sell_orders: list[MyOpenOrder] = Field(alias="sellorders")


class MyCompletedOrder(ExchangeModel):
    coin: Coin
    market: str
    amount: Number
    rate: NonNegative
    total: Number
    sold_at: AwareDatetime = Field(alias="solddate")
    aud_fee_ex_gst: Number = Field(alias="audfeeExGst")
    aud_gst: Number = Field(alias="audGst")
    aud_total: Number = Field(alias="audtotal")
    type: str | None = None
    otc: bool | None = None


class MyCompletedOrders(ExchangeModel):
    buy_orders: list[MyCompletedOrder] = Field(alias="buyorders")
    sell_orders: list[MyCompletedOrder] = Field(alias="sellorders")


class Deposit(ExchangeModel):
    amount: Number
    created: AwareDatetime
    status: str
    type: str
    reference: str


class Quote(ExchangeModel):
    """An instant buy/sell quote: `rate` is AUD per coin for the requested amount."""

    coin: Coin
    amount: Number
    amount_type: AmountType
    rate: NonNegative


class PlacedOrder(ExchangeModel):
    """A limit order resting on the order book (Coinspot calls these "market orders")."""

    id: OrderId
    coin: Coin
    market: str
    amount: Number
    rate: NonNegative


class InstantTrade(ExchangeModel):
    """A buy-now/sell-now fill: `amount` coins for `total` AUD (fees included)."""

    coin: Coin
    market: str
    amount: Number
    total: Number
    rate: NonNegative | None = None


class EditedOrder(ExchangeModel):
    id: OrderId
    coin: Coin
    rate: NonNegative
    new_rate: NonNegative = Field(alias="newrate")
    amount: Number
    total: Number
    updated: bool
