"""Static checks of Lab algorithm code, without running it.

`validate_code(code)` answers what is wrong with a piece of user code, with line numbers:
syntax, the interface (exactly one class subclassing `app.lab.sdk.Algorithm`, with a
``predict(self, X)`` method), the import allowlist, the parameter declarations (their
literal bounds and defaults become the JSON schema of the algorithm's parameters), and a
set of linter-level refusals of constructs that are only useful to escape a sandbox. The
rules themselves (allowed modules, forbidden names and attributes, private attributes,
attribute lookups by computed names, modules reached through other modules) live in
`app.lab.code_policy`, which the sandbox enforces again at run time.

This is a first wall that gives users early, readable errors. It is NOT the security
boundary: user code only ever runs inside the sandbox (`app.lab.sandbox`), whose
operating-system walls hold even against code that passes these checks.

`check_parameters` (from `app.lab.parameter_values`, re-exported here) validates a parameter
set against the schema returned here, before a job is sent to the sandbox.
"""

import ast
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.lab.code_policy import (
    ALLOWED_DUNDER_METHODS,
    ALLOWED_DUNDER_NAMES,
    ALLOWED_MODULES,
    ATTRIBUTE_BUILTINS,
    DENIED_MODULES,
    DYNAMIC_GETTERS,
    FORBIDDEN_NAMES,
    PRIVATE_OWNERS,
    SDK_MODULE,
    allowed_list,
    attribute_refusal,
    dotted_refusal,
    import_refusal,
    is_dunder,
    module_refusal,
)
from app.lab.interface_check import InterfaceChecks
from app.lab.names import undefined_names
from app.lab.parameter_values import check_parameters

FILENAME = "algorithm.py"
MAX_CODE_CHARS = 200_000


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


# "{0.__class__}".format(x) reaches attributes through a format string.
_FORMAT_DUNDER = re.compile(r"\{[^{}]*__\w*__")
_is_dunder = is_dunder
# Re-exported: the policy's home is `code_policy`; older imports name this module.
__all__ = [
    "ALLOWED_MODULES",
    "DENIED_MODULES",
    "ValidationIssue",
    "ValidationResult",
    "allowed_list",
    "check_parameters",
    "import_refusal",
    "validate_code",
]


class _Validator(InterfaceChecks, ast.NodeVisitor):
    def __init__(self, code: str) -> None:
        self.code = code
        self.errors: list[ValidationIssue] = []
        # Local names bound to SDK objects: alias -> SDK name (e.g. "Algo" -> "Algorithm").
        self.sdk_names: dict[str, str] = {}
        # Local names bound by imports: alias -> dotted module path ("pd" -> "pandas").
        self.module_names: dict[str, str] = {}
        # Local names bound to operator.attrgetter / methodcaller.
        self.getter_names: dict[str, str] = {}
        # Nodes that are the function of a call (getattr may only appear there).
        self.called: set[int] = set()

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
            elif alias.asname is not None:
                self.module_names[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                self.module_names[top] = top

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
            elif refusal := attribute_refusal(alias.name) or module_refusal(
                f"{module}.{alias.name}"
            ):
                self.error(node, f"importing {alias.name!r} from {module}: {refusal}")
            else:
                bound = alias.asname or alias.name
                self.module_names[bound] = f"{module}.{alias.name}"
                if module == "operator" and alias.name in DYNAMIC_GETTERS:
                    self.getter_names[bound] = alias.name
                if module == SDK_MODULE or module.startswith(SDK_MODULE + "."):
                    self.sdk_names[bound] = alias.name
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
        elif (node.id in ATTRIBUTE_BUILTINS or node.id in self.getter_names) and id(
            node
        ) not in self.called:
            self.error(
                node,
                f"`{node.id}` may only be called directly with a literal name "
                "(not passed around as a value)",
            )

    def visit_Attribute(self, node: ast.Attribute) -> None:
        owner = isinstance(node.value, ast.Name) and node.value.id in PRIVATE_OWNERS
        refusal = attribute_refusal(node.attr, private_ok=owner)
        if refusal is None and node.attr in DYNAMIC_GETTERS and id(node) not in self.called:
            refusal = f"`{node.attr}` may only be called directly with literal names"
        if refusal is None:
            refusal = self._module_path_refusal(node)
        if refusal:
            self.error(node, refusal)
        self.generic_visit(node)

    def _module_path(self, node: ast.expr) -> str | None:
        """``pd.io.common`` -> "pandas.io.common" when the chain starts at an imported name."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or node.id not in self.module_names:
            return None
        return ".".join([self.module_names[node.id], *reversed(parts)])

    def _module_path_refusal(self, node: ast.Attribute) -> str | None:
        """Reaching a refused module through an allowed one (``pd.io``), reported once, at
        the first refused step of the chain."""
        path = self._module_path(node)
        if path is None or module_refusal(path) is None:
            return None
        parent = self._module_path(node.value)
        if parent is not None and module_refusal(parent) is not None:
            return None
        return f"reaching {path!r} is not allowed (it reaches files, processes or native code)"

    def visit_Call(self, node: ast.Call) -> None:
        self.called.add(id(node.func))
        func = node.func
        if isinstance(func, ast.Name) and func.id in ATTRIBUTE_BUILTINS:
            name = node.args[1] if len(node.args) >= 2 else None
            owner = node.args[0] if node.args else None
            own = isinstance(owner, ast.Name) and owner.id in PRIVATE_OWNERS
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                self.error(
                    node,
                    f"`{func.id}` needs a literal attribute name here (write obj.name instead)",
                )
            elif attribute_refusal(name.value, private_ok=own):
                self.error(node, f"`{func.id}` of {name.value!r} is not allowed")
        getter = (isinstance(func, ast.Name) and func.id in self.getter_names) or (
            isinstance(func, ast.Attribute) and func.attr in DYNAMIC_GETTERS
        )
        if getter:
            kind = _getter_name(func, self.getter_names)
            names = node.args if kind == "attrgetter" else node.args[:1]
            literal = [
                a.value for a in names if isinstance(a, ast.Constant) and isinstance(a.value, str)
            ]
            if not names or len(literal) != len(names) or node.keywords and not literal:
                self.error(node, f"`{kind}` needs literal attribute names")
            elif refusal := dotted_refusal(literal):
                self.error(node, f"`{kind}`: {refusal}")
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


def _getter_name(func: ast.expr, aliases: Mapping[str, str]) -> str:
    """ "attrgetter" or "methodcaller" for a call of one of them (under any alias)."""
    if isinstance(func, ast.Attribute):
        return func.attr
    return aliases.get(getattr(func, "id", ""), "attrgetter")
