"""Sweep combinations: grid and random draws within the declared bounds, with a cap."""

import pytest
from pydantic import ValidationError

from app.lab.backtests.sweep_space import (
    ParameterRange,
    SweepSpaceError,
    combinations,
    grid_size,
    parameter_axes,
)

SCHEMA = {
    "type": "object",
    "properties": {
        "fast": {"type": "integer", "minimum": 2, "maximum": 100, "default": 12},
        "slow": {"type": "integer", "minimum": 5, "maximum": 500, "default": 48},
        "band": {"type": "number", "minimum": 0.0, "maximum": 0.05, "default": 0.0},
        "source": {"type": "string", "enum": ["last", "mid"], "default": "last"},
        "long_only": {"type": "boolean", "default": True},
    },
}
BASE = {"fast": 12, "slow": 48, "band": 0.0, "source": "last", "long_only": True}


def test_ranges_become_evenly_spaced_values_inside_the_bounds() -> None:
    axes = parameter_axes(
        SCHEMA,
        {
            "fast": ParameterRange(min=5, max=20, steps=4),
            "band": ParameterRange(min=0.0, max=0.02, steps=3),
        },
    )
    assert axes == {"fast": [5, 10, 15, 20], "band": [0.0, 0.01, 0.02]}


def test_integer_ranges_never_repeat_a_value() -> None:
    axes = parameter_axes(SCHEMA, {"fast": ParameterRange(min=2, max=4, steps=10)})
    assert axes == {"fast": [2, 3, 4]}


def test_a_range_without_bounds_takes_the_declared_ones() -> None:
    axes = parameter_axes(SCHEMA, {"slow": ParameterRange(steps=3)})
    assert axes == {"slow": [5, 252, 500]}


def test_explicit_values_are_checked_against_type_bounds_and_options() -> None:
    axes = parameter_axes(
        SCHEMA,
        {
            "source": ParameterRange(values=["last", "mid"]),
            "long_only": ParameterRange(values=[True, False]),
        },
    )
    assert axes == {"source": ["last", "mid"], "long_only": [True, False]}
    with pytest.raises(SweepSpaceError, match="outside the declared bounds"):
        parameter_axes(SCHEMA, {"fast": ParameterRange(values=[1, 5])})
    with pytest.raises(SweepSpaceError, match="not one of"):
        parameter_axes(SCHEMA, {"source": ParameterRange(values=["open"])})
    with pytest.raises(SweepSpaceError, match="not an integer"):
        parameter_axes(SCHEMA, {"fast": ParameterRange(values=[2.5])})
    with pytest.raises(SweepSpaceError, match="outside the declared bounds"):
        parameter_axes(SCHEMA, {"slow": ParameterRange(min=1, max=10, steps=2)})


def test_unknown_or_missing_parameters_are_refused() -> None:
    with pytest.raises(SweepSpaceError, match="unknown parameter"):
        parameter_axes(SCHEMA, {"speed": ParameterRange(values=[1])})
    with pytest.raises(SweepSpaceError, match="at least one"):
        parameter_axes(SCHEMA, {})
    with pytest.raises(SweepSpaceError, match="with `values`"):
        parameter_axes(SCHEMA, {"source": ParameterRange(steps=2)})


def test_a_range_is_either_values_or_bounds() -> None:
    with pytest.raises(ValidationError):
        ParameterRange(values=[1], min=1)
    with pytest.raises(ValidationError):
        ParameterRange()
    with pytest.raises(ValidationError):
        ParameterRange(min=5, max=1, steps=2)


def test_grid_takes_every_combination_over_the_base_values() -> None:
    axes = {"fast": [5, 10], "slow": [50, 100, 200]}
    combos = combinations(axes, BASE, mode="grid", cap=100)
    assert grid_size(axes) == 6
    assert len(combos) == 6
    assert {(c["fast"], c["slow"]) for c in combos} == {
        (f, s) for f in (5, 10) for s in (50, 100, 200)
    }
    assert all(c["source"] == "last" and c["band"] == 0.0 for c in combos)


def test_grid_over_the_cap_is_refused_with_a_way_out() -> None:
    axes = {"fast": list(range(2, 52)), "slow": list(range(5, 25))}
    with pytest.raises(SweepSpaceError, match="1000 combinations, more than the limit of 500"):
        combinations(axes, BASE, mode="grid", cap=500)


def test_random_draws_distinct_combinations_reproducibly() -> None:
    axes = {"fast": list(range(2, 52)), "slow": list(range(5, 25))}
    first = combinations(axes, BASE, mode="random", cap=500, samples=40, seed=7)
    again = combinations(axes, BASE, mode="random", cap=500, samples=40, seed=7)
    other = combinations(axes, BASE, mode="random", cap=500, samples=40, seed=8)
    assert first == again
    assert first != other
    pairs = [(c["fast"], c["slow"]) for c in first]
    assert len(set(pairs)) == 40
    assert all(2 <= f <= 51 and 5 <= s <= 24 for f, s in pairs)
    with pytest.raises(SweepSpaceError, match="more than the limit"):
        combinations(axes, BASE, mode="random", cap=10, samples=11)


def test_random_with_more_samples_than_the_grid_returns_the_grid() -> None:
    axes = {"fast": [5, 10], "slow": [50, 100]}
    combos = combinations(axes, BASE, mode="random", cap=100, samples=50, seed=1)
    assert sorted((c["fast"], c["slow"]) for c in combos) == [
        (5, 50),
        (5, 100),
        (10, 50),
        (10, 100),
    ]
