"""Everything a running simulator holds: engine, faults, rate-limit windows, request log.

`reset()` swaps all of it for fresh state atomically, so one server can serve many
tests. Requests already in flight finish against the state they started with.
"""

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from app.exchange.simulator.config import SimulatorConfig
from app.exchange.simulator.engine import Engine
from app.exchange.simulator.faults import Faults


@dataclass(frozen=True)
class RequestRecord:
    at: float  # time.monotonic() at arrival: compare records with each other
    time: str  # wall clock at arrival, UTC ISO-8601
    method: str
    path: str
    key: str | None
    client: str | None
    status: int
    outcome: str  # ok | error | rate_limited | fault_error | fault_rate_limit | hang | hang_after | malformed

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class WindowCounter:
    """Server-side rate limit: accepted requests per bucket in a sliding window."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: dict[str, deque[float]] = {}

    def allow(self, bucket: str, limit: int, period: float, now: float) -> float | None:
        """Record and return None if allowed, else the seconds until a slot frees up."""
        with self._lock:
            hits = self._hits.setdefault(bucket, deque())
            while hits and hits[0] <= now - period:
                hits.popleft()
            if len(hits) >= limit:
                return hits[0] + period - now
            hits.append(now)
            return None


class RequestLog:
    def __init__(self, size: int) -> None:
        self._lock = threading.Lock()
        self._records: deque[RequestRecord] = deque(maxlen=size or None)
        self._enabled = size > 0

    def add(self, record: RequestRecord) -> None:
        if self._enabled:
            with self._lock:
                self._records.append(record)

    def list(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()


class SimulatorState:
    def __init__(self, config: SimulatorConfig) -> None:
        self._lock = threading.Lock()
        self.initial_config = config
        self._build(config)

    def _build(self, config: SimulatorConfig) -> None:
        faults = Faults()
        self.faults = faults
        self.engine = Engine(config, faults)
        self.limits = WindowCounter()
        self.log = RequestLog(config.request_log_size)
        self.started = datetime.now(UTC)

    @property
    def config(self) -> SimulatorConfig:
        return self.engine.config

    def reset(self, config: SimulatorConfig | None = None) -> None:
        with self._lock:
            self._build(config or self.initial_config)

    @staticmethod
    def record(
        log: RequestLog,
        *,
        arrival: float,
        arrival_wall: datetime,
        method: str,
        path: str,
        key: str | None,
        client: str | None,
        status: int,
        outcome: str,
    ) -> None:
        log.add(
            RequestRecord(
                at=arrival,
                time=arrival_wall.isoformat(),
                method=method,
                path=path,
                key=key,
                client=client,
                status=status,
                outcome=outcome,
            )
        )

    @staticmethod
    def now() -> float:
        return time.monotonic()
