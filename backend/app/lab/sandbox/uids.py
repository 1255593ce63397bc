"""The unprivileged uids sandbox children run under.

Rules:
- A forkserver claims its uids from [base, base + UID_SPAN) with one byte-range lock per uid
  on a lock file only root can write (in /run, else the temp dir, never a file another user
  owns or may write): two forkservers on one host never share a uid, and a uid is released
  when the process holding it dies.
- Before use, whatever still runs under a claimed uid (left by a forkserver that crashed) is
  killed and reaped.
"""

import contextlib
import errno
import fcntl
import os
import signal
import tempfile

UID_SPAN = 256


def _lock_file() -> int:
    for directory in ("/run", tempfile.gettempdir()):
        path = os.path.join(directory, "omc-sandbox-uids.lock")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError:
            continue
        info = os.fstat(fd)
        if info.st_uid == os.geteuid() and (info.st_mode & 0o022) == 0:
            return fd
        os.close(fd)
    raise OSError(errno.EACCES, "no safe place for the sandbox uid lock file")


def claim_uids(base: int, count: int) -> tuple[int, list[int]]:
    """Claim `count` uids from [base, base + UID_SPAN) that no other forkserver on this host
    holds (a byte-range lock per uid, released when this process dies), and kill whatever
    still runs under them (left by a forkserver that crashed)."""
    fd = _lock_file()
    claimed: list[int] = []
    for offset in range(UID_SPAN):
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
        except OSError:
            continue
        claimed.append(base + offset)
        if len(claimed) == count:
            break
    if len(claimed) < count:
        raise OSError(errno.EBUSY, f"only {len(claimed)} of {count} sandbox uids are free")
    kill_uid_processes(set(claimed))
    return fd, claimed


def _process_uids() -> dict[int, int]:
    found: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status", "rb") as status:
                for line in status:
                    if line.startswith(b"Uid:"):
                        found[int(entry.name)] = int(line.split()[1])
                        break
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def kill_uid_processes(uids: set[int]) -> int:
    killed = 0
    for _ in range(50):
        victims = [pid for pid, uid in _process_uids().items() if uid in uids]
        if not victims:
            break
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            killed += 1
        for pid in victims:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    return killed
