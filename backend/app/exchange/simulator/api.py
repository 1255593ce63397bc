"""Coinspot's API v2 on top of the engine: request parsing and response shapes.

Public paths are dispatched by `public_call`, signed ones by `private_route` + the
returned handler. Handlers run with the engine lock held and return the body without
`status`/`message` (the HTTP layer adds those), or raise `SimError`.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any, Literal

from app.exchange.jsoncodec import decimal_text
from app.exchange.simulator.engine import (
    COIN_QUANTUM,
    Account,
    Engine,
    Fill,
    Order,
    Side,
    SimError,
    iso,
)
from app.exchange.simulator.prices import Quote, tick_size

Body = dict[str, Any]


@dataclass(frozen=True)
class Call:
    """One signed request, as handlers see it."""

    engine: Engine
    account: Account
    payload: Body
    arg: str | None  # the {cointype} of my/balance/{cointype}
    query: dict[str, str]


Handler = Callable[[Call], Body]
PUBLIC_COMPLETED_LIMIT = 100
HISTORY_DEFAULT_LIMIT = 200
HISTORY_MAX_LIMIT = 500


# --- request parsing ------------------------------------------------------------------


def _number(payload: Body, key: str, *, positive: bool = True) -> Decimal:
    value = payload.get(key)
    if isinstance(value, bool) or value is None:
        raise SimError(f"Invalid {key}: required number")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise SimError(f"Invalid {key}: {value!r} is not a number") from None
    if not number.is_finite() or (positive and number <= 0):
        raise SimError(f"Invalid {key}: must be a number greater than zero")
    return number


def _optional_number(payload: Body, key: str) -> Decimal | None:
    return None if payload.get(key) is None else _number(payload, key, positive=False)


def _text(payload: Body, key: str, *, required: bool = True) -> str | None:
    value = payload.get(key)
    if value is None or value == "":
        if required:
            raise SimError(f"Missing {key}")
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise SimError(f"Invalid {key}")
    return str(value)


def _coin(
    engine: Engine, payload: Body, key: str = "cointype", *, required: bool = True
) -> str | None:
    symbol = _text(payload, key, required=required)
    if symbol is None:
        return None
    symbol = symbol.upper()
    if not engine.market.has(symbol):
        raise SimError(f"Coin not found: {symbol}")
    return symbol


def _trading_market(payload: Body) -> None:
    market = _text(payload, "markettype", required=False)
    if market is not None and market.upper() != "AUD":
        raise SimError(f"Market not supported for trading: {market}")


def _amount_type(payload: Body) -> Literal["coin", "aud"]:
    value = (_text(payload, "amounttype", required=False) or "coin").lower()
    if value not in ("coin", "aud"):
        raise SimError("Invalid amounttype: use coin or aud")
    return "coin" if value == "coin" else "aud"


def _direction(payload: Body) -> Literal["UP", "DOWN", "BOTH"]:
    value = (_text(payload, "direction", required=False) or "UP").upper()
    if value == "UP":
        return "UP"
    if value == "DOWN":
        return "DOWN"
    if value == "BOTH":
        return "BOTH"
    raise SimError("Invalid direction: use UP, DOWN or BOTH")


def _date(payload: Body, key: str, *, end: bool) -> datetime | None:
    text = _text(payload, key, required=False)
    if text is None:
        return None
    try:
        if len(text) == 10:
            day = datetime.fromisoformat(text).replace(tzinfo=UTC)
            return day + timedelta(days=1) if end else day
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SimError(f"Invalid {key}: use YYYY-MM-DD or an ISO-8601 date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _limit(payload: Body) -> int:
    value = payload.get("limit", HISTORY_DEFAULT_LIMIT)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= HISTORY_MAX_LIMIT:
        raise SimError(f"Invalid limit: 1 to {HISTORY_MAX_LIMIT}")
    return value


# --- response shapes ------------------------------------------------------------------


def _prices(quote: Quote) -> dict[str, str]:
    return {
        "bid": decimal_text(quote.bid),
        "ask": decimal_text(quote.ask),
        "last": decimal_text(quote.last),
    }


def _corrupt(prices: dict[str, str], mode: str) -> dict[str, Any]:
    if mode == "negative":
        return {k: "-" + v for k, v in prices.items()}
    if mode == "nan":
        return dict.fromkeys(prices, "NaN")
    if mode == "garbage":
        return dict.fromkeys(prices, "n/a")
    if mode == "null":
        return dict.fromkeys(prices)
    if mode == "zero":
        return dict.fromkeys(prices, "0")
    return {k: v for k, v in prices.items() if k != "ask"}  # missing_field


def _book_entry(coin: str, amount: Decimal, rate: Decimal) -> Body:
    return {
        "amount": amount,
        "rate": rate,
        "total": amount * rate,
        "coin": coin,
        "market": f"{coin}/AUD",
    }


def _completed_entry(fill: Fill, *, mine: bool, with_type: bool) -> Body:
    entry: Body = {
        "coin": fill.coin,
        "market": fill.market,
        "amount": fill.amount,
        "rate": fill.rate,
        "total": fill.total,
        "solddate": iso(fill.created),
    }
    if mine:
        entry.update(
            {"audfeeExGst": fill.fee - fill.gst, "audGst": fill.gst, "audtotal": fill.aud_total}
        )
    if with_type:
        entry.update({"type": fill.kind, "otc": False})
    return entry


def _open_entry(order: Order) -> Body:
    return {
        "id": order.id,
        "coin": order.coin,
        "market": order.market,
        "amount": order.amount,
        "created": iso(order.created),
        "rate": order.rate,
        "total": order.amount * order.rate,
    }


def _split(entries: list[tuple[Side, Body]]) -> Body:
    return {
        "buyorders": [body for side, body in entries if side == "buy"],
        "sellorders": [body for side, body in entries if side == "sell"],
    }


# --- public API -----------------------------------------------------------------------


def public_call(engine: Engine, rest: str) -> Body:
    parts = [part for part in rest.split("/") if part]
    match parts:
        case ["latest"]:
            return {"prices": _latest_all(engine)}
        case ["latest", coin, *market] if len(market) <= 1:
            return {"prices": _latest_one(engine, coin.upper(), _quote_market(market))}
        case ["buyprice" | "sellprice" as which, coin, *market] if len(market) <= 1:
            quote_market = _quote_market(market)
            quote = engine.quote_for(coin.upper(), quote_market)
            rate = quote.ask if which == "buyprice" else quote.bid
            return {"rate": decimal_text(rate), "market": f"{coin.upper()}/{quote_market}"}
        case ["orders", "open", coin, *market] if len(market) <= 1:
            return _public_book(engine, coin.upper(), _quote_market(market))
        case ["orders", "completed", coin, *market] if len(market) <= 1:
            return _public_completed(engine, coin.upper(), _quote_market(market))
    raise SimError("Not found", 404)


def _quote_market(market: list[str]) -> str:
    return market[0].upper() if market else "AUD"


def _latest_all(engine: Engine) -> dict[str, Any]:
    prices: dict[str, Any] = {}
    for symbol, quote in sorted(engine.market.quotes().items()):
        mode = engine.latest_overrides.get(symbol)
        if mode == "missing":
            continue
        entry = _prices(quote)
        prices[symbol.lower()] = _corrupt(entry, mode) if mode else entry
    for symbol, quote in engine.usdt_pairs().items():
        if symbol not in engine.latest_overrides:
            prices[f"{symbol.lower()}_usdt"] = _prices(quote)
    return prices


def _latest_one(engine: Engine, coin: str, market: str) -> dict[str, Any]:
    mode = engine.latest_overrides.get(coin)
    if mode == "missing":
        raise SimError(f"Coin not found: {coin}")
    entry = _prices(engine.quote_for(coin, market))
    return _corrupt(entry, mode) if mode else entry


def _require_aud(coin: str, market: str) -> None:
    if market != "AUD":
        raise SimError(f"Market not found: {coin}/{market}")


def _public_book(engine: Engine, coin: str, market: str) -> Body:
    quote = engine.quote_for(coin, market)
    _require_aud(coin, market)
    # bandit B311: simulated order book, reproducible on purpose
    rng = random.Random(f"{engine.config.seed}:{coin}:{engine.market.ticks}:book")  # nosec B311
    entries: list[tuple[Side, Body]] = []
    tick = tick_size(quote.mid)
    for level in range(engine.config.book_depth):
        step = Decimal(1) - Decimal("0.001") * level
        levels: tuple[tuple[Side, Decimal], ...] = (
            ("buy", (quote.bid * step).quantize(tick, ROUND_DOWN)),
            ("sell", (quote.ask * (2 - step)).quantize(tick, ROUND_DOWN)),
        )
        for side, rate in levels:
            aud = Decimal(rng.randint(50, 5000))
            amount = (aud / rate).quantize(COIN_QUANTUM)
            entries.append((side, _book_entry(coin, amount, rate.normalize())))
    for order in engine.orders.values():
        if order.coin == coin:
            entries.append((order.side, _book_entry(coin, order.amount, order.rate)))
    book = _split(entries)
    book["buyorders"].sort(key=lambda e: e["rate"], reverse=True)
    book["sellorders"].sort(key=lambda e: e["rate"])
    return book


def _public_completed(engine: Engine, coin: str, market: str) -> Body:
    engine.quote_for(coin, market)
    _require_aud(coin, market)
    fills = [f for f in reversed(engine.fills) if f.coin == coin][:PUBLIC_COMPLETED_LIMIT]
    return _split([(f.side, _completed_entry(f, mine=False, with_type=False)) for f in fills])


# --- read-only API --------------------------------------------------------------------


def _status(_call: Call) -> Body:
    return {}  # a signed no-op: the pipeline has already authenticated the request


def _balance_entry(engine: Engine, coin: str, balance: Decimal) -> Body:
    rate = engine.aud_rate(coin)
    return {"balance": balance, "audbalance": balance * rate, "rate": rate}


def _balances(call: Call) -> Body:
    engine, account = call.engine, call.account
    listed = {"AUD": account.balances.get("AUD", Decimal(0))}
    listed.update({c: b for c, b in sorted(account.balances.items()) if c != "AUD" and b != 0})
    return {"balances": [{coin: _balance_entry(engine, coin, b)} for coin, b in listed.items()]}


def _balance(call: Call) -> Body:
    engine, account, query = call.engine, call.account, call.query
    coin = (call.arg or "").upper()
    if coin != "AUD" and not engine.market.has(coin):
        raise SimError(f"Coin not found: {coin}")
    entry = _balance_entry(engine, coin, account.balances.get(coin, Decimal(0)))
    if query.get("available", "").lower() == "yes":
        entry["available"] = engine.available(account.api_key, coin)
    return {"balance": {coin: entry}}


def _history_filter(engine: Engine, payload: Body) -> Callable[[Fill], bool]:
    coin = _coin(engine, payload, required=False)
    market = _text(payload, "markettype", required=False)
    start = _date(payload, "startdate", end=False)
    end = _date(payload, "enddate", end=True)

    def keep(fill: Fill) -> bool:
        return (
            (coin is None or fill.coin == coin)
            and (market is None or market.upper() == "AUD")
            and (start is None or fill.created >= start)
            and (end is None or fill.created < end)
        )

    return keep


def _completed(with_type: bool) -> Handler:
    def handler(call: Call) -> Body:
        engine, account, payload = call.engine, call.account, call.payload
        keep = _history_filter(engine, payload)
        limit = _limit(payload)
        fills = [f for f in reversed(engine.fills) if f.api_key == account.api_key and keep(f)]
        return _split(
            [(f.side, _completed_entry(f, mine=True, with_type=with_type)) for f in fills[:limit]]
        )

    return handler


def _my_open(call: Call) -> Body:
    engine, account, payload = call.engine, call.account, call.payload
    coin = _coin(engine, payload, required=False)
    market = _text(payload, "markettype", required=False)
    if market is not None and market.upper() != "AUD":
        return _split([])
    orders = [
        o for o in engine.orders.values() if o.api_key == account.api_key and coin in (None, o.coin)
    ]
    return _split([(o.side, _open_entry(o)) for o in orders])


def _deposits(call: Call) -> Body:
    account, payload = call.account, call.payload
    start = _date(payload, "startdate", end=False)
    end = _date(payload, "enddate", end=True)
    return {
        "deposits": [
            {
                "amount": d.amount,
                "created": iso(d.created),
                "status": "completed",
                "type": "simulator",
                "reference": d.reference,
            }
            for d in reversed(account.deposits)
            if (start is None or d.created >= start) and (end is None or d.created < end)
        ]
    }


# --- full-access API ------------------------------------------------------------------


def _quote(side: Side) -> Handler:
    def handler(call: Call) -> Body:
        engine, payload = call.engine, call.payload
        coin = _coin(engine, payload)
        assert coin is not None
        _number(payload, "amount")
        _amount_type(payload)
        quote = engine.quote_for(coin)
        return {"rate": quote.ask if side == "buy" else quote.bid}

    return handler


def _place(side: Side) -> Handler:
    def handler(call: Call) -> Body:
        engine, account, payload = call.engine, call.account, call.payload
        coin = _coin(engine, payload)
        assert coin is not None
        _trading_market(payload)
        amount = _number(payload, "amount")
        rate = _number(payload, "rate")
        order = engine.place_limit(account.api_key, side, coin, amount, rate)
        return {
            "coin": coin,
            "market": order.market,
            "amount": amount,
            "rate": rate,
            "id": order.id,
        }

    return handler


def _now(side: Side) -> Handler:
    def handler(call: Call) -> Body:
        engine, account, payload = call.engine, call.account, call.payload
        coin = _coin(engine, payload)
        assert coin is not None
        amount_type = _amount_type(payload)
        amount = _number(payload, "amount")
        rate = _optional_number(payload, "rate")
        threshold = _optional_number(payload, "threshold")
        if threshold is not None and not 0 <= threshold <= 1000:
            raise SimError("Invalid threshold: 0 to 1000 percent")
        fill = engine.instant(
            account.api_key,
            side,
            coin,
            amount,
            amount_type,
            rate=rate,
            threshold=threshold,
            direction=_direction(payload),
        )
        body: Body = {
            "coin": coin,
            "market": fill.market,
            "amount": fill.amount,
            "total": fill.aud_total,
        }
        if side == "sell":
            body["rate"] = fill.rate
        return body

    return handler


def _cancel(side: Side) -> Handler:
    def handler(call: Call) -> Body:
        order_id = _text(call.payload, "id")
        assert order_id is not None
        call.engine.cancel(call.account.api_key, side, order_id)
        return {}

    return handler


def _cancel_all(side: Side) -> Handler:
    def handler(call: Call) -> Body:
        coin = _coin(call.engine, call.payload, "coin", required=False)
        call.engine.cancel_all(call.account.api_key, side, coin)
        return {}

    return handler


def _edit(side: Side) -> Handler:
    def handler(call: Call) -> Body:
        engine, account, payload = call.engine, call.account, call.payload
        coin = _coin(engine, payload)
        order_id = _text(payload, "id")
        assert coin is not None and order_id is not None
        rate = _number(payload, "rate")
        new_rate = _number(payload, "newrate")
        order = engine.edit(account.api_key, side, coin, order_id, rate, new_rate)
        return {
            "id": order.id,
            "coin": coin,
            "rate": rate,
            "newrate": new_rate,
            "amount": order.amount,
            "total": order.amount * new_rate,
            "updated": True,
        }

    return handler


@dataclass(frozen=True)
class Route:
    handler: Handler
    full_access: bool
    arg: str | None = None


READ_ONLY_ROUTES: dict[str, Handler] = {
    "status": _status,
    "my/balances": _balances,
    "my/orders/market/open": _my_open,
    "my/orders/market/completed": _completed(with_type=False),
    "my/orders/completed": _completed(with_type=True),
    "my/deposits": _deposits,
}

FULL_ACCESS_ROUTES: dict[str, Handler] = {
    "status": _status,
    "quote/buy/now": _quote("buy"),
    "quote/sell/now": _quote("sell"),
    "my/buy": _place("buy"),
    "my/sell": _place("sell"),
    "my/buy/now": _now("buy"),
    "my/sell/now": _now("sell"),
    "my/buy/cancel": _cancel("buy"),
    "my/sell/cancel": _cancel("sell"),
    "my/buy/cancel/all": _cancel_all("buy"),
    "my/sell/cancel/all": _cancel_all("sell"),
    "my/buy/edit": _edit("buy"),
    "my/sell/edit": _edit("sell"),
}


def private_route(rest: str) -> Route | None:
    """The handler for `rest` (the path after /api/v2/), or None for an unknown path."""
    rest = rest.strip("/")
    if rest.startswith("ro/"):
        sub = rest[3:]
        if sub.startswith("my/balance/") and sub.count("/") == 2:
            return Route(_balance, full_access=False, arg=sub.rsplit("/", 1)[1])
        handler = READ_ONLY_ROUTES.get(sub)
        return Route(handler, full_access=False) if handler else None
    handler = FULL_ACCESS_ROUTES.get(rest)
    return Route(handler, full_access=True) if handler else None
