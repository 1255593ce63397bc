"""The hourly rollup of `price_data_5min`: OHLC of `last`, closing bid/ask and bar count per
coin and UTC hour, kept in `price_rollup_1h` so hourly, 4-hourly and daily history is read
from about a twelfth of the rows.

The table's statement triggers (migration 0007) refresh the hours that any INSERT, UPDATE
or DELETE touches, recomputing them from the stored rows, and TRUNCATE empties the rollup
with the prices. The bulk loader, which knows its rows are new, sets ROLLUP_BY_CALLER for
its COPY and merges rollup rows computed here from the same numbers instead.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

ROLLUP_BY_CALLER = "omc.price_rollup_by_caller"
# Writers of prices take this transaction-level advisory lock before they write (the bulk
# loader and the collector at the start of their transaction, the triggers before they
# recompute), so rollup upkeep never races: a collector run that meets a running import
# waits for it instead of failing on a rollup row the import has not committed yet. Keep in
# step with migration 0007.
ROLLUP_LOCK_KEY = 0x0C0110A7
HOUR_US = 3_600_000_000


@dataclass(frozen=True)
class HourlyRollup:
    bucket: npt.NDArray[np.int64]  # hour start, Unix microseconds
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    bid: npt.NDArray[np.float64]
    ask: npt.NDArray[np.float64]
    bars: npt.NDArray[np.int64]
    first_at: npt.NDArray[np.int64]
    last_at: npt.NDArray[np.int64]


def hourly_rollup(
    unix_us: npt.NDArray[np.int64],
    last: npt.NDArray[np.float64],
    bid: npt.NDArray[np.float64],
    ask: npt.NDArray[np.float64],
) -> HourlyRollup:
    """Rollup rows of one coin's rows, which must be in time order with distinct times."""
    if len(unix_us) == 0:
        empty_i = np.empty(0, dtype=np.int64)
        empty_f = np.empty(0, dtype=np.float64)
        return HourlyRollup(empty_i, *(empty_f,) * 6, empty_i, empty_i, empty_i)
    if np.any(np.diff(unix_us) <= 0):
        raise ValueError("rows must be in strictly increasing time order")
    hour = np.floor_divide(unix_us, HOUR_US)
    starts = np.concatenate(([0], np.flatnonzero(np.diff(hour)) + 1))
    ends = np.concatenate((starts[1:], [len(unix_us)])) - 1
    return HourlyRollup(
        bucket=hour[starts] * HOUR_US,
        open=last[starts],
        high=np.maximum.reduceat(last, starts),
        low=np.minimum.reduceat(last, starts),
        close=last[ends],
        bid=bid[ends],
        ask=ask[ends],
        bars=ends - starts + 1,
        first_at=unix_us[starts],
        last_at=unix_us[ends],
    )
