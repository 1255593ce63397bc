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
- Order-book style (`orderbook`): a price-bearing order at `limit_rate` (the bid for a
  buy, the ask for a sell) that rests; `resting_state` reports whether it is still open
  and the fills it may have had (live: Coinspot's open orders, then its history, matched
  by coin, side, time and a rate no worse than the order's; paper: the current quote — a
  buy fills at its rate once the ask has come down to it, a sell once the bid has risen to
  it). Following, cancelling and re-pricing are `orderbook.py`'s.
- Paper realism settings, all off by default (then paper fills are exactly `fills.rebalance`'s,
  which keeps parity with the backtest): `FLOOR_PAPER_SLIPPAGE_BPS` adds to the release's
  slippage in sizing (the same `fills.py` rule), `FLOOR_PAPER_FILL_RATIO` fills only that
  fraction (an instant remainder is not executed; a resting order keeps it open), and
  `FLOOR_PAPER_USE_BOOK_DEPTH` fills instant orders level by level against the public order
  book within `FLOOR_MAX_SLIPPAGE_PCT` of the best level, never spending more than sizing
  allowed (the walk replaces the slippage percentage); what the book cannot take is left.
- Placement is never retried here: exchange errors reach the caller unchanged (an
  `OrderStatusUnknownError` means the order may exist).
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Literal, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from app.core.config import settings
from app.exchange.client import CoinspotClient
from app.exchange.errors import ExchangeError
from app.exchange.models import BookOrder, MyCompletedOrder, MyOpenOrder
from app.floor.ledger import Order, TradeSource
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


@dataclass(frozen=True)
class RestingState:
    """A resting order as the broker sees it now: the exchange's id when it is still open
    (None: no longer open, or never found), and fills that may be its own (the caller
    skips fills already booked and caps them at what is still unfilled)."""

    open_id: str | None
    fills: tuple[FillRecord, ...] = ()


BOOK_CLOCK_SKEW = timedelta(seconds=5)


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

    async def open_orders_on(self, coin: str, side: Side) -> list[MyOpenOrder]: ...

    async def fills(self, coin: str, since: datetime) -> list[ExchangeFill]: ...

    async def balances(self) -> dict[str, Decimal]: ...

    async def resting_state(self, order: Order) -> RestingState: ...

    def sizing_slippage_bps(self, release_bps: Decimal) -> Decimal: ...


def book_terms(request: OrderRequest, quantity: Decimal) -> OrderRequest:
    """`request` for `quantity` coins; an order-book order is priced at its own rate."""
    if request.style == "orderbook" and request.limit_rate is not None:
        notional = quantity * request.limit_rate
        return OrderRequest(
            coin=request.coin,
            side=request.side,
            quantity=quantity,
            notional=notional,
            price=request.limit_rate,
            fee=notional * fee_rate("orderbook"),
            style=request.style,
            limit_rate=request.limit_rate,
        )
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


