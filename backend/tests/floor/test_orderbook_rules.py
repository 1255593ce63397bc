"""The order-book re-price rules and the settings bound that keeps a cycle inside a bar."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from app.core.config import Settings, settings
from app.floor.brokers import Quote
from app.floor.orderbook import order_terms, reprice_rate

QUOTE = Quote(bid=Decimal(99), ask=Decimal(101), at=datetime.now(UTC), source="exchange")


@pytest.mark.parametrize(
    ("rule", "side", "previous", "expected"),
    [
        ("touch", "buy", "98", "99"),  # the new best bid
        ("touch", "sell", "102", "101"),  # the new best ask
        ("cross", "buy", "98", "101"),  # take the ask
        ("cross", "sell", "102", "99"),  # take the bid
        ("step", "buy", "98", "98.049"),  # +5 bps
        ("step", "sell", "102", "101.949"),  # -5 bps
        ("step", "buy", "100.99", "101"),  # never past the other side
        ("step", "sell", "99.01", "99"),
    ],
)
def test_reprice_rules(
    monkeypatch: pytest.MonkeyPatch, rule: str, side: str, previous: str, expected: str
) -> None:
    monkeypatch.setattr(settings, "FLOOR_ORDERBOOK_REPRICE_RULE", rule)
    monkeypatch.setattr(settings, "FLOOR_ORDERBOOK_REPRICE_STEP_BPS", Decimal(5))
    assert reprice_rate(side, Decimal(previous), QUOTE) == Decimal(expected)


def test_order_terms_per_style_and_mode() -> None:
    assert order_terms("orderbook", "live", "buy", QUOTE) == (Decimal(99), None)
    assert order_terms("orderbook", "paper", "sell", QUOTE) == (Decimal(101), None)
    assert order_terms("instant", "live", "buy", QUOTE) == (
        Decimal(101),
        settings.FLOOR_MAX_SLIPPAGE_PCT,
    )
    assert order_terms("instant", "paper", "buy", QUOTE) == (None, None)


def test_settings_refuse_order_book_follow_up_longer_than_a_bar() -> None:
    with pytest.raises(ValidationError, match="FLOOR_ORDERBOOK_MAX_REPRICES"):
        Settings(FLOOR_ORDERBOOK_TIMEOUT_SECONDS=100, FLOOR_ORDERBOOK_MAX_REPRICES=2)
    ok = Settings(FLOOR_ORDERBOOK_TIMEOUT_SECONDS=60, FLOOR_ORDERBOOK_MAX_REPRICES=3)
    assert ok.FLOOR_ORDERBOOK_MAX_REPRICES == 3
