"""Declared, typed, bounded algorithm parameters.

Declare each parameter as a class attribute of your algorithm::

    class MovingAverageCrossover(Algorithm):
        fast = Int(12, ge=2, le=500, description="Bars in the fast moving average")
        slow = Int(48, ge=5, le=2000, description="Bars in the slow moving average")
        band = Float(0.0, ge=0.0, le=0.05, description="Dead band around the crossover")
        price = Choice("last", options=("last", "mid"), description="Which price to use")
        long_only = Bool(True)

Inside your methods, ``self.fast`` is the value (an ``int``), never the declaration. The
declarations drive the parameter form in the Lab, parameter sweeps, and the JSON schema that
`Algorithm.parameter_schema()` returns. Values are checked when the algorithm is created and
whenever a parameter is set (``set_params``), so a value outside its bounds is a clear
`ParameterError`, not a silent bug.

Numeric parameters need both bounds (``ge``/``gt`` and ``le``/``lt``): sweeps and the form
need to know the range. Bounds, defaults and options must be plain literal values, because the
Lab reads them from your source code without running it.
"""

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Generic, Self, TypeVar, overload

import numpy as np

T = TypeVar("T")

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


class ParameterError(ValueError):
    """A parameter value is unknown, of the wrong type, or outside its bounds."""


class Param(Generic[T]):
    """Base class of parameter declarations (use `Int`, `Float`, `Bool` or `Choice`)."""

    json_type: ClassVar[str] = ""

    def __init__(self, default: T, *, description: str = "", title: str | None = None) -> None:
        if not isinstance(description, str):
            raise TypeError("description must be a string")
        if title is not None and not isinstance(title, str):
            raise TypeError("title must be a string")
        self.name = ""
        self.description = description
        self.title = title
        self.default = default

    def __set_name__(self, owner: type, name: str) -> None:
        self.bind(name)

    def bind(self, name: str) -> None:
        """Give the declaration its name and check its default (done by the class statement)."""
        if not name.isidentifier() or name.startswith("_"):
            raise TypeError(f"parameter names must be identifiers not starting with '_': {name!r}")
        self.name = name
        # Checked once the name is known, so that the message can name the parameter.
        self.default = self.validate(self.default)

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Self: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...

    def __get__(self, obj: object | None, owner: type | None = None) -> "T | Self":
        if obj is None:
            return self
        value: T = obj.__dict__.get(self.name, self.default)
        return value

    def __set__(self, obj: object, value: T) -> None:
        obj.__dict__[self.name] = self.validate(value)

    @property
    def label(self) -> str:
        return self.name or type(self).__name__

    def validate(self, value: Any) -> T:
        """Return `value` unchanged when it is acceptable, else raise `ParameterError`.

        The value is never converted: scikit-learn's ``clone`` requires that the object given
        to the constructor is the object stored.
        """
        raise NotImplementedError

    def json_schema(self) -> dict[str, Any]:
        """This parameter as a JSON-schema property."""
        schema: dict[str, Any] = {}
        if self.json_type:
            schema["type"] = self.json_type
        schema["title"] = self.title or self.name.replace("_", " ").capitalize()
        if self.description:
            schema["description"] = self.description
        schema["default"] = _plain(self.default)
        return schema

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.default!r})"


