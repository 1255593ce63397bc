"""Which coins of a `latest` answer are stored, and why the others are not."""

from dataclasses import dataclass
from decimal import Decimal

from app.collector.models import MAX_PRICE, MIN_PRICE
from app.exchange.models import LatestPrices


@dataclass(frozen=True)
class PriceRow:
    coin: str
    bid: Decimal
    ask: Decimal
    last: Decimal


def check_prices(latest: LatestPrices) -> tuple[list[PriceRow], dict[str, str]]:
    """Rows to store and {coin: reason} for the rejected ones.

    The exchange client already refuses entries with a missing, negative or non-numeric
    field; here a price must also be strictly positive and the ask at least the bid.
    """
    rows: list[PriceRow] = []
    rejected: dict[str, str] = {coin.upper(): reason for coin, reason in latest.rejected.items()}
    for coin, ticker in sorted(latest.prices.items()):
        bid, ask, last = ticker.bid, ticker.ask, ticker.last
        if not all(value.is_finite() for value in (bid, ask, last)):
            rejected[coin] = "a price is not a finite number"
        elif min(bid, ask, last) <= 0:
            rejected[coin] = f"prices must be positive (bid={bid}, ask={ask}, last={last})"
        elif min(bid, ask, last) < MIN_PRICE or max(bid, ask, last) >= MAX_PRICE:
            rejected[coin] = f"a price is outside what is stored ({MIN_PRICE} to {MAX_PRICE})"
        elif ask < bid:
            rejected[coin] = f"ask {ask} is below bid {bid}"
        elif len(coin) > 16:
            rejected[coin] = "coin symbol longer than 16 characters"
        else:
            rows.append(PriceRow(coin, bid, ask, last))
    return rows, rejected
