"""What a backtest is configured with and what it produces; all of it converts to plain JSON."""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from app.lab.engine.fills import Costs, Side, check_costs
from app.lab.engine.jsonsafe import JSONDict, float_list, iso_times, json_float, to_json
from app.lab.engine.market import BoolArray, FloatArray, IntArray, Market


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    """Starting cash (AUD), trading costs and, for several coins, each coin's share of it.

    `allocation` maps coin -> fraction of starting cash given to that coin's sleeve; the
    fractions must be >= 0 and add up to at most 1 (the rest stays in cash). None means equal
    shares. Each sleeve trades on its own: its targets are fractions of its own equity.
    """

    starting_cash: float
    fee_rate: float
    slippage_bps: float = 0.0
    min_order_aud: float = 0.0
    allocation: Mapping[str, float] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        for name in ("starting_cash", "fee_rate", "slippage_bps", "min_order_aud"):
            try:
                value = float(getattr(self, name))
            except (TypeError, ValueError):
                raise ValueError(f"{name} must be a number") from None
            object.__setattr__(self, name, value)
        if self.allocation is not None:
            object.__setattr__(self, "allocation", dict(self.allocation))
        if not (math.isfinite(self.starting_cash) and self.starting_cash > 0):
            raise ValueError(f"starting cash must be a positive amount, got {self.starting_cash}")
        check_costs(self.fee_rate, self.slippage_bps, self.min_order_aud)

    @classmethod
    def with_defaults(
        cls,
        starting_cash: float,
        *,
        fee_rate: float | None = None,
        slippage_bps: float = 0.0,
        min_order_aud: float = 0.0,
        allocation: Mapping[str, float] | None = None,
    ) -> "BacktestConfig":
        """A config whose fee defaults to Coinspot's market fee from settings."""
        if fee_rate is None:
            from app.core.config import settings

            fee_rate = settings.COINSPOT_MARKET_FEE
        return cls(starting_cash, fee_rate, slippage_bps, min_order_aud, allocation)

    @property
    def costs(self) -> Costs:
        return Costs(self.fee_rate, self.slippage_bps, self.min_order_aud)

    def to_dict(self) -> JSONDict:
        return {
            "starting_cash": json_float(self.starting_cash),
            "fee_rate": json_float(self.fee_rate),
            "slippage_bps": json_float(self.slippage_bps),
            "min_order_aud": json_float(self.min_order_aud),
            "allocation": to_json(dict(self.allocation)) if self.allocation is not None else None,
        }


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill. `cash` and `position` are the coin sleeve's cash and holdings after it."""

    time: datetime
    bar: int
    coin: str
    side: Side
    quantity: float
    price: float  # fill price per coin, slippage included
    notional: float  # quantity * price, AUD
    fee: float  # AUD
    position: float
    cash: float

    def to_dict(self) -> JSONDict:
        return {
            "time": self.time.isoformat(),
            "bar": self.bar,
            "coin": self.coin,
            "side": self.side,
            "quantity": json_float(self.quantity),
            "price": json_float(self.price),
            "notional": json_float(self.notional),
            "fee": json_float(self.fee),
            "position": json_float(self.position),
            "cash": json_float(self.cash),
        }


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """From the first buy out of a flat position until the position is flat again.

    `cost` is what the buys took (notional + fees), `proceeds` what the sells returned
    (notional - fees), `pnl = proceeds - cost`. An `open` trip is still held when the
    backtest ends: its `proceeds` include the holdings marked at the last bid (no exit fee).
    """

    coin: str
    entry_time: datetime
    entry_bar: int
    exit_time: datetime | None
    exit_bar: int | None
    fills: int
    cost: float
    proceeds: float
    pnl: float
    return_on_cost: float
    open: bool

    def to_dict(self) -> JSONDict:
        return {
            "coin": self.coin,
            "entry_time": self.entry_time.isoformat(),
            "entry_bar": self.entry_bar,
            "exit_time": self.exit_time.isoformat() if self.exit_time else None,
            "exit_bar": self.exit_bar,
            "fills": self.fills,
            "cost": json_float(self.cost),
            "proceeds": json_float(self.proceeds),
            "pnl": json_float(self.pnl),
            "return_on_cost": json_float(self.return_on_cost),
            "open": self.open,
        }


@dataclass(frozen=True, eq=False)
class FillTable:
    """Every fill of a backtest as columns (one row per fill, ordered by bar, then coin).

    `coin` indexes the market's coins; `buy` is True for buys; `position` and `cash` are the
    coin sleeve's holdings and cash after the fill. Metrics read these arrays; the `Trade`
    objects in `BacktestResult.trades` are built from them only when asked for.
    """

    bar: IntArray
    coin: IntArray
    buy: BoolArray
    quantity: FloatArray
    price: FloatArray
    notional: FloatArray
    fee: FloatArray
    position: FloatArray
    cash: FloatArray

    def __len__(self) -> int:
        return len(self.bar)


