"""The comparisons of one reconciliation run, as pure functions over what was read.

Rules:
- Each difference becomes an `Observation` with a stable key (the same difference seen by
  a later run has the same key, so it is recorded once): `fill:<match_key>`,
  `order:<exchange id>`, `missing:<order id>`, `unknown:<order id>`,
  `balance:<coin>:<difference>`.
- An exchange fill not booked by us is matched to one of our live orders that could still
  have filled (an order resting here — `open`/`partially_filled` — or one that was closed
  without a definitive answer: a `cancelled` order that went through `unknown`, or a
  cancelled book order) by coin, side, time after sending, amount within what is left and
  rate within the order's guard. No such order: a trade placed outside the platform.
- Expected balance of a coin = Coinspot's balance at the baseline + (explained now -
  explained at the baseline) + adopted outside changes, where explained = the net of our
  booked live trades + the net of exchange fills recorded as breaks but not booked.
  Anything else is a `balance_changed` break, blocking when the account now holds less
  than the live sleeves claim.
"""

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from app.exchange.models import MyOpenOrder
from app.floor.brokers import ExchangeFill
from app.floor.ledger import Order
from app.floor.ledger import OrderStatus as S
from app.floor.reconciliation.models import BreakKind

CLOCK_SKEW = timedelta(seconds=5)
AUD = "AUD"


@dataclass(frozen=True)
class Observation:
    key: str
    kind: BreakKind
    coin: str | None
    message: str
    blocking: bool
    ours: Decimal | None = None
    theirs: Decimal | None = None
    deployment_id: uuid.UUID | None = None
    order_id: uuid.UUID | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def fill_key(fill: ExchangeFill) -> str:
    return f"fill:{fill.match_key}"


def fill_detail(fill: ExchangeFill) -> dict[str, Any]:
    return {
        "match_key": fill.match_key,
        "side": fill.side,
        "amount": str(fill.amount),
        "rate": str(fill.rate),
        "fee": str(fill.fee),
        "gst": str(fill.gst),
        "aud_total": str(fill.aud_total),
        "sold_at": fill.sold_at.isoformat(),
    }


def detail_fill(coin: str, detail: Mapping[str, Any]) -> ExchangeFill:
    """The exchange fill a fill break recorded."""
    return ExchangeFill(
        coin=coin,
        side="buy" if detail["side"] == "buy" else "sell",
        amount=Decimal(detail["amount"]),
        rate=Decimal(detail["rate"]),
        sold_at=datetime.fromisoformat(detail["sold_at"]),
        fee=Decimal(detail["fee"]),
        gst=Decimal(detail["gst"]),
        aud_total=Decimal(detail["aud_total"]),
    )


def fill_effect(coin: str, side: str, amount: Decimal, aud_total: Decimal) -> dict[str, Decimal]:
    """What a fill does to the account's balances."""
    if side == "buy":
        return {coin: amount, AUD: -aud_total}
    return {coin: -amount, AUD: aud_total}


def add_into(total: dict[str, Decimal], effect: Mapping[str, Decimal]) -> None:
    for coin, amount in effect.items():
        total[coin] = total.get(coin, Decimal(0)) + amount


def _inside_guard(order: Order, rate: Decimal) -> bool:
    if order.limit_rate is None:
        return True
    slack = (order.threshold_pct or Decimal(0)) / 100
    if order.side == "buy":
        return rate <= order.limit_rate * (1 + slack)
    return rate >= order.limit_rate * (1 - slack)


def _may_have_filled(order: Order) -> bool:
    if order.status in (S.OPEN, S.PARTIALLY_FILLED):
        return True
    return order.status == S.CANCELLED and (
        order.unknown_at is not None or order.style != "instant"
    )


def classify_fills(
    fills: Sequence[ExchangeFill],
    orders: Sequence[Order],
    skip_keys: set[str],
    window: timedelta,
    exchange_open_ids: set[str],
) -> list[Observation]:
    """A break for every exchange fill whose match_key is not in `skip_keys` (booked, or
    already recorded as a break)."""
    left = {o.id: o.requested_quantity - o.filled_quantity for o in orders}
    found: list[Observation] = []
    for fill in sorted(fills, key=lambda f: f.sold_at):
        if fill.match_key in skip_keys:
            continue
        owner = None
        for order in sorted(orders, key=lambda o: o.submitting_at or o.created_at):
            sent = order.submitting_at or order.created_at
            if order.coin.upper() != fill.coin.upper() or order.side != fill.side:
                continue
            if (
                not _may_have_filled(order)
                or not sent - CLOCK_SKEW <= fill.sold_at <= sent + window
            ):
                continue
            if not 0 < fill.amount <= left[order.id] or not _inside_guard(order, fill.rate):
                continue
            owner = order
            break
        detail = fill_detail(fill)
        what = f"{fill.side} {fill.amount} {fill.coin} at {fill.rate} ({fill.sold_at.isoformat()})"
        if owner is None:
            found.append(
                Observation(
                    fill_key(fill),
                    BreakKind.EXTERNAL_TRADE,
                    fill.coin,
                    f"a trade at Coinspot none of our orders placed: {what}",
                    blocking=True,
                    theirs=fill.amount,
                    detail=detail,
                )
            )
            continue
        left[owner.id] -= fill.amount
        resting = owner.status in (S.OPEN, S.PARTIALLY_FILLED)
        detail["open_at_exchange"] = (owner.exchange_order_id or "") in exchange_open_ids
        found.append(
            Observation(
                fill_key(fill),
                BreakKind.FILLED_THOUGHT_OPEN if resting else BreakKind.MISSED_FILL,
                fill.coin,
                (
                    f"order {owner.id} is {owner.status} here but Coinspot filled {what}"
                    if resting
                    else f"a fill of order {owner.id} ({owner.status}) was never booked: {what}"
                ),
                blocking=True,
                ours=owner.filled_quantity,
                theirs=owner.filled_quantity + fill.amount,
                deployment_id=owner.deployment_id,
                order_id=owner.id,
                detail=detail,
            )
        )
    return found


