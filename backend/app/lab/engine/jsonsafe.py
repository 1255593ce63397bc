"""Turn engine values into plain JSON: NaN and infinities become None (JSON has neither)."""

import math
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

# Values are None, bool, int, float (finite), str, lists and dicts of those.
JSONDict = dict[str, Any]


def json_float(value: float | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def float_list(values: Any) -> list[float | None]:
    """A float array as a list, NaN/inf as None (vectorised: these lists can be 100k long)."""
    array = np.asarray(values, dtype=np.float64)
    items: list[float | None] = array.tolist()
    if not np.isfinite(array).all():
        bad = np.flatnonzero(~np.isfinite(array))
        for i in bad.tolist():
            items[i] = None
    return items


def iso_times(index: pd.DatetimeIndex) -> list[str]:
    return [t.isoformat() for t in index.tz_convert("UTC").to_pydatetime()]


def to_json(value: Any) -> Any:
    """Recursively convert dataclass-free containers, numpy and pandas scalars to JSON values."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating | Decimal):
        return json_float(float(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, pd.Timedelta):
        return json_float(value.total_seconds())
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [to_json(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    raise TypeError(f"cannot convert {type(value).__name__} to JSON")
