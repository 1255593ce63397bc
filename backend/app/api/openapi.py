"""The OpenAPI document: every status each operation can answer, with its error schema.

Rules this module keeps:
- An operation documents the statuses its dependencies raise (`app.api.errors.raises`):
  every route using `CurrentUser` declares 401 and 403 without saying so itself.
- Every declared 4xx/5xx response has a body schema: `HTTPValidationError` for 422,
  `ErrorMessage` for the rest, so generated clients and fuzzers know the error shape.
- `links(...)` builds the OpenAPI links that tell clients (and the stateful fuzzer) which
  operation's answer supplies another's ids; put them on the creating route's success
  response.
- Nothing here changes what a route does; it only completes the description of it.
"""

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant

from app.api.errors import DEPENDENCY_STATUSES, ErrorMessage

_REF = "#/components/schemas/"
_VALIDATION_ERROR_SCHEMAS: dict[str, Any] = {
    "ValidationError": {
        "title": "ValidationError",
        "type": "object",
        "properties": {
            "loc": {
                "title": "Location",
                "type": "array",
                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            },
            "msg": {"title": "Message", "type": "string"},
            "type": {"title": "Error Type", "type": "string"},
        },
        "required": ["loc", "msg", "type"],
    },
    "HTTPValidationError": {
        "title": "HTTPValidationError",
        "type": "object",
        "properties": {
            "detail": {
                "title": "Detail",
                "type": "array",
                "items": {"$ref": f"{_REF}ValidationError"},
            }
        },
    },
}


def links(*operation_ids: str, **parameters: str) -> dict[str, Any]:
    """OpenAPI links from a response to the operations that take its ids.

    `links("lab-read_algorithm", algorithm_id="$response.body#/id")`; a parameter named
    `body.field` fills that field of the target's request body instead."""
    path_or_query = {k: v for k, v in parameters.items() if not k.startswith("body.")}
    body = {k.removeprefix("body."): v for k, v in parameters.items() if k.startswith("body.")}
    built: dict[str, Any] = {}
    for operation_id in operation_ids:
        link: dict[str, Any] = {"operationId": operation_id}
        if path_or_query:
            link["parameters"] = path_or_query
        if body:
            link["requestBody"] = body
        built[operation_id.replace("-", "_")] = link
    return built


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def dependency_statuses(dependant: Dependant) -> dict[int, str]:
    """The statuses raised by the dependencies of a route (its whole dependency tree)."""
    found: dict[int, str] = {}
    for call in _calls(dependant):
        for status, description in DEPENDENCY_STATUSES.get(call, {}).items():
            found.setdefault(status, description)
    return found


def api_routes(app: FastAPI) -> Iterator[tuple[str, set[str], routing.APIRoute]]:
    """(path as in the OpenAPI document, methods, route) of every route in the schema."""
    iter_contexts = getattr(routing, "iter_route_contexts", None)
    if iter_contexts is None:  # FastAPI before route contexts: routes are flat
        for route in app.routes:
            if isinstance(route, routing.APIRoute) and route.include_in_schema:
                yield route.path_format, set(route.methods or ()), route
        return
    for context in iter_contexts(app.routes):
        route = context.original_route
        if isinstance(route, routing.APIRoute) and route.include_in_schema:
            yield context.path_format, set(context.methods or ()), route


def _error_schema(status: str) -> dict[str, Any]:
    name = "HTTPValidationError" if status == "422" else "ErrorMessage"
    return {"application/json": {"schema": {"$ref": f"{_REF}{name}"}}}


def complete_schema(app: FastAPI, schema: dict[str, Any]) -> dict[str, Any]:
    """Add dependency statuses and error schemas to a generated OpenAPI document."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("ErrorMessage", ErrorMessage.model_json_schema())
    for name, definition in _VALIDATION_ERROR_SCHEMAS.items():
        components.setdefault(name, definition)
    paths = schema.get("paths", {})
    for path, methods, route in api_routes(app):
        for method in methods:
            operation = paths.get(path, {}).get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in dependency_statuses(route.dependant).items():
                responses.setdefault(str(status), {"description": description})
            for status, response in responses.items():
                if status[:1] in ("4", "5") and "content" not in response:
                    response["content"] = _error_schema(status)
    return schema


def install_openapi(app: FastAPI) -> None:
    """Serve the completed document at the app's openapi_url (built once, then cached)."""
    generate = app.openapi
    completed: list[int] = []

    def openapi() -> dict[str, Any]:
        schema = generate()  # FastAPI caches it in app.openapi_schema
        if id(schema) not in completed:
            complete_schema(app, schema)
            completed.append(id(schema))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