def compare_open_orders(
    exchange_open: Iterable[tuple[str, MyOpenOrder]],
    orders: Sequence[Order],
    thought_open_filled: set[uuid.UUID],
) -> list[Observation]:
    """Orders open at Coinspot we do not know, and ours open here but gone there."""
    by_exchange_id = {o.exchange_order_id: o for o in orders if o.exchange_order_id}
    seen: set[str] = set()
    found: list[Observation] = []
    for side, entry in exchange_open:
        seen.add(entry.id)
        ours = by_exchange_id.get(entry.id)
        if ours is not None and ours.status in (S.OPEN, S.PARTIALLY_FILLED):
            continue
        known = f" (our order {ours.id} is {ours.status})" if ours is not None else ""
        found.append(
            Observation(
                f"order:{entry.id}",
                BreakKind.EXTERNAL_ORDER,
                entry.coin.upper(),
                f"an open {side} order at Coinspot we did not place: {entry.amount} "
                f"{entry.coin.upper()} at {entry.rate}, id {entry.id}{known}",
                blocking=True,
                theirs=entry.amount,
                order_id=ours.id if ours is not None else None,
                detail={
                    "exchange_order_id": entry.id,
                    "side": side,
                    "amount": str(entry.amount),
                    "rate": str(entry.rate),
                    "created": entry.created.isoformat(),
                },
            )
        )
    for order in orders:
        if order.status not in (S.OPEN, S.PARTIALLY_FILLED) or not order.exchange_order_id:
            continue
        if order.exchange_order_id in seen or order.id in thought_open_filled:
            continue
        found.append(
            Observation(
                f"missing:{order.id}",
                BreakKind.OPEN_ORDER_MISSING,
                order.coin,
                f"order {order.id} is {order.status} here but no longer open at Coinspot, "
                "and no fill of it was found",
                blocking=True,
                ours=order.requested_quantity - order.filled_quantity,
                theirs=Decimal(0),
                deployment_id=order.deployment_id,
                order_id=order.id,
                detail={"exchange_order_id": order.exchange_order_id},
            )
        )
    return found


def stuck_unknown(orders: Sequence[Order], now: datetime, grace: timedelta) -> list[Observation]:
    """Orders the resolver could not settle within the grace period."""
    found = []
    for order in orders:
        sent = order.submitting_at or order.created_at
        if order.status != S.UNKNOWN or now - sent < grace:
            continue
        found.append(
            Observation(
                f"unknown:{order.id}",
                BreakKind.UNKNOWN_ORDER,
                order.coin,
                f"order {order.id} ({order.side} {order.requested_quantity} {order.coin}) is "
                f"still unknown {int((now - sent).total_seconds())} s after it was sent",
                blocking=True,
                ours=order.requested_quantity,
                deployment_id=order.deployment_id,
                order_id=order.id,
            )
        )
    return found


def expected_balances(
    baseline_exchange: Mapping[str, Decimal],
    baseline_explained: Mapping[str, Decimal],
    explained: Mapping[str, Decimal],
    adjustments: Mapping[str, Decimal],
) -> dict[str, Decimal]:
    coins = set(baseline_exchange) | set(baseline_explained) | set(explained) | set(adjustments)
    zero = Decimal(0)
    return {
        c: baseline_exchange.get(c, zero)
        + explained.get(c, zero)
        - baseline_explained.get(c, zero)
        + adjustments.get(c, zero)
        for c in coins
    }


def compare_balances(
    actual: Mapping[str, Decimal],
    expected: Mapping[str, Decimal],
    claimed: Mapping[str, Decimal],
    skip: set[str],
) -> list[Observation]:
    """A `balance_changed` break per coin whose balance is not what we can explain."""
    found = []
    zero = Decimal(0)
    for coin in sorted(set(actual) | set(expected)):
        if coin in skip:
            continue
        theirs, ours = actual.get(coin, zero), expected.get(coin, zero)
        delta = theirs - ours
        if delta == 0:
            continue
        short = theirs < claimed.get(coin, zero)
        found.append(
            Observation(
                f"balance:{coin}:{format(delta.normalize(), 'f')}",
                BreakKind.BALANCE_CHANGED,
                coin,
                f"{coin} at Coinspot is {theirs}, {'+' if delta > 0 else ''}{delta} from the "
                f"{ours} our trades explain (a deposit, withdrawal or manual trade)"
                + (
                    f"; the live deployments' sleeves claim {claimed.get(coin, zero)}"
                    if short
                    else ""
                ),
                blocking=short,
                ours=ours,
                theirs=theirs,
                detail={"delta": str(delta), "claimed": str(claimed.get(coin, zero))},
            )
        )
    return found


def as_decimals(values: Mapping[str, str]) -> dict[str, Decimal]:
    return {k: Decimal(v) for k, v in values.items()}


def as_texts(values: Mapping[str, Decimal]) -> dict[str, str]:
    return {k: str(v) for k, v in values.items()}
