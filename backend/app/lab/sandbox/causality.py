"""The lookahead check, as it runs inside a sandbox child (see `CausalityJob`).

Rules:
- A causal algorithm's position at a bar does not change when later bars are removed; the
  first bar whose position differs (by more than `CAUSALITY_TOLERANCE`) is where it looked
  ahead, and the truncation that showed it is reported.
- Every truncation starts `window` bars before its bar in both of its predictions (so
  warm-ups and running state agree) and differs only in the bars after it: `horizon` bars
  for decisions, up to `max(window, horizon)` bars (a week) for sampled bars. A dependence
  on any of those later bars — a shift, a global statistic, the frame's last row — shows;
  a fixed peek further ahead than a week is not looked for.
- Decisions are checked most prescient first (`prescient_first`), taking turns with the
  sampled bars, until the budget runs out; the most prescient decision and the first sampled
  bar are always checked. The reply says how many of each were checked, never more than
  were.
- Every prediction starts from a fresh copy of the algorithm: no state leaks between
  truncations.
"""

import copy
import time
from collections.abc import Iterable

import numpy as np
import pandas as pd

from app.lab.sandbox.protocol import CausalityInfo, FloatArray, JobHeader, ReplyHeader
from app.lab.sdk.base import Algorithm
from app.lab.sdk.positions import check_positions

CAUSALITY_TOLERANCE = 1e-9


def positions_of(algorithm: Algorithm, X: pd.DataFrame) -> FloatArray:
    """The algorithm's positions on `X`, checked (one per bar, in [0, 1], no NaN)."""
    return check_positions(X, algorithm.predict(X))


def causality_check(
    header: JobHeader, algorithm: Algorithm, X: pd.DataFrame
) -> tuple[ReplyHeader, list[FloatArray], bytes | None]:
    """Predict on the whole frame and on truncated frames (see `CausalityJob`); the first bar
    whose position differs is where the algorithm looked ahead."""
    began = time.monotonic()
    full = positions_of(copy.deepcopy(algorithm), X)
    predict_seconds = time.monotonic() - began
    n = len(X)
    first: int | None = None
    where: int | None = None

    def compare(part: FloatArray, reference: FloatArray, offset: int, bar: int) -> None:
        nonlocal first, where
        differ = np.flatnonzero(np.abs(part - reference) > CAUSALITY_TOLERANCE)
        if differ.size and (first is None or offset + int(differ[0]) < first):
            first, where = offset + int(differ[0]), bar

    if header.auto_decisions:
        changed = np.flatnonzero(np.diff(full, prepend=0.0) != 0)
        candidates = changed[changed >= header.first_traded].tolist()
        ranked = prescient_first(candidates, full, X)[: header.max_decisions]
        total = len(candidates)
    else:
        ranked = prescient_first(header.decision_bars, full, X)
        total = len(ranked)
    budget = header.budget_seconds
    if header.budget_fraction > 0:
        budget = min(
            budget, max(header.min_budget_seconds, header.budget_fraction * predict_seconds)
        )
    # Groups of nearby decisions share one extended window; the groups are taken in the order
    # of their most prescient member, so a job stopped by its budget has checked the
    # decisions where a peek at the future would have paid most.
    rank = {bar: i for i, bar in enumerate(ranked)}
    groups = _decision_groups(ranked, n, max(header.window, 1))
    groups.sort(key=lambda group: min(rank[b] for b in group))
    # Sampled bars: the window before the bar, cut there and extended by up to a week (or to
    # the end of the frame): two short predictions each, never a whole history.
    samples = [bar for bar in sorted(set(header.bars)) if 0 <= bar < n]
    reach = max(header.horizon, header.window, 1)
    deadline = time.monotonic() + budget
    decisions = 0
    checked: list[int] = []

    def sample(bar: int) -> None:
        start = max(0, bar - header.window)
        end = min(n, bar + 1 + reach)
        reference = (
            full
            if start == 0 and end == n
            else positions_of(copy.deepcopy(algorithm), X.iloc[start:end])
        )
        part = positions_of(copy.deepcopy(algorithm), X.iloc[start : bar + 1])
        compare(part, reference[: bar + 1 - start], start, bar)
        checked.append(bar)

    def decide(group: list[int]) -> None:
        nonlocal decisions
        start = max(0, group[0] - header.window)
        if first is not None and start >= first:
            return  # nothing here can come before the difference already found
        end = min(n, group[-1] + 1 + header.horizon)
        reference = (
            full
            if start == 0 and end == n
            else positions_of(copy.deepcopy(algorithm), X.iloc[start:end])
        )
        for bar in group:
            if decisions and time.monotonic() > deadline:
                return
            decisions += 1
            if bar + 1 < end:  # at the end of the frame there is no future to remove
                part = positions_of(copy.deepcopy(algorithm), X.iloc[start : bar + 1])
                compare(part, reference[: bar + 1 - start], start, bar)

    # Decision groups and sampled bars take turns, most prescient decision first; the first
    # of each is always checked, the rest while the budget lasts.
    tasks: list[tuple[str, list[int]]] = []
    for i in range(max(len(groups), len(samples))):
        if i < len(groups):
            tasks.append(("decisions", groups[i]))
        if i < len(samples):
            tasks.append(("sample", [samples[i]]))
    for done, (kind, bars) in enumerate(tasks):
        if done >= 2 and time.monotonic() > deadline:
            break
        if kind == "sample":
            sample(bars[0])
        else:
            decide(bars)
    check_seconds = time.monotonic() - began - predict_seconds
    info = CausalityInfo(
        first_difference=first,
        truncated_at=where,
        checked=checked,
        decisions_checked=decisions,
        decisions_total=total,
        predict_ms=round(predict_seconds * 1000, 3),
        check_ms=round(check_seconds * 1000, 3),
    )
    return ReplyHeader(ok=True, bars=n, arrays=1, causality=info), [full], None