@dataclass(frozen=True, eq=False)
class TripTable:
    """Round trips as columns (see `RoundTrip`), ordered by entry bar, then coin;
    `exit_bar` is -1 for a trip still open at the end."""

    coin: IntArray
    entry_bar: IntArray
    exit_bar: IntArray
    fills: IntArray
    cost: FloatArray
    proceeds: FloatArray

    def __len__(self) -> int:
        return len(self.coin)

    @property
    def is_open(self) -> BoolArray:
        return self.exit_bar < 0

    @property
    def pnl(self) -> FloatArray:
        return self.proceeds - self.cost


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """Per-bar state of the whole account and the trades that made it.

    `equity`, `cash` are (bars,); `holdings` is (bars, coins) in coin units, the state at the
    end of each bar (after that bar's fills). ``equity == cash + sum(holdings * mark)`` at every
    bar, where `mark` is the last known bid (`Market.mark`; a coin with no holdings adds 0).
    `cash` includes starting cash not allocated to any coin.
    """

    market: Market
    config: BacktestConfig
    allocation: dict[str, float]
    equity: FloatArray
    cash: FloatArray
    holdings: FloatArray
    fills: FillTable
    trips: TripTable

    @property
    def index(self) -> pd.DatetimeIndex:
        return self.market.index

    @property
    def coins(self) -> tuple[str, ...]:
        return self.market.coins

    @property
    def holdings_value(self) -> FloatArray:
        """(bars, coins) AUD value of the holdings marked at the last known bid."""
        return np.where(self.holdings > 0, self.holdings * self.market.mark, 0.0)

    @property
    def fees_paid(self) -> float:
        return math.fsum(self.fills.fee.tolist())

    @property
    def traded_notional(self) -> float:
        return math.fsum(self.fills.notional.tolist())

    @cached_property
    def trades(self) -> tuple[Trade, ...]:
        f = self.fills
        times = _times(self.index, f.bar)
        coins = self.coins
        return tuple(
            Trade(time, bar, coins[c], "buy" if buy else "sell", *values)
            for time, bar, c, buy, *values in zip(
                times,
                f.bar.tolist(),
                f.coin.tolist(),
                f.buy.tolist(),
                f.quantity.tolist(),
                f.price.tolist(),
                f.notional.tolist(),
                f.fee.tolist(),
                f.position.tolist(),
                f.cash.tolist(),
                strict=True,
            )
        )

    @cached_property
    def round_trips(self) -> tuple[RoundTrip, ...]:
        t = self.trips
        entries = _times(self.index, t.entry_bar)
        exits = _times(self.index, np.maximum(t.exit_bar, 0))
        trips: list[RoundTrip] = []
        for i, (coin, entry, exit_bar, fills, cost, proceeds) in enumerate(
            zip(
                t.coin.tolist(),
                t.entry_bar.tolist(),
                t.exit_bar.tolist(),
                t.fills.tolist(),
                t.cost.tolist(),
                t.proceeds.tolist(),
                strict=True,
            )
        ):
            is_open = exit_bar < 0
            trips.append(
                RoundTrip(
                    coin=self.coins[coin],
                    entry_time=entries[i],
                    entry_bar=entry,
                    exit_time=None if is_open else exits[i],
                    exit_bar=None if is_open else exit_bar,
                    fills=fills,
                    cost=cost,
                    proceeds=proceeds,
                    pnl=proceeds - cost,
                    return_on_cost=(proceeds - cost) / cost,
                    open=is_open,
                )
            )
        return tuple(trips)

    def equity_series(self) -> "pd.Series[float]":
        return pd.Series(self.equity, index=self.index, name="equity")

    def to_dict(self, series_max_points: int | None = None) -> JSONDict:
        """Plain JSON. `series_max_points` thins the per-bar series for charts (every k-th
        bar plus the last one); None keeps every bar."""
        rows = _thinned_rows(len(self.index), series_max_points)
        series: JSONDict = {
            "time": iso_times(self.index[rows]),
            "equity": float_list(self.equity[rows]),
            "cash": float_list(self.cash[rows]),
            "holdings": {
                coin: float_list(self.holdings[rows, i]) for i, coin in enumerate(self.coins)
            },
        }
        return {
            "coins": list(self.coins),
            "config": self.config.to_dict(),
            "allocation": {c: json_float(w) for c, w in self.allocation.items()},
            "start": self.index[0].isoformat(),
            "end": self.index[-1].isoformat(),
            "bars": len(self.index),
            "final_equity": json_float(float(self.equity[-1])),
            "fees_paid": json_float(self.fees_paid),
            "series": series,
            "trades": [t.to_dict() for t in self.trades],
            "round_trips": [r.to_dict() for r in self.round_trips],
        }


def _times(index: pd.DatetimeIndex, bars: IntArray) -> list[datetime]:
    if len(bars) == 0:
        return []
    return list(index[bars].to_pydatetime())


def _thinned_rows(n: int, max_points: int | None) -> Any:
    if max_points is None or n <= max_points:
        return slice(None)
    if max_points < 2:
        raise ValueError("series_max_points must be at least 2")
    step = -(-(n - 1) // (max_points - 1))
    rows = np.arange(0, n, step)
    if rows[-1] != n - 1:
        rows = np.append(rows, n - 1)
    return rows
