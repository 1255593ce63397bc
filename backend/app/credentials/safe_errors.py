"""Error rendering for routes that receive secrets.

FastAPI's default 422 body echoes each offending `input`; for a credentials payload that
would be the key or the secret. `SecretSafeRoute` renders validation errors with only
the location, the message and a few harmless constraint values.

`RedactCredentialsQueryFilter` keeps query strings of credentials URLs out of the
uvicorn access log, in case a client puts key material in the URL by mistake.
"""

import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

_SAFE_CTX_KEYS = frozenset({"min_length", "max_length", "ge", "gt", "le", "lt"})


def _message(kind: object, msg: object) -> object:
    if kind == "json_invalid":
        return "request body is not valid JSON"
    if kind == "value_error" and isinstance(msg, str):
        # Our validators' messages are complete sentences; drop pydantic's prefix.
        return msg.removeprefix("Value error, ")
    return msg


def sanitize_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    clean: list[dict[str, Any]] = []
    for error in errors:
        kind = error.get("type")
        item: dict[str, Any] = {
            "type": kind,
            "loc": list(error.get("loc", ())),
            "msg": _message(kind, error.get("msg")),
        }
        ctx = {
            k: v
            for k, v in (error.get("ctx") or {}).items()
            if k in _SAFE_CTX_KEYS and isinstance(v, int | float)
        }
        if ctx:
            item["ctx"] = ctx
        clean.append(item)
    return clean


class SecretSafeRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def safe_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                # `from None` is not enough: build the response here so the exception,
                # whose str() contains the inputs, is never rendered or logged.
                return JSONResponse(
                    status_code=422, content={"detail": sanitize_errors(exc.errors())}
                )

        return safe_handler


class RedactCredentialsQueryFilter(logging.Filter):
    """Drop the query string of credentials paths from uvicorn access log records."""

    def __init__(self, path_prefix: str) -> None:
        super().__init__()
        self._prefix = path_prefix

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn.access: (client_addr, method, full_path, http_version, status_code)
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path = args[2]
            if path.startswith(self._prefix) and "?" in path:
                record.args = (*args[:2], path.split("?", 1)[0] + "?<redacted>", *args[3:])
        return True


def install_access_log_filter(path_prefix: str) -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactCredentialsQueryFilter) for f in access.filters):
        access.addFilter(RedactCredentialsQueryFilter(path_prefix))
