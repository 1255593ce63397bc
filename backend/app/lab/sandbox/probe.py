"""The forkserver's start-up self-test: a child raises every available wall and then tries
what the walls must stop (reading /etc/passwd and the app's files, writing outside its
directory, opening sockets, forking), so that the health endpoint reports walls that were
seen to hold on this host, not merely configured."""

import contextlib
import errno
import json
import os
import resource
import signal
import socket
from collections.abc import Callable
from typing import Any, NoReturn

from app.lab.sandbox import walls

CLEAN_ENV_KEYS = frozenset(
    {"PATH", "LANG", "LC_ALL", "HOME", "TMPDIR"}
    | {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"}
    | {"NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"}
    # scikit-learn sets these for OpenMP when it is imported; they carry no secrets.
    | {"KMP_DUPLICATE_LIB_OK", "KMP_INIT_AT_FORK"}
)

# The order the health endpoint lists them in.
WALLS = (
    "separate_process",
    "clean_environment",
    walls.NETWORK_NAMESPACE,
    walls.UNPRIVILEGED_UID,
    walls.RESOURCE_LIMITS,
    "wall_clock_timeout",
    walls.LANDLOCK,
    walls.LANDLOCK_NETWORK,
    walls.LANDLOCK_SCOPES,
    walls.SECCOMP,
    "process_cleanup",
)
# Policy layers: they give readable errors early, but are not listed as walls because they
# do not hold on their own (allowed libraries still reach files; the walls stop that).
POLICY = ("static_check", "import_policy")


def _denied(action: Callable[[], object]) -> bool:
    try:
        action()
    except OSError as exc:
        return exc.errno in (errno.EACCES, errno.EPERM)
    return False


def _open_close(path: str, mode: str) -> None:
    with open(path, mode):
        pass


def _fork_and_exit() -> None:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)


def _write_outside() -> None:
    # bandit B108: the probe checks that writing there is denied
    path = f"/tmp/omc-sandbox-probe-{os.getpid()}"  # nosec B108
    _open_close(path, "w")
    os.unlink(path)


def run_checks(job_dir: str, parent_netns: str) -> dict[str, Any]:
    import numpy

    try:
        netns = os.readlink("/proc/self/ns/net")
    except OSError:
        netns = ""
    return {
        "uid": os.getuid(),
        "netns_changed": bool(netns) and netns != parent_netns,
        "read_etc_passwd_denied": _denied(lambda: _open_close("/etc/passwd", "rb")),
        "read_app_denied": _denied(lambda: _open_close(__file__, "rb")),
        "read_library_allowed": not _denied(lambda: _open_close(numpy.__file__, "rb")),
        "write_outside_denied": _denied(_write_outside),
        "write_job_dir_allowed": not _denied(
            lambda: _open_close(os.path.join(job_dir, "probe.txt"), "w")
        ),
        "tcp_socket_denied": _denied(lambda: socket.socket(socket.AF_INET).close()),
        "unix_socket_denied": _denied(lambda: socket.socket(socket.AF_UNIX).close()),
        "fork_denied": _denied(_fork_and_exit),
        "environment_clean": set(os.environ) <= CLEAN_ENV_KEYS,
        "environment_extra": sorted(set(os.environ) - CLEAN_ENV_KEYS)[:10],
        "memory_limit": resource.getrlimit(resource.RLIMIT_AS)[0],
    }


def probe_child(plan: walls.WallPlan, out_fd: int, parent_netns: str) -> NoReturn:
    """In a forked child of the forkserver: raise the walls, test them, report as JSON."""
    report: dict[str, Any] = {}
    try:
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        walls.close_fds_except([out_fd])
        os.chdir(plan.job_dir)
        try:
            report["raised"] = walls.raise_walls(plan)
        except walls.WallError as exc:
            report = {"failed_wall": exc.wall, "error": str(exc)[:500]}
        else:
            report["checks"] = run_checks(plan.job_dir, parent_netns)
    except BaseException as exc:
        report = {"error": f"probe failed: {exc!r}"[:500]}
    finally:
        with contextlib.suppress(BaseException):
            os.write(out_fd, json.dumps(report).encode())
        os._exit(0)


