"""The simulated exchange: accounts, balances, orders, fills and fees.

All state lives in memory behind one re-entrant lock (`Engine.lock`); every public
method takes it, so the HTTP layer (several threads/tasks) and the admin API can call
in freely. Money is `Decimal` throughout and never rounded, except coin amounts derived
from an AUD amount (8 decimals, rounded so the account never gets more than it paid for).

Trading rules:
- Instant trades (`buy now` / `sell now`) fill at once at the ask (buy) or bid (sell);
  fee = amount x price x instant_fee. A buy debits amount x ask + fee AUD, a sell credits
  amount x bid - fee AUD.
- Limit orders reserve their funds (AUD incl. the market fee for buys, coins for sells).
  One that can trade at once fills at the current ask/bid; otherwise it rests and fills
  at its own rate when a later price crosses it (ask <= rate for buys, bid >= rate for
  sells), with fee = amount x rate x market_fee.
- A partial-fill fault makes the next fill(s) take only a fraction of the amount; the rest
  of a limit order stays open, the rest of an instant trade is not executed.
"""

import itertools
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal
from typing import Literal, get_args

from app.exchange.simulator.config import AccountSpec, CoinSpec, SimulatorConfig
from app.exchange.simulator.faults import Faults
from app.exchange.simulator.prices import Market, Quote, load_replay_csv, tick_size

Side = Literal["buy", "sell"]
FillKind = Literal["market", "instant"]
COIN_QUANTUM = Decimal("0.00000001")
GST_DIVISOR = Decimal(11)  # Australian GST is 10 %, included in the fee: fee / 11.
LatestCorruption = Literal["missing", "negative", "nan", "garbage", "null", "missing_field", "zero"]
LATEST_CORRUPTIONS: tuple[str, ...] = get_args(LatestCorruption)
MAX_CATCH_UP_TICKS = 10_000


