"""Seeded synthetic price history for demos and first backtests (marked source='synthetic').

Each coin is a geometric random walk with slowly changing drift (so trend and mean-reversion
rules both have something to find) at the volatility and spread of the simulator's coin, and
it ends at the simulator's starting price for that coin, so demo history and live simulated
prices join up. The same seed always gives the same history.
"""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from app.collector.slots import slot_of

SLOT_SECONDS = 300


def demo_coins(count: int) -> list[tuple[str, float, float, float]]:
    """(symbol, price, volatility per bar, spread fraction) of the simulator's first coins."""
    from app.exchange.simulator.coins import DEFAULT_COINS  # demo data mirrors the simulator

    if not 1 <= count <= len(DEFAULT_COINS):
        raise ValueError(f"coins must be between 1 and {len(DEFAULT_COINS)}")
    return [
        (c.symbol, float(c.price), float(c.volatility), float(c.spread))
        for c in DEFAULT_COINS[:count]
    ]


def synthetic_history(
    *, days: int, coins: int, seed: int, end: datetime | None = None
) -> list[pd.DataFrame]:
    """One frame per coin in the table's columns, `days` of 5-minute slots ending at `end`
    (default: the slot before the current one)."""
    if not 1 <= days <= 3650:
        raise ValueError("days must be between 1 and 3650")
    last_slot = slot_of(end or datetime.now(UTC), SLOT_SECONDS) - (
        timedelta(0) if end else timedelta(seconds=SLOT_SECONDS)
    )
    bars = days * 288
    index = pd.date_range(end=last_slot, periods=bars, freq="5min", tz=UTC)
    rng = np.random.default_rng(seed)
    frames = []
    for symbol, price, volatility, spread in demo_coins(coins):
        # Drift that wanders over days: trends and reversals at realistic magnitudes.
        drift = np.repeat(rng.normal(0, volatility * 0.05, size=bars // 288 + 1), 288)[:bars]
        steps = rng.normal(0, volatility, size=bars) + drift
        log_path = np.cumsum(steps)
        last = price * np.exp(log_path - log_path[-1])
        half = spread / 2
        frames.append(
            pd.DataFrame(
                {
                    "timestamp": index,
                    "coin_type": symbol,
                    "bid": last * (1 - half),
                    "ask": last * (1 + half),
                    "last": last,
                    "source": "synthetic",
                }
            )
        )
    return frames
