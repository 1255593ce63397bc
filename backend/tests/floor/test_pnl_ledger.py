"""FIFO lots against hand-computed cases, and the P&L identity on random fill sequences."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.floor.pnl.ledger import CoinLedger, LedgerError, LedgerFill, build

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def fill(
    minute: int, side: str, qty: str, price: str, fee: str = "0", gst: str = "0"
) -> LedgerFill:
    return LedgerFill(T0 + timedelta(minutes=minute), side, D(qty), D(price), D(fee), D(gst))  # type: ignore[arg-type]


def test_partial_closes_across_several_lots_by_hand() -> None:
    ledger = build(
        [
            fill(0, "buy", "1", "100", "1.00", "0.10"),
            fill(5, "buy", "2", "110", "2.00", "0.20"),
            # Sells 1.5: all of lot 1 and 0.5 of lot 2.
            fill(10, "sell", "1.5", "120", "1.50", "0.15"),
        ]
    )
    first, second = ledger.closed
    assert (first.quantity, first.buy_price, first.sell_price) == (D("1"), D("100"), D("120"))
    assert first.buy_fee == D("1.00") and first.buy_gst == D("0.10")
    # The sell's fee is shared by quantity: 1 of 1.5 and 0.5 of 1.5.
    assert first.sell_fee == D("1.00000000") and first.sell_gst == D("0.10000000")
    assert second.sell_fee == D("0.50") and second.sell_gst == D("0.05")
    # Lot 2's fees: a quarter goes with the 0.5 sold.
    assert second.buy_fee == D("0.50000000") and second.buy_gst == D("0.05000000")
    assert first.gross == D("20") and second.gross == D("5")
    assert ledger.realised_gross == D("25")
    assert ledger.realised_fees == D("1.10") + D("1.10") + D("0.55") + D("0.55")
    assert ledger.realised_net == D("25") - D("3.30")
    # Open: 1.5 of lot 2 with three quarters of its fees.
    assert ledger.quantity == D("1.5")
    assert ledger.fees_open == D("1.50") + D("0.15")
    assert ledger.unrealised_gross(D("105")) == D("1.5") * D("-5")
    assert ledger.unrealised_net(D("105")) == D("-7.5") - D("1.65")
    assert ledger.average_price() == (D("1.5") * D("110") + D("1.65")) / D("1.5")
    assert ledger.gst_paid == D("0.45")


def test_coinspot_instant_fee_with_gst_as_reported() -> None:
    # A real Coinspot record: audtotal 500, audfeeExGst 4.50045005, audGst 0.450045.
    ledger = build(
        [
            fill(0, "buy", "0.01", "49504.95", "4.50045005", "0.450045"),
            fill(5, "sell", "0.01", "50000", "4.50045005", "0.450045"),
        ]
    )
    (closed,) = ledger.closed
    assert closed.fees == D("9.9009901")
    assert closed.gross == D("0.01") * (D("50000") - D("49504.95"))
    assert ledger.realised_net == closed.gross - D("9.9009901")
    assert ledger.quantity == 0 and ledger.average_price() is None


def test_a_coin_bought_by_two_deployments_keeps_separate_lots() -> None:
    a = build([fill(0, "buy", "1", "100", "1"), fill(10, "sell", "1", "130", "1.3")])
    b = build([fill(5, "buy", "2", "120", "2.4")])
    account_realised = a.realised_net + b.realised_net
    assert a.realised_net == D("30") - D("2.3")
    assert b.realised_net == 0 and b.quantity == 2
    # The account's view is the sum of its deployments', to the last digit.
    assert account_realised == D("27.7")
    assert a.unrealised_gross(D("125")) + b.unrealised_gross(D("125")) == D("10")


def test_selling_more_than_is_held_is_an_error() -> None:
    ledger = build([fill(0, "buy", "1", "100")])
    with pytest.raises(LedgerError, match="only 1 is held"):
        ledger.apply(fill(5, "sell", "1.00000001", "100"))


amounts = st.decimals(min_value=D("0.00000001"), max_value=D("50"), places=8)
prices = st.decimals(min_value=D("0.0001"), max_value=D("200000"), places=8)
fees = st.decimals(min_value=D("0"), max_value=D("20"), places=8)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), amounts, prices, fees, fees), min_size=1, max_size=40),
    prices,
)
def test_realised_plus_unrealised_minus_fees_is_the_equity_change(
    steps: list[tuple[bool, D, D, D, D]], bid: D
) -> None:
    ledger = CoinLedger()
    for i, (is_buy, qty, price, fee, gst) in enumerate(steps):
        held = ledger.quantity
        if not is_buy:
            if held == 0:
                continue
            qty = min(qty, held)
        ledger.apply(
            LedgerFill(T0 + timedelta(minutes=i), "buy" if is_buy else "sell", qty, price, fee, gst)
        )
    equity_change = ledger.cash_flow + ledger.market_value(bid)
    assert ledger.realised_gross + ledger.unrealised_gross(bid) - ledger.fees_paid == equity_change
    # Every fee paid is either in a closed lot or still with an open one.
    assert ledger.realised_fees + ledger.fees_open == ledger.fees_paid
    assert ledger.quantity >= 0
