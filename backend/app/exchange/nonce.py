"""Strictly increasing nonces per API key, safe across threads, tasks and processes.

Coinspot rejects a signed request whose `nonce` is not larger than the previous one
for that key. The nonce is the current time in epoch milliseconds, raised to
"previous + 1" whenever the clock has not moved (or went backwards). The previous value
is kept in memory (one guard for the whole process) and, so that several processes
using the same key never hand out the same or a smaller value, in a small state file
per key that is read and bumped under an exclusive `flock`.

The state file is named by a hash of the key and holds only the last nonce; the key
itself never touches the disk.
"""

import fcntl
import hashlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_STATE_DIR = Path(tempfile.gettempdir()) / "omc-coinspot-nonce"


def key_fingerprint(api_key: str) -> str:
    """A stable, non-reversible identifier of an API key for file names, locks and logs."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:24]


class NonceGenerator:
    def __init__(
        self,
        state_dir: Path | None = DEFAULT_STATE_DIR,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._state_dir = state_dir
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, int] = {}
        self._file_guard_ok = state_dir is not None

    @property
    def cross_process(self) -> bool:
        """Whether the file guard is active (False if disabled or the directory is unusable)."""
        return self._file_guard_ok

    def next(self, api_key: str) -> int:
        """The next nonce for `api_key`: > every nonce handed out before for that key."""
        key_id = key_fingerprint(api_key)
        with self._lock:
            candidate = max(int(self._clock() * 1000), self._last.get(key_id, 0) + 1)
            if self._file_guard_ok:
                candidate = self._bump_file(key_id, candidate)
            self._last[key_id] = candidate
            return candidate

    def _bump_file(self, key_id: str, candidate: int) -> int:
        assert self._state_dir is not None
        try:
            self._state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self._state_dir / key_id, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            # Without the file the in-process guard still holds; say so once.
            self._file_guard_ok = False
            logger.warning(
                "nonce state directory unusable; cross-process guard disabled",
                extra={"state_dir": str(self._state_dir), "error": exc.strerror},
            )
            return candidate
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            stored = os.read(fd, 64).strip()
            previous = int(stored) if stored.isdigit() else 0
            value = max(candidate, previous + 1)
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, str(value).encode("ascii"))
            return value
        finally:
            os.close(fd)  # closing releases the flock


_default: NonceGenerator | None = None
_default_lock = threading.Lock()


def default_nonce_generator() -> NonceGenerator:
    """The process-wide generator every client shares unless given its own."""
    global _default
    with _default_lock:
        if _default is None:
            _default = NonceGenerator()
        return _default
