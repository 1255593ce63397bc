"""A second app process for tests/collector/test_price_cache.py, against the test database
whose URL it inherits in DATABASE_URL. It takes one command a line on stdin and answers
each with one line: `read` reads prices through its own cache (twice, the second time from
the cache) and answers a digest of the frame; `write` writes prices and answers `written`.

    python -m tests.collector.price_cache_peer
"""

import hashlib
import sys
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session

from app.collector.bulk import store_frames
from app.core.db import engine
from app.lab.engine.market_data import PriceHistory, load_price_history
from app.lab.engine.price_cache import PriceCache
from tests.collector.test_prices_api import frame

START = datetime(2026, 1, 1, tzinfo=UTC)
END = START + timedelta(days=3)
COINS = ("BTC", "ETH")


def load(cache: PriceCache | None) -> PriceHistory:
    with Session(engine) as session:
        return load_price_history(session, COINS, START, END, cache=cache)


def digest(history: PriceHistory) -> str:
    values = (
        history.frame.to_numpy().tobytes()
        + np.asarray(pd.DatetimeIndex(history.frame.index).as_unit("ns").view("int64")).tobytes()
    )
    return hashlib.sha256(values + repr(history.gaps).encode()).hexdigest()


def main() -> None:
    cache = PriceCache(64 * 1024 * 1024)
    for line in sys.stdin:
        command = line.strip()
        if command == "read":
            first, second = load(cache), load(cache)
            assert digest(first) == digest(second)
            answer = digest(second)
        elif command == "write":
            # New rows for a day with none (COPY path) and a changed price inside an hour.
            store_frames([frame("ETH", 100, start=START + timedelta(days=2), seed=11)])
            with Session(engine) as session:
                session.execute(
                    sa.text(
                        "UPDATE price_data_5min SET bid = bid * 0.5 "
                        "WHERE coin_type = 'BTC' AND \"timestamp\" = :t"
                    ),
                    {"t": START + timedelta(hours=5, minutes=20)},
                )
                session.commit()
            answer = "written"
        else:
            raise SystemExit(f"unknown command {command!r}")
        sys.stdout.write(answer + "\n")
        sys.stdout.flush()
    assert cache.stats.hits > 0, "no read used the cache"


if __name__ == "__main__":
    main()
