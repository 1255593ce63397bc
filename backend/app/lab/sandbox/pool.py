"""`SandboxPool`: the trusted side of the sandbox. It runs a forkserver process and sends it
jobs; each job runs in a fresh, walled child.

    pool = SandboxPool(workers=2, limits=Limits.from_settings())
    pool.start()                                   # ~3 s: preloads numpy/pandas/sklearn once
    result = await pool.run(PredictJob(code, frame, {"fast": 10}))   # or pool.run_sync(...)
    result.positions                               # float64, one per bar, in [0, 1]
    pool.close()

`run` never blocks the event loop (the job's I/O happens on a worker thread); `run_sync` is
the same for synchronous callers. At most `workers` children run at once, each under its own
uid; more jobs wait for a free slot. Errors are `SandboxError` subclasses with a readable
`detail` (see `errors`).

Rules:
- At most `workers` jobs hold a slot (a uid) at once; a slot is returned whatever happens.
- Every job is bounded: a wall-clock deadline of its limit plus `GRACE_SECONDS` on the reply,
  a byte cap on the reply, and a forkserver that does not report the end of a job in time is
  replaced, never waited on forever.
- Cancelling a job (or the task awaiting it) kills its child; a job cancelled before it got a
  slot never starts.
- What is sent and how replies are judged lives in `codec`; the forkserver's transport in
  `server`.
"""

import asyncio
import contextlib
import errno
import fcntl
import functools
import itertools
import logging
import os
import queue
import select
import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from app.lab.sandbox import codec, protocol
from app.lab.sandbox.errors import SandboxError, SandboxUnavailableError, WorkerCrashedError
from app.lab.sandbox.jobs import (
    CausalityJob,
    CausalityResult,
    FitJob,
    FitResult,
    Job,
    PredictJob,
    PredictResult,
    Result,
    SweepJob,
    SweepResult,
)
from app.lab.sandbox.limits import Limits
from app.lab.sandbox.probe import policy_layers
from app.lab.sandbox.server import ForkServer
from app.lab.sandbox.status import applied_limits, limits_detail, user_code_allowed
from app.lab.sandbox.walls import OPTIONAL_WALLS, RESOURCE_LIMITS

logger = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 120.0
# How long after its wall-clock limit a job may take to be reported before the forkserver is
# considered stuck and replaced.
GRACE_SECONDS = 10.0
_F_SETPIPE_SZ = 1031


