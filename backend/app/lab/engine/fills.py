"""The one place where a target position becomes an order: fills, fees, cash and position rules.

The backtest engine calls `rebalance` for every decision it acts on, with floats; the Floor
(paper and live trading) calls the same function with `Decimal`s. Keeping the rules here, and
only here, is what makes "what the Lab measured is what the Floor does" true.

Rules (one account, or one coin's sleeve of an account):

- Equity is marked at the bid: ``equity = cash + holdings * bid``.
- The target is the fraction of that equity to hold in the coin, in [0, 1].
- Buying: the order's notional is ``target * equity - holdings * bid`` AUD, filled at
  ``ask * (1 + slippage)``; the fee is ``notional * fee_rate`` and is paid on top. When cash
  cannot cover notional plus fee, the order shrinks to spend exactly all the cash
  (``notional = cash / (1 + fee_rate)``); there is no leverage and cash never goes negative.
- Selling: the quantity is ``holdings - target * equity / bid`` (all of it when the target is
  0), filled at ``bid * (1 - slippage)``; the fee is ``notional * fee_rate`` and comes out of
  the proceeds. Never more than is held: no shorting, holdings never go negative.
- An order whose notional (quantity times fill price) is below the minimum order size is not
  placed (`rebalance` returns None); nor is an order of zero quantity.

Quantities are not rounded to an exchange's precision here: the Floor quantises before it
sends an order, the backtest does not need to.
"""

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Generic, Literal, NamedTuple, TypeVar

Num = TypeVar("Num", float, Decimal)

Side = Literal["buy", "sell"]

BPS = 10_000


@dataclass(frozen=True, slots=True)
class Costs:
    """Trading costs of a backtest: the fee rate (a fraction of notional), slippage in basis
    points (applied against us on both sides) and the minimum order notional in AUD."""

    fee_rate: float
    slippage_bps: float = 0.0
    min_order_aud: float = 0.0

    def __post_init__(self) -> None:
        check_costs(self.fee_rate, self.slippage_bps, self.min_order_aud)


class Fill(NamedTuple, Generic[Num]):
    """An order to place and the state it leaves behind once filled.

    (A NamedTuple: the backtest creates one per order, and tuples are the cheapest.)"""

    side: Side
    quantity: Num
    price: Num  # fill price per coin, slippage included
    notional: Num  # quantity * price
    fee: Num
    cash: Num  # cash after the fill
    holdings: Num  # holdings after the fill (the resulting position)


def check_costs(
    fee_rate: float | Decimal, slippage_bps: float | Decimal, min_order: float | Decimal
) -> None:
    """Raise ValueError with a readable message when trading costs are out of range."""
    if not 0 <= fee_rate < 1:
        raise ValueError(f"fee rate must be in [0, 1), got {fee_rate}")
    if not 0 <= slippage_bps < BPS:
        raise ValueError(f"slippage must be in [0, {BPS}) basis points, got {slippage_bps}")
    if not 0 <= min_order < math.inf:
        raise ValueError(f"minimum order size must be >= 0 AUD, got {min_order}")


def rebalance(
    cash: Num,
    holdings: Num,
    target: Num,
    bid: Num,
    ask: Num,
    fee_rate: Num,
    slippage_bps: Num,
    min_order: Num,
) -> Fill[Num] | None:
    """The order that moves (cash, holdings) towards `target` at these prices, or None.

    Pass all floats or all Decimals. See the module docstring for the rules. Inputs are
    checked cheaply (this runs once per decision, not once per bar); costs are assumed to have
    been checked with `check_costs` by the caller.
    """
    if not 0 <= target <= 1:
        raise ValueError(f"target position must be in [0, 1], got {target}")
    if not (bid > 0 and ask > 0):
        raise ValueError(f"prices must be positive, got bid={bid} ask={ask}")
    if not (cash >= 0 and holdings >= 0):
        raise ValueError(f"cash and holdings must be >= 0, got cash={cash} holdings={holdings}")

    current_value = holdings * bid
    target_value = target * (cash + current_value)
    slip = slippage_bps / BPS

    if target_value > current_value:
        price = ask * (1 + slip)
        notional = target_value - current_value
        fee = notional * fee_rate
        if notional + fee >= cash:
            # Spend exactly all the cash: computing the remainder by subtraction could leave
            # a negative rounding residue.
            notional = cash / (1 + fee_rate)
            fee = cash - notional
            cash_after = cash - cash
        else:
            cash_after = cash - notional - fee
        if notional <= 0 or notional < min_order:
            return None
        quantity = notional / price
        return Fill("buy", quantity, price, notional, fee, cash_after, holdings + quantity)

    if target_value < current_value:
        price = bid * (1 - slip)
        # Going flat sells exactly what is held: (holdings * bid) / bid may not round-trip.
        excess = (current_value - target_value) / bid
        quantity = holdings if target == 0 else min(holdings, excess)
        notional = quantity * price
        if quantity <= 0 or notional < min_order:
            return None
        fee = notional * fee_rate
        holdings_after = holdings - holdings if target == 0 else holdings - quantity
        return Fill("sell", quantity, price, notional, fee, cash + notional - fee, holdings_after)

    return None
