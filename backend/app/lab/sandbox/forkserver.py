"""The sandbox forkserver: a process started with a clean environment that preloads numpy,
pandas, scikit-learn, scipy and the SDK once, then forks one fresh, walled child per job.

It is trusted code and never touches job data: the trusted process passes each job's input
(a sealed memfd) and output (a pipe) as file descriptors, which go straight to the child.
The forkserver holds no secrets: it is started without the app's environment and never
imports the app's settings.

Control messages are JSON over a SOCK_SEQPACKET socket to the trusted process:

    -> {"op": "config", "workers": n, "uid_base": u}            (first message)
    <- {"op": "ready", "walls": {...}, "uids": [...], "pid": p}
    -> {"op": "spawn", "job": id, "slot": s, "limits": {...}, "disable": [...]} + 2 fds
    <- {"op": "spawned", "job": id, "pid": p}
    <- {"op": "exit", "job": id, "exit_code": c, "timed_out": b, "cpu_seconds": x, ...}
    -> {"op": "kill", "job": id}

Per job it creates a private directory owned by the slot's uid, forks, and in the child
raises the walls (`walls.raise_walls`) before `runner.child_main` reads the job. It enforces
the wall-clock limit, reaps the child, kills anything the child left behind (it is the
child subreaper, so orphans come back to it), deletes the directory, and reports.
"""

import contextlib
import gc
import json
import os
import selectors
import shutil
import signal
import site
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from app.lab.sandbox.preload import preload
from app.lab.sandbox.uids import claim_uids

EXIT_WALL_FAILED = 97
EXIT_INTERNAL = 98


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.send(json.dumps(message).encode())


def _read_paths() -> list[str]:
    """What children may read: the Python installation, site-packages, the SDK."""
    import app.lab.sdk

    paths = {sys.base_prefix, sys.prefix, *site.getsitepackages()}
    paths.add(str(Path(app.lab.sdk.__file__).resolve().parent))
    return sorted(p for p in paths if p and os.path.exists(p))


# --- the server -----------------------------------------------------------------------------


@dataclass
class _Running:
    job: str
    pid: int
    pidfd: int
    slot: int
    deadline: float
    job_dir: str
    started: float
    timed_out: bool = False
    killed: bool = False


