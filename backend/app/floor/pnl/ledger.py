"""FIFO tax lots: realised and unrealised P&L from a sequence of fills, in exact Decimals.

Rules (one deployment's one coin; aggregates add these up):

- Fills are applied in time order. A buy opens a lot: quantity, price, and its fees (fee ex
  GST and GST, kept apart). A sell closes lots first-in first-out; a lot closed in part is
  split, its fees shared pro rata by quantity.
- Shares of a lot's fees are quantised to 8 decimals (Coinspot's finest unit, ROUND_HALF_EVEN)
  and the remainder stays with the open part, so no fee is created or lost by splitting: the
  fees of the closed and open parts always add up to the lot's fees exactly.
- Realised P&L of a closed part: gross = quantity * (sell price - buy price); fees = the
  part's buy fees + its share of the sell's fees; net = gross - fees. Sell fees are shared
  over the lots the sell closes in the same way.
- Unrealised P&L of open lots is marked at the bid: gross = quantity * (bid - buy price);
  their buy fees are already paid and shown in `fees_open`.
- Identity (tested on random fill sequences): realised gross + unrealised gross - all fees
  paid = change in equity (cash + holdings at the bid) since the first fill.
- A sell of more than is held is an error (`LedgerError`): the Floor never shorts, so such a
  fill means our books are wrong, and that must not be hidden.
- An average-cost view is given beside FIFO: average buy price of what is held, fees
  included, and the P&L it implies at the bid.
"""

import functools
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Literal, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

EIGHT = Decimal("0.00000001")
CENT = Decimal("0.01")
ZERO = Decimal(0)


def _precise(fn: Callable[P, R]) -> Callable[P, R]:
    """Run `fn` with 60 significant digits, so sums and differences of our amounts are exact."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with localcontext() as ctx:
            ctx.prec = 60
            return fn(*args, **kwargs)

    return wrapper


class LedgerError(ValueError):
    pass


@dataclass(frozen=True)
class LedgerFill:
    time: datetime
    side: Literal["buy", "sell"]
    quantity: Decimal
    price: Decimal
    fee: Decimal  # ex GST, AUD
    gst: Decimal  # AUD


@dataclass
class Lot:
    opened: datetime
    quantity: Decimal
    price: Decimal
    fee: Decimal
    gst: Decimal

    @property
    @_precise
    def fees(self) -> Decimal:
        return self.fee + self.gst


@dataclass(frozen=True)
class ClosedLot:
    opened: datetime
    closed: datetime
    quantity: Decimal
    buy_price: Decimal
    sell_price: Decimal
    buy_fee: Decimal
    buy_gst: Decimal
    sell_fee: Decimal
    sell_gst: Decimal

    @property
    @_precise
    def gross(self) -> Decimal:
        return self.quantity * (self.sell_price - self.buy_price)

    @property
    @_precise
    def fees(self) -> Decimal:
        return self.buy_fee + self.buy_gst + self.sell_fee + self.sell_gst

    @property
    @_precise
    def net(self) -> Decimal:
        return self.gross - self.fees

    @property
    @_precise
    def cost(self) -> Decimal:
        return self.quantity * self.buy_price + self.buy_fee + self.buy_gst

    @property
    @_precise
    def proceeds(self) -> Decimal:
        return self.quantity * self.sell_price - self.sell_fee - self.sell_gst


def _exact(values: Iterable[Decimal]) -> Decimal:
    """Sum with enough precision that no rounding happens for amounts of our size."""
    with localcontext() as ctx:
        ctx.prec = 60
        return sum(values, ZERO)


def _share(total: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    if part == whole:
        return total
    return (total * part / whole).quantize(EIGHT, rounding=ROUND_HALF_EVEN)


@dataclass
class CoinLedger:
    """The lots of one coin in one deployment."""

    open_lots: deque[Lot] = field(default_factory=deque)
    closed: list[ClosedLot] = field(default_factory=list)
    cash_flow: Decimal = ZERO  # AUD in (+) and out (-) from fills
    fees_paid: Decimal = ZERO  # fee + GST of every fill
    gst_paid: Decimal = ZERO

    def apply(self, fill: LedgerFill) -> None:
        if fill.quantity <= 0 or fill.price <= 0 or fill.fee < 0 or fill.gst < 0:
            raise LedgerError(f"invalid fill: {fill}")
        with localcontext() as ctx:
            ctx.prec = 60
            self.fees_paid += fill.fee + fill.gst
            self.gst_paid += fill.gst
            if fill.side == "buy":
                self.cash_flow -= fill.quantity * fill.price + fill.fee + fill.gst
                self.open_lots.append(Lot(fill.time, fill.quantity, fill.price, fill.fee, fill.gst))
                return
            self.cash_flow += fill.quantity * fill.price - fill.fee - fill.gst
            self._close(fill)

    def _close(self, fill: LedgerFill) -> None:
        held = self.quantity
        if fill.quantity > held:
            raise LedgerError(f"sell of {fill.quantity} at {fill.time} but only {held} is held")
        left = fill.quantity
        fee_left, gst_left = fill.fee, fill.gst
        while left > 0:
            lot = self.open_lots[0]
            take = min(left, lot.quantity)
            buy_fee = _share(lot.fee, take, lot.quantity)
            buy_gst = _share(lot.gst, take, lot.quantity)
            sell_fee = _share(fee_left, take, left)
            sell_gst = _share(gst_left, take, left)
            self.closed.append(
                ClosedLot(
                    lot.opened,
                    fill.time,
                    take,
                    lot.price,
                    fill.price,
                    buy_fee,
                    buy_gst,
                    sell_fee,
                    sell_gst,
                )
            )
            fee_left -= sell_fee
            gst_left -= sell_gst
            left -= take
            if take == lot.quantity:
                self.open_lots.popleft()
            else:
                lot.quantity -= take
                lot.fee -= buy_fee
                lot.gst -= buy_gst

    @property
    @_precise
    def quantity(self) -> Decimal:
        return _exact(lot.quantity for lot in self.open_lots)

    @property
    @_precise
    def realised_gross(self) -> Decimal:
        return _exact(c.gross for c in self.closed)

    @property
    @_precise
    def realised_fees(self) -> Decimal:
        return _exact(c.fees for c in self.closed)

    @property
    @_precise
    def realised_net(self) -> Decimal:
        return self.realised_gross - self.realised_fees

    @property
    @_precise
    def fees_open(self) -> Decimal:
        return _exact(lot.fees for lot in self.open_lots)

    @property
    @_precise
    def cost_open(self) -> Decimal:
        """What the held coins cost, their buy fees included."""
        return _exact(lot.quantity * lot.price + lot.fees for lot in self.open_lots)

    @_precise
    def unrealised_gross(self, bid: Decimal) -> Decimal:
        return _exact(lot.quantity * (bid - lot.price) for lot in self.open_lots)

    @_precise
    def unrealised_net(self, bid: Decimal) -> Decimal:
        return self.unrealised_gross(bid) - self.fees_open

    def average_price(self) -> Decimal | None:
        """Average-cost view: what one held coin cost on average, fees included."""
        quantity = self.quantity
        if quantity == 0:
            return None
        with localcontext() as ctx:
            ctx.prec = 60
            return self.cost_open / quantity

    @_precise
    def market_value(self, bid: Decimal) -> Decimal:
        return _exact(lot.quantity * bid for lot in self.open_lots)


def build(fills: list[LedgerFill]) -> CoinLedger:
    ledger = CoinLedger()
    for fill in sorted(fills, key=lambda f: f.time):
        ledger.apply(fill)
    return ledger


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)