class SandboxPool:
    """Runs user code in walled children of a preloaded forkserver.

    `workers` children may run at once. `limits` bound every job (a job's own `limits` may
    only tighten them). `uid_base` is the first of the unprivileged uids the children run
    under (one per slot, claimed so that two pools on one host never share a uid).

    Test-only switches: `check_code=False` skips the static check (to show that the
    operating-system walls hold on their own) and `disable_walls` switches off named walls
    (to show that each remaining wall holds). Never use them in the app.
    """

    def __init__(
        self,
        *,
        workers: int = 2,
        limits: Limits | None = None,
        uid_base: int = 60000,
        check_code: bool = True,
        disable_walls: Iterable[str] = (),
        python: str | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        disabled = set(disable_walls)
        unknown = disabled - OPTIONAL_WALLS
        if unknown:
            raise ValueError(f"unknown walls: {', '.join(sorted(unknown))}")
        self.workers = workers
        self.limits = limits or Limits()
        self.uid_base = uid_base
        self.check_code = check_code
        self.disabled_walls = frozenset(disabled)
        self.python = python or sys.executable
        self._server: ForkServer | None = None
        self._walls: dict[str, dict[str, Any]] | None = None
        self._start_lock = threading.Lock()
        self._slots: queue.Queue[int] = queue.Queue()
        for slot in range(workers):
            self._slots.put(slot)
        self._ids = itertools.count(1)
        self._prefix = f"{os.getpid()}-{id(self) & 0xFFFF:x}"
        self._cancelled: set[str] = set()
        self._executor = ThreadPoolExecutor(
            max_workers=max(8, 4 * workers), thread_name_prefix="sandbox-job"
        )
        self._closed = False

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the forkserver (blocking, a few seconds) and check the walls. Raises
        `SandboxUnavailableError` when this host cannot confine user code."""
        self._ensure_server()

    async def astart(self) -> None:
        await asyncio.to_thread(self.start)

    def close(self) -> None:
        self._closed = True
        with self._start_lock:
            server, self._server = self._server, None
        if server is not None:
            server.close()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def __enter__(self) -> "SandboxPool":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def started(self) -> bool:
        return self._server is not None and self._server.alive()

    @property
    def forkserver_pid(self) -> int | None:
        return self._server.pid if self._server is not None else None

    def status(self) -> dict[str, Any]:
        """The walls as verified by the forkserver's self-test (see `sandbox_status`)."""
        walls = {name: dict(verdict) for name, verdict in (self._walls or {}).items()}
        limits = walls.get(RESOURCE_LIMITS)
        if limits is not None and limits.get("active"):
            # The self-test child ran under its own limits: show the ones jobs get.
            limits["detail"] = limits_detail(self.limits)
        return {
            "user_code_allowed": bool(walls) and user_code_allowed(walls),
            "verified": bool(walls),
            "running": self.started,
            "workers": self.workers,
            "walls": walls,
            "policy": policy_layers(),
            "limits": applied_limits(self.limits),
        }

    def _ensure_server(self) -> ForkServer:
        if self._closed:
            raise SandboxUnavailableError("the sandbox pool is closed")
        with self._start_lock:
            server = self._server
            if server is not None and server.alive():
                return server
            if server is not None:
                logger.warning(
                    "sandbox forkserver died; starting a new one", extra={"pid": server.pid}
                )
                server.kill()
            started = time.monotonic()
            server = ForkServer(self.python, self.workers, self.uid_base)
            try:
                ready = server.ready.result(timeout=START_TIMEOUT_SECONDS)
            except BaseException:
                server.kill()
                raise
            walls: dict[str, dict[str, Any]] = ready["walls"]
            if not user_code_allowed(walls):
                server.close()
                missing = ", ".join(w for w, v in walls.items() if not v["active"])
                logger.error("sandbox refuses to run user code", extra={"missing_walls": missing})
                raise SandboxUnavailableError(
                    "this host cannot confine user code (no file-system or no network wall); "
                    f"inactive walls: {missing}"
                )
            for wall, verdict in walls.items():
                if not verdict["active"] and wall not in self.disabled_walls:
                    logger.warning(
                        "sandbox wall inactive", extra={"wall": wall, "detail": verdict["detail"]}
                    )
            self._walls = walls
            self._server = server
            logger.info(
                "sandbox forkserver ready",
                extra={
                    "pid": server.pid,
                    "duration_ms": round((time.monotonic() - started) * 1000),
                    "uids": ready.get("uids"),
                },
            )
            return server

    # --- running jobs --------------------------------------------------------------------

    async def run(self, job: Job) -> Result:
        """Run a job without blocking the event loop. Cancelling the awaiting task kills the
        job's child."""
        job_id = self._new_id()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(
            self._executor, functools.partial(self.run_sync, job, job_id=job_id)
        )
        try:
            return await future
        except asyncio.CancelledError:
            self.cancel(job_id)
            raise

    async def predict(self, job: PredictJob) -> PredictResult:
        result = await self.run(job)
        assert isinstance(result, PredictResult)
        return result

    async def fit(self, job: FitJob) -> FitResult:
        result = await self.run(job)
        assert isinstance(result, FitResult)
        return result

    async def sweep(self, job: SweepJob) -> SweepResult:
        result = await self.run(job)
        assert isinstance(result, SweepResult)
        return result

    async def check_causality(self, job: CausalityJob) -> CausalityResult:
        result = await self.run(job)
        assert isinstance(result, CausalityResult)
        return result

    def cancel(self, job_id: str) -> None:
        """Stop a job: it is killed if running, or refused when it gets a slot."""
        self._cancelled.add(job_id)
        server = self._server
        if server is not None and server.alive():
            with contextlib.suppress(OSError):
                server.send({"op": "kill", "job": job_id})

    def _new_id(self) -> str:
        return f"{self._prefix}-{next(self._ids)}"

    def run_sync(self, job: Job, *, job_id: str | None = None) -> Result:
        """Run a job, blocking the calling thread until it is done."""
        job_id = job_id or self._new_id()
        started = time.monotonic()
        limits = self._limits(job)
        header, frames, model, bars = codec.prepare(job, limits, self.check_code)
        payload = protocol.encode_job(header, frames, model)
        memfd = codec.sealed_memfd(payload)
        del payload
        slot = self._slots.get()
        try:
            if job_id in self._cancelled:
                raise SandboxError("the job was cancelled")
            server = self._ensure_server()
            exit_future = server.register(job_id)
            read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
            with contextlib.suppress(OSError):
                fcntl.fcntl(read_fd, _F_SETPIPE_SZ, 1 << 20)
            try:
                message = {
                    "op": "spawn",
                    "job": job_id,
                    "slot": slot,
                    "limits": {
                        "cpu_seconds": limits.cpu_seconds,
                        "wall_seconds": limits.wall_seconds,
                        "memory_mb": limits.memory_mb,
                        "max_processes": limits.max_processes,
                    },
                    "disable": sorted(self.disabled_walls),
                }
                try:
                    server.send(message, [memfd, write_fd])
                except OSError as exc:
                    server.pending.pop(job_id, None)
                    raise WorkerCrashedError(
                        f"the sandbox worker server is unreachable: {exc}"
                    ) from exc
                finally:
                    os.close(write_fd)
                cap = protocol.PREFIX.size + protocol.MAX_REPLY_HEADER + limits.max_output_bytes
                cap += 8 * bars * codec.expected_arrays(job)
                data, too_large = self._read_reply(read_fd, server, job_id, limits, cap)
            finally:
                os.close(read_fd)
            try:
                exit_info = exit_future.result(timeout=GRACE_SECONDS)
            except FutureTimeout:
                self._replace(server)
                raise WorkerCrashedError("the sandbox did not report the end of the job") from None
        finally:
            os.close(memfd)
            self._slots.put(slot)
            self._cancelled.discard(job_id)
        elapsed = (time.monotonic() - started) * 1000.0
        return codec.interpret(job, limits, data, too_large, exit_info, bars, elapsed)

    def _replace(self, server: ForkServer) -> None:
        with self._start_lock:
            if self._server is server:
                self._server = None
        server.kill()

    def _read_reply(
        self, fd: int, server: ForkServer, job_id: str, limits: Limits, cap: int
    ) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        deadline = time.monotonic() + limits.wall_seconds + GRACE_SECONDS
        killed_at: float | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if killed_at is None:
                    # The forkserver should have stopped it by now; insist, then give up.
                    self.cancel(job_id)
                    killed_at = time.monotonic()
                    deadline = killed_at + GRACE_SECONDS
                    continue
                self._replace(server)
                raise WorkerCrashedError(
                    "the sandbox stopped responding; its worker server was replaced"
                )
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 1 << 20)
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                raise
            if not chunk:
                return b"".join(chunks), False
            size += len(chunk)
            if size > cap:
                self.cancel(job_id)
                return b"", True
            chunks.append(chunk)

    def _limits(self, job: Job) -> Limits:
        if job.limits is None:
            return self.limits
        job.limits.check_within(self.limits)
        return job.limits
