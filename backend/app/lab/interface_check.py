"""The interface half of the static check: the algorithm class and its declared parameters.

Rules:
- Exactly one class subclasses the SDK's `Algorithm` (under any alias it was imported as),
  at the top level, undecorated, without `__init__`; it defines `predict(self, X)` and may
  define `fit(self, X, y=None)`, both plain (not async, not decorated) methods.
- Parameters are class attributes built from the SDK's kinds (`Int`, `Float`, `Bool`,
  `Choice`) with literal arguments only: constants, tuples/lists of them and small numeric
  arithmetic, evaluated here without running any user code (large powers refused). Their
  bounds and defaults become the algorithm's JSON schema; `constraints` are literal strings
  parsed against the numeric parameters; `algorithm_type` is one of the SDK's types.
- Every problem is reported with its line, through the validator's `error`; nothing here
  raises to the caller.
"""

import ast
import math
from collections.abc import Callable
from typing import Any

from app.lab import constraints as param_constraints
from app.lab.code_policy import SDK_MODULE
from app.lab.sdk.base import ALGORITHM_TYPES
from app.lab.sdk.params import PARAMETER_KINDS, Param, object_schema

BASE_CLASS = "Algorithm"
NUMERIC = ("integer", "number")


class InterfaceChecks:
    """Mixed into the validator, which provides `sdk_names` and `error`."""

    sdk_names: dict[str, str]

    def error(self, node: ast.AST | None, message: str) -> None:
        raise NotImplementedError

    def _is_algorithm_base(self, base: ast.expr) -> bool:
        return isinstance(base, ast.Name) and self.sdk_names.get(base.id) == BASE_CLASS

    def _check_interface(
        self, tree: ast.Module
    ) -> tuple[str | None, dict[str, Any] | None, str | None]:
        candidates = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef)
            and any(self._is_algorithm_base(b) for b in node.bases)
        ]
        if not candidates:
            self.error(
                None,
                f"no algorithm class found: define one class that subclasses {BASE_CLASS} "
                f"(`from {SDK_MODULE} import {BASE_CLASS}`)",
            )
            return None, None, None
        for extra in candidates[1:]:
            self.error(
                extra,
                f"only one class may subclass {BASE_CLASS}; {candidates[0].name} "
                f"(line {candidates[0].lineno}) already does",
            )
        cls = candidates[0]
        if cls not in tree.body:
            self.error(cls, f"{cls.name} must be defined at the top level of the module")
        if cls.decorator_list:
            self.error(cls.decorator_list[0], f"{cls.name} must not be decorated")

        methods = {
            node.name: node
            for node in cls.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        if "__init__" in methods:
            self.error(
                methods["__init__"],
                f"{cls.name} must not define __init__: declare parameters as class attributes "
                "(Int, Float, Bool, Choice) and set up state in fit()",
            )
        predict = methods.get("predict")
        if predict is None:
            self.error(cls, f"{cls.name} must define predict(self, X)")
        else:
            self._check_signature(predict, "predict(self, X)", required=2, maximum=2)
        if "fit" in methods:
            self._check_signature(methods["fit"], "fit(self, X, y=None)", required=2, maximum=3)
        for name in ("predict", "fit", "score"):
            if isinstance(methods.get(name), ast.AsyncFunctionDef):
                self.error(methods[name], f"{name} must be a plain method, not async")

        params: dict[str, Param[Any]] = {}
        algorithm_type: str | None = None
        declared_constraints: tuple[ast.stmt, list[str]] | None = None
        for statement in cls.body:
            target, value = _assignment(statement)
            if target is None or value is None:
                continue
            if target == param_constraints.ATTRIBUTE:
                declared_constraints = (statement, self._constraint_texts(value, statement))
                continue
            if target == "algorithm_type":
                if isinstance(value, ast.Constant) and value.value in ALGORITHM_TYPES:
                    algorithm_type = str(value.value)
                else:
                    self.error(
                        statement,
                        f"algorithm_type must be one of {', '.join(map(repr, ALGORITHM_TYPES))}",
                    )
                continue
            param = self._parameter(target, value, statement)
            if param is not None:
                if target in params:
                    self.error(statement, f"parameter {target!r} is declared twice")
                params[target] = param
        for name in params:
            if name in methods:
                self.error(methods[name], f"{name!r} is both a parameter and a method")
        schema = object_schema(cls.name, params)
        if declared_constraints is not None:
            statement, texts = declared_constraints
            numeric = {n: p for n, p in params.items() if p.json_schema().get("type") in NUMERIC}
            parsed = []
            for text in texts:
                try:
                    parsed.append(param_constraints.parse(text, numeric))
                except param_constraints.ConstraintError as exc:
                    self.error(statement, str(exc))
            schema[param_constraints.SCHEMA_KEY] = parsed
        return cls.name, schema, algorithm_type

    def _constraint_texts(self, value: ast.expr, statement: ast.stmt) -> list[str]:
        elements = value.elts if isinstance(value, ast.Tuple | ast.List) else None
        if elements is None or not all(
            isinstance(e, ast.Constant) and isinstance(e.value, str) for e in elements
        ):
            self.error(
                statement,
                "constraints must be a tuple of literal strings, e.g. ('fast < slow',)",
            )
            return []
        return [str(e.value) for e in elements if isinstance(e, ast.Constant)]

    def _check_signature(
        self,
        node: ast.FunctionDef | ast.AsyncFunctionDef,
        wanted: str,
        *,
        required: int,
        maximum: int,
    ) -> None:
        args = node.args
        positional = args.posonlyargs + args.args
        without_default = len(positional) - len(args.defaults)
        if (
            len(positional) < required
            or len(positional) > maximum
            or without_default > required
            or args.vararg is not None
            or any(d is None for d in args.kw_defaults)
        ):
            self.error(node, f"the method must have the signature {wanted}")
        if node.decorator_list:
            self.error(node.decorator_list[0], f"{node.name} must not be decorated")

    def _parameter(self, name: str, value: ast.expr, statement: ast.stmt) -> Param[Any] | None:
        if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)):
            return None
        kind = self.sdk_names.get(value.func.id)
        if kind is None or kind not in PARAMETER_KINDS:
            return None
        try:
            args = [_literal(a) for a in value.args]
            kwargs = {}
            for keyword in value.keywords:
                if keyword.arg is None:
                    raise _NotLiteral("**arguments")
                kwargs[keyword.arg] = _literal(keyword.value)
        except _NotLiteral as exc:
            self.error(
                value,
                f"parameter {name!r}: defaults, bounds and options must be literal values "
                f"(not {exc})",
            )
            return None
        try:
            param = PARAMETER_KINDS[kind](*args, **kwargs)
            param.bind(name)
        except (TypeError, ValueError) as exc:
            self.error(statement, f"parameter {name!r}: {exc}")
            return None
        return param


