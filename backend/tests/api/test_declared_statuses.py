"""Every route declares the statuses it can answer, each with the documented error shape.

The static half of the contract (the fuzzing step in scripts/test.sh is the dynamic half):
a route that raises a status it does not declare, or declares an error without a schema,
fails here with the operation and the status named.
"""

import ast
import inspect
import re
import textwrap
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from app.api.openapi import api_routes
from app.main import app

SCHEMA = app.openapi()
OPERATIONS = [
    (f"{method.upper()} {path}", operation)
    for path, methods in SCHEMA["paths"].items()
    for method, operation in methods.items()
]


def _status_of(node: ast.expr) -> int | None:
    """The status of `404`, `status.HTTP_404_NOT_FOUND` or `HTTP_404_NOT_FOUND`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
    match = re.fullmatch(r"HTTP_(\d{3})_\w+", name)
    return int(match.group(1)) if match else None


def _raised_statuses(tree: ast.AST) -> Iterator[int]:
    """Statuses a function body raises or returns: HTTPException(...), invalid(...),
    JSONResponse(status_code=...)."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        callee = (
            node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        )
        if callee == "invalid":
            yield 422
        elif callee in ("HTTPException", "JSONResponse", "Response"):
            candidates = [kw.value for kw in node.keywords if kw.arg == "status_code"]
            if callee == "HTTPException" and node.args:
                candidates.append(node.args[0])
            for candidate in candidates:
                status = _status_of(candidate)
                if status is not None and status >= 400:
                    yield status


def _called_names(tree: ast.AST) -> set[str]:
    return {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    } | {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def statuses_raised_by(endpoint: Callable[..., Any]) -> set[int]:
    """What an endpoint raises itself or through helpers of its own module (transitively)."""
    module: ModuleType | None = inspect.getmodule(endpoint)
    seen: set[str] = set()
    found: set[int] = set()
    pending: list[Callable[..., Any]] = [endpoint]
    while pending:
        function = pending.pop()
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
        found.update(_raised_statuses(tree))
        for name in _called_names(tree) - seen:
            seen.add(name)
            helper = getattr(module, name, None)
            if inspect.isfunction(helper) and inspect.getmodule(helper) is module:
                pending.append(inspect.unwrap(helper))
    return found


def test_the_static_check_sees_raises_in_helpers() -> None:
    """The checker itself: a helper's raise counts for the route that calls it."""
    from app.lab.backtests import routes

    assert statuses_raised_by(routes.read_trades) >= {404, 409, 422}
    assert statuses_raised_by(routes.compare_backtests) >= {404, 409, 422}


ROUTES = [
    (f"{method} {path}", route)
    for path, methods, route in api_routes(app)
    for method in sorted(methods)
]


@pytest.mark.parametrize(("name", "route"), ROUTES, ids=[name for name, _ in ROUTES])
def test_every_raised_status_is_declared(name: str, route: Any) -> None:
    method, path = name.split(" ", 1)
    declared = {int(s) for s in SCHEMA["paths"][path][method.lower()]["responses"]}
    missing = statuses_raised_by(route.endpoint) - declared
    assert not missing, (
        f"{name} raises {sorted(missing)} without declaring it: add "
        f"responses=errors.responses({', '.join(map(str, sorted(missing)))}) to the route"
    )


# Error responses with a body of their own, each with the reason.
OWN_ERROR_BODY = {
    ("GET /api/v1/utils/health-check/", "503"): "false, as 200 is true: for load balancers",
}


@pytest.mark.parametrize(("name", "operation"), OPERATIONS, ids=[n for n, _ in OPERATIONS])
def test_every_error_response_has_the_error_schema(name: str, operation: dict[str, Any]) -> None:
    for status, response in operation["responses"].items():
        if not status.startswith(("4", "5")) or (name, status) in OWN_ERROR_BODY:
            continue
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        want = "HTTPValidationError" if status == "422" else "ErrorMessage"
        assert schema == {"$ref": f"#/components/schemas/{want}"}, f"{name} {status}: {schema}"


@pytest.mark.parametrize(("name", "operation"), OPERATIONS, ids=[n for n, _ in OPERATIONS])
def test_authenticated_operations_declare_401_and_403(name: str, operation: dict[str, Any]) -> None:
    if operation.get("security"):
        assert {"401", "403"} <= set(operation["responses"]), name
