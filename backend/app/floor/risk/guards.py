"""The limit checks themselves: figures in, a `Breach` (or None) out. No database here.

Rules:
- Price guards (every order, buys and sells): a quote older than `max_price_age_seconds`;
  a bid or ask more than `max_price_jump_fraction` away from the previous collected bar
  (a bad tick); a spread (ask - bid) / mid wider than `max_spread_fraction`.
- Exposure limits apply to orders that grow a position (buys): order notional, position
  per coin in AUD and as a fraction of the sleeve (the holding after the buy, at the
  order's price, over the larger of the capital and the deployment's equity now), the account's exposure (all live holdings at the bid, plus the buy), cooldown.
- Loss limits apply to every order: daily loss (deployment and account) and drawdown
  from the peak, and so does the hourly order count (a runaway algorithm sells too).
- A figure equal to its limit is within it; the order that would go past it breaches.
"""

from datetime import datetime
from decimal import Decimal

from app.floor.brokers import OrderRequest, Quote
from app.floor.risk.limits import Breach

Q = Decimal("0.01")


def _pct(value: Decimal) -> str:
    return f"{(value * 100).quantize(Decimal('0.01'))} %"


def price_guards(
    limits_age: int | None,
    limits_jump: Decimal | None,
    limits_spread: Decimal | None,
    actions: dict[str, str],
    quote: Quote,
    previous: tuple[datetime, Decimal, Decimal] | None,
    now: datetime,
) -> Breach | None:
    if limits_age is not None:
        age = Decimal(str(round((now - quote.at).total_seconds(), 3)))
        if age > limits_age:
            return Breach(
                "deployment",
                "max_price_age_seconds",
                actions["max_price_age_seconds"],
                age,
                Decimal(limits_age),
                f"stale price: the {quote.source} quote is {age} s old (limit {limits_age} s)",
                {"quote_at": quote.at.isoformat(), "bid": quote.bid, "ask": quote.ask},
            )
    if limits_jump is not None and previous is not None:
        at, bid, ask = previous
        jump = max(abs(quote.bid - bid) / bid, abs(quote.ask - ask) / ask)
        if jump > limits_jump:
            return Breach(
                "deployment",
                "max_price_jump_fraction",
                actions["max_price_jump_fraction"],
                jump,
                limits_jump,
                f"bad tick: bid/ask moved {_pct(jump)} from the bar of {at.isoformat()} "
                f"(limit {_pct(limits_jump)})",
                {
                    "bid": quote.bid,
                    "ask": quote.ask,
                    "previous_bid": bid,
                    "previous_ask": ask,
                    "previous_bar": at.isoformat(),
                },
            )
    if limits_spread is not None:
        mid = (quote.bid + quote.ask) / 2
        spread = (quote.ask - quote.bid) / mid
        if spread > limits_spread:
            return Breach(
                "deployment",
                "max_spread_fraction",
                actions["max_spread_fraction"],
                spread,
                limits_spread,
                f"spread {_pct(spread)} is wider than {_pct(limits_spread)}",
                {"bid": quote.bid, "ask": quote.ask},
            )
    return None


def above(
    scope: str,
    limit: str,
    action: str,
    value: Decimal,
    threshold: Decimal | int | None,
    message: str,
    **figures: object,
) -> Breach | None:
    """A breach when `value` > `threshold` (None = not enforced)."""
    if threshold is None or value <= threshold:
        return None
    return Breach(scope, limit, action, value, Decimal(threshold), message, dict(figures))


def order_notional(request: OrderRequest, limit: Decimal | None, action: str) -> Breach | None:
    value = request.notional.quantize(Q)
    return above(
        "deployment",
        "max_order_aud",
        action,
        request.notional,
        limit,
        f"buy of {value} AUD is above the order limit {limit} AUD",
    )


def position(
    request: OrderRequest,
    held: Decimal,
    capital: Decimal,
    limit_aud: Decimal | None,
    limit_fraction: Decimal | None,
    actions: dict[str, str],
) -> Breach | None:
    after = (held + request.quantity) * request.price
    shown = after.quantize(Q)
    breach = above(
        "deployment",
        "max_position_aud",
        actions["max_position_aud"],
        after,
        limit_aud,
        f"{request.coin} position would be {shown} AUD, above {limit_aud} AUD",
        held_quantity=held,
        buy_quantity=request.quantity,
        price=request.price,
    )
    if breach is not None or capital <= 0:
        return breach
    fraction = after / capital
    return above(
        "deployment",
        "max_position_fraction",
        actions["max_position_fraction"],
        fraction,
        limit_fraction,
        f"{request.coin} position would be {_pct(fraction)} of the sleeve, above "
        f"{_pct(limit_fraction or Decimal(0))}",
        position_aud=after,
        capital=capital,
    )


def loss(
    scope: str, limit: Decimal | None, action: str, start: Decimal, now: Decimal
) -> Breach | None:
    lost = start - now
    return above(
        scope,
        "daily_loss_aud",
        action,
        lost,
        limit,
        f"{'account' if scope == 'account' else 'deployment'} lost {lost.quantize(Q)} AUD "
        f"today, above the daily limit {limit} AUD",
        start_equity=start,
        equity=now,
    )


def drawdown(limit: Decimal | None, action: str, peak: Decimal, equity: Decimal) -> Breach | None:
    if limit is None or peak <= 0:
        return None
    value = (peak - equity) / peak
    return above(
        "deployment",
        "max_drawdown_fraction",
        action,
        value,
        limit,
        f"drawdown {_pct(value)} from the peak {peak.quantize(Q)} AUD is beyond {_pct(limit)}",
        peak_equity=peak,
        equity=equity,
    )