def verdicts(
    report: dict[str, Any], enabled: set[str], unavailable: dict[str, str], subreaper: bool
) -> dict[str, dict[str, Any]]:
    """Which walls hold, from a probe report: {wall: {"active": bool, "detail": str}}."""
    raised: dict[str, str] = report.get("raised", {})
    checks: dict[str, Any] = report.get("checks", {})
    result: dict[str, dict[str, Any]] = {}

    def verdict(wall: str, active: bool, detail: str) -> None:
        if not active and wall in unavailable:
            detail = unavailable[wall]
        elif not active and wall not in raised and wall not in enabled:
            detail = detail or "not raised"
        result[wall] = {"active": bool(active), "detail": detail}

    def failed(*names: str) -> str:
        bad = [n for n in names if not checks.get(n)]
        return "self-test failed: " + ", ".join(bad) if bad else ""

    ok = bool(checks)
    verdict("separate_process", ok, "a fresh forked process per job" if ok else "probe failed")
    verdict(
        "clean_environment",
        bool(checks.get("environment_clean")),
        "no app settings or secrets in the environment"
        if checks.get("environment_clean")
        else f"unexpected variables: {', '.join(checks.get('environment_extra') or [])}",
    )
    verdict(
        walls.NETWORK_NAMESPACE,
        walls.NETWORK_NAMESPACE in raised and bool(checks.get("netns_changed")),
        raised.get(walls.NETWORK_NAMESPACE, "") or failed("netns_changed"),
    )
    uid = checks.get("uid")
    verdict(
        walls.UNPRIVILEGED_UID,
        walls.UNPRIVILEGED_UID in raised and isinstance(uid, int) and uid != 0,
        raised.get(walls.UNPRIVILEGED_UID, ""),
    )
    verdict(
        walls.RESOURCE_LIMITS,
        walls.RESOURCE_LIMITS in raised,
        raised.get(walls.RESOURCE_LIMITS, ""),
    )
    verdict("wall_clock_timeout", ok, "enforced by the forkserver")
    fs_checks = (
        "read_etc_passwd_denied",
        "read_app_denied",
        "write_outside_denied",
        "write_job_dir_allowed",
        "read_library_allowed",
    )
    fs_ok = all(checks.get(n) for n in fs_checks)
    verdict(
        walls.LANDLOCK,
        walls.LANDLOCK in raised and fs_ok,
        (raised.get(walls.LANDLOCK, "") if fs_ok else failed(*fs_checks)),
    )
    for wall in (walls.LANDLOCK_NETWORK, walls.LANDLOCK_SCOPES):
        verdict(wall, wall in raised and fs_ok, raised.get(wall, "needs a newer kernel"))
    sc_checks = ("tcp_socket_denied", "unix_socket_denied", "fork_denied")
    sc_ok = all(checks.get(n) for n in sc_checks)
    verdict(
        walls.SECCOMP,
        walls.SECCOMP in raised and sc_ok,
        raised.get(walls.SECCOMP, "") if sc_ok else failed(*sc_checks),
    )
    verdict("process_cleanup", subreaper, "leftover processes are killed after each job")
    return {w: result[w] for w in WALLS}


def policy_layers() -> dict[str, dict[str, Any]]:
    """The code policy's two layers (see `app.lab.code_policy`), for the status page."""
    note = "a policy layer for early, readable errors, not a wall: the walls hold without it"
    return {
        "static_check": {"active": True, "detail": f"code is checked before it runs; {note}"},
        "import_policy": {
            "active": True,
            "detail": f"import hook and module views in every child; {note}",
        },
    }