# Forward horizons (bars) over which a decision's favourable move is measured.
PRESCIENCE_HORIZONS = (1, 2, 4, 8, 16, 32, 64, 128, 288)


def prescient_first(bars: Iterable[int], positions: FloatArray, X: pd.DataFrame) -> list[int]:
    """Decision bars ordered by how well the price moved in their favour just after them
    (a buy before a rise, a sell before a drop: the largest move over `PRESCIENCE_HORIZONS`,
    each scaled by the square root of its horizon), most prescient first; ties in bar order. A lookahead cheat changes its decisions exactly
    where that move is large, so checking these first finds it within a small budget."""
    unique = sorted({int(b) for b in bars if 0 <= int(b) < len(positions)})
    if not unique:
        return []
    column = "last" if "last" in X.columns else X.columns[0]
    price = np.asarray(X[column], dtype=np.float64)
    at = np.asarray(unique)
    before = np.where(at > 0, positions[np.maximum(at - 1, 0)], 0.0)
    direction = np.sign(positions[at] - before)
    n = len(price)
    best = np.full(len(at), -np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in PRESCIENCE_HORIZONS:
            move = price[np.minimum(at + k, n - 1)] / price[at] - 1.0
            # Scaled by sqrt(k), as random moves grow: a 6 % fall in 8 bars ranks above a
            # 6 % fall in a day.
            best = np.fmax(best, direction * move / np.sqrt(k))
    best = np.nan_to_num(best, nan=-np.inf)
    order = np.lexsort((at, -best))
    return [unique[i] for i in order]


def _decision_groups(bars: Iterable[int], n: int, span: int) -> list[list[int]]:
    """Decision bars in order, grouped so that each group spans at most `span` bars."""
    groups: list[list[int]] = []
    for bar in sorted({b for b in bars if 0 <= b < n}):
        if groups and bar - groups[-1][0] <= span:
            groups[-1].append(bar)
        else:
            groups.append([bar])
    return groups
