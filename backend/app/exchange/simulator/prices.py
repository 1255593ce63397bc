"""Simulated prices: a seeded random walk per coin, or a replay of recorded history.

Every price is a `Decimal` rounded to the coin's tick: eight significant digits, never
finer than 0.00000001 nor coarser than 0.01 AUD, and the ask is always at least one
tick above the bid. Not thread-safe on its own; the engine's lock guards it.
"""

import csv
import math
import random
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from pathlib import Path

from app.exchange.simulator.config import CoinSpec, PriceRow, PriceSnapshot


@dataclass(frozen=True)
class Quote:
    bid: Decimal
    ask: Decimal
    last: Decimal

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


def tick_size(price: Decimal) -> Decimal:
    exponent = price.adjusted() - 7 if price > 0 else -8
    return Decimal(1).scaleb(min(max(exponent, -8), -2))


def _quote_from_mid(mid: Decimal, spread: Decimal, position: float) -> Quote:
    """Bid/ask around `mid`; `last` at `position` (0..1) between them."""
    tick = tick_size(mid)
    half = mid * spread / 2
    bid = max((mid - half).quantize(tick, ROUND_DOWN), tick)
    ask = max((mid + half).quantize(tick, ROUND_UP), bid + tick)
    last = (bid + (ask - bid) * Decimal(repr(position))).quantize(tick, ROUND_DOWN)
    return Quote(bid=bid.normalize(), ask=ask.normalize(), last=last.normalize())


class _Walk:
    def __init__(self, spec: CoinSpec, seed: int) -> None:
        self.spec = spec
        # A string seed is hashed with SHA-512 by `random`: stable across runs and processes.
        # bandit B311: seeded simulated prices
        self.rng = random.Random(f"{seed}:{spec.symbol}")  # nosec B311
        self.mid = spec.price
        self.quote = _quote_from_mid(self.mid, spec.spread, 0.5)

    def step(self) -> None:
        sigma = self.spec.volatility
        factor = math.exp(sigma * self.rng.gauss(0.0, 1.0) - sigma * sigma / 2)
        self.mid = self.mid * Decimal(repr(factor))
        self.quote = _quote_from_mid(self.mid, self.spec.spread, self.rng.random())

    def set(self, quote: Quote) -> None:
        self.quote = quote
        self.mid = quote.mid


def load_replay_csv(path: Path) -> list[PriceSnapshot]:
    """Read `timestamp,coin,bid,ask,last` rows (header required) into ordered snapshots."""
    steps: dict[str, dict[str, PriceRow]] = {}
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"timestamp", "coin", "bid", "ask", "last"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"replay CSV lacks columns: {sorted(missing)}")
        for row in reader:
            steps.setdefault(row["timestamp"], {})[row["coin"].strip().upper()] = PriceRow(
                bid=Decimal(row["bid"]), ask=Decimal(row["ask"]), last=Decimal(row["last"])
            )
    return [PriceSnapshot(timestamp=ts, prices=prices) for ts, prices in sorted(steps.items())]


class Market:
    """Current quotes of every coin; `step()` moves them one tick."""

    def __init__(
        self,
        coins: list[CoinSpec],
        seed: int,
        replay: list[PriceSnapshot] | None = None,
        replay_loop: bool = False,
    ) -> None:
        self._seed = seed
        self._walks: dict[str, _Walk] = {}
        self._replayed: dict[str, Quote] = {}
        self._replay = replay or []
        self._replay_loop = replay_loop
        self._replay_index = 0
        self.ticks = 0
        if replay is not None:
            if not replay:
                raise ValueError("a replay needs at least one snapshot")
            self._apply_snapshot(replay[0])
        else:
            for spec in coins:
                self.add_coin(spec)

    def symbols(self) -> list[str]:
        return sorted({*self._walks, *self._replayed})

    def has(self, symbol: str) -> bool:
        return symbol in self._walks or symbol in self._replayed

    def quote(self, symbol: str) -> Quote | None:
        walk = self._walks.get(symbol)
        return walk.quote if walk else self._replayed.get(symbol)

    def quotes(self) -> dict[str, Quote]:
        result = dict(self._replayed)
        result.update({symbol: walk.quote for symbol, walk in self._walks.items()})
        return result

    def add_coin(self, spec: CoinSpec) -> None:
        if self.has(spec.symbol):
            raise ValueError(f"coin {spec.symbol} already exists")
        self._walks[spec.symbol] = _Walk(spec, self._seed)

    def set_quote(self, symbol: str, quote: Quote) -> None:
        walk = self._walks.get(symbol)
        if walk:
            walk.set(quote)
        elif symbol in self._replayed:
            self._replayed[symbol] = quote
        else:
            raise KeyError(symbol)

    def step(self) -> None:
        self.ticks += 1
        for walk in self._walks.values():
            walk.step()
        if self._replay:
            nxt = self._replay_index + 1
            if nxt >= len(self._replay):
                nxt = 0 if self._replay_loop else len(self._replay) - 1
            if nxt != self._replay_index:
                self._replay_index = nxt
                self._apply_snapshot(self._replay[nxt])

    def _apply_snapshot(self, snapshot: PriceSnapshot) -> None:
        for symbol, row in snapshot.prices.items():
            self._replayed[symbol] = Quote(bid=row.bid, ask=row.ask, last=row.last)

    def random_specs(self, count: int, prefix: str) -> list[CoinSpec]:
        """`count` new coins named PREFIX0001... with log-uniform prices (1e-6 .. 1e5 AUD)."""
        # bandit B311: seeded test coins
        rng = random.Random(f"{self._seed}:bulk:{prefix}:{len(self._walks)}")  # nosec B311
        specs: list[CoinSpec] = []
        number = 1
        while len(specs) < count:
            symbol = f"{prefix}{number:04d}"
            number += 1
            if self.has(symbol):
                continue
            price = Decimal(repr(10 ** rng.uniform(-6, 5))).quantize(Decimal("1e-10"))
            specs.append(
                CoinSpec(
                    symbol=symbol,
                    price=max(price, Decimal("1e-8")),
                    volatility=rng.uniform(0.002, 0.008),
                    spread=Decimal(repr(round(rng.uniform(0.004, 0.02), 4))),
                )
            )
        return specs
