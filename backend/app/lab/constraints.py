"""Parameter constraints an algorithm declares, such as ``fast < slow``.

An algorithm lists them as a class attribute of literal strings::

    class MovingAverageCrossover(Algorithm):
        fast = Int(12, ge=2, le=1000)
        slow = Int(48, ge=3, le=5000)
        constraints = ("fast < slow",)

Rules kept here:
- A constraint is ``<parameter> <op> <parameter or number>`` with op one of ``< <= > >= !=``;
  both sides must be declared numeric parameters (or a number on the right). Anything else is
  a validation error with its line, so a typo never silently disables a check.
- Parsed constraints travel in the parameter schema under ``x-constraints`` (the form, runs
  and sweeps read them there); they are checked in the trusted process before any job is
  queued: a run whose parameters break one is refused (422), a sweep skips the combinations
  that break one and is refused only when none is left.
"""

import math
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

SCHEMA_KEY = "x-constraints"
ATTRIBUTE = "constraints"

_OPS: dict[str, tuple[Callable[[Any, Any], bool], str]] = {
    "<": (operator.lt, "less than"),
    "<=": (operator.le, "at most"),
    ">": (operator.gt, "more than"),
    ">=": (operator.ge, "at least"),
    "!=": (operator.ne, "different from"),
}
_PATTERN = re.compile(
    r"^\s*([A-Za-z_]\w*)\s*(<=|>=|!=|<|>)\s*([A-Za-z_]\w*|[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*$"
)


class ConstraintError(ValueError):
    """A declared constraint cannot be understood."""


def parse(text: str, numeric: Mapping[str, Any]) -> dict[str, Any]:
    """One constraint as schema data; `numeric` holds the declared numeric parameters."""
    match = _PATTERN.match(text)
    if not match:
        raise ConstraintError(
            f"constraint {text!r} is not of the form 'name < other' "
            "(operators < <= > >= !=, a parameter or a number on the right)"
        )
    left, op, right_text = match.groups()
    if left not in numeric:
        raise ConstraintError(f"constraint {text!r}: {left!r} is not a numeric parameter")
    right: str | float
    if right_text[0].isalpha() or right_text[0] == "_":
        if right_text not in numeric:
            raise ConstraintError(f"constraint {text!r}: {right_text!r} is not a numeric parameter")
        right = right_text
    else:
        right = float(right_text)
    return {"text": f"{left} {op} {right_text}", "left": left, "op": op, "right": right}


def problems(schema: Mapping[str, Any], values: Mapping[str, Any]) -> list[str]:
    """The constraints `values` break, in words (empty when all hold)."""
    found: list[str] = []
    for constraint in schema.get(SCHEMA_KEY, []) or []:
        left_name, op, right = constraint["left"], constraint["op"], constraint["right"]
        left = values.get(left_name)
        right_value = values.get(right) if isinstance(right, str) else right
        if not _number(left) or not _number(right_value):
            continue  # a value of the wrong type is reported by the per-parameter checks
        check, words = _OPS[op]
        if not check(left, right_value):
            shown = f"{right} ({right_value})" if isinstance(right, str) else f"{right_value:g}"
            found.append(
                f"{left_name} ({left}) must be {words} {shown}: the algorithm requires "
                f"{constraint['text']}"
            )
    return found


def satisfied(schema: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    return not problems(schema, values)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