class ForkServer:
    def __init__(self, ctl: socket.socket, workers: int, uid_base: int) -> None:
        from app.lab.sandbox import landlock, walls

        self.ctl = ctl
        self.workers = workers
        self.root = os.geteuid() == 0
        self.unavailable: dict[str, str] = {}
        self.uids: list[int | None] = [None] * workers
        self.lock_fd: int | None = None
        if self.root:
            try:
                self.lock_fd, claimed = claim_uids(uid_base, workers)
                self.uids = list(claimed)
            except OSError as exc:
                self.unavailable[walls.UNPRIVILEGED_UID] = str(exc)
        else:
            self.unavailable[walls.UNPRIVILEGED_UID] = "not running as root: cannot change uid"
            self.unavailable[walls.NETWORK_NAMESPACE] = "not running as root: cannot unshare"
        try:
            self.seccomp_filter: Any = walls.build_seccomp_filter()
        except (ImportError, OSError, RuntimeError) as exc:
            self.seccomp_filter = None
            self.unavailable[walls.SECCOMP] = f"libseccomp unavailable: {exc}"
        if landlock.abi_version() < 1:
            self.unavailable[walls.LANDLOCK] = "the kernel has no Landlock"
        self.subreaper = True
        try:
            walls.set_child_subreaper()
        except OSError as exc:
            self.subreaper = False
            self.subreaper_error = str(exc)
        if self.root:
            # The forkserver itself needs no network either; each child gets its own too.
            with contextlib.suppress(OSError):
                walls.enter_network_namespace()
        self.own_netns = _netns()
        self.tmp_root = tempfile.mkdtemp(prefix="omc-sandbox-")
        # children may pass through to their own directory (no listing: no read bit)
        os.chmod(self.tmp_root, 0o711)  # nosec B103
        self.read_paths = _read_paths()
        self.jobs: dict[str, _Running] = {}
        self.by_fd: dict[int, _Running] = {}
        self.known_children: set[int] = set()
        self.busy_slots: set[int] = set()
        self.selector = selectors.DefaultSelector()
        self.verdicts: dict[str, dict[str, Any]] = {}

    # -- walls --

    def enabled_walls(self, disabled: set[str]) -> set[str]:
        from app.lab.sandbox import walls

        return {w for w in walls.OPTIONAL_WALLS if w not in self.unavailable and w not in disabled}

    def _plan(self, slot: int, job_dir: str, limits: dict[str, Any], enabled: set[str]) -> Any:
        from app.lab.sandbox import walls

        return walls.WallPlan(
            uid=self.uids[slot],
            job_dir=job_dir,
            read_paths=self.read_paths,
            limits=walls.ChildLimits(
                cpu_seconds=float(limits["cpu_seconds"]),
                memory_bytes=int(limits["memory_mb"]) << 20,
                max_processes=int(limits["max_processes"]),
            ),
            enabled=enabled,
            seccomp_filter=self.seccomp_filter,
        )

    def _job_dir(self, job: str, slot: int) -> str:
        path = os.path.join(self.tmp_root, f"job-{job}")
        os.mkdir(path, 0o700)
        uid = self.uids[slot]
        if uid is not None:
            os.chown(path, uid, uid)
        return path

    def probe(self) -> None:
        """Fork a child that raises every available wall and then tests them; record which
        walls hold on this host (reported by the health endpoint)."""
        from app.lab.sandbox import probe, walls

        for _ in range(len(walls.OPTIONAL_WALLS) + 1):
            enabled = self.enabled_walls(set())
            job_dir = self._job_dir("probe", 0)
            plan = self._plan(
                0, job_dir, {"cpu_seconds": 10, "memory_mb": 4096, "max_processes": 4}, enabled
            )
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read_end)
                probe.probe_child(plan, write_end, self.own_netns)
            os.close(write_end)
            with os.fdopen(read_end, "rb") as reader:
                raw = reader.read(1 << 20)
            os.waitpid(pid, 0)
            shutil.rmtree(job_dir, ignore_errors=True)
            try:
                report = json.loads(raw or b"{}")
            except ValueError:
                report = {}
            failed = report.get("failed_wall")
            if failed and failed in enabled:
                self.unavailable[failed] = report.get("error", "could not be raised")
                continue
            self.verdicts = probe.verdicts(report, enabled, self.unavailable, self.subreaper)
            return
        self.verdicts = probe.verdicts({}, set(), self.unavailable, self.subreaper)

    # -- jobs --

    def spawn(self, message: dict[str, Any], fds: list[int]) -> None:
        job = str(message["job"])
        slot = int(message["slot"])
        if len(fds) != 2:
            raise ValueError("spawn needs exactly two file descriptors")
        if not 0 <= slot < self.workers or slot in self.busy_slots or job in self.jobs:
            raise ValueError(f"slot {slot} is busy or unknown, or job {job} exists")
        in_fd, out_fd = fds
        limits = message["limits"]
        enabled = self.enabled_walls(set(message.get("disable", ())))
        job_dir = self._job_dir(job, slot)
        plan = self._plan(slot, job_dir, limits, enabled)
        pid = os.fork()
        if pid == 0:
            _child(plan, in_fd, out_fd)
        os.close(in_fd)
        os.close(out_fd)
        pidfd = os.pidfd_open(pid)
        now = time.monotonic()
        running = _Running(
            job=job,
            pid=pid,
            pidfd=pidfd,
            slot=slot,
            deadline=now + float(limits["wall_seconds"]),
            job_dir=job_dir,
            started=now,
        )
        self.jobs[job] = running
        self.by_fd[pidfd] = running
        self.known_children.add(pid)
        self.busy_slots.add(slot)
        self.selector.register(pidfd, selectors.EVENT_READ, "job")
        _send(self.ctl, {"op": "spawned", "job": job, "pid": pid})

    def kill(self, running: _Running) -> None:
        running.killed = True
        with contextlib.suppress(ProcessLookupError, OSError):
            signal.pidfd_send_signal(running.pidfd, signal.SIGKILL)

    def reap(self, running: _Running) -> None:
        _, status, usage = os.wait4(running.pid, 0)
        self.selector.unregister(running.pidfd)
        os.close(running.pidfd)
        del self.by_fd[running.pidfd]
        del self.jobs[running.job]
        self.known_children.discard(running.pid)
        # Whatever the child started goes with it: its process group, then any orphans.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(running.pid, signal.SIGKILL)
        orphans = self.sweep()
        shutil.rmtree(running.job_dir, ignore_errors=True)
        self.busy_slots.discard(running.slot)
        code = os.waitstatus_to_exitcode(status)
        _send(
            self.ctl,
            {
                "op": "exit",
                "job": running.job,
                "exit_code": code,
                "signal": -code if code < 0 else None,
                "timed_out": running.timed_out,
                "killed": running.killed,
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
                "max_rss_kb": usage.ru_maxrss,
                "wall_ms": (time.monotonic() - running.started) * 1000.0,
                "orphans": orphans,
            },
        )

    def sweep(self) -> int:
        """Kill and reap children that are not running jobs: orphans of jobs, re-parented to
        this subreaper."""
        killed = 0
        for _ in range(1000):
            strays = [pid for pid in _children() if pid not in self.known_children]
            if not strays:
                break
            for pid in strays:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            for pid in strays:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
            killed += len(strays)
        return killed

    def shutdown(self) -> NoReturn:
        for running in list(self.jobs.values()):
            self.kill(running)
        for running in list(self.jobs.values()):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(running.pid, 0)
        self.known_children.clear()
        self.sweep()
        shutil.rmtree(self.tmp_root, ignore_errors=True)
        os._exit(0)

    def handle_control(self) -> None:
        try:
            data, fds, _, _ = socket.recv_fds(self.ctl, 65536, 4)
        except OSError:
            self.shutdown()
        if not data:
            self.shutdown()  # the trusted process went away
        message: Any = {}
        try:
            message = json.loads(data)
            op = message.get("op")
            if op == "spawn":
                self.spawn(message, fds)
                fds = []
            elif op == "kill":
                running = self.jobs.get(str(message.get("job")))
                if running is not None:
                    self.kill(running)
            elif op == "shutdown":
                self.shutdown()
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception as exc:
            job = message.get("job") if isinstance(message, dict) else None
            _send(self.ctl, {"op": "error", "job": job, "message": str(exc)[:500]})
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def serve(self) -> NoReturn:
        self.selector.register(self.ctl, selectors.EVENT_READ, "ctl")
        while True:
            now = time.monotonic()
            timeout = 1.0
            for running in self.jobs.values():
                if not running.timed_out:
                    timeout = min(timeout, max(0.0, running.deadline - now))
            for key, _ in self.selector.select(timeout):
                if key.data == "ctl":
                    self.handle_control()
                else:
                    running_job = self.by_fd.get(key.fd)
                    if running_job is not None:
                        self.reap(running_job)
            now = time.monotonic()
            for running in list(self.jobs.values()):
                if not running.timed_out and now >= running.deadline:
                    running.timed_out = True
                    self.kill(running)
            self.sweep()


