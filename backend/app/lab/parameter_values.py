"""Parameter values checked against an algorithm's parameter schema, in the trusted process.

`check_parameters(schema, values)` takes the JSON schema `validation.validate_code` derived
from the literal parameter declarations and a set of values (from the API or a sweep), and
returns the complete set with defaults filled in. Rules it keeps: unknown names are refused;
integral floats (``10.0`` from JSON) become ints for integer parameters; booleans are never
numbers; numbers are finite and within their bounds; every problem is listed at once in one
`ParameterError`, naming the parameter.
"""

import math
from collections.abc import Callable, Mapping
from typing import Any

from app.lab import constraints as param_constraints
from app.lab.sdk.params import ParameterError


def check_parameters(schema: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a parameter set against a schema from `validate_code` and fill in defaults.

    Integral floats (``10.0`` from JSON) become ints for integer parameters. Raises
    `ParameterError` listing every problem.
    """
    properties: Mapping[str, Any] = schema.get("properties", {})
    problems: list[str] = []
    result: dict[str, Any] = {}
    for name in values:
        if name not in properties:
            known = ", ".join(properties) or "none"
            problems.append(f"unknown parameter {name!r} (parameters: {known})")
    for name, spec in properties.items():
        value = values.get(name, spec.get("default"))
        problem, value = _check_value(name, spec, value)
        if problem:
            problems.append(problem)
        result[name] = value
    if not problems:
        problems.extend(param_constraints.problems(schema, result))
    if problems:
        raise ParameterError("; ".join(problems))
    return result


def _check_value(name: str, spec: Mapping[str, Any], value: Any) -> tuple[str | None, Any]:
    kind = spec.get("type")
    if "enum" in spec:
        if isinstance(value, bool) or value not in spec["enum"]:
            return f"{name} must be one of {', '.join(map(repr, spec['enum']))}", value
        return None, value
    if kind == "boolean":
        return (None if isinstance(value, bool) else f"{name} must be true or false"), value
    if kind == "integer":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{name} must be an integer", value
    elif kind == "number":
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            return f"{name} must be a finite number", value
    else:
        return None, value
    checks: tuple[tuple[str, Callable[[Any, Any], bool], str], ...] = (
        ("minimum", lambda v, b: v >= b, ">="),
        ("exclusiveMinimum", lambda v, b: v > b, ">"),
        ("maximum", lambda v, b: v <= b, "<="),
        ("exclusiveMaximum", lambda v, b: v < b, "<"),
    )
    for key, ok, symbol in checks:
        if key in spec and not ok(value, spec[key]):
            return f"{name} must be {symbol} {spec[key]}, got {value}", value
    return None, value
