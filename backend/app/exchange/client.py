"""The Coinspot API v2 client: typed methods over the public, read-only and full-access APIs.

    async with CoinspotClient("https://www.coinspot.com.au") as public:
        prices = await public.latest_prices()
        trader = public.with_credentials(api_key, api_secret)   # same pool and limiter
        trade = await trader.buy_now("BTC", Decimal("0.01"))

One `httpx.AsyncClient` (connection pool) serves every call of a client and of the
clients derived from it with `with_credentials`. The rate limiter is process-wide per
exchange URL and limit (see `ratelimit.shared_limiter`). Reads retry on outages,
state-changing calls never do (see `transport`). Amounts and rates are `Decimal`
(strings and ints are accepted and converted; floats are not, on purpose).
"""

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Self, TypeVar

import httpx
from pydantic import ValidationError

from app.exchange.models import (
    AmountType,
    Balance,
    Balances,
    Deposit,
    Direction,
    EditedOrder,
    InstantTrade,
    LatestPrices,
    MarketRate,
    MyCompletedOrders,
    MyOpenOrders,
    OrderBook,
    PlacedOrder,
    PriceTicker,
    PublicCompletedOrders,
    Quote,
)
from app.exchange.nonce import NonceGenerator, default_nonce_generator
from app.exchange.ratelimit import SlidingWindowLimiter, shared_limiter
from app.exchange.transport import Credentials, RetryPolicy, Transport

DEFAULT_BASE_URL = "https://www.coinspot.com.au"
T = TypeVar("T")
DecimalLike = Decimal | int | str
DateLike = date | datetime


def _decimal(value: DecimalLike, name: str, *, positive: bool = True) -> Decimal:
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{name} is not a number: {value!r}") from None
    if not result.is_finite() or (positive and result <= 0):
        raise ValueError(f"{name} must be a finite number{' > 0' if positive else ''}")
    return result


def _date_param(value: DateLike) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("datetimes sent to the exchange must be timezone-aware")
        # Coinspot's own date-time format: UTC with milliseconds and a Z.
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return value.isoformat()


def _market_path(coin: str, market: str | None) -> str:
    # Coin symbols go upper case; non-AUD market names lower case, as Coinspot's paths expect.
    path = "/" + coin.upper()
    if market and market.upper() != "AUD":
        path += "/" + market.lower()
    return path


def _drop_none(params: Mapping[str, object | None]) -> dict[str, object]:
    return {k: v for k, v in params.items() if v is not None}


def _parse_latest(data: dict[str, Any]) -> LatestPrices:
    raw = data["prices"]
    if not isinstance(raw, dict):
        raise ValueError("prices is not an object")
    prices: dict[str, PriceTicker] = {}
    pairs: dict[str, PriceTicker] = {}
    rejected: dict[str, str] = {}
    for key, entry in raw.items():
        try:
            ticker = PriceTicker.model_validate(entry)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "entry"
            rejected[str(key)] = f"{where}: {first['msg']}"
            continue
        coin, _, quote = str(key).partition("_")
        if quote:
            pairs[f"{coin.upper()}/{quote.upper()}"] = ticker
        else:
            prices[coin.upper()] = ticker
    return LatestPrices(prices=prices, pairs=pairs, rejected=rejected)


def _parse_balance_entries(raw: Any) -> dict[str, Balance]:
    """Coinspot lists balances as ``[{"BTC": {...}}, ...]``; accept an object of the same too."""
    items = raw.items() if isinstance(raw, dict) else (kv for e in raw for kv in e.items())
    return {
        str(coin).upper(): Balance.model_validate({"coin": coin, **fields})
        for coin, fields in items
    }


def _parse_single_balance(data: dict[str, Any]) -> Balance:
    entries = _parse_balance_entries(data["balance"])
    if len(entries) != 1:
        raise ValueError("expected exactly one balance")
    return next(iter(entries.values()))


