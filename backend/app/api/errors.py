"""One shape for every error the API answers, and the declarations that document it.

Rules this module keeps (DEVELOPMENT.md, "Errors and declared statuses"):
- Every error body is `{"detail": ...}`. A 422 carries a list of field errors (`loc`, `msg`,
  `type`: FastAPI's `HTTPValidationError`), every other 4xx/5xx one readable sentence
  (`ErrorMessage`).
- A route that rejects a value itself raises `invalid(message, "query", "ids")`, naming where
  the value came from, never `HTTPException(422, "text")`; the handler installed here turns
  such a string into a one-item list all the same, and a body that is not even text (FastAPI's
  400 "error parsing the body") into the same 422 that malformed JSON gets.
- A route declares every status it raises itself with `responses=errors.responses(404, 409)`
  (or `errors.responses({404: "No such run"})` for its own descriptions). Statuses raised by
  dependencies are declared once, on the dependency, with `@raises(401, 403)`;
  `app.api.openapi` adds them to every operation that uses it.
"""

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

logger = logging.getLogger(__name__)

# What FastAPI answers when a request body cannot be decoded as text at all.
_BODY_PARSE_DETAIL = "There was an error parsing the body"


class ErrorMessage(BaseModel):
    """An error other than a validation error: one sentence that says what to do."""

    detail: str


DESCRIPTIONS: dict[int, str] = {
    400: "The request cannot be carried out as sent",
    401: "Not authenticated, or the token is invalid or expired",
    403: "Not allowed for this user",
    404: "No such object (for this user)",
    409: "Conflicts with the object's current state",
    422: "A value is invalid: `detail` lists each field and why",
    429: "Too many requests: wait for `Retry-After` seconds",
    502: "The exchange answered with an error",
    503: "A service this request needs is unavailable or not configured",
}

ResponseSpec = dict[int | str, dict[str, Any]]


def responses(*statuses: int | Mapping[int, str]) -> ResponseSpec:
    """`responses=` for a route: each status with its description and error model.

    `responses(404, 409)` uses the standard descriptions; pass a mapping to say more:
    `responses({404: "No such run for this user"}, 409)`. Merge with `|` for extra keys
    (links, headers)."""
    spec: ResponseSpec = {}
    for item in statuses:
        pairs = item.items() if isinstance(item, Mapping) else [(item, DESCRIPTIONS[item])]
        for status, description in pairs:
            if status == 422:
                # No model: the standard HTTPValidationError schema is filled in by app.api.openapi.
                spec[status] = {"description": description}
            else:
                spec[status] = {"description": description, "model": ErrorMessage}
    return spec


# Ready-made sets for the common cases.
NOT_FOUND = responses(404)
CONFLICT = responses(409)
NOT_FOUND_OR_CONFLICT = responses(404, 409)
RATE_LIMITED = responses(429)

_Call = TypeVar("_Call", bound=Callable[..., Any])

# Dependency function -> the statuses it raises (filled by @raises).
DEPENDENCY_STATUSES: dict[Callable[..., Any], dict[int, str]] = {}


def raises(*statuses: int | Mapping[int, str]) -> Callable[[_Call], _Call]:
    """Declare what a dependency raises; every route that depends on it documents it."""

    def mark(call: _Call) -> _Call:
        declared = DEPENDENCY_STATUSES.setdefault(call, {})
        for status, spec in responses(*statuses).items():
            declared[int(status)] = spec["description"]
        return call

    return mark


def invalid(message: str, *loc: str | int, kind: str = "value_error") -> RequestValidationError:
    """A 422 in the standard shape for a value a route rejects itself: `raise invalid(...)`.

    `loc` says where the value came from, as FastAPI does: ("query", "ids"), ("body", "code")."""
    return RequestValidationError([{"loc": loc or ("body",), "msg": message, "type": kind}])


def _field_errors(detail: object) -> list[dict[str, Any]]:
    if isinstance(detail, Sequence) and not isinstance(detail, str):
        return list(detail)
    return [{"loc": [], "msg": str(detail), "type": "value_error"}]


def install_error_handlers(app: FastAPI) -> None:
    """Keep raised HTTP errors in the documented shapes (see the module docstring)."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and exc.detail == _BODY_PARSE_DETAIL:
            body = [
                {"loc": ["body"], "msg": "request body is not valid JSON", "type": "json_invalid"}
            ]
            return JSONResponse(status_code=422, content={"detail": body})
        if exc.status_code == 422:
            return JSONResponse(
                status_code=422, content={"detail": _field_errors(exc.detail)}, headers=exc.headers
            )
        return await http_exception_handler(request, exc)

    @app.exception_handler(UnicodeError)
    async def unencodable_text(request: Request, exc: UnicodeError) -> Response:
        # Text that JSON allows but nothing downstream can encode: a lone surrogate
        # ("\udacf") in a name or password, a host name label too long for IDNA in a URL.
        # The request's own data is at fault, so it is a 422, not a server error.
        logger.warning(
            "request text cannot be encoded", extra={"path": request.url.path, "error": str(exc)}
        )
        body = [
            {
                "loc": ["body"],
                "msg": f"a text value cannot be used ({exc.__class__.__name__}: {exc}); "
                "send valid Unicode text and well-formed host names",
                "type": "value_error",
            }
        ]
        return JSONResponse(status_code=422, content={"detail": body})

    @app.exception_handler(DataError)
    async def data_error(request: Request, exc: DataError) -> Response:
        # PostgreSQL refused a value the request carried: a NUL character in text (JSON and
        # forms allow "\u0000", no text column does) or a number out of a column's range.
        message = str(exc.orig) if exc.orig is not None else str(exc)
        if not any(known in message for known in ("NUL", "out of range", "value too long")):
            logger.exception("database refused a value", extra={"path": request.url.path})
            return JSONResponse(status_code=500, content={"detail": "Internal Server Error"})
        logger.warning("request value refused by the database", extra={"path": request.url.path})
        if "NUL" in message:
            readable = "text must not contain NUL (\\u0000) characters"
        elif "value too long" in message:
            readable = "a text value is longer than can be stored"
        else:
            readable = "a number is out of the range that can be stored"
        body = [{"loc": ["body"], "msg": readable, "type": "value_error"}]
        return JSONResponse(status_code=422, content={"detail": body})
