"""Static checks of Lab algorithm code, without running it.

`validate_code(code)` answers what is wrong with a piece of user code, with line numbers:
syntax, the interface (exactly one class subclassing `app.lab.sdk.Algorithm`, with a
``predict(self, X)`` method), the import allowlist, the parameter declarations (their
literal bounds and defaults become the JSON schema of the algorithm's parameters), and a
set of linter-level refusals of constructs that are only useful to escape a sandbox:
double-underscore attributes and names (``().__class__.__bases__``), ``eval``/``exec``/
``compile``/``open``/``globals``/... and ``getattr`` with a computed or dunder name.

The import allowlist defined here is enforced again at run time, inside the sandbox, by
an import hook.

This is a first wall that gives users early, readable errors. It is NOT the security
boundary: user code only ever runs inside the sandbox (`app.lab.sandbox`), whose
operating-system walls hold even against code that passes these checks.

`check_parameters(schema, values)` validates a parameter set against the schema returned
here, in the trusted process, before a job is sent to the sandbox.
"""

import ast
import math
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.lab import constraints as param_constraints
from app.lab.names import undefined_names
from app.lab.sdk.base import ALGORITHM_TYPES
from app.lab.sdk.params import PARAMETER_KINDS, Param, ParameterError, object_schema

# --- the import allowlist (also enforced at run time by the sandbox's import hook) ---
# A module is allowed when it is one of these or inside one of these packages.
ALLOWED_MODULES: frozenset[str] = frozenset(
    {
        "app.lab.sdk",
        "numpy",
        "pandas",
        "sklearn",
        "scipy",
        "math",
        "cmath",
        "statistics",
        "random",
        "collections",
        "itertools",
        "functools",
        "operator",
        "dataclasses",
        "typing",
        "enum",
        "abc",
        "copy",
        "datetime",
        "decimal",
        "fractions",
        "numbers",
        "heapq",
        "bisect",
        "re",
        "json",
        "warnings",
        "__future__",
    }
)

# Parts of allowed packages that exist to reach files, processes or native code.
DENIED_MODULES: frozenset[str] = frozenset(
    {
        "numpy.ctypeslib",
        "numpy.f2py",
        "numpy.distutils",
        "numpy.testing",
        "pandas.io",
        "pandas.util",
        "scipy.io",
        "scipy.datasets",
        "sklearn.datasets",
        "sklearn.externals",
        "sklearn.utils._testing",
    }
)

SDK_MODULE = "app.lab.sdk"


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def import_refusal(name: str, *, binds_top_level: bool) -> str | None:
    """Why importing module `name` is refused, or None when it is allowed.

    `binds_top_level` is true for ``import a.b.c`` (which binds ``a`` in the namespace)
    and false for ``from a.b.c import x``.
    """
    if not name or name.startswith("."):
        return "relative imports are not allowed"
    if any(_within(name, denied) for denied in DENIED_MODULES):
        return f"import of {name!r} is not allowed (it reaches files, processes or native code)"
    if not any(_within(name, allowed) for allowed in ALLOWED_MODULES):
        return f"import of {name!r} is not allowed; allowed modules: {allowed_list()}"
    if binds_top_level and _within(name, SDK_MODULE):
        return f"write `from {SDK_MODULE} import ...` instead of `import {name}`"
    return None


def allowed_list() -> str:
    return ", ".join(sorted(m for m in ALLOWED_MODULES if m != "__future__"))


FILENAME = "algorithm.py"
MAX_CODE_CHARS = 200_000
BASE_CLASS = "Algorithm"

