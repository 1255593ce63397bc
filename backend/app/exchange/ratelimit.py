"""Client-side rate limiter: at most N requests in any window of T seconds, as the server sees it.

A plain sliding window over *send* times is not enough: requests reach the server after
a variable delay, so two requests sent exactly T apart can arrive less than T apart.
Here a request holds its slot from the moment it is sent until T seconds after its
answer came back. Since the server saw the request between those two instants, no
window of T seconds at the server can ever contain more than N of our requests.

The limiter is thread-safe and not tied to an event loop (callers may live in
different loops, e.g. scheduler jobs), so waiting is done with `asyncio.sleep` on
computed delays rather than with loop-bound primitives. `shared_limiter` returns one
instance per (exchange URL, limit) for the whole process.
"""

import asyncio
import heapq
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager


class SlidingWindowLimiter:
    def __init__(
        self,
        max_requests: int,
        period_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_requests < 1 or period_seconds <= 0:
            raise ValueError("max_requests must be >= 1 and period_seconds > 0")
        self.max_requests = max_requests
        self.period_seconds = period_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._in_flight = 0
        self._expiries: list[float] = []  # min-heap: when finished requests leave the window
        # Waiting only on in-flight requests has no known end; re-check at this pace.
        self._poll_seconds = min(0.01, period_seconds / 10)

    def _try_acquire(self) -> float | None:
        """Take a slot and return None, or return how long to wait before trying again."""
        now = self._clock()
        with self._lock:
            while self._expiries and self._expiries[0] <= now:
                heapq.heappop(self._expiries)
            if self._in_flight + len(self._expiries) < self.max_requests:
                self._in_flight += 1
                return None
            if self._expiries:
                return max(self._expiries[0] - now, 0.0)
            return self._poll_seconds

    async def acquire(self) -> None:
        while (delay := self._try_acquire()) is not None:
            await asyncio.sleep(delay)

    def release(self) -> None:
        """Mark one acquired request as answered (or failed): its slot frees up T seconds later."""
        with self._lock:
            self._in_flight -= 1
            heapq.heappush(self._expiries, self._clock() + self.period_seconds)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    def in_use(self) -> int:
        """Slots currently taken (in flight or still inside the window)."""
        now = self._clock()
        with self._lock:
            return self._in_flight + sum(1 for t in self._expiries if t > now)

    def __repr__(self) -> str:
        return f"SlidingWindowLimiter({self.max_requests} per {self.period_seconds}s)"


_shared: dict[tuple[str, int, float], SlidingWindowLimiter] = {}
_shared_lock = threading.Lock()


def shared_limiter(scope: str, max_requests: int, period_seconds: float) -> SlidingWindowLimiter:
    """The process-wide limiter for `scope` (the exchange base URL) and this limit."""
    key = (scope.rstrip("/"), max_requests, float(period_seconds))
    with _shared_lock:
        limiter = _shared.get(key)
        if limiter is None:
            limiter = _shared[key] = SlidingWindowLimiter(max_requests, period_seconds)
        return limiter
