"""`ForkServer`: one forkserver process (app/lab/sandbox/forkserver.py) and the thread that
reads its messages — the transport under `SandboxPool`.

Rules:
- The forkserver starts from a fixed argv (our interpreter, `-I -B`, boot code) with a clean
  environment (`CLEAN_ENV`: one thread per numeric library), no stdin/stdout, cwd `/`, in its
  own session; it gets one end of a SOCK_SEQPACKET pair and nothing else.
- Messages are JSON datagrams; file descriptors (the sealed job memfd, the reply pipe) travel
  beside them with SCM_RIGHTS. Sends are serialised by one lock.
- Every job is `register`ed before its spawn message is sent; its future ends with the
  forkserver's `exit` (result) or `error` message. When the forkserver dies, every pending
  future fails with `WorkerCrashedError` and `ready` (if not yet set) with
  `SandboxUnavailableError`: no caller waits forever on a dead server.
"""

import contextlib
import json
import logging
import socket
import subprocess  # nosec B404
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from app.lab.sandbox.errors import SandboxUnavailableError, WorkerCrashedError

logger = logging.getLogger(__name__)

BACKEND_DIR = Path(__file__).resolve().parents[3]
CLEAN_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    # One thread per library: predictable, and threads count against the process limit.
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
}


class ForkServer:
    """One forkserver process and the thread that reads its messages."""

    def __init__(self, python: str, workers: int, uid_base: int) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        boot = (
            f"import sys; sys.path.insert(0, {str(BACKEND_DIR)!r}); "
            f"from app.lab.sandbox.forkserver import main; main({theirs.fileno()})"
        )
        # bandit B603: fixed argv: our interpreter and boot code
        self.process = subprocess.Popen(  # nosec B603
            [python, "-I", "-B", "-c", boot],
            env=CLEAN_ENV,
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            cwd="/",
            start_new_session=True,
        )
        theirs.close()
        self.sock = ours
        self.send_lock = threading.Lock()
        self.pending: dict[str, Future[dict[str, Any]]] = {}
        self.pids: dict[str, int] = {}
        self.ready: Future[dict[str, Any]] = Future()
        self.dead = False
        self.send({"op": "config", "workers": workers, "uid_base": uid_base})
        self.reader = threading.Thread(
            target=self._read_loop, name="sandbox-forkserver", daemon=True
        )
        self.reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return not self.dead and self.process.poll() is None

    def send(self, message: Mapping[str, Any], fds: Iterable[int] = ()) -> None:
        data = json.dumps(message).encode()
        with self.send_lock:
            fd_list = list(fds)
            if fd_list:
                socket.send_fds(self.sock, [data], fd_list)
            else:
                self.sock.send(data)

    def register(self, job: str) -> "Future[dict[str, Any]]":
        future: Future[dict[str, Any]] = Future()
        self.pending[job] = future
        if self.dead:
            self.pending.pop(job, None)
            future.set_exception(WorkerCrashedError("the sandbox worker server is not running"))
        return future

    def _read_loop(self) -> None:
        while True:
            try:
                data = self.sock.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                break
            try:
                message = json.loads(data)
                self._dispatch(message)
            except Exception:
                logger.exception("bad message from the sandbox forkserver")
        self.dead = True
        crash = WorkerCrashedError("the sandbox worker server stopped; the job was lost")
        if not self.ready.done():
            self.ready.set_exception(
                SandboxUnavailableError("the sandbox worker server failed to start")
            )
        for job in list(self.pending):
            future = self.pending.pop(job, None)
            if future is not None and not future.done():
                future.set_exception(crash)

    def _dispatch(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == "ready":
            self.ready.set_result(message)
        elif op == "spawned":
            self.pids[str(message["job"])] = int(message["pid"])
        elif op in ("exit", "error"):
            job = str(message.get("job"))
            self.pids.pop(job, None)
            future = self.pending.pop(job, None)
            if future is None or future.done():
                if op == "error":
                    logger.error(
                        "sandbox forkserver error", extra={"detail": message.get("message")}
                    )
                return
            if op == "exit":
                future.set_result(message)
            else:
                future.set_exception(
                    WorkerCrashedError(
                        f"the sandbox could not start the job: {message.get('message')}"
                    )
                )

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send({"op": "shutdown"})
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.sock.close()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