# Builtins that evaluate code, reach the file system or the interpreter's internals.
FORBIDDEN_NAMES = frozenset(
    {
        "eval",
        "exec",
        "compile",
        "open",
        "globals",
        "locals",
        "vars",
        "breakpoint",
        "input",
        "help",
        "memoryview",
        "__import__",
        "__builtins__",
        "__loader__",
        "__spec__",
    }
)
ATTRIBUTE_BUILTINS = frozenset({"getattr", "setattr", "delattr", "hasattr"})
# Double-underscore names that are harmless and common.
ALLOWED_DUNDER_ATTRIBUTES = frozenset({"__init__", "__name__", "__doc__"})
ALLOWED_DUNDER_NAMES = frozenset({"__name__", "__doc__"})
ALLOWED_DUNDER_METHODS = frozenset(
    {
        "__init__",
        "__repr__",
        "__str__",
        "__len__",
        "__iter__",
        "__next__",
        "__eq__",
        "__ne__",
        "__lt__",
        "__le__",
        "__gt__",
        "__ge__",
        "__hash__",
        "__call__",
        "__getitem__",
        "__contains__",
        "__bool__",
    }
)
# Attributes of frames, generators, coroutines and code objects: the classic ways back to
# an unrestricted namespace.
FORBIDDEN_ATTRIBUTES = frozenset(
    {
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_back",
        "f_code",
        "gi_frame",
        "gi_code",
        "cr_frame",
        "cr_code",
        "ag_frame",
        "ag_code",
        "tb_frame",
        "tb_next",
        "co_code",
        "func_globals",
        # Modules that allowed libraries re-export (np.ctypeslib, pd.io.common.os, ...): the
        # walls stop what they could do, and the static check refuses reaching for them.
        "ctypeslib",
        "ctypes",
        "_ctypes",
        "os",
        "sys",
        "subprocess",
        "builtins",
        "importlib",
        "load_library",
    }
)
_DUNDER = re.compile(r"^__\w+__$")
NUMERIC = ("integer", "number")
# "{0.__class__}".format(x) reaches attributes through a format string.
_FORMAT_DUNDER = re.compile(r"\{[^{}]*__\w*__")


class ValidationIssue(BaseModel):
    """One problem in the code: 1-based line and column, and what is wrong."""

    line: int
    column: int
    message: str


class ValidationResult(BaseModel):
    """The outcome of `validate_code`."""

    valid: bool
    errors: list[ValidationIssue] = Field(default_factory=list)
    class_name: str | None = None
    parameter_schema: dict[str, Any] | None = None
    algorithm_type: Literal["rule", "ml", "rl"] | None = None


def validate_code(code: str) -> ValidationResult:
    """Check Lab algorithm code statically; see the module documentation."""
    return _validate_cached(code).model_copy(deep=True)


@lru_cache(maxsize=256)
def _validate_cached(code: str) -> ValidationResult:
    return _Validator(code).run()


def _is_dunder(name: str) -> bool:
    return bool(_DUNDER.match(name))