def _children() -> list[int]:
    pid = os.getpid()
    try:
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as f:
            return [int(x) for x in f.read().split()]
    except FileNotFoundError:  # a kernel without CONFIG_PROC_CHILDREN
        found = []
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    with open(f"/proc/{entry.name}/stat", "rb") as stat:
                        fields = stat.read().rsplit(b")", 1)[1].split()
                    if int(fields[1]) == pid:
                        found.append(int(entry.name))
                except (OSError, IndexError, ValueError):
                    continue
        return found


def _netns() -> str:
    try:
        return os.readlink("/proc/self/ns/net")
    except OSError:
        return ""


def _child(plan: Any, in_fd: int, out_fd: int) -> NoReturn:
    """In the forked child: detach, close everything but the job's two descriptors, raise
    the walls, run the job. Never returns into the server loop."""
    code = EXIT_INTERNAL
    try:
        from app.lab.sandbox import runner, walls
        from app.lab.sandbox.protocol import ErrorInfo, ReplyHeader, encode_reply

        os.setsid()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        devnull = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        walls.close_fds_except([in_fd, out_fd])
        os.chdir(plan.job_dir)
        os.environ.clear()
        os.environ.update(
            {
                "PATH": "/nonexistent",
                "LANG": "C.UTF-8",
                "OPENBLAS_NUM_THREADS": "1",
                "OMP_NUM_THREADS": "1",
                "MKL_NUM_THREADS": "1",
                "HOME": plan.job_dir,
                "TMPDIR": plan.job_dir,
            }
        )
        tempfile.tempdir = plan.job_dir
        try:
            raised = walls.raise_walls(plan)
        except walls.WallError as exc:
            info = ErrorInfo(kind="wall", type="WallError", message=str(exc)[:3000])
            runner.write_all(out_fd, encode_reply(ReplyHeader(ok=False, error=info), [], None))
            code = EXIT_WALL_FAILED
        else:
            runner.child_main(in_fd, out_fd, raised)
            code = 0
    except BaseException:
        code = EXIT_INTERNAL
    finally:
        os._exit(code)


def main(ctl_fd: int) -> None:
    """Entry point (run by `pool.SandboxPool` as ``python -I -c ...``)."""
    ctl = socket.socket(fileno=ctl_fd)
    started = time.monotonic()
    preload()
    data = ctl.recv(65536)
    if not data:
        return
    config = json.loads(data)
    server = ForkServer(ctl, workers=int(config["workers"]), uid_base=int(config["uid_base"]))
    server.probe()
    gc.collect()
    gc.freeze()  # children then do not touch (copy) the preloaded objects' pages
    _send(
        ctl,
        {
            "op": "ready",
            "pid": os.getpid(),
            "walls": server.verdicts,
            "uids": [u for u in server.uids if u is not None],
            "start_ms": (time.monotonic() - started) * 1000.0,
        },
    )
    server.serve()
