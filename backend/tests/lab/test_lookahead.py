"""The lookahead check looks where a peek would matter: at the decision changes, most
prescient first, in the same sandbox job as the run's prediction.

A sparse cheat (flat only in the few bars before a large drop, found by peeking 2-8 bars
ahead) slips through a check of a dozen sampled bars; checking the decision changes catches
it, at a bar it cheated on, even hidden among a thousand honest changes and with room
for only a handful of checks. Honest templates are never flagged."""

import numpy as np
import pandas as pd
import pytest

from app.lab.backtests.runner import trade_start_of
from app.lab.backtests.signals import (
    Algo,
    checked_signals,
    decision_changes,
    lookahead_verdict,
)
from app.lab.engine.synthetic import synthetic_price_frame
from app.lab.sandbox import CausalityJob, SandboxPool
from app.lab.sandbox.causality import prescient_first
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


# The same cheat hidden in an algorithm that flips its position every 3 bars: about 1,300
# honest decision changes around six cheating ones.
NOISY_PEEK = """import numpy as np
import pandas as pd
from app.lab.sdk import Algorithm, to_positions


class NoisyPeek(Algorithm):
    algorithm_type = "rule"

    def predict(self, X):
        last = X["last"]
        ahead = pd.concat([last.shift(-k) for k in range(2, 9)], axis=1).min(axis=1)
        flips = pd.Series((np.arange(len(X)) // 3 % 2).astype(float), index=X.index)
        return to_positions(flips.where(~(ahead < last * 0.97), 0.0))
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
    signals, check = await checked_signals(pool, algo, crash_frame, "BTC", {}, start, samples=12)
    # The run's positions come from the same job as the check.
    np.testing.assert_array_equal(signals.positions.to_numpy(), expected)

    verdict = lookahead_verdict({"BTC": check})
    assert verdict.bias_detected
    # The first cheating bar before one of the drops (which one depends on how many
    # decisions the time budget allowed, most prescient first).
    assert verdict.first_bar in {x.index[d - 8].isoformat() for d in DROPS}
    assert verdict.coin == "BTC" and "future" in verdict.detail
    assert verdict.decision_changes == 1 + 2 * len(DROPS)  # the first buy, then in/out

    # The old check alone (a dozen bars spread over the history) does not see it.
    sampled_only = await pool.check_causality(CausalityJob(code=SPARSE_PEEK, frame=x, samples=12))
    assert sampled_only.causal and len(sampled_only.checked_bars) == 12


async def test_a_cheat_hidden_among_many_honest_changes_is_checked_first(
    pool: SandboxPool, crash_frame: pd.DataFrame
) -> None:
    """Room for 5 of ~1,300 decision changes: a random 5 would almost surely miss the six
    cheating ones; the most prescient 5 are the cheats (sells right before 6 % drops)."""
    algo = Algo(code=NOISY_PEEK, type="rule")
    start = crash_frame.index[0]
    _, check = await checked_signals(
        pool, algo, crash_frame, "BTC", {}, start, samples=0, max_decisions=5
    )
    assert check.decision_changes > 1000
    assert 0 < check.decision_bars_checked <= 5
    verdict = lookahead_verdict({"BTC": check})
    assert verdict.bias_detected
    assert verdict.first_bar is not None
    first = pd.Timestamp(verdict.first_bar)
    # It cheated before one of the drops, within the 8 bars it peeks.
    assert any(0 < (crash_frame.index[d] - first) / pd.Timedelta("5min") <= 8 for d in DROPS)


@pytest.mark.parametrize("key", [t.key for t in TEMPLATES])
async def test_honest_templates_are_never_flagged(
    pool: SandboxPool, crash_frame: pd.DataFrame, key: str
) -> None:
    template = next(t for t in TEMPLATES if t.key == key)
    algo = Algo(code=template.source, type=template.type)
    start = trade_start_of(pd.DatetimeIndex(crash_frame.index), algo, 0.3)
    signals, check = await checked_signals(pool, algo, crash_frame, "BTC", {}, start, samples=12)
    verdict = lookahead_verdict({"BTC": check})
    assert not verdict.bias_detected, (key, verdict.first_bar)
    changes = decision_changes(signals.positions, start)
    assert verdict.decision_changes == len(changes)
    # Sampled bars take turns with the decisions within the budget: the first always.
    assert 0 < verdict.sampled_bars <= 12
    checked = verdict.decision_changes_checked
    # Every change, or (many changes, slow predict) the most prescient within the budget.
    assert 0 < checked <= min(len(changes), 500) or len(changes) == 0
    if checked == len(changes):
        assert verdict.detail == (
            f"no lookahead found: checked all {checked} decision changes and "
            f"{verdict.sampled_bars} sampled bars"
        )
    else:
        assert f"checked {checked} of {len(changes)} decision changes (the most prescient" in (
            verdict.detail
        )


async def test_above_the_cap_the_most_prescient_are_checked_and_the_verdict_says_so(
    pool: SandboxPool, crash_frame: pd.DataFrame
) -> None:
    flipper = (
        "import numpy as np\nfrom app.lab.sdk import Algorithm\n\n\n"
        "class Flip(Algorithm):\n"
        "    def predict(self, X):\n"
        "        return (np.arange(len(X)) // 3 % 2).astype(float)\n"
    )
    algo = Algo(code=flipper, type="rule")
    _, check = await checked_signals(
        pool, algo, crash_frame, "BTC", {}, crash_frame.index[0], samples=4, max_decisions=40
    )
    assert check.decision_changes == 4032 // 3 - 1
    verdict = lookahead_verdict({"BTC": check})
    assert not verdict.bias_detected
    checked = verdict.decision_changes_checked
    assert 0 < checked <= 40 and 0 < verdict.sampled_bars <= 4
    assert verdict.detail == (
        f"no lookahead found: checked {checked} of {check.decision_changes} decision changes "
        "(the most prescient first: those followed by the largest price moves in their favour) "
        f"and {verdict.sampled_bars} sampled bars"
    )


def test_decision_changes_start_at_the_traded_window() -> None:
    index = pd.date_range("2025-01-01", periods=8, freq="5min", tz="UTC")
    positions = pd.Series([0, 1, 1, 0, 0, 0.5, 0.5, 1], index=index, dtype="float64")
    assert decision_changes(positions, index[0]) == [1, 3, 5, 7]
    assert decision_changes(positions, index[4]) == [5, 7]


def test_prescient_first_ranks_decisions_by_the_move_in_their_favour() -> None:
    index = pd.date_range("2025-01-01", periods=12, freq="5min", tz="UTC")
    last = np.array([100, 100, 100, 90, 90, 90, 90, 90, 120, 120, 120, 120], dtype=float)
    X = pd.DataFrame({"bid": last, "ask": last, "last": last}, index=index)
    positions = np.array([1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0], dtype=float)
    # The best move in each decision's favour over 1, 2, 4, 8 ... bars (the last bar beyond
    # the end), scaled by sqrt(bars): bar 4 buys at 90 four bars before 120 (+33 % / 2), bar 2
    # sells at 100 one bar before 90 (+10 % / 1), bar 0 buys at 100 and sees 120 only eight
    # bars on (+20 % / 2.83); bars 6, 8 and 10 never see a move in their favour: ties keep
    # bar order.
    assert prescient_first([0, 2, 4, 6, 8, 10], positions, X) == [4, 2, 0, 6, 8, 10]
    assert prescient_first([], positions, X) == []
    assert prescient_first([99, -1, 4], positions, X) == [4]  # outside the frame: ignored