class _Validator(ast.NodeVisitor):
    def __init__(self, code: str) -> None:
        self.code = code
        self.errors: list[ValidationIssue] = []
        # Local names bound to SDK objects: alias -> SDK name (e.g. "Algo" -> "Algorithm").
        self.sdk_names: dict[str, str] = {}

    def error(self, node: ast.AST | None, message: str) -> None:
        line = getattr(node, "lineno", 1) or 1
        column = (getattr(node, "col_offset", 0) or 0) + 1
        self.errors.append(ValidationIssue(line=line, column=column, message=message))

    def run(self) -> ValidationResult:
        if not isinstance(self.code, str):
            return self._result(None, None, None)
        if len(self.code) > MAX_CODE_CHARS:
            self.error(
                None, f"the code is too long ({len(self.code)} characters, limit {MAX_CODE_CHARS})"
            )
            return self._result(None, None, None)
        try:
            tree = ast.parse(self.code, filename=FILENAME)
        except SyntaxError as exc:
            self.errors.append(
                ValidationIssue(
                    line=exc.lineno or 1, column=exc.offset or 1, message=f"syntax error: {exc.msg}"
                )
            )
            return self._result(None, None, None)
        except (ValueError, RecursionError, MemoryError) as exc:
            self.error(None, f"the code cannot be parsed: {exc}")
            return self._result(None, None, None)

        try:
            self.visit(tree)
        except RecursionError:
            self.error(None, "the code is nested too deeply")
            return self._result(None, None, None)
        class_name, schema, algorithm_type = self._check_interface(tree)
        for name, line, column in undefined_names(tree, self.code, FILENAME):
            self.errors.append(
                ValidationIssue(
                    line=line, column=column, message=f"{name!r} is not defined (a typo?)"
                )
            )
        if not self.errors:
            try:
                compile(tree, FILENAME, "exec", dont_inherit=True)
            except SyntaxError as exc:
                self.errors.append(
                    ValidationIssue(
                        line=exc.lineno or 1,
                        column=exc.offset or 1,
                        message=f"syntax error: {exc.msg}",
                    )
                )
        return self._result(class_name, schema, algorithm_type)

    def _result(
        self, class_name: str | None, schema: dict[str, Any] | None, algorithm_type: str | None
    ) -> ValidationResult:
        errors = sorted(self.errors, key=lambda e: (e.line, e.column))
        return ValidationResult(
            valid=not errors,
            errors=errors,
            class_name=class_name,
            parameter_schema=schema,
            algorithm_type=algorithm_type,
        )

    # --- imports ---------------------------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            refusal = import_refusal(alias.name, binds_top_level=alias.asname is None)
            if refusal is None and alias.asname is not None and alias.name.startswith(SDK_MODULE):
                refusal = f"write `from {SDK_MODULE} import ...` instead of `import {alias.name}`"
            if refusal:
                self.error(node, refusal)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self.error(node, "relative imports are not allowed")
            return
        module = node.module or ""
        refusal = import_refusal(module, binds_top_level=False)
        if refusal:
            self.error(node, refusal)
            return
        for alias in node.names:
            if alias.name == "*":
                self.error(
                    node, f"`from {module} import *` is not allowed: import names explicitly"
                )
            elif _is_dunder(alias.name):
                self.error(node, f"importing {alias.name!r} is not allowed")
            elif module == SDK_MODULE or module.startswith(SDK_MODULE + "."):
                self.sdk_names[alias.asname or alias.name] = alias.name
        self.generic_visit(node)

    # --- names and attributes --------------------------------------------------------------

    def visit_Name(self, node: ast.Name) -> None:
        # Binding a forbidden name (a parameter called `input`) only shadows the builtin.
        if node.id in FORBIDDEN_NAMES and not isinstance(node.ctx, ast.Store):
            self.error(node, f"`{node.id}` is not allowed in Lab code")
        elif _is_dunder(node.id) and node.id not in ALLOWED_DUNDER_NAMES:
            self.error(
                node, f"the name `{node.id}` is not allowed (double-underscore names are reserved)"
            )

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if (
            _is_dunder(node.attr)
            and node.attr not in ALLOWED_DUNDER_ATTRIBUTES
            or node.attr in FORBIDDEN_ATTRIBUTES
        ):
            self.error(node, f"access to the attribute `{node.attr}` is not allowed")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id in ATTRIBUTE_BUILTINS:
            name = node.args[1] if len(node.args) >= 2 else None
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                self.error(
                    node,
                    f"`{node.func.id}` needs a literal attribute name here (write obj.name instead)",
                )
            elif _is_dunder(name.value) or name.value in FORBIDDEN_ATTRIBUTES:
                self.error(node, f"`{node.func.id}` of {name.value!r} is not allowed")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and _FORMAT_DUNDER.search(node.value):
            self.error(node, "format strings must not reach double-underscore attributes")

    def _check_def(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if _is_dunder(node.name) and node.name not in ALLOWED_DUNDER_METHODS:
            self.error(node, f"defining `{node.name}` is not allowed")
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._check_def(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._check_def(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        if _is_dunder(node.name):
            self.error(node, f"the class name `{node.name}` is not allowed")
        for keyword in node.keywords:
            self.error(keyword, "class keywords (metaclass=...) are not allowed")
        self.generic_visit(node)

    # --- the interface ---------------------------------------------------------------------

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
