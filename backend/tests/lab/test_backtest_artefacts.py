"""Stored run artefacts: a lossless, pickle-free round trip of the engine's series and fills."""

import numpy as np
import pytest

from app.lab.backtests.artefacts import from_result, pack, thinned, unpack
from app.lab.engine.backtest import buy_and_hold_equity, run_backtest
from app.lab.engine.results import BacktestConfig
from app.lab.engine.synthetic import synthetic_price_frame


def test_pack_and_unpack_keep_every_series_and_fill() -> None:
    frame = synthetic_price_frame(["BTC", "ETH"], bars=2000, seed=3)
    rng = np.random.default_rng(5)
    targets = (rng.random((len(frame), 2)) > 0.5).astype(float)
    result = run_backtest(frame, targets, BacktestConfig(10_000, 0.001))
    blob = pack(from_result(result))
    art = unpack(blob)

    assert art.coins == ("BTC", "ETH")
    assert art.bars == len(frame)
    np.testing.assert_array_equal(art.equity, result.equity)
    np.testing.assert_array_equal(art.cash, result.cash)
    np.testing.assert_array_equal(art.holdings_value, result.holdings_value)
    np.testing.assert_array_equal(
        art.buy_and_hold, buy_and_hold_equity(result.market, result.config)
    )
    assert art.trade_count == len(result.trades) > 0
    first = result.trades[0]
    assert art.trade_price[0] == first.price
    assert art.coins[art.trade_coin[0]] == first.coin
    assert int(art.times[art.trade_bar[0]]) == int(first.time.timestamp())
    assert len(art.trip_coin) == len(result.round_trips)
    np.testing.assert_allclose(
        art.trip_proceeds - art.trip_cost, [t.pnl for t in result.round_trips]
    )
    # Drawdown is never positive and zero at every new equity high.
    dd = art.drawdown()
    assert dd.max() <= 0
    assert dd[np.argmax(art.equity)] == 0


def test_a_tampered_blob_cannot_smuggle_pickled_objects() -> None:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, times=np.array([object()], dtype=object))
    with pytest.raises((ValueError, KeyError)):
        unpack(buffer.getvalue())


@pytest.mark.parametrize(("n", "max_points"), [(10, 100), (1000, 7), (105_120, 2000), (5, 2)])
def test_thinning_keeps_first_and_last_bars_and_respects_the_limit(n: int, max_points: int) -> None:
    rows = thinned(n, max_points)
    assert rows[0] == 0
    assert rows[-1] == n - 1
    assert len(rows) <= max(max_points, 2)
    assert np.all(np.diff(rows) > 0)


def test_artefacts_are_stored_without_a_second_compression() -> None:
    """The blob is deflated already: PostgreSQL keeps it out of line as it is (EXTERNAL),
    which makes a finished run's write several times cheaper than TOAST's pglz pass."""
    import sqlalchemy as sa
    from sqlmodel import Session

    from app.core.db import engine

    with Session(engine) as session:
        storage: str = session.execute(
            sa.text(
                "SELECT attstorage FROM pg_attribute "
                "WHERE attrelid = 'algorithm_backtest_runs'::regclass AND attname = 'artefacts'"
            )
        ).scalar_one()
    assert storage == "e"
