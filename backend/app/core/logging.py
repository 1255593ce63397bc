"""Structured logging: key=value (or JSON) lines with the `extra` fields of each record."""

import logging
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from app.core.config import settings

_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class KeyValueFormatter(logging.Formatter):
    """Render `logger.info("msg", extra={...})` as `... msg key=value key=value`."""

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}
        if not extras:
            return base
        pairs = " ".join(f"{key}={_render(value)}" for key, value in extras.items())
        return f"{base} {pairs}"


def _render(value: Any) -> str:
    text = str(value)
    return f'"{text}"' if " " in text else text


def setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.LOG_JSON:
        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    else:
        handler.setFormatter(KeyValueFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.LOG_LEVEL.upper())
