"""A per-user sliding-window limit on credential validation (each one calls Coinspot).

In-process state is enough: the platform runs one API process (design.md). Behind
several workers each would enforce its own window, which still bounds the load.
"""

import math
import threading
import time
import uuid
from collections import deque


class SlidingWindowLimiter:
    def __init__(self, window_seconds: float = 60.0) -> None:
        self._window = window_seconds
        self._hits: dict[uuid.UUID, deque[float]] = {}
        self._lock = threading.Lock()

    def acquire(self, user_id: uuid.UUID, limit: int) -> int | None:
        """Count one attempt; None when allowed, else whole seconds until one is free."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(user_id, deque())
            while hits and hits[0] <= now - self._window:
                hits.popleft()
            if len(hits) >= limit:
                return max(1, math.ceil(hits[0] + self._window - now))
            hits.append(now)
            return None

    def reset(self, user_id: uuid.UUID | None = None) -> None:
        with self._lock:
            if user_id is None:
                self._hits.clear()
            else:
                self._hits.pop(user_id, None)


validate_limiter = SlidingWindowLimiter()