class SimError(Exception):
    """A request the exchange refuses; `status` is the HTTP status Coinspot-style."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Coinspot's date-time format: `2020-05-21T13:22:45.000Z`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Deposit:
    amount: Decimal
    created: datetime
    reference: str


@dataclass
class Account:
    api_key: str
    api_secret: str
    read_only: bool
    balances: dict[str, Decimal] = field(default_factory=dict)
    last_nonce: int = 0
    deposits: list[Deposit] = field(default_factory=list)


@dataclass
class Order:
    id: str
    api_key: str
    side: Side
    coin: str
    amount: Decimal  # what is still open
    rate: Decimal
    created: datetime

    @property
    def market(self) -> str:
        return f"{self.coin}/AUD"


@dataclass
class Fill:
    api_key: str
    side: Side
    coin: str
    amount: Decimal
    rate: Decimal
    fee: Decimal
    kind: FillKind
    created: datetime
    order_id: str | None

    @property
    def market(self) -> str:
        return f"{self.coin}/AUD"

    @property
    def total(self) -> Decimal:
        return self.amount * self.rate

    @property
    def aud_total(self) -> Decimal:
        """AUD that moved: paid including the fee (buy) or received after it (sell)."""
        return self.total + self.fee if self.side == "buy" else self.total - self.fee

    @property
    def gst(self) -> Decimal:
        return (self.fee / GST_DIVISOR).quantize(COIN_QUANTUM, ROUND_HALF_UP)


class Engine:
    def __init__(self, config: SimulatorConfig, faults: Faults) -> None:
        self.lock = threading.RLock()
        self.config = config
        self.faults = faults
        replay = config.replay
        if replay is None and config.replay_csv is not None:
            replay = load_replay_csv(config.replay_csv)
        self.market = Market(config.coins, config.seed, replay, config.replay_loop)
        self.accounts: dict[str, Account] = {}
        self.orders: dict[str, Order] = {}
        self.fills: list[Fill] = []
        self.latest_overrides: dict[str, str] = {}
        self._deposit_ids = itertools.count(1)
        self._clock_origin = time.monotonic()
        self._clock_ticks = 0
        for spec in config.accounts:
            self.create_account(spec)

    # --- configuration and time ---------------------------------------------------

    def reconfigure(self, config: SimulatorConfig) -> None:
        with self.lock:
            if (config.tick_mode, config.tick_seconds) != (
                self.config.tick_mode,
                self.config.tick_seconds,
            ):
                self._clock_origin, self._clock_ticks = time.monotonic(), 0
            self.config = config

    def advance_clock(self) -> None:
        """In clock mode, catch up on the ticks that fell due since the last call."""
        with self.lock:
            if self.config.tick_mode != "clock":
                return
            due = int((time.monotonic() - self._clock_origin) / self.config.tick_seconds)
            if due > self._clock_ticks:
                missed = due - self._clock_ticks
                self._clock_ticks = due
                self.tick(min(missed, MAX_CATCH_UP_TICKS))

    def tick(self, count: int = 1) -> int:
        with self.lock:
            for _ in range(count):
                self.market.step()
                self._match_resting()
            return self.market.ticks

    def set_quote(
        self,
        symbol: str,
        *,
        bid: Decimal | None = None,
        ask: Decimal | None = None,
        last: Decimal | None = None,
        mid: Decimal | None = None,
    ) -> Quote:
        with self.lock:
            current = self.market.quote(symbol)
            if current is None:
                raise SimError(f"Coin not found: {symbol}", 404)
            if mid is not None:
                tick = tick_size(mid)
                half = max((mid * Decimal("0.0025")).quantize(tick, ROUND_UP), tick)
                current = Quote(bid=mid - half, ask=mid + half, last=mid)
            new = Quote(
                bid=bid if bid is not None else current.bid,
                ask=ask if ask is not None else current.ask,
                last=last if last is not None else current.last,
            )
            if new.bid <= 0 or new.ask < new.bid or new.last <= 0:
                raise SimError("prices must be positive with ask >= bid", 422)
            self.market.set_quote(symbol, new)
            self._match_resting()
            return new

    def add_coin(self, spec: CoinSpec) -> None:
        with self.lock:
            try:
                self.market.add_coin(spec)
            except ValueError as exc:
                raise SimError(str(exc), 409) from None

    def add_random_coins(self, count: int, prefix: str) -> list[str]:
        with self.lock:
            specs = self.market.random_specs(count, prefix)
            for spec in specs:
                self.market.add_coin(spec)
            return [spec.symbol for spec in specs]

    def corrupt_latest(self, symbol: str, mode: str) -> None:
        with self.lock:
            if not self.market.has(symbol):
                raise SimError(f"Coin not found: {symbol}", 404)
            if mode not in LATEST_CORRUPTIONS:
                raise SimError(f"mode must be one of {', '.join(LATEST_CORRUPTIONS)}", 422)
            self.latest_overrides[symbol] = mode

    def restore_latest(self, symbol: str | None = None) -> None:
        with self.lock:
            if symbol is None:
                self.latest_overrides.clear()
            else:
                self.latest_overrides.pop(symbol, None)

    # --- accounts -----------------------------------------------------------------

    def create_account(self, spec: AccountSpec) -> Account:
        with self.lock:
            if spec.api_key in self.accounts:
                raise SimError("an account with this api_key exists", 409)
            account = Account(spec.api_key, spec.api_secret, spec.read_only)
            self.accounts[spec.api_key] = account
            for coin, amount in spec.balances.items():
                self.fund(spec.api_key, coin, amount)
            return account

    def account(self, api_key: str) -> Account | None:
        with self.lock:
            return self.accounts.get(api_key)

    def fund(self, api_key: str, coin: str, amount: Decimal) -> Decimal:
        """Add `amount` (may be negative to withdraw) and return the new balance."""
        with self.lock:
            account = self.accounts.get(api_key)
            if account is None:
                raise SimError("unknown account", 404)
            if coin != "AUD" and not self.market.has(coin):
                raise SimError(f"Coin not found: {coin}", 404)
            new = account.balances.get(coin, Decimal(0)) + amount
            if new < 0:
                raise SimError("balance would become negative", 422)
            account.balances[coin] = new
            if coin == "AUD" and amount > 0:
                account.deposits.append(
                    Deposit(amount, utcnow(), f"SIM{next(self._deposit_ids):08d}")
                )
            return new

    def accept_nonce(self, account: Account, nonce: int) -> bool:
        with self.lock:
            if nonce <= account.last_nonce:
                return False
            account.last_nonce = nonce
            return True

    def reserved(self, api_key: str, coin: str) -> Decimal:
        with self.lock:
            total = Decimal(0)
            for order in self.orders.values():
                if order.api_key != api_key:
                    continue
                if coin == "AUD" and order.side == "buy":
                    total += order.amount * order.rate * (1 + self.config.market_fee)
                elif order.side == "sell" and order.coin == coin:
                    total += order.amount
            return total

    def available(self, api_key: str, coin: str) -> Decimal:
        with self.lock:
            account = self.accounts[api_key]
            return account.balances.get(coin, Decimal(0)) - self.reserved(api_key, coin)

    def aud_rate(self, coin: str) -> Decimal:
        """What one unit is worth in AUD (the bid), for balance listings."""
        if coin == "AUD":
            return Decimal(1)
        quote = self.market.quote(coin)
        return quote.bid if quote else Decimal(0)

    # --- prices -------------------------------------------------------------------

    def quote_for(self, coin: str, market: str = "AUD") -> Quote:
        with self.lock:
            quote = self.market.quote(coin)
            if quote is None:
                raise SimError(f"Coin not found: {coin}")
            if market == "AUD":
                return quote
            base = self.market.quote(market)
            if market != "USDT" or coin not in self.config.usdt_pairs or base is None:
                raise SimError(f"Market not found: {coin}/{market}")
            return _cross(quote, base)

    def usdt_pairs(self) -> dict[str, Quote]:
        with self.lock:
            base = self.market.quote("USDT")
            if base is None:
                return {}
            return {
                coin: _cross(quote, base)
                for coin in self.config.usdt_pairs
                if (quote := self.market.quote(coin)) is not None
            }

    # --- trading ------------------------------------------------------------------

    def instant(
        self,
        api_key: str,
        side: Side,
        coin: str,
        amount: Decimal,
        amount_type: Literal["coin", "aud"],
        *,
        rate: Decimal | None = None,
        threshold: Decimal | None = None,
        direction: Literal["UP", "DOWN", "BOTH"] = "UP",
    ) -> Fill:
        with self.lock:
            quote = self.quote_for(coin)
            price = quote.ask if side == "buy" else quote.bid
            if rate is not None and threshold is not None:
                _check_threshold(price, rate, threshold, direction)
            fee_rate = self.config.instant_fee
            if amount_type == "coin":
                coins = amount
            elif side == "buy":
                coins = (amount / (price * (1 + fee_rate))).quantize(COIN_QUANTUM, ROUND_DOWN)
            else:
                coins = (amount / (price * (1 - fee_rate))).quantize(COIN_QUANTUM, ROUND_UP)
            if coins <= 0:
                raise SimError("Invalid amount: too small to trade")
            ratio = self.faults.partial_fill_ratio()
            if ratio is not None:
                coins = (coins * ratio).quantize(COIN_QUANTUM, ROUND_DOWN) or coins
            if side == "buy":
                needed = coins * price * (1 + fee_rate)
                if self.available(api_key, "AUD") < needed:
                    raise SimError("Insufficient funds: not enough AUD")
            elif self.available(api_key, coin) < coins:
                raise SimError(f"Insufficient funds: not enough {coin}")
            return self._settle(api_key, side, coin, coins, price, fee_rate, "instant", None)

    def place_limit(
        self, api_key: str, side: Side, coin: str, amount: Decimal, rate: Decimal
    ) -> Order:
        with self.lock:
            quote = self.quote_for(coin)
            if side == "buy":
                needed = amount * rate * (1 + self.config.market_fee)
                if self.available(api_key, "AUD") < needed:
                    raise SimError("Insufficient funds: not enough AUD")
            elif self.available(api_key, coin) < amount:
                raise SimError(f"Insufficient funds: not enough {coin}")
            order = Order(uuid.uuid4().hex[:24], api_key, side, coin, amount, rate, utcnow())
            self.orders[order.id] = order
            # Marketable on arrival: trade at the better current price (taker).
            if side == "buy" and quote.ask <= rate:
                self._fill_order(order, quote.ask)
            elif side == "sell" and quote.bid >= rate:
                self._fill_order(order, quote.bid)
            return order

    def find_order(self, api_key: str, side: Side, order_id: str) -> Order:
        with self.lock:
            order = self.orders.get(order_id)
            if order is None or order.api_key != api_key or order.side != side:
                raise SimError(f"Order not found: {order_id}")
            return order

    def cancel(self, api_key: str, side: Side, order_id: str) -> None:
        with self.lock:
            order = self.find_order(api_key, side, order_id)
            del self.orders[order.id]

    def cancel_all(self, api_key: str, side: Side, coin: str | None) -> int:
        with self.lock:
            doomed = [
                o.id
                for o in self.orders.values()
                if o.api_key == api_key and o.side == side and (coin is None or o.coin == coin)
            ]
            for order_id in doomed:
                del self.orders[order_id]
            return len(doomed)

    def edit(
        self,
        api_key: str,
        side: Side,
        coin: str,
        order_id: str,
        rate: Decimal,
        new_rate: Decimal,
    ) -> Order:
        with self.lock:
            order = self.find_order(api_key, side, order_id)
            if order.coin != coin:
                raise SimError(f"Order not found: {order_id} is not a {coin} order")
            if order.rate != rate:
                raise SimError(f"Invalid rate: order rate is {order.rate}, not {rate}")
            if side == "buy":
                fee = 1 + self.config.market_fee
                extra = order.amount * (new_rate - order.rate) * fee
                if extra > 0 and self.available(api_key, "AUD") < extra:
                    raise SimError("Insufficient funds: not enough AUD for the new rate")
            order.rate = new_rate
            self._match_resting()
            return order

    # --- internals ----------------------------------------------------------------

    def _match_resting(self) -> None:
        for order in list(self.orders.values()):
            quote = self.market.quote(order.coin)
            if quote is None:  # pragma: no cover - coins are never removed
                continue
            if (order.side == "buy" and quote.ask <= order.rate) or (
                order.side == "sell" and quote.bid >= order.rate
            ):
                self._fill_order(order, order.rate)

    def _fill_order(self, order: Order, price: Decimal) -> None:
        amount = order.amount
        ratio = self.faults.partial_fill_ratio()
        if ratio is not None:
            amount = (amount * ratio).quantize(COIN_QUANTUM, ROUND_DOWN) or amount
        self._settle(
            order.api_key,
            order.side,
            order.coin,
            amount,
            price,
            self.config.market_fee,
            "market",
            order.id,
        )
        order.amount -= amount
        if order.amount <= 0:
            del self.orders[order.id]

    def _settle(
        self,
        api_key: str,
        side: Side,
        coin: str,
        amount: Decimal,
        price: Decimal,
        fee_rate: Decimal,
        kind: FillKind,
        order_id: str | None,
    ) -> Fill:
        balances = self.accounts[api_key].balances
        fill = Fill(
            api_key, side, coin, amount, price, amount * price * fee_rate, kind, utcnow(), order_id
        )
        aud = balances.get("AUD", Decimal(0))
        held = balances.get(coin, Decimal(0))
        if side == "buy":
            balances["AUD"] = aud - fill.aud_total
            balances[coin] = held + amount
        else:
            balances[coin] = held - amount
            balances["AUD"] = aud + fill.aud_total
        self.fills.append(fill)
        return fill


def _cross(quote: Quote, base: Quote) -> Quote:
    """`quote` (coin/AUD) expressed in `base` (e.g. USDT/AUD) units."""
    tick = tick_size(quote.mid / base.mid)
    return Quote(
        bid=(quote.bid / base.ask).quantize(tick, ROUND_DOWN).normalize(),
        ask=(quote.ask / base.bid).quantize(tick, ROUND_UP).normalize(),
        last=(quote.last / base.last).quantize(tick, ROUND_HALF_UP).normalize(),
    )


def _check_threshold(
    price: Decimal, rate: Decimal, threshold: Decimal, direction: Literal["UP", "DOWN", "BOTH"]
) -> None:
    moved = (price - rate) / rate * 100
    too_far = {
        "UP": moved > threshold,
        "DOWN": -moved > threshold,
        "BOTH": abs(moved) > threshold,
    }[direction]
    if too_far:
        raise SimError(
            f"Invalid order: price {price} moved {moved:.4f}% from rate {rate}, "
            f"beyond the {threshold}% threshold ({direction})"
        )
