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
"""

import asyncio
import contextlib
import errno
import fcntl
import functools
import itertools
import json
import logging
import os
import queue
import select
import signal
import socket
import subprocess  # nosec B404
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

import pandas as pd

from app.lab.sandbox import protocol
from app.lab.sandbox.errors import (
    CodeRejectedError,
    ResourceLimitError,
    SandboxError,
    SandboxProtocolError,
    SandboxUnavailableError,
    UserCodeError,
    WorkerCrashedError,
)
from app.lab.sandbox.forkserver import EXIT_WALL_FAILED
from app.lab.sandbox.jobs import (
    CausalityJob,
    CausalityResult,
    FitJob,
    FitResult,
    Job,
    PredictJob,
    PredictResult,
    Result,
    RunStats,
    SweepJob,
    SweepOutcome,
    SweepResult,
    sample_bars,
)
from app.lab.sandbox.limits import Limits
from app.lab.sandbox.probe import policy_layers
from app.lab.sandbox.status import applied_limits, limits_detail, user_code_allowed
from app.lab.sandbox.walls import OPTIONAL_WALLS, RESOURCE_LIMITS

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
START_TIMEOUT_SECONDS = 120.0
# How long after its wall-clock limit a job may take to be reported before the forkserver is
# considered stuck and replaced.
GRACE_SECONDS = 10.0
MAX_CAUSALITY_BARS = 2000
MAX_SWEEP_SETS = 10_000
_F_SETPIPE_SZ = 1031
_SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


class _Server:
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
        self._server: _Server | None = None
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

    def _ensure_server(self) -> _Server:
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
            server = _Server(self.python, self.workers, self.uid_base)
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
        header, frames, model, bars = self._prepare(job, limits)
        payload = protocol.encode_job(header, frames, model)
        memfd = _sealed_memfd(payload)
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
                cap += 8 * bars * _expected_arrays(job)
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
        return self._interpret(job, limits, data, too_large, exit_info, bars, elapsed)

    def _replace(self, server: _Server) -> None:
        with self._start_lock:
            if self._server is server:
                self._server = None
        server.kill()

    def _read_reply(
        self, fd: int, server: _Server, job_id: str, limits: Limits, cap: int
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

    # --- preparing and interpreting ------------------------------------------------------

    def _limits(self, job: Job) -> Limits:
        if job.limits is None:
            return self.limits
        job.limits.check_within(self.limits)
        return job.limits

    def _check(self, code: str) -> dict[str, Any] | None:
        if not self.check_code:
            return None
        from app.lab.validation import validate_code

        validation = validate_code(code)
        if not validation.valid:
            raise CodeRejectedError(validation)
        return validation.parameter_schema

    def _params(
        self, schema: dict[str, Any] | None, params: Mapping[str, Any], label: str = ""
    ) -> dict[str, Any]:
        from app.lab.sdk.params import ParameterError
        from app.lab.validation import check_parameters

        if schema is None:
            return dict(params)
        try:
            return check_parameters(schema, params)
        except ParameterError as exc:
            raise UserCodeError("parameters", "ParameterError", f"{label}{exc}") from None

    def _prepare(
        self, job: Job, limits: Limits
    ) -> tuple[protocol.JobHeader, list[tuple[str, pd.DataFrame]], bytes | None, int]:
        schema = self._check(job.code)
        frames: list[tuple[str, pd.DataFrame]] = [("frame", job.frame)]
        common = {"code": job.code, "max_model_bytes": limits.max_output_bytes}
        model: bytes | None = None
        if isinstance(job, PredictJob | CausalityJob) and job.model is not None:
            if job.params:
                raise ValueError("pass either params or a fitted model, not both")
            model = job.model
        if isinstance(job, PredictJob):
            params = {} if model else self._params(schema, job.params)
            header = protocol.JobHeader(kind="run", params=params, **common)
        elif isinstance(job, FitJob):
            frames = [("fit_frame", job.frame)]
            if job.predict_frame is not None:
                frames.append(("frame", job.predict_frame))
            params = self._params(schema, job.params)
            header = protocol.JobHeader(kind="run", params=params, return_model=True, **common)
        elif isinstance(job, SweepJob):
            if not job.param_sets or len(job.param_sets) > MAX_SWEEP_SETS:
                raise ValueError(f"a sweep needs 1 to {MAX_SWEEP_SETS} parameter sets")
            param_sets = [
                self._params(schema, p, f"parameter set {i + 1}: ")
                for i, p in enumerate(job.param_sets)
            ]
            header = protocol.JobHeader(kind="sweep", param_sets=param_sets, **common)
            if job.fit_frame is not None:
                frames.append(("fit_frame", job.fit_frame))
        elif isinstance(job, CausalityJob):
            n = len(job.frame)
            bars = list(job.bars) if job.bars is not None else sample_bars(n, job.samples)
            decisions = [int(b) for b in job.decision_bars]
            if len(bars) + len(decisions) > MAX_CAUSALITY_BARS or any(
                not 0 <= int(b) < n for b in [*bars, *decisions]
            ):
                raise ValueError(
                    f"causality bars must be up to {MAX_CAUSALITY_BARS} bars within the frame"
                )
            if job.window < 0 or job.horizon < 1 or job.budget_seconds < 0 or job.seed < 0:
                raise ValueError(
                    "causality window, budget and seed must be >= 0 and horizon >= 1 bars"
                )
            budget = min(job.budget_seconds, limits.wall_seconds / 4, limits.cpu_seconds / 4)
            params = {} if model else self._params(schema, job.params)
            header = protocol.JobHeader(
                kind="causality",
                params=params,
                bars=[int(b) for b in bars],
                decision_bars=decisions,
                window=job.window,
                horizon=job.horizon,
                budget_seconds=budget,
                seed=job.seed,
                **common,
            )
            if job.fit_frame is not None:
                frames.append(("fit_frame", job.fit_frame))
        else:
            raise TypeError(f"not a sandbox job: {type(job).__name__}")
        predict_frame = dict(frames).get("frame")
        bars_count = len(predict_frame) if predict_frame is not None else 0
        return header, frames, model, bars_count

    def _interpret(
        self,
        job: Job,
        limits: Limits,
        data: bytes,
        too_large: bool,
        exit_info: dict[str, Any],
        bars: int,
        elapsed_ms: float,
    ) -> Result:
        code = exit_info.get("exit_code")
        sig = exit_info.get("signal")
        cpu = float(exit_info.get("cpu_seconds") or 0.0)
        if exit_info.get("timed_out"):
            raise ResourceLimitError(
                "wall",
                f"the algorithm ran longer than the {limits.wall_seconds:g} s wall-clock limit and was stopped",
            )
        if too_large:
            raise ResourceLimitError(
                "output",
                f"the algorithm's output exceeded {limits.max_output_bytes} bytes and was discarded",
            )
        # SIGXCPU comes only from RLIMIT_CPU (the child's own usage may be reported a little
        # under the limit); SIGKILL counts as the CPU limit when the usage reached it (the
        # hard limit kills a process that ignores SIGXCPU).
        cpu_spent = cpu >= limits.cpu_seconds - 0.05
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_spent):
            raise ResourceLimitError(
                "cpu",
                f"the algorithm used more than {limits.cpu_seconds:g} s of CPU time and was stopped",
            )
        if code == EXIT_WALL_FAILED:
            detail = "a sandbox wall could not be raised"
            with contextlib.suppress(protocol.ProtocolError):
                header, _, _ = protocol.decode_reply(data, bars=bars, max_model_bytes=0)
                if header.error is not None:
                    detail = f"a sandbox wall could not be raised: {header.error.message}"
            raise SandboxUnavailableError(detail)
        if code != 0:
            if sig is not None:
                name = (
                    signal.Signals(sig).name
                    if sig in signal.Signals._value2member_map_
                    else str(sig)
                )
                raise WorkerCrashedError(f"the algorithm's process was killed by signal {name}")
            raise WorkerCrashedError(f"the algorithm's process exited unexpectedly (code {code})")
        try:
            header, arrays, model = protocol.decode_reply(
                data, bars=bars, max_model_bytes=limits.max_output_bytes
            )
        except protocol.ProtocolError as exc:
            raise SandboxProtocolError(f"the sandbox returned an invalid reply: {exc}") from None
        stats = RunStats(
            wall_ms=elapsed_ms,
            cpu_seconds=cpu,
            max_rss_mb=float(exit_info.get("max_rss_kb") or 0) / 1024.0,
            output=header.output,
        )
        if not header.ok:
            error = header.error
            if error is None:
                raise SandboxProtocolError("the sandbox reported a failure without an error")
            if error.kind == "memory":
                raise ResourceLimitError(
                    "memory",
                    f"the algorithm ran out of memory (limit {limits.memory_mb} MiB): {error.message}",
                )
            if error.kind == "wall":
                raise SandboxUnavailableError(error.message)
            raise _user_error(error, header.output)
        return _result(job, header, arrays, model, stats, bars)


def _expected_arrays(job: Job) -> int:
    if isinstance(job, SweepJob):
        return len(job.param_sets)
    if isinstance(job, FitJob):
        return 1 if job.predict_frame is not None else 0
    return 1


def _user_error(error: protocol.ErrorInfo, output: str) -> UserCodeError:
    return UserCodeError(error.kind, error.type, error.message, error.traceback, error.line, output)


def _need(condition: bool, what: str) -> None:
    if not condition:
        raise SandboxProtocolError(f"the sandbox returned an invalid reply: {what}")


def _result(
    job: Job,
    header: protocol.ReplyHeader,
    arrays: list[protocol.FloatArray],
    model: bytes | None,
    stats: RunStats,
    bars: int,
) -> Result:
    if isinstance(job, PredictJob):
        _need(len(arrays) == 1 and model is None, "expected one positions array")
        return PredictResult(positions=arrays[0], stats=stats)
    if isinstance(job, FitJob):
        expected = 1 if job.predict_frame is not None else 0
        _need(model is not None and len(arrays) == expected, "expected a model and positions")
        assert model is not None
        return FitResult(model=model, positions=arrays[0] if arrays else None, stats=stats)
    if isinstance(job, SweepJob):
        entries = header.sweep
        _need(
            entries is not None and len(entries) == len(job.param_sets),
            "expected one entry per set",
        )
        assert entries is not None
        outcomes: list[SweepOutcome] = []
        pending = iter(arrays)
        for params, entry in zip(job.param_sets, entries, strict=True):
            if entry.ok:
                outcomes.append(SweepOutcome(params=params, positions=next(pending), error=None))
            else:
                _need(entry.error is not None, "a failed sweep entry without an error")
                assert entry.error is not None
                outcomes.append(
                    SweepOutcome(params=params, positions=None, error=_user_error(entry.error, ""))
                )
        return SweepResult(outcomes=outcomes, stats=stats)
    info = header.causality
    _need(info is not None and len(arrays) == 1, "expected a causality report")
    assert info is not None
    first = info.first_difference
    _need(first is None or first < bars, "difference outside the frame")
    return CausalityResult(
        first_difference=first,
        first_difference_at=None if first is None else job.frame.index[first].to_pydatetime(),
        truncated_at=info.truncated_at,
        checked_bars=list(info.checked),
        positions=arrays[0],
        stats=stats,
        decision_bars_checked=info.decisions_checked,
    )


def _sealed_memfd(payload: bytes) -> int:
    fd = os.memfd_create("omc-sandbox-job", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        view = memoryview(payload)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd
