"""Parameter combinations for a sweep, drawn from the algorithm's declared parameter schema.

Each swept parameter is given as explicit `values`, or as a range (`min`, `max`, `steps`)
that must lie inside the declared bounds; a parameter not mentioned keeps its current value.
`grid` takes every combination, `random` draws `samples` of them with a seed, so a sweep is
reproducible. Both refuse to exceed the combination cap with a clear message.
"""

import itertools
import math
import random
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

SweepMode = Literal["grid", "random"]


class SweepSpaceError(ValueError):
    """The requested sweep cannot be built from the parameter schema."""


class ParameterRange(BaseModel):
    """Values of one parameter to try: either `values`, or `min`/`max` with `steps` points."""

    values: list[float | int | str | bool] | None = Field(
        default=None, min_length=1, max_length=1000
    )
    min: float | None = None
    max: float | None = None
    steps: int | None = Field(default=None, ge=1, le=1000)

    @model_validator(mode="after")
    def _one_form(self) -> "ParameterRange":
        has_range = self.min is not None or self.max is not None
        if self.values is not None and (has_range or self.steps is not None):
            raise ValueError("give either values or min/max/steps, not both")
        if self.values is None and not has_range and self.steps is None:
            raise ValueError("give values, or min/max/steps")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not be greater than max")
        return self


def _bounds(spec: Mapping[str, Any]) -> tuple[float | None, float | None]:
    low = spec.get("minimum", spec.get("exclusiveMinimum"))
    high = spec.get("maximum", spec.get("exclusiveMaximum"))
    return low, high


def _inside(spec: Mapping[str, Any], value: float) -> bool:
    if "minimum" in spec and not value >= spec["minimum"]:
        return False
    if "exclusiveMinimum" in spec and not value > spec["exclusiveMinimum"]:
        return False
    if "maximum" in spec and not value <= spec["maximum"]:
        return False
    return not ("exclusiveMaximum" in spec and not value < spec["exclusiveMaximum"])


def _range_values(name: str, spec: Mapping[str, Any], wanted: ParameterRange) -> list[Any]:
    kind = spec.get("type")
    if "enum" in spec or kind == "boolean":
        raise SweepSpaceError(f"{name}: a choice or true/false parameter is swept with `values`")
    if kind not in ("integer", "number"):
        raise SweepSpaceError(f"{name}: parameters of type {kind!r} cannot be swept")
    low, high = _bounds(spec)
    start = wanted.min if wanted.min is not None else low
    stop = wanted.max if wanted.max is not None else high
    if start is None or stop is None:
        raise SweepSpaceError(f"{name}: give min and max (the parameter declares no bounds)")
    steps = wanted.steps if wanted.steps is not None else (2 if start != stop else 1)
    if steps == 1 or start == stop:
        points = [float(start)]
    else:
        points = [start + (stop - start) * i / (steps - 1) for i in range(steps)]
    if kind == "integer":
        # Rounded points of a narrow integer range collide: keep each value once, in order.
        return list(dict.fromkeys(int(round(p)) for p in points))
    return [float(p) for p in points]


def _explicit_values(name: str, spec: Mapping[str, Any], values: Sequence[Any]) -> list[Any]:
    kind = spec.get("type")
    out: list[Any] = []
    for value in values:
        if "enum" in spec:
            if isinstance(value, bool) or value not in spec["enum"]:
                raise SweepSpaceError(f"{name}: {value!r} is not one of {spec['enum']}")
        elif kind == "boolean":
            if not isinstance(value, bool):
                raise SweepSpaceError(f"{name}: {value!r} is not true or false")
        elif kind in ("integer", "number"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SweepSpaceError(f"{name}: {value!r} is not a number")
            if kind == "integer":
                if not float(value).is_integer():
                    raise SweepSpaceError(f"{name}: {value!r} is not an integer")
                value = int(value)
        out.append(value)
    return list(dict.fromkeys(out))


def _check_bounds(name: str, spec: Mapping[str, Any], values: list[Any]) -> None:
    for value in values:
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if numeric and (not math.isfinite(value) or not _inside(spec, value)):
            low, high = _bounds(spec)
            raise SweepSpaceError(f"{name}: {value} is outside the declared bounds [{low}, {high}]")


def parameter_axes(
    schema: Mapping[str, Any], ranges: Mapping[str, ParameterRange]
) -> dict[str, list[Any]]:
    """The values to try for each swept parameter, checked against the schema."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    unknown = sorted(set(ranges) - set(properties))
    if unknown:
        known = ", ".join(properties) or "none"
        raise SweepSpaceError(f"unknown parameter(s) {', '.join(unknown)} (parameters: {known})")
    if not ranges:
        raise SweepSpaceError("choose at least one parameter to sweep")
    axes: dict[str, list[Any]] = {}
    for name, wanted in ranges.items():
        spec = properties[name]
        if wanted.values is not None:
            values = _explicit_values(name, spec, wanted.values)
        else:
            values = _range_values(name, spec, wanted)
        _check_bounds(name, spec, values)
        axes[name] = values
    return axes


def grid_size(axes: Mapping[str, Sequence[Any]]) -> int:
    return math.prod(len(values) for values in axes.values())


def combinations(
    axes: Mapping[str, Sequence[Any]],
    base: Mapping[str, Any],
    *,
    mode: SweepMode,
    cap: int,
    samples: int | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Full parameter sets (base values overridden by the swept ones), at most `cap` of them."""
    names = list(axes)
    size = grid_size(axes)
    if mode == "grid":
        if size > cap:
            raise SweepSpaceError(
                f"the grid has {size} combinations, more than the limit of {cap}: "
                "use fewer steps or values, or mode 'random' with samples"
            )
        chosen = list(itertools.product(*(axes[n] for n in names)))
    else:
        wanted = samples if samples is not None else min(size, cap)
        if wanted > cap:
            raise SweepSpaceError(f"samples ({wanted}) is more than the limit of {cap}")
        # bandit B311: a reproducible parameter sample, not a secret
        rng = random.Random(seed)  # nosec B311
        if wanted >= size:
            chosen = list(itertools.product(*(axes[n] for n in names)))
            rng.shuffle(chosen)
        else:
            picked: set[tuple[int, ...]] = set()
            lengths = [len(axes[n]) for n in names]
            while len(picked) < wanted:
                picked.add(tuple(rng.randrange(length) for length in lengths))
            chosen = [
                tuple(axes[n][i] for n, i in zip(names, idx, strict=True)) for idx in sorted(picked)
            ]
    return [{**base, **dict(zip(names, values, strict=True))} for values in chosen]