def _plain(value: Any) -> Any:
    """numpy scalars to Python scalars, for JSON."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


class Int(Param[int]):
    """An integer parameter between `ge` and `le` (both included)."""

    json_type = "integer"

    def __init__(
        self,
        default: int,
        *,
        ge: int,
        le: int,
        description: str = "",
        title: str | None = None,
    ) -> None:
        if not (_is_int(ge) and _is_int(le)):
            raise TypeError("Int bounds ge and le must be integers")
        if ge > le:
            raise TypeError(f"Int bounds are empty: ge={ge} > le={le}")
        self.ge = ge
        self.le = le
        super().__init__(default, description=description, title=title)

    def validate(self, value: Any) -> int:
        if not _is_int(value):
            raise ParameterError(f"{self.label} must be an integer, got {value!r}")
        if not self.ge <= value <= self.le:
            raise ParameterError(
                f"{self.label} must be between {self.ge} and {self.le}, got {value}"
            )
        result: int = value
        return result

    def json_schema(self) -> dict[str, Any]:
        return {**super().json_schema(), "minimum": self.ge, "maximum": self.le}


class Float(Param[float]):
    """A real parameter with a lower bound (`ge` inclusive or `gt` exclusive) and an upper
    bound (`le` inclusive or `lt` exclusive). Integers are accepted as values."""

    json_type = "number"

    def __init__(
        self,
        default: float,
        *,
        ge: float | None = None,
        gt: float | None = None,
        le: float | None = None,
        lt: float | None = None,
        description: str = "",
        title: str | None = None,
    ) -> None:
        if (ge is None) == (gt is None):
            raise TypeError("Float needs exactly one lower bound: ge= or gt=")
        if (le is None) == (lt is None):
            raise TypeError("Float needs exactly one upper bound: le= or lt=")
        for bound in (ge, gt, le, lt):
            if bound is not None and not (_is_real(bound) and math.isfinite(bound)):
                raise TypeError("Float bounds must be finite numbers")
        low = ge if ge is not None else gt
        high = le if le is not None else lt
        assert low is not None and high is not None
        if low > high or (low == high and (gt is not None or lt is not None)):
            raise TypeError(f"Float bounds are empty: {low} .. {high}")
        self.ge, self.gt, self.le, self.lt = ge, gt, le, lt
        super().__init__(default, description=description, title=title)

    def validate(self, value: Any) -> float:
        if not _is_real(value):
            raise ParameterError(f"{self.label} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ParameterError(f"{self.label} must be finite, got {value}")
        too_low = (self.ge is not None and value < self.ge) or (
            self.gt is not None and value <= self.gt
        )
        too_high = (self.le is not None and value > self.le) or (
            self.lt is not None and value >= self.lt
        )
        if too_low or too_high:
            low = f"[{self.ge}" if self.ge is not None else f"({self.gt}"
            high = f"{self.le}]" if self.le is not None else f"{self.lt})"
            raise ParameterError(f"{self.label} must be in {low}, {high}, got {value}")
        result: float = value
        return result

    def json_schema(self) -> dict[str, Any]:
        schema = super().json_schema()
        for key, bound in (
            ("minimum", self.ge),
            ("exclusiveMinimum", self.gt),
            ("maximum", self.le),
            ("exclusiveMaximum", self.lt),
        ):
            if bound is not None:
                schema[key] = bound
        return schema


class Bool(Param[bool]):
    """A true/false parameter."""

    json_type = "boolean"

    def __init__(self, default: bool, *, description: str = "", title: str | None = None) -> None:
        super().__init__(default, description=description, title=title)

    def validate(self, value: Any) -> bool:
        if not isinstance(value, bool | np.bool_):
            raise ParameterError(f"{self.label} must be true or false, got {value!r}")
        result = bool(value)
        return result


Option = str | int | float


class Choice(Param[Option]):
    """One of a fixed list of options (strings or numbers)."""

    def __init__(
        self,
        default: Option,
        *,
        options: Sequence[Option],
        description: str = "",
        title: str | None = None,
    ) -> None:
        if isinstance(options, str) or not isinstance(options, Sequence) or not options:
            raise TypeError("Choice needs a non-empty list of options")
        for option in options:
            if not isinstance(option, str | int | float) or isinstance(option, bool):
                raise TypeError(f"Choice options must be strings or numbers, got {option!r}")
        if len(set(options)) != len(options):
            raise TypeError("Choice options must be distinct")
        self.options = tuple(options)
        super().__init__(default, description=description, title=title)

    def validate(self, value: Any) -> Option:
        if isinstance(value, bool) or value not in self.options:
            allowed = ", ".join(repr(o) for o in self.options)
            raise ParameterError(f"{self.label} must be one of {allowed}, got {value!r}")
        result: Option = value
        return result

    def json_schema(self) -> dict[str, Any]:
        schema = super().json_schema()
        schema["enum"] = list(self.options)
        if all(isinstance(o, str) for o in self.options):
            schema["type"] = "string"
        return schema


PARAMETER_KINDS: Mapping[str, type[Param[Any]]] = {
    "Int": Int,
    "Float": Float,
    "Bool": Bool,
    "Choice": Choice,
}


def declared_params(cls: type) -> dict[str, Param[Any]]:
    """The parameters a class declares, base classes first, in declaration order."""
    found: dict[str, Param[Any]] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, Param):
                found[name] = value
            elif name in found:
                # A subclass replaced the declaration with something else: no longer a parameter.
                del found[name]
    return found


def object_schema(title: str, params: Mapping[str, Param[Any]]) -> dict[str, Any]:
    """The JSON schema of a parameter set."""
    return {
        "$schema": SCHEMA_DIALECT,
        "title": title,
        "type": "object",
        "properties": {name: p.json_schema() for name, p in params.items()},
        "additionalProperties": False,
    }
