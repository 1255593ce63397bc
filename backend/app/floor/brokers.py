"""Brokers: where an order goes. Paper and live differ only here.

Rules:
- One interface (`Broker`): quote, place, cancel, open orders, fills (exchange history)
  and balances. The executor, sizing, risk checks and order handling never ask which
  broker they hold.
- `PaperBroker` fills at once at the quote it was sized with (bid/ask from Coinspot's
  public prices, or a collected bar at most `FLOOR_QUOTE_MAX_AGE_SECONDS` old; with no
  fresh price there is no quote and the decision waits), with the same numbers as
  `fills.rebalance` (the backtest's rules) and Coinspot's fee rates from the settings.
- `CoinspotBroker` sends real orders through the exchange client. Quantities are
  quantised to Coinspot's precision (8 decimals, rounded down so we never ask for more
  than sized); instant orders carry `rate` (the decision's ask or bid) and `threshold`
  (`FLOOR_MAX_SLIPPAGE_PCT`) so the exchange refuses a price that ran away.
- Placement is never retried here: exchange errors reach the caller unchanged (an
  `OrderStatusUnknownError` means the order may exist).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Literal, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from app.core.config import settings
from app.exchange.client import CoinspotClient
from app.exchange.errors import ExchangeError
from app.exchange.models import MyCompletedOrder, MyOpenOrder
from app.floor.ledger import TradeSource
from app.floor.orders import FillRecord

COIN_QUANTUM = Decimal("0.00000001")
AUD_QUANTUM = Decimal("0.01")
Side = Literal["buy", "sell"]


@dataclass(frozen=True)
class Quote:
    bid: Decimal
    ask: Decimal
    at: datetime
    source: str  # "exchange" | "collected"


@dataclass(frozen=True)
class OrderRequest:
    coin: str
    side: Side
    quantity: Decimal
    notional: Decimal
    price: Decimal  # the expected fill price (slippage included)
    fee: Decimal  # the expected fee (GST included)
    style: str
    limit_rate: Decimal | None = None
    threshold_pct: Decimal | None = None


@dataclass(frozen=True)
class PlaceResult:
    """What the broker knows right after placing: the fills it can state exactly, or (live
    instant trades) the amount and AUD total the exchange answered, to be matched with its
    history for the exact fee and time."""

    filled_quantity: Decimal
    total_aud: Decimal | None = None
    rate: Decimal | None = None
    fills: tuple[FillRecord, ...] = ()
    exchange_order_id: str | None = None


@dataclass(frozen=True)
class ExchangeFill:
    coin: str
    side: Side
    amount: Decimal
    rate: Decimal
    sold_at: datetime
    fee: Decimal  # incl. GST
    gst: Decimal
    aud_total: Decimal

    @property
    def match_key(self) -> str:
        return "|".join(
            (
                self.coin,
                self.side,
                self.sold_at.astimezone(UTC).isoformat(),
                format(self.amount.normalize(), "f"),
                format(self.rate.normalize(), "f"),
            )
        )

    def record(self, source: TradeSource) -> FillRecord:
        return FillRecord(
            quantity=self.amount,
            price=self.rate,
            fee=self.fee,
            notional=self.amount * self.rate,
            exchange_time=self.sold_at,
            source=source,
            match_key=self.match_key,
            gst=self.gst,
        )


def fee_rate(style: str) -> Decimal:
    """Coinspot's fee (GST included) for an execution style, from the settings."""
    rate = settings.COINSPOT_MARKET_FEE if style == "orderbook" else settings.COINSPOT_INSTANT_FEE
    return Decimal(str(rate))


class Broker(Protocol):
    mode: str

    async def quote(self, coin: str) -> Quote | None: ...

    def prepare(self, request: OrderRequest) -> OrderRequest | None: ...

    async def place(self, request: OrderRequest) -> PlaceResult: ...

    async def cancel(self, side: Side, exchange_order_id: str) -> None: ...

    async def open_orders(self, coin: str) -> list[MyOpenOrder]: ...

    async def fills(self, coin: str, since: datetime) -> list[ExchangeFill]: ...

    async def balances(self) -> dict[str, Decimal]: ...


async def _exchange_quote(client: CoinspotClient, coin: str) -> Quote | None:
    try:
        ticker = await client.latest_price(coin)
    except ExchangeError:
        return None
    if ticker.bid <= 0 or ticker.ask <= 0:
        return None
    return Quote(ticker.bid, ticker.ask, datetime.now(UTC), "exchange")


