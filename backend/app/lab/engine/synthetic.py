"""Seeded synthetic prices for benchmarks, demos and tests: a random walk per coin with a
bid/ask spread around the last price, on the 5-minute grid."""

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from app.lab.engine.frame import BAR, build_price_frame, normalise_coins


def synthetic_price_frame(
    coins: Sequence[str],
    bars: int,
    *,
    seed: int = 0,
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC),
    volatility: float = 0.002,
    spread_bps: float = 20.0,
    first_price: float = 100.0,
) -> pd.DataFrame:
    """A price frame (see `frame.py`) of geometric random walks: per-bar log-return standard
    deviation `volatility`, bid and ask `spread_bps` apart around the last price."""
    if bars < 1:
        raise ValueError("bars must be >= 1")
    symbols = normalise_coins(coins)
    rng = np.random.default_rng(seed)
    index = pd.date_range(pd.Timestamp(start).tz_convert("UTC"), periods=bars, freq=BAR)
    half_spread = spread_bps / 2 / 10_000
    data = {}
    for coin in symbols:
        steps = rng.normal(0.0, volatility, bars)
        steps[0] = 0.0
        last = first_price * np.exp(np.cumsum(steps))
        data[coin] = {
            "bid": last * (1 - half_spread),
            "ask": last * (1 + half_spread),
            "last": last,
        }
    return build_price_frame(index, data)
