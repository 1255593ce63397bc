"""The backtest's per-order loop, compiled: one sleeve's decisions in, its fills out.

Rules this module keeps:

- It is `fills.rebalance` for floats, step for step: the same operations on the same operands
  in the same order, so every fill, fee, cash and holdings value is the same double that
  `rebalance` computes (IEEE 754 arithmetic, no fast-math, no fused multiply-add). The rules
  themselves are stated, and changed, in `fills.py` only; `tests/lab/test_engine_kernel.py`
  compares this loop with `rebalance` bit for bit on random and edge-case inputs, so a change
  to one that is not made to the other fails there.
- It walks the sleeve's execution bars once, acting only where the decision differs from the
  last one acted on (as `backtest.py` describes); a skipped order (None from `rebalance`)
  still counts as acted on.
- It never raises: an input `rebalance` would refuse (a target outside [0, 1], a price that
  is not positive, negative cash or holdings) stops the loop and is reported by its position,
  and the caller calls `rebalance` with those inputs to raise the same ValueError.
- Compiled by Numba on first use in a process, with the machine code cached on disk
  (``__pycache__`` beside this file, or ``NUMBA_CACHE_DIR``), and with the GIL released
  while it runs. `warm_up` compiles or loads it ahead of the first backtest.
"""

import logging
import time

import numpy as np
import numpy.typing as npt
from numba import njit

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Columns of the fill table: bar, +1 buy / -1 sell, quantity, price, notional, fee,
# position after, cash after.
FILL_COLUMNS = 8
BPS = 10_000.0


@njit(cache=True, nogil=True)
def _sleeve_fills(
    bars: IntArray,
    wanted: FloatArray,
    bids: FloatArray,
    asks: FloatArray,
    cash: float,
    fee_rate: float,
    slippage_bps: float,
    min_order: float,
) -> tuple[FloatArray, int, int]:  # pragma: no cover - compiled; covered through its caller
    rows = np.empty((bars.shape[0], FILL_COLUMNS))
    count = 0
    holdings = 0.0
    acted_on = 0.0
    slip = slippage_bps / BPS
    for j in range(bars.shape[0]):
        target = wanted[j]
        if target == acted_on:
            continue
        acted_on = target
        bid = bids[j]
        ask = asks[j]
        if not (0.0 <= target <= 1.0) or not (bid > 0.0 and ask > 0.0):
            return rows, count, j
        if not (cash >= 0.0 and holdings >= 0.0):
            return rows, count, j
        current_value = holdings * bid
        target_value = target * (cash + current_value)
        if target_value > current_value:
            price = ask * (1.0 + slip)
            notional = target_value - current_value
            fee = notional * fee_rate
            if notional + fee >= cash:
                notional = cash / (1.0 + fee_rate)
                fee = cash - notional
                cash_after = cash - cash
            else:
                cash_after = cash - notional - fee
            if notional <= 0.0 or notional < min_order:
                continue
            quantity = notional / price
            cash = cash_after
            holdings = holdings + quantity
            side = 1.0
        elif target_value < current_value:
            price = bid * (1.0 - slip)
            excess = (current_value - target_value) / bid
            # Going flat sells exactly what is held; else `min(holdings, excess)`.
            quantity = holdings if target == 0.0 or not excess < holdings else excess
            notional = quantity * price
            if quantity <= 0.0 or notional < min_order:
                continue
            fee = notional * fee_rate
            cash = cash + notional - fee
            holdings = holdings - holdings if target == 0.0 else holdings - quantity
            side = -1.0
        else:
            continue
        rows[count, 0] = bars[j]
        rows[count, 1] = side
        rows[count, 2] = quantity
        rows[count, 3] = price
        rows[count, 4] = notional
        rows[count, 5] = fee
        rows[count, 6] = holdings
        rows[count, 7] = cash
        count += 1
    return rows, count, -1


def sleeve_fills(
    bars: IntArray,
    wanted: FloatArray,
    bids: FloatArray,
    asks: FloatArray,
    cash: float,
    fee_rate: float,
    slippage_bps: float,
    min_order: float,
) -> tuple[FloatArray, int]:
    """(fill table with a row per fill, index of the decision it stopped at or -1).

    `bars[j]` is the bar of the j-th execution chance, `wanted[j]` the decision in force
    there and `bids[j]`/`asks[j]` its prices; `cash` is the sleeve's starting cash."""
    rows, count, stopped = _sleeve_fills(
        np.ascontiguousarray(bars, dtype=np.int64),
        np.ascontiguousarray(wanted, dtype=np.float64),
        np.ascontiguousarray(bids, dtype=np.float64),
        np.ascontiguousarray(asks, dtype=np.float64),
        float(cash),
        float(fee_rate),
        float(slippage_bps),
        float(min_order),
    )
    return rows[:count], int(stopped)


def warm_up() -> float:
    """Compile the loop (or load it from the on-disk cache); returns the seconds it took."""
    started = time.perf_counter()
    one = np.ones(1)
    sleeve_fills(np.zeros(1, dtype=np.int64), one, one, one, 1.0, 0.0, 0.0, 0.0)
    took = time.perf_counter() - started
    logger.info("backtest kernel ready", extra={"duration_ms": round(took * 1000, 1)})
    return took
