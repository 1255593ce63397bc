"""The lookahead check looks where a peek would matter: at every decision change.

A sparse cheat (flat only in the few bars before a large drop, found by peeking 2-8 bars
ahead) slips through a check of a dozen sampled bars; checking every decision change catches
it, at the first bar it cheated on. Honest templates are never flagged."""

import numpy as np
import pandas as pd
import pytest

from app.lab.backtests.runner import trade_start_of
from app.lab.backtests.signals import (
    Algo,
    CoinSignals,
    choose_decisions,
    coin_signals,
    decision_changes,
    lookahead_check,
)
from app.lab.engine.synthetic import synthetic_price_frame
from app.lab.sandbox import CausalityJob, PredictJob, SandboxPool
from app.lab.templates import TEMPLATES

pytestmark = pytest.mark.anyio

DROPS = (1500, 2610, 3475)  # bars where the price falls 6 % at once

SPARSE_PEEK = """import pandas as pd
from app.lab.sdk import Algorithm, to_positions


class SparsePeek(Algorithm):
    algorithm_type = "rule"

    def predict(self, X):
        last = X["last"]
        ahead = pd.concat([last.shift(-k) for k in range(2, 9)], axis=1).min(axis=1)
        return to_positions((~(ahead < last * 0.97)).astype(float))
"""


def sparse_positions(last: "pd.Series[float]") -> np.ndarray:
    """What SPARSE_PEEK decides on the full history (computed here, in trusted code)."""
    ahead = pd.concat([last.shift(-k) for k in range(2, 9)], axis=1).min(axis=1)
    return np.asarray((~(ahead < last * 0.97)).astype(float))


def coin_of(frame: pd.DataFrame) -> pd.DataFrame:
    single = frame["BTC"]
    assert isinstance(single, pd.DataFrame)
    return single


@pytest.fixture(scope="module")
def crash_frame() -> pd.DataFrame:
    """Two weeks of one coin with three sudden 6 % drops: a price frame (coin, field)."""
    frame = synthetic_price_frame(["BTC"], bars=4032, seed=3)
    for drop in DROPS:
        frame.iloc[drop:] *= 0.94
    return frame


async def test_a_sparse_peek_is_caught_at_default_settings_at_its_first_cheat(
    pool: SandboxPool, crash_frame: pd.DataFrame
) -> None:
    x = coin_of(crash_frame)
    expected = sparse_positions(x["last"])
    first_cheat = int(np.flatnonzero(expected == 0)[0])
    assert first_cheat == DROPS[0] - 8  # flat from 8 bars before the first drop
    assert int((np.diff(expected) != 0).sum()) == 2 * len(DROPS)  # rare: six changes

    algo = Algo(code=SPARSE_PEEK, type="rule")
    start = trade_start_of(pd.DatetimeIndex(crash_frame.index), algo, 0.3)
    signals = {"BTC": await coin_signals(pool, algo, crash_frame, "BTC", {}, start)}
    np.testing.assert_array_equal(signals["BTC"].positions.to_numpy(), expected)

    verdict = await lookahead_check(pool, algo, crash_frame, signals, {}, 12, start)
    assert verdict.bias_detected
    assert verdict.first_bar == x.index[first_cheat].isoformat()
    assert verdict.coin == "BTC" and "future" in verdict.detail
    assert verdict.decision_changes == 1 + 2 * len(DROPS)  # the first buy, then in/out

    # The old check alone (a dozen bars spread over the history) does not see it.
    sampled_only = await pool.check_causality(CausalityJob(code=SPARSE_PEEK, frame=x, samples=12))
    assert sampled_only.causal and len(sampled_only.checked_bars) == 12


@pytest.mark.parametrize("key", [t.key for t in TEMPLATES])
async def test_honest_templates_are_never_flagged(
    pool: SandboxPool, crash_frame: pd.DataFrame, key: str
) -> None:
    template = next(t for t in TEMPLATES if t.key == key)
    algo = Algo(code=template.source, type=template.type)
    start = trade_start_of(pd.DatetimeIndex(crash_frame.index), algo, 0.3)
    signals = {"BTC": await coin_signals(pool, algo, crash_frame, "BTC", {}, start)}
    verdict = await lookahead_check(pool, algo, crash_frame, signals, {}, 12, start)
    assert not verdict.bias_detected, (key, verdict.first_bar)
    changes = decision_changes(signals["BTC"].positions, start)
    assert verdict.decision_changes == len(changes)
    assert verdict.sampled_bars == 12
    checked = verdict.decision_changes_checked
    # Every change, or (many changes, slow predict) a random subset within the time budget.
    assert 0 < checked <= min(len(changes), 500) or len(changes) == 0
    if checked == len(changes):
        assert verdict.detail == (
            f"no lookahead found: checked all {checked} decision changes and 12 sampled bars"
        )
    else:
        assert f"checked {checked} of {len(changes)} decision changes (a random subset)" in (
            verdict.detail
        )


async def test_above_the_cap_a_stated_random_subset_is_checked(
    pool: SandboxPool, crash_frame: pd.DataFrame
) -> None:
    flipper = (
        "import numpy as np\nfrom app.lab.sdk import Algorithm\n\n\n"
        "class Flip(Algorithm):\n"
        "    def predict(self, X):\n"
        "        return (np.arange(len(X)) // 3 % 2).astype(float)\n"
    )
    algo = Algo(code=flipper, type="rule")
    start = crash_frame.index[0]
    predicted = await pool.predict(PredictJob(code=flipper, frame=coin_of(crash_frame)))
    positions = pd.Series(predicted.positions, index=crash_frame.index)
    signals = {"BTC": CoinSignals(positions)}
    changes = decision_changes(positions, start)
    assert len(changes) == 4032 // 3 - 1

    verdict = await lookahead_check(
        pool, algo, crash_frame, signals, {}, 4, start, max_decisions=40, seed=9
    )
    assert not verdict.bias_detected
    assert verdict.decision_changes_checked == 40
    assert verdict.detail == (
        f"no lookahead found: checked 40 of {len(changes)} decision changes (a random subset) "
        "and 4 sampled bars"
    )


def test_decision_changes_start_at_the_traded_window_and_subsets_are_seeded() -> None:
    index = pd.date_range("2025-01-01", periods=8, freq="5min", tz="UTC")
    positions = pd.Series([0, 1, 1, 0, 0, 0.5, 0.5, 1], index=index, dtype="float64")
    assert decision_changes(positions, index[0]) == [1, 3, 5, 7]
    assert decision_changes(positions, index[4]) == [5, 7]
    changes = {"A": list(range(100)), "B": list(range(50))}
    picked = choose_decisions(changes, 30, seed=1)
    assert sum(map(len, picked.values())) == 30
    assert picked == choose_decisions(changes, 30, seed=1)
    assert all(set(bars) <= set(changes[c]) for c, bars in picked.items())
    assert choose_decisions(changes, 500, seed=1) == changes