class PaperBroker:
    """Fills at the quote it was sized with; cash and holdings live in `positions`."""

    mode = "paper"

    def __init__(self, client: CoinspotClient, engine: Engine) -> None:
        self._client = client
        self._engine = engine

    async def quote(self, coin: str) -> Quote | None:
        quote = await _exchange_quote(self._client, coin)
        return quote if quote is not None else self._collected_quote(coin)

    def _collected_quote(self, coin: str) -> Quote | None:
        oldest = datetime.now(UTC) - timedelta(seconds=settings.FLOOR_QUOTE_MAX_AGE_SECONDS)
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.text(
                    'SELECT bid, ask, "timestamp" FROM price_data_5min WHERE coin_type = ANY(:c)'
                    ' AND "timestamp" >= :oldest ORDER BY "timestamp" DESC LIMIT 1'
                ),
                {"c": [coin.upper(), coin.lower()], "oldest": oldest},
            ).first()
        if row is None or not (row[0] and row[1] and row[0] > 0 and row[1] > 0):
            return None
        return Quote(Decimal(row[0]), Decimal(row[1]), row[2], "collected")

    def prepare(self, request: OrderRequest) -> OrderRequest | None:
        return request  # paper fills exactly what the backtest rules sized

    async def place(self, request: OrderRequest) -> PlaceResult:
        fill = FillRecord(
            quantity=request.quantity,
            price=request.price,
            fee=request.fee,
            notional=request.notional,
            exchange_time=datetime.now(UTC),
            source=TradeSource.PAPER,
        )
        return PlaceResult(filled_quantity=request.quantity, fills=(fill,))

    async def cancel(self, side: Side, exchange_order_id: str) -> None:
        raise ValueError("paper orders fill at once; there is nothing to cancel")

    async def open_orders(self, coin: str) -> list[MyOpenOrder]:
        return []

    async def fills(self, coin: str, since: datetime) -> list[ExchangeFill]:
        return []

    async def balances(self) -> dict[str, Decimal]:
        return {}


class CoinspotBroker:
    """Real orders on Coinspot through the exchange client (with the user's keys)."""

    mode = "live"

    def __init__(self, client: CoinspotClient) -> None:
        self._client = client

    async def quote(self, coin: str) -> Quote | None:
        return await _exchange_quote(self._client, coin)

    def prepare(self, request: OrderRequest) -> OrderRequest | None:
        """Quantise to Coinspot's precision; None when nothing is left to send."""
        quantity = request.quantity.quantize(COIN_QUANTUM, ROUND_DOWN)
        if quantity <= 0:
            return None
        notional = quantity * request.price
        scale = notional / request.notional if request.notional > 0 else Decimal(1)
        return OrderRequest(
            coin=request.coin,
            side=request.side,
            quantity=quantity,
            notional=notional,
            price=request.price,
            fee=request.fee * scale,
            style=request.style,
            limit_rate=request.limit_rate,
            threshold_pct=request.threshold_pct,
        )

    async def place(self, request: OrderRequest) -> PlaceResult:
        if request.style != "instant":
            raise ValueError("live order-book execution is not available; use instant")
        if request.side == "buy":
            trade = await self._client.buy_now(
                request.coin,
                request.quantity,
                "coin",
                rate=request.limit_rate,
                threshold=request.threshold_pct,
                direction="UP",
            )
        else:
            trade = await self._client.sell_now(
                request.coin,
                request.quantity,
                "coin",
                rate=request.limit_rate,
                threshold=request.threshold_pct,
                direction="DOWN",
            )
        return PlaceResult(filled_quantity=trade.amount, total_aud=trade.total, rate=trade.rate)

    async def cancel(self, side: Side, exchange_order_id: str) -> None:
        if side == "buy":
            await self._client.cancel_buy_order(exchange_order_id)
        else:
            await self._client.cancel_sell_order(exchange_order_id)

    async def open_orders(self, coin: str) -> list[MyOpenOrder]:
        book = await self._client.my_open_orders(coin)
        return [*book.buy_orders, *book.sell_orders]

    async def fills(self, coin: str, since: datetime) -> list[ExchangeFill]:
        history = await self._client.order_history(coin, start=since, limit=500)
        return [
            *_exchange_fills(history.buy_orders, "buy"),
            *_exchange_fills(history.sell_orders, "sell"),
        ]

    async def balances(self) -> dict[str, Decimal]:
        result = await self._client.balances()
        return {coin.upper(): b.balance for coin, b in result.balances.items()}


def _exchange_fills(entries: Sequence[MyCompletedOrder], side: Side) -> list[ExchangeFill]:
    return [
        ExchangeFill(
            coin=e.coin.upper(),
            side=side,
            amount=e.amount,
            rate=e.rate,
            sold_at=e.sold_at,
            fee=e.aud_fee_ex_gst + e.aud_gst,
            gst=e.aud_gst,
            aud_total=e.aud_total,
        )
        for e in entries
    ]