def _crossed(order: Order, bid: Decimal, ask: Decimal) -> bool:
    rate = order.limit_rate
    if rate is None:
        return False
    return ask <= rate if order.side == "buy" else bid >= rate


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
        if request.style == "orderbook":
            return book_terms(request, request.quantity)
        return request  # paper fills exactly what the backtest rules sized

    def sizing_slippage_bps(self, release_bps: Decimal) -> Decimal:
        return release_bps + settings.FLOOR_PAPER_SLIPPAGE_BPS

    async def place(self, request: OrderRequest) -> PlaceResult:
        if request.style == "orderbook":  # rests; `resting_state` fills it
            return PlaceResult(filled_quantity=Decimal(0), exchange_order_id=_paper_id())
        ratio = settings.FLOOR_PAPER_FILL_RATIO
        if settings.FLOOR_PAPER_USE_BOOK_DEPTH:
            fills = await self._walk_book(request, request.quantity * ratio)
        elif ratio == 1:
            fills = [_paper_fill(request.quantity, request.price, request.fee, request.notional)]
        else:
            quantity = request.quantity * ratio
            fills = [
                _paper_fill(quantity, request.price, request.fee * ratio, quantity * request.price)
            ]
        filled = sum((f.quantity for f in fills), Decimal(0))
        return PlaceResult(filled_quantity=filled, fills=tuple(fills))

    async def _walk_book(self, request: OrderRequest, quantity: Decimal) -> list[FillRecord]:
        """Fill `quantity` level by level against the visible book (see the module rules)."""
        try:
            book = await self._client.open_orders(request.coin)
        except ExchangeError:
            return []  # no visible depth: nothing can be said to fill
        levels: list[BookOrder] = sorted(
            book.sell_orders if request.side == "buy" else book.buy_orders,
            key=lambda o: o.rate,
            reverse=request.side == "sell",
        )
        if not levels:
            return []
        best = levels[0].rate
        slack = settings.FLOOR_MAX_SLIPPAGE_PCT / 100
        limit = best * (1 + slack) if request.side == "buy" else best * (1 - slack)
        rate = fee_rate(request.style)
        budget = request.notional + request.fee  # buys never spend more than sizing allowed
        fills: list[FillRecord] = []
        left = quantity
        for level in levels:
            if left <= 0 or level.rate <= 0:
                break
            if (request.side == "buy" and level.rate > limit) or (
                request.side == "sell" and level.rate < limit
            ):
                break
            take = min(left, level.amount)
            if request.side == "buy":
                take = min(take, budget / (level.rate * (1 + rate)))
            if take <= 0:
                break
            notional = take * level.rate
            fee = notional * rate
            fills.append(_paper_fill(take, level.rate, fee, notional))
            left -= take
            budget -= notional + fee
        return fills

    async def resting_state(self, order: Order) -> RestingState:
        """A paper resting order fills at its rate once the quote has crossed it."""
        open_id = order.exchange_order_id
        remaining = order.requested_quantity - order.filled_quantity
        quote = await self.quote(order.coin)
        if quote is None or remaining <= 0 or order.limit_rate is None:
            return RestingState(open_id)
        if not _crossed(order, quote.bid, quote.ask):
            return RestingState(open_id)
        quantity = remaining * settings.FLOOR_PAPER_FILL_RATIO
        notional = quantity * order.limit_rate
        fill = _paper_fill(quantity, order.limit_rate, notional * fee_rate(order.style), notional)
        return RestingState(open_id, (fill,))

    async def cancel(self, side: Side, exchange_order_id: str) -> None:
        return None  # a paper resting order is only our record: cancelling always succeeds

    async def open_orders(self, coin: str) -> list[MyOpenOrder]:
        return []

    async def open_orders_on(self, coin: str, side: Side) -> list[MyOpenOrder]:
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

    def sizing_slippage_bps(self, release_bps: Decimal) -> Decimal:
        return release_bps

    def prepare(self, request: OrderRequest) -> OrderRequest | None:
        """Quantise to Coinspot's precision; None when nothing is left to send."""
        quantity = request.quantity.quantize(COIN_QUANTUM, ROUND_DOWN)
        if quantity <= 0:
            return None
        if request.style == "orderbook" and request.limit_rate is not None:
            # Never a worse price than asked for: buys round down, sells up.
            rounding = ROUND_DOWN if request.side == "buy" else ROUND_UP
            rate = request.limit_rate.quantize(COIN_QUANTUM, rounding)
            request = replace(request, limit_rate=rate)
        return book_terms(request, quantity)

    async def place(self, request: OrderRequest) -> PlaceResult:
        if request.style == "orderbook":
            if request.limit_rate is None:
                raise ValueError("an order-book order needs a rate")
            place = (
                self._client.place_buy_order
                if request.side == "buy"
                else self._client.place_sell_order
            )
            placed = await place(request.coin, request.quantity, request.limit_rate)
            return PlaceResult(filled_quantity=Decimal(0), exchange_order_id=placed.id)
        if request.style != "instant":
            raise ValueError(f"unknown execution style {request.style!r}")
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

    async def open_orders_on(self, coin: str, side: Side) -> list[MyOpenOrder]:
        """The exchange's open orders on `coin` on one side only (its lists are per side)."""
        book = await self._client.my_open_orders(coin)
        return list(book.buy_orders if side == "buy" else book.sell_orders)

    async def fills(self, coin: str, since: datetime) -> list[ExchangeFill]:
        history = await self._client.order_history(coin, start=since, limit=500)
        return [
            *_exchange_fills(history.buy_orders, "buy"),
            *_exchange_fills(history.sell_orders, "sell"),
        ]

    async def balances(self) -> dict[str, Decimal]:
        result = await self._client.balances()
        return {coin.upper(): b.balance for coin, b in result.balances.items()}

    async def resting_state(self, order: Order) -> RestingState:
        """Open orders first, then the history: a fill that closed the order is in it."""
        book = await self._client.my_open_orders(order.coin)
        mine = book.buy_orders if order.side == "buy" else book.sell_orders
        sent = (order.submitting_at or order.created_at) - BOOK_CLOCK_SKEW
        open_id = _find_open(order, mine, sent)
        history = await self.fills(order.coin, sent)
        fills = tuple(
            f.record(TradeSource.EXCHANGE)
            for f in sorted(history, key=lambda f: f.sold_at)
            if f.side == order.side
            and f.coin.upper() == order.coin.upper()
            and f.sold_at >= sent
            and 0 < f.amount <= order.requested_quantity
            and order.limit_rate is not None
            and (f.rate <= order.limit_rate if order.side == "buy" else f.rate >= order.limit_rate)
        )
        return RestingState(open_id, fills)


def _find_open(order: Order, mine: Sequence[MyOpenOrder], sent: datetime) -> str | None:
    """Our order among the exchange's open ones: by id, or (placement unclear) by coin,
    rate, an amount no larger than ours and a creation time after we sent it."""
    if order.exchange_order_id is not None:
        return (
            order.exchange_order_id if any(o.id == order.exchange_order_id for o in mine) else None
        )
    for o in mine:
        if (
            o.coin.upper() == order.coin.upper()
            and o.rate == order.limit_rate
            and o.amount <= order.requested_quantity
            and o.created >= sent
        ):
            return o.id
    return None


def _paper_id() -> str:
    return f"paper-{uuid.uuid4().hex[:20]}"


def _paper_fill(quantity: Decimal, price: Decimal, fee: Decimal, notional: Decimal) -> FillRecord:
    return FillRecord(
        quantity=quantity,
        price=price,
        fee=fee,
        notional=notional,
        exchange_time=datetime.now(UTC),
        source=TradeSource.PAPER,
    )


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
