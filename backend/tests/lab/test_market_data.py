"""The historical data service: rows onto the 5-minute grid, short gaps filled, long gaps
flagged (never bridged); and the thin database wrapper against a real PostgreSQL."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Connection, text
from sqlmodel import Session

from app.core.db import engine
from app.lab.engine import BacktestConfig, run_backtest
from app.lab.engine.market_data import (
    PriceColumns,
    frame_from_columns,
    frame_from_rows,
    grid,
    load_price_history,
)

T0 = datetime(2024, 5, 1, tzinfo=UTC)
BAR = timedelta(minutes=5)


def at(i: int, seconds: float = 0) -> datetime:
    return T0 + i * BAR + timedelta(seconds=seconds)


def row(
    i: int, coin: str = "BTC", price: float = 100.0, seconds: float = 0
) -> tuple[datetime, str, float, float, float]:
    return (at(i, seconds), coin, price - 1, price + 1, price)


def test_complete_rows_make_the_documented_layout() -> None:
    rows = [row(i, "BTC", 100 + i) for i in range(6)] + [row(i, "ETH", 10 + i) for i in range(6)]
    history = frame_from_rows(rows, ["btc", "eth"], at(0), at(5))
    frame = history.frame
    assert list[object](frame.columns) == [
        ("BTC", "bid"), ("BTC", "ask"), ("BTC", "last"), ("BTC", "filled"),
        ("ETH", "bid"), ("ETH", "ask"), ("ETH", "last"), ("ETH", "filled"),
    ]  # fmt: skip
    assert frame.columns.names == ["coin", "field"]
    assert frame.index.name == "timestamp"
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert str(frame.index.tz) == "UTC"
    assert frame.index.freq == pd.Timedelta(minutes=5)
    assert frame.index[0] == at(0) and frame.index[-1] == at(5)
    assert frame[("BTC", "last")].tolist() == [100, 101, 102, 103, 104, 105]
    assert frame[("ETH", "bid")].tolist() == [9, 10, 11, 12, 13, 14]
    assert history.complete
    assert history.gaps == ()
    assert history.filled_bars == {"BTC": 0, "ETH": 0}
    assert history.coins == ("BTC", "ETH")


def test_off_grid_timestamps_round_to_the_nearest_bar_and_latest_wins() -> None:
    rows = [
        row(0, price=100, seconds=3),
        row(1, price=200, seconds=-4),  # early: still bar 1
        row(1, price=201, seconds=20),  # same bar, later: wins
        row(2, price=300, seconds=1),
    ]
    history = frame_from_rows(rows, ["BTC"], at(0), at(2))
    assert history.frame[("BTC", "last")].tolist() == [100, 201, 300]


def test_exactly_half_way_rounds_up() -> None:
    rows = [row(0, price=100), row(0, price=150, seconds=150), row(2, price=300)]
    frame = frame_from_rows(rows, ["BTC"], at(0), at(2)).frame
    assert frame[("BTC", "last")].tolist() == [100, 150, 300]


def test_columns_give_the_same_frame_as_rows() -> None:
    rows = [row(i, coin, 100 + i + j) for i in (0, 1, 3) for j, coin in enumerate(["BTC", "xrp"])]
    from_rows = frame_from_rows(rows, ["XRP", "BTC"], at(0), at(3))
    columns = PriceColumns(
        timestamps=np.array([pd.Timestamp(r[0]).value for r in rows], dtype=np.int64),
        coins=np.array([r[1] for r in rows], dtype=object),
        bid=np.array([r[2] for r in rows]),
        ask=np.array([r[3] for r in rows]),
        last=np.array([r[4] for r in rows]),
    )
    from_columns = frame_from_columns(columns, ["XRP", "BTC"], at(0), at(3))
    pd.testing.assert_frame_equal(from_rows.frame, from_columns.frame)
    assert from_rows.filled_bars == from_columns.filled_bars == {"XRP": 1, "BTC": 1}
    assert from_columns.frame[("XRP", "last")].tolist() == [101, 102, 102, 104]


def test_rows_in_any_order_and_decimal_prices() -> None:
    rows = [(at(i), "btc", Decimal("9.5"), Decimal("10.5"), Decimal(10 + i)) for i in (2, 0, 1)]
    frame = frame_from_rows(rows, ["BTC"], at(0), at(2)).frame
    assert frame[("BTC", "last")].tolist() == [10, 11, 12]
    assert frame[("BTC", "bid")].dtype == np.float64


def test_short_gaps_are_forward_filled_up_to_the_limit() -> None:
    rows = [row(i, price=100 + i) for i in (0, 1, 4, 5)]  # bars 2, 3 missing
    history = frame_from_rows(rows, ["BTC"], at(0), at(5), ffill_limit=2)
    assert history.frame[("BTC", "last")].tolist() == [100, 101, 101, 101, 104, 105]
    assert history.frame[("BTC", "ask")].tolist() == [101, 102, 102, 102, 105, 106]
    assert history.frame[("BTC", "filled")].tolist() == [0, 0, 1, 1, 0, 0]
    assert history.filled_bars == {"BTC": 2}
    assert history.complete


def test_long_gaps_stay_missing_and_are_reported_whole() -> None:
    rows = [row(i, price=100 + i) for i in (0, 1, 5, 6)]  # bars 2, 3, 4 missing
    history = frame_from_rows(rows, ["BTC"], at(0), at(6), ffill_limit=2)
    last = history.frame[("BTC", "last")]
    assert last.isna().tolist() == [False, False, True, True, True, False, False]
    assert history.frame[("BTC", "bid")].isna().sum() == 3  # every field, not just one
    (gap,) = history.gaps
    assert (gap.coin, gap.start, gap.end, gap.bars) == ("BTC", at(2), at(4), 3)
    assert history.filled_bars == {"BTC": 0}
    assert not history.complete


def test_limit_zero_fills_nothing() -> None:
    rows = [row(i) for i in (0, 2)]
    history = frame_from_rows(rows, ["BTC"], at(0), at(2), ffill_limit=0)
    assert [(g.start, g.bars) for g in history.gaps] == [(at(1), 1)]


def test_a_coin_that_starts_late_or_has_no_rows_is_flagged() -> None:
    rows = [row(i, "BTC") for i in range(5)] + [row(i, "ETH") for i in (3, 4)]
    history = frame_from_rows(rows, ["BTC", "ETH", "XRP"], at(0), at(4))
    assert [(g.coin, g.start, g.end, g.bars) for g in history.gaps] == [
        ("ETH", at(0), at(2), 3),  # nothing before to fill from
        ("XRP", at(0), at(4), 5),
    ]
    report = history.report()
    assert report["missing_bars"] == {"BTC": 0, "ETH": 3, "XRP": 5}
    json.dumps(report, allow_nan=False)


def test_a_price_just_before_the_range_fills_its_first_bars() -> None:
    rows = [row(-1, price=99)] + [row(i, price=100 + i) for i in (2, 3)]
    history = frame_from_rows(rows, ["BTC"], at(0), at(3), ffill_limit=3)
    # Bars -1.. : present, missing, missing, present -> run of 2 at bars 0, 1 is filled.
    assert history.frame[("BTC", "last")].tolist() == [99, 99, 102, 103]
    assert history.filled_bars == {"BTC": 2}
    assert history.complete


def test_a_long_gap_that_began_before_the_range_is_clipped_to_it() -> None:
    rows = [row(-3, price=97)] + [row(i) for i in (2, 3)]  # bars -2..1 missing: 4 > 2
    history = frame_from_rows(rows, ["BTC"], at(0), at(3), ffill_limit=2)
    (gap,) = history.gaps
    assert (gap.start, gap.end, gap.bars) == (at(0), at(1), 2)


def test_a_short_gap_at_the_end_is_filled() -> None:
    rows = [row(i, price=100 + i) for i in range(3)]
    history = frame_from_rows(rows, ["BTC"], at(0), at(4), ffill_limit=3)
    assert history.frame[("BTC", "last")].tolist() == [100, 101, 102, 102, 102]


def test_rows_with_missing_or_bad_prices_count_as_missing() -> None:
    rows = [
        row(0),
        (at(1), "BTC", None, 101.0, 100.0),
        (at(2), "BTC", 99.0, 0.0, 100.0),
        (at(3), "BTC", 99.0, 101.0, float("nan")),
        row(4),
    ]
    history = frame_from_rows(rows, ["BTC"], at(0), at(4), ffill_limit=1)
    assert [(g.start, g.bars) for g in history.gaps] == [(at(1), 3)]


def test_rows_outside_the_range_and_other_coins_are_ignored() -> None:
    rows = [row(i) for i in range(-10, 20)] + [row(i, "DOGE", 1) for i in range(5)]
    frame = frame_from_rows(rows, ["BTC"], at(2), at(4)).frame
    assert list(frame.index) == [at(2), at(3), at(4)]
    assert frame.columns.get_level_values(0).unique().tolist() == ["BTC"]


def test_the_grid_is_the_boundaries_inside_the_range() -> None:
    g = grid(at(0, seconds=1), at(3, seconds=299))
    assert list(g) == [at(1), at(2), at(3)]
    with pytest.raises(ValueError, match="no 5-minute bar"):
        grid(at(0, seconds=1), at(0, seconds=200))
    with pytest.raises(ValueError, match="timezone-aware"):
        grid(datetime(2024, 1, 1), datetime(2024, 1, 2))


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="ffill_limit"):
        frame_from_rows([], ["BTC"], at(0), at(1), ffill_limit=-1)
    with pytest.raises(ValueError, match="coin"):
        frame_from_rows([], [], at(0), at(1))


def test_the_engine_does_not_trade_through_a_flagged_gap() -> None:
    rows = [row(i, price=100) for i in (0, 1, 2, 6, 7)]
    history = frame_from_rows(rows, ["BTC"], at(0), at(7), ffill_limit=1)
    targets = [0, 0, 1, 1, 1, 1, 1, 1]  # decided at bar 2, bars 3-5 have no price
    result = run_backtest(history.frame, targets, BacktestConfig(1000.0, 0.0))
    assert [t.bar for t in result.trades] == [6]


# --- the database wrapper, against PostgreSQL ---------------------------------------------


@pytest.fixture()
def price_table() -> Iterator[Connection]:
    """A temporary `price_data_5min` on one connection, rolled back afterwards.

    PostgreSQL looks in pg_temp before public, so this works before and after the
    collector's real table exists, and leaves nothing behind."""
    with engine.connect() as conn:
        conn.execute(
            text(
                "CREATE TEMPORARY TABLE price_data_5min ("
                " id serial PRIMARY KEY, timestamp timestamptz NOT NULL,"
                " coin_type varchar(20) NOT NULL, bid numeric(24, 8), ask numeric(24, 8),"
                " last numeric(24, 8), source varchar(20)) ON COMMIT DROP"
            )
        )
        yield conn
        conn.rollback()