def _assignment(statement: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if (
        isinstance(statement, ast.Assign)
        and len(statement.targets) == 1
        and isinstance(statement.targets[0], ast.Name)
    ):
        return statement.targets[0].id, statement.value
    if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
        return statement.target.id, statement.value
    return None, None


class _NotLiteral(Exception):
    pass


_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
    ast.Pow: lambda a, b: a**b,
}


def _literal(node: ast.expr) -> Any:
    """A literal value: constants, lists/tuples of them, and small numeric arithmetic
    (``2**31 - 1``, ``1e-4 * 5``), evaluated without running any user code."""
    if isinstance(node, ast.Constant) and isinstance(
        node.value, str | int | float | bool | type(None)
    ):
        return node.value
    if isinstance(node, ast.Tuple | ast.List):
        return tuple(_literal(e) for e in node.elts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _literal(node.operand)
        if isinstance(operand, int | float) and not isinstance(operand, bool):
            return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _literal(node.left), _literal(node.right)
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (left, right))
        if numbers:
            if isinstance(node.op, ast.Pow) and (abs(right) > 64 or abs(left) > 1e6):
                raise _NotLiteral("a large power")
            try:
                result = _BINARY[type(node.op)](left, right)
            except (ArithmeticError, ValueError):
                raise _NotLiteral("an invalid computation") from None
            if isinstance(result, int | float) and math.isfinite(result):
                return result
    raise _NotLiteral(type(node).__name__)