class CoinspotClient:
    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
        timeout_seconds: float = 30.0,
        rate_limit: int = 1000,
        rate_limit_period_seconds: float = 60.0,
        rate_limiter: SlidingWindowLimiter | None = None,
        retry: RetryPolicy | None = None,
        nonce_generator: NonceGenerator | None = None,
        http_client: httpx.AsyncClient | None = None,
        max_connections: int = 50,
    ) -> None:
        if (api_key is None) != (api_secret is None):
            raise ValueError("give both api_key and api_secret, or neither")
        self._credentials = (
            Credentials(api_key, api_secret)
            if api_key is not None and api_secret is not None
            else None
        )
        self._owns_http = http_client is None
        http = http_client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            headers={"Accept": "application/json", "User-Agent": "oh-my-coins/1"},
        )
        self._transport = Transport(
            base_url=base_url,
            http=http,
            limiter=rate_limiter or shared_limiter(base_url, rate_limit, rate_limit_period_seconds),
            nonces=nonce_generator or default_nonce_generator(),
            retry=retry or RetryPolicy(),
        )

    # --- lifecycle -------------------------------------------------------------------

    def with_credentials(self, api_key: str, api_secret: str) -> "CoinspotClient":
        """A client for another key pair sharing this client's pool, limiter and nonces."""
        clone = object.__new__(CoinspotClient)
        clone._credentials = Credentials(api_key, api_secret)
        clone._owns_http = False
        clone._transport = self._transport
        return clone

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    @property
    def rate_limiter(self) -> SlidingWindowLimiter:
        return self._transport.limiter

    @property
    def key_fingerprint(self) -> str | None:
        return self._credentials.fingerprint if self._credentials else None

    async def aclose(self) -> None:
        if self._owns_http:
            await self._transport.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"CoinspotClient(base_url={self.base_url!r}, key_fingerprint={self.key_fingerprint!r})"
        )

    # --- public API (GET /pubapi/v2) --------------------------------------------------

    async def latest_prices(self) -> LatestPrices:
        return await self._transport.call("public", "/latest", _parse_latest)

    async def latest_price(self, coin: str, market: str | None = None) -> PriceTicker:
        return await self._transport.call(
            "public",
            "/latest" + _market_path(coin, market),
            lambda d: PriceTicker.model_validate(d["prices"]),
        )

    async def buy_price(self, coin: str, market: str | None = None) -> MarketRate:
        """The current rate to buy `coin` (the ask)."""
        return await self._transport.call(
            "public", "/buyprice" + _market_path(coin, market), MarketRate.model_validate
        )

    async def sell_price(self, coin: str, market: str | None = None) -> MarketRate:
        """The current rate to sell `coin` (the bid)."""
        return await self._transport.call(
            "public", "/sellprice" + _market_path(coin, market), MarketRate.model_validate
        )

    async def open_orders(self, coin: str, market: str | None = None) -> OrderBook:
        return await self._transport.call(
            "public", "/orders/open" + _market_path(coin, market), OrderBook.model_validate
        )

    async def completed_orders(self, coin: str, market: str | None = None) -> PublicCompletedOrders:
        return await self._transport.call(
            "public",
            "/orders/completed" + _market_path(coin, market),
            PublicCompletedOrders.model_validate,
        )

    # --- read-only API (POST /api/v2/ro) ----------------------------------------------

    async def status(self) -> None:
        """Check the key against the read-only API; raises a typed error if it fails."""
        await self._ro("/status", lambda _: None)

    async def balances(self) -> Balances:
        return await self._ro(
            "/my/balances", lambda d: Balances(balances=_parse_balance_entries(d["balances"]))
        )

    async def balance(self, coin: str, *, available: bool = False) -> Balance:
        """One coin's balance; with `available`, also what is not held by open orders."""
        return await self._ro(
            f"/my/balance/{coin.upper()}",
            _parse_single_balance,
            query={"available": "yes"} if available else None,
        )

    async def my_open_orders(
        self, coin: str | None = None, market: str | None = None
    ) -> MyOpenOrders:
        """My open (limit) orders on the order book: `/my/orders/market/open`."""
        params = _drop_none({"cointype": coin and coin.upper(), "markettype": market})
        return await self._ro("/my/orders/market/open", MyOpenOrders.model_validate, params)

    async def my_completed_orders(
        self,
        coin: str | None = None,
        market: str | None = None,
        *,
        start: DateLike | None = None,
        end: DateLike | None = None,
        limit: int | None = None,
    ) -> MyCompletedOrders:
        """My completed order-book and instant trades: `/my/orders/market/completed`."""
        return await self._ro(
            "/my/orders/market/completed",
            MyCompletedOrders.model_validate,
            self._history_params(coin, market, start, end, limit),
        )

    async def order_history(
        self,
        coin: str | None = None,
        market: str | None = None,
        *,
        start: DateLike | None = None,
        end: DateLike | None = None,
        limit: int | None = None,
    ) -> MyCompletedOrders:
        """My full transaction (order) history: `/my/orders/completed` (v2's my/transactions)."""
        return await self._ro(
            "/my/orders/completed",
            MyCompletedOrders.model_validate,
            self._history_params(coin, market, start, end, limit),
        )

    async def deposits(
        self, *, start: DateLike | None = None, end: DateLike | None = None
    ) -> list[Deposit]:
        params = _drop_none(
            {"startdate": start and _date_param(start), "enddate": end and _date_param(end)}
        )
        return await self._ro(
            "/my/deposits", lambda d: [Deposit.model_validate(x) for x in d["deposits"]], params
        )

    # --- full-access API (POST /api/v2) -----------------------------------------------

    async def full_access_status(self) -> None:
        """Check the key against the full-access API (fails for read-only keys)."""
        await self._full("/status", lambda _: None, mutating=False)

    async def quote_buy(
        self, coin: str, amount: DecimalLike, amount_type: AmountType = "coin"
    ) -> Quote:
        return await self._quote("/quote/buy/now", coin, amount, amount_type)

    async def quote_sell(
        self, coin: str, amount: DecimalLike, amount_type: AmountType = "coin"
    ) -> Quote:
        return await self._quote("/quote/sell/now", coin, amount, amount_type)

    async def place_buy_order(
        self, coin: str, amount: DecimalLike, rate: DecimalLike, market: str | None = None
    ) -> PlacedOrder:
        """A limit buy resting on the order book until the ask reaches `rate`."""
        return await self._place("/my/buy", coin, amount, rate, market)

    async def place_sell_order(
        self, coin: str, amount: DecimalLike, rate: DecimalLike, market: str | None = None
    ) -> PlacedOrder:
        """A limit sell resting on the order book until the bid reaches `rate`."""
        return await self._place("/my/sell", coin, amount, rate, market)

    async def buy_now(
        self,
        coin: str,
        amount: DecimalLike,
        amount_type: AmountType = "coin",
        *,
        rate: DecimalLike | None = None,
        threshold: DecimalLike | None = None,
        direction: Direction | None = None,
    ) -> InstantTrade:
        """Buy immediately at the current ask. With `rate` and `threshold` (percent), the
        exchange refuses if the price moved further than that in `direction`."""
        return await self._now("/my/buy/now", coin, amount, amount_type, rate, threshold, direction)

    async def sell_now(
        self,
        coin: str,
        amount: DecimalLike,
        amount_type: AmountType = "coin",
        *,
        rate: DecimalLike | None = None,
        threshold: DecimalLike | None = None,
        direction: Direction | None = None,
    ) -> InstantTrade:
        """Sell immediately at the current bid (same guard options as `buy_now`)."""
        return await self._now(
            "/my/sell/now", coin, amount, amount_type, rate, threshold, direction
        )

    async def cancel_buy_order(self, order_id: str) -> None:
        await self._full("/my/buy/cancel", lambda _: None, {"id": order_id})

    async def cancel_sell_order(self, order_id: str) -> None:
        await self._full("/my/sell/cancel", lambda _: None, {"id": order_id})

    async def cancel_all_buy_orders(self, coin: str | None = None) -> None:
        await self._full("/my/buy/cancel/all", lambda _: None, _drop_none({"coin": coin}))

    async def cancel_all_sell_orders(self, coin: str | None = None) -> None:
        await self._full("/my/sell/cancel/all", lambda _: None, _drop_none({"coin": coin}))

    async def edit_buy_order(
        self, coin: str, order_id: str, rate: DecimalLike, new_rate: DecimalLike
    ) -> EditedOrder:
        """Change an open buy order's rate; `rate` is its current rate (a guard)."""
        return await self._edit("/my/buy/edit", coin, order_id, rate, new_rate)

    async def edit_sell_order(
        self, coin: str, order_id: str, rate: DecimalLike, new_rate: DecimalLike
    ) -> EditedOrder:
        return await self._edit("/my/sell/edit", coin, order_id, rate, new_rate)

    # --- helpers ----------------------------------------------------------------------

    async def _ro(
        self,
        path: str,
        parse: Callable[[dict[str, Any]], T],
        params: Mapping[str, object] | None = None,
        *,
        query: Mapping[str, str] | None = None,
    ) -> T:
        return await self._transport.call(
            "read_only", path, parse, credentials=self._credentials, params=params, query=query
        )

    async def _full(
        self,
        path: str,
        parse: Callable[[dict[str, Any]], T],
        params: Mapping[str, object] | None = None,
        *,
        mutating: bool = True,
    ) -> T:
        return await self._transport.call(
            "full", path, parse, credentials=self._credentials, params=params, mutating=mutating
        )

    @staticmethod
    def _history_params(
        coin: str | None,
        market: str | None,
        start: DateLike | None,
        end: DateLike | None,
        limit: int | None,
    ) -> dict[str, object]:
        return _drop_none(
            {
                "cointype": coin and coin.upper(),
                "markettype": market,
                "startdate": start and _date_param(start),
                "enddate": end and _date_param(end),
                "limit": limit,
            }
        )

    async def _quote(
        self, path: str, coin: str, amount: DecimalLike, amount_type: AmountType
    ) -> Quote:
        value = _decimal(amount, "amount")
        params = {"cointype": coin.upper(), "amount": value, "amounttype": amount_type}
        return await self._full(
            path,
            lambda d: Quote(coin=coin, amount=value, amount_type=amount_type, rate=d["rate"]),
            params,
            mutating=False,
        )

    async def _place(
        self, path: str, coin: str, amount: DecimalLike, rate: DecimalLike, market: str | None
    ) -> PlacedOrder:
        params = _drop_none(
            {
                "cointype": coin.upper(),
                "amount": _decimal(amount, "amount"),
                "rate": _decimal(rate, "rate"),
                "markettype": market,
            }
        )
        return await self._full(path, PlacedOrder.model_validate, params)

    async def _now(
        self,
        path: str,
        coin: str,
        amount: DecimalLike,
        amount_type: AmountType,
        rate: DecimalLike | None,
        threshold: DecimalLike | None,
        direction: Direction | None,
    ) -> InstantTrade:
        params = _drop_none(
            {
                "cointype": coin.upper(),
                "amounttype": amount_type,
                "amount": _decimal(amount, "amount"),
                "rate": rate if rate is None else _decimal(rate, "rate"),
                "threshold": threshold
                if threshold is None
                else _decimal(threshold, "threshold", positive=False),
                "direction": direction,
            }
        )
        return await self._full(path, InstantTrade.model_validate, params)

    async def _edit(
        self, path: str, coin: str, order_id: str, rate: DecimalLike, new_rate: DecimalLike
    ) -> EditedOrder:
        params = {
            "cointype": coin.upper(),
            "id": order_id,
            "rate": _decimal(rate, "rate"),
            "newrate": _decimal(new_rate, "new_rate"),
        }
        return await self._full(path, EditedOrder.model_validate, params)
