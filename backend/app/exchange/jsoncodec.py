"""JSON that keeps `Decimal` exact in both directions.

The stdlib encoder turns numbers into floats (0.1 + 0.2 ...), so money would lose
precision on the way to or from the exchange. `dumps` writes `Decimal` as a plain JSON
number in fixed-point notation and refuses floats and non-finite values; `loads` reads
every JSON number with a fraction as `Decimal` and rejects NaN/Infinity literals.
The output of `dumps` is compact and stable, which matters because the exact bytes
are what gets signed.
"""

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

_encode_str = json.JSONEncoder(ensure_ascii=False).encode


def decimal_text(value: Decimal) -> str:
    """Fixed-point text of a finite Decimal (never exponent notation)."""
    if not value.is_finite():
        raise ValueError(f"non-finite number cannot be encoded: {value}")
    return format(value, "f")


def dumps(obj: Any) -> str:
    parts: list[str] = []
    _encode(obj, parts)
    return "".join(parts)


def _encode(obj: Any, out: list[str]) -> None:
    if obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, str):
        out.append(_encode_str(obj))
    elif isinstance(obj, int):
        out.append(int.__repr__(obj))
    elif isinstance(obj, Decimal):
        out.append(decimal_text(obj))
    elif isinstance(obj, Mapping):
        out.append("{")
        for index, (key, value) in enumerate(obj.items()):
            if index:
                out.append(",")
            out.append(_encode_str(str(key)))
            out.append(":")
            _encode(value, out)
        out.append("}")
    elif isinstance(obj, list | tuple):
        out.append("[")
        for index, item in enumerate(obj):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        # Floats included on purpose: money must arrive here as Decimal.
        raise TypeError(f"cannot encode {type(obj).__name__} as exchange JSON")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON number literal: {name}")


def loads(data: str | bytes) -> Any:
    return json.loads(data, parse_float=Decimal, parse_constant=_reject_constant)