def test_load_price_history_reads_the_table(price_table: Connection) -> None:
    btc = [
        {"ts": at(i, seconds=2), "coin": "BTC", "bid": 99 + i, "ask": 101 + i, "last": 100 + i}
        for i in range(8)
        if i not in (3, 4, 5)
    ]
    # ETH: a row before the range (last 7), none at bars 0-1, then bars 2-5 (last 10).
    eth = [{"ts": at(-1), "coin": "eth", "bid": 6, "ask": 8, "last": 7}] + [
        {"ts": at(i), "coin": "eth", "bid": 9, "ask": 11, "last": 10} for i in range(2, 6)
    ]
    # A NULL bid at bar 6 counts as missing (bars 6-7 are then filled from bar 5).
    eth.append({"ts": at(6), "coin": "ETH", "bid": None, "ask": 11, "last": 12})
    other = [{"ts": at(i), "coin": "XRP", "bid": 1, "ask": 1, "last": 1} for i in range(8)]
    late = [{"ts": at(9), "coin": "BTC", "bid": 1, "ask": 1, "last": 1}]
    price_table.execute(
        text(
            "INSERT INTO price_data_5min (timestamp, coin_type, bid, ask, last, source)"
            " VALUES (:ts, :coin, :bid, :ask, :last, 'test')"
        ),
        btc + eth + other + late,
    )
    with Session(bind=price_table) as session:
        history = load_price_history(session, ["BTC", "ETH"], at(0), at(7), ffill_limit=2)
    frame = history.frame
    assert list(frame.index) == [at(i) for i in range(8)]
    assert history.coins == ("BTC", "ETH")
    assert frame[("BTC", "last")].tolist()[:3] == [100, 101, 102]
    assert frame[("BTC", "last")].isna().tolist() == [False] * 3 + [True] * 3 + [False] * 2
    # Bars 0-1 filled from the row before the range; bars 6-7 filled from bar 5.
    assert frame[("ETH", "last")].tolist() == [7, 7, 10, 10, 10, 10, 10, 10]
    assert [(g.coin, g.start, g.end, g.bars) for g in history.gaps] == [("BTC", at(3), at(5), 3)]
    assert history.filled_bars == {"BTC": 0, "ETH": 4}
