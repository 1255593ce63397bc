"""Fault switches: rules that make matching requests slow, fail, hang, get rate limited,
come back malformed, or (for fills) only partly fill.

A rule applies to requests whose path matches its `path` glob (all exchange paths when
empty; the admin API is never affected) and to the next `count` of them (forever when
`count` is None). Several rules of different kinds can hit the same request.
"""

import fnmatch
import itertools
import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field, model_validator

FaultKind = Literal["latency", "error", "hang", "rate_limit", "malformed", "partial_fill"]

DEFAULT_MALFORMED_BODY = '{"status":"ok","prices":{"btc":{"bid":"1'
DEFAULT_ERROR_BODY = "<html><body><h1>503 Service Unavailable</h1></body></html>"


class FaultRule(BaseModel):
    kind: FaultKind
    # Number of matching requests (or fills) affected; None = until cleared.
    count: int | None = Field(default=None, ge=1)
    # Glob on the request path, e.g. "/pubapi/v2/latest" or "/api/v2/my/*".
    path: str | None = None
    # latency / hang: seconds (hang defaults to the simulator's hang_seconds).
    seconds: float | None = Field(default=None, ge=0, le=600)
    # error: HTTP status (5xx) and optional body (default: an HTML 503 page).
    status: int = Field(default=503, ge=500, le=599)
    # error / malformed: the body to send instead of the default.
    body: str | None = None
    # hang: "before" = the request is never processed; "after" = processed, answer withheld.
    mode: Literal["before", "after"] = "before"
    # partial_fill: fraction of the remaining amount that fills.
    ratio: Decimal = Field(default=Decimal("0.5"), gt=0, lt=1)

    @model_validator(mode="after")
    def _latency_needs_seconds(self) -> "FaultRule":
        if self.kind == "latency" and self.seconds is None:
            raise ValueError("a latency fault needs seconds")
        return self


@dataclass
class _Active:
    id: int
    rule: FaultRule
    remaining: int | None

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "remaining": self.remaining, **self.rule.model_dump(mode="json")}


@dataclass
class FaultDecision:
    latency: float = 0.0
    error: FaultRule | None = None
    hang: FaultRule | None = None
    rate_limited: bool = False
    malformed: FaultRule | None = None


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Active] = []
        self._ids = itertools.count(1)

    def add(self, rule: FaultRule) -> int:
        with self._lock:
            active = _Active(next(self._ids), rule, rule.count)
            self._rules.append(active)
            return active.id

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def list(self) -> list[dict[str, object]]:
        with self._lock:
            return [rule.as_dict() for rule in self._rules]

    def _take(self, kind: FaultKind, path: str | None) -> FaultRule | None:
        """Consume one use of the first live rule of `kind` matching `path`."""
        for active in self._rules:
            rule = active.rule
            if rule.kind != kind:
                continue
            if path is not None and rule.path and not fnmatch.fnmatchcase(path, rule.path):
                continue
            if active.remaining is not None:
                active.remaining -= 1
                if active.remaining <= 0:
                    self._rules.remove(active)
            return rule
        return None

    def decide(self, path: str) -> FaultDecision:
        with self._lock:
            decision = FaultDecision()
            latency = self._take("latency", path)
            if latency is not None:
                decision.latency = latency.seconds or 0.0
            decision.rate_limited = self._take("rate_limit", path) is not None
            if not decision.rate_limited:
                decision.error = self._take("error", path)
            if not decision.rate_limited and decision.error is None:
                decision.hang = self._take("hang", path)
                decision.malformed = self._take("malformed", path)
            return decision

    def partial_fill_ratio(self) -> Decimal | None:
        """The fill ratio if the next fill should be partial (consumes one use)."""
        with self._lock:
            rule = self._take("partial_fill", None)
            return rule.ratio if rule else None
