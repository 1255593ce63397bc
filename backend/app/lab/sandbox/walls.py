"""The operating-system walls a sandbox child raises around itself before user code runs.

In order (each is independent, so that one failing or being bypassed is not a breach):

1. ``network_namespace``: a fresh, empty network namespace (no interfaces but a down lo).
2. ``resource_limits``: address space, CPU seconds, file size, open files, no core dumps,
   processes/threads per uid (which only bites because of 3.).
3. ``unprivileged_uid``: a dedicated uid/gid per worker slot, no supplementary groups; the
   kernel then also marks the process non-dumpable (no ptrace, no /proc/<pid>/mem).
4. ``landlock_filesystem``: read-only access to the Python installation, the venv's
   site-packages and the SDK; read/write to the job's own directory; nothing else.
   ``landlock_network``/``landlock_scopes``: no TCP, no abstract Unix sockets or signals
   beyond the sandbox (kernel permitting).
5. ``seccomp``: a filter that fails socket creation, process creation (threads excepted),
   exec, ptrace, namespaces, mounts, bpf, io_uring, keyrings, module loading and similar
   with EPERM.

The parent additionally enforces a wall-clock timeout and kills leftover processes (see
`forkserver`).
"""

import contextlib
import ctypes
import errno
import os
import resource
import signal
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from app.lab.sandbox import landlock

_libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWNET = 0x40000000
CLONE_THREAD = 0x00010000
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36

NETWORK_NAMESPACE = "network_namespace"
RESOURCE_LIMITS = "resource_limits"
UNPRIVILEGED_UID = "unprivileged_uid"
LANDLOCK = "landlock_filesystem"
LANDLOCK_NETWORK = "landlock_network"
LANDLOCK_SCOPES = "landlock_scopes"
SECCOMP = "seccomp"
# Walls a test may switch off to show that the others hold on their own.
OPTIONAL_WALLS = frozenset({NETWORK_NAMESPACE, UNPRIVILEGED_UID, LANDLOCK, SECCOMP})

# Denied with EPERM. socket covers TCP, UDP, Unix and netlink sockets alike.
SECCOMP_DENY = (
    "socket",
    "socketpair",
    "connect",
    "bind",
    "listen",
    "accept",
    "accept4",
    "execve",
    "execveat",
    "fork",
    "vfork",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "keyctl",
    "add_key",
    "request_key",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "open_by_handle_at",
    "name_to_handle_at",
    "mknod",
    "mknodat",
    "swapon",
    "swapoff",
    "reboot",
    "acct",
    "quotactl",
    "syslog",
    "sethostname",
    "setdomainname",
    "settimeofday",
    "clock_settime",
    "adjtimex",
    "iopl",
    "ioperm",
)


class WallError(RuntimeError):
    """A wall that should be raised could not be: the job must not run."""

    def __init__(self, wall: str, message: str) -> None:
        super().__init__(f"{wall}: {message}")
        self.wall = wall


def _prctl(option: int, value: int) -> None:
    if _libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def set_child_subreaper() -> None:
    """Orphaned descendants get re-parented to this process instead of init, so that it can
    find and kill them."""
    _prctl(PR_SET_CHILD_SUBREAPER, 1)


def set_parent_death_signal(sig: int = signal.SIGKILL) -> None:
    _prctl(PR_SET_PDEATHSIG, sig)


def enter_network_namespace() -> None:
    if _libc.unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@dataclass(frozen=True)
class ChildLimits:
    cpu_seconds: float
    memory_bytes: int
    max_processes: int
    max_file_bytes: int = 64 * 1024 * 1024
    max_open_files: int = 64


def set_resource_limits(limits: ChildLimits) -> None:
    cpu = max(1, int(limits.cpu_seconds + 0.999))
    # Soft limit: SIGXCPU; one second later the hard limit sends SIGKILL.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.max_file_bytes, limits.max_file_bytes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.max_open_files, limits.max_open_files))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))


def drop_privileges(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        raise OSError(errno.EPERM, "uid/gid did not change")


def set_no_new_privs() -> None:
    _prctl(PR_SET_NO_NEW_PRIVS, 1)


def set_not_dumpable() -> None:
    _prctl(PR_SET_DUMPABLE, 0)


def build_seccomp_filter() -> Any:
    """The seccomp filter (a `pyseccomp.SyscallFilter`), built once in the forkserver and
    loaded in each child. Raises ImportError/OSError when libseccomp is unavailable."""
    import pyseccomp

    deny = pyseccomp.ERRNO(errno.EPERM)
    flt = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    for name in SECCOMP_DENY:
        try:
            flt.add_rule(deny, name)
        except (OSError, ValueError, RuntimeError):
            continue  # a syscall this architecture or libseccomp does not know
    # Threads only: a clone without CLONE_THREAD creates a process.
    flt.add_rule(deny, "clone", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, CLONE_THREAD, 0))
    # clone3 passes its flags in memory, which seccomp cannot inspect: ENOSYS makes the C
    # library fall back to clone, which is filtered above.
    with contextlib.suppress(OSError, ValueError, RuntimeError):
        flt.add_rule(pyseccomp.ERRNO(errno.ENOSYS), "clone3")
    return flt


@dataclass
class WallPlan:
    """What a child should raise, decided by the forkserver."""

    uid: int | None
    job_dir: str
    read_paths: list[str]
    limits: ChildLimits
    enabled: set[str] = field(default_factory=set)
    seccomp_filter: Any = None


def raise_walls(plan: WallPlan) -> dict[str, str]:
    """Raise every enabled wall, in order, in the calling (child) process. Returns a detail
    string per raised wall; raises `WallError` when an enabled wall fails."""
    raised: dict[str, str] = {}
    on = plan.enabled

    def attempt(wall: str, action: Any, detail: str) -> None:
        try:
            action()
        except Exception as exc:
            raise WallError(wall, str(exc)) from exc
        raised[wall] = detail

    if NETWORK_NAMESPACE in on:
        attempt(NETWORK_NAMESPACE, enter_network_namespace, "empty network namespace")
    attempt(
        RESOURCE_LIMITS,
        lambda: set_resource_limits(plan.limits),
        f"cpu {plan.limits.cpu_seconds:g}s, memory {plan.limits.memory_bytes >> 20} MiB, "
        f"{plan.limits.max_processes} processes",
    )
    ruleset: landlock.Ruleset | None = None
    if LANDLOCK in on:

        def prepare() -> None:
            nonlocal ruleset
            ruleset = landlock.prepare_ruleset(plan.read_paths, [plan.job_dir])

        attempt(LANDLOCK, prepare, "")
    if UNPRIVILEGED_UID in on:
        if plan.uid is None:
            raise WallError(UNPRIVILEGED_UID, "no uid assigned")
        uid = plan.uid
        attempt(UNPRIVILEGED_UID, lambda: drop_privileges(uid, uid), f"uid {uid}")
    attempt("no_new_privs", set_no_new_privs, "")
    raised.pop("no_new_privs", None)
    # After setuid: the kernel clears the parent-death signal when credentials change.
    attempt("parent_death_signal", lambda: set_parent_death_signal(signal.SIGKILL), "")
    raised.pop("parent_death_signal", None)
    with contextlib.suppress(OSError):
        set_not_dumpable()
    if ruleset is not None:
        rules = ruleset
        attempt(LANDLOCK, lambda: landlock.restrict_self(rules), f"ABI {rules.abi}")
        if rules.network:
            raised[LANDLOCK_NETWORK] = "TCP bind/connect denied"
        if rules.scoped:
            raised[LANDLOCK_SCOPES] = "abstract Unix sockets and signals scoped"
    if SECCOMP in on:
        flt = plan.seccomp_filter
        if flt is None:
            raise WallError(SECCOMP, "no filter available")
        attempt(SECCOMP, flt.load, f"{len(SECCOMP_DENY)} syscalls denied, processes refused")
    return raised


def close_fds_except(keep: Iterable[int]) -> None:
    """Close every file descriptor above 2 except `keep`."""
    fds = sorted(fd for fd in set(keep) if fd > 2)
    low = 3
    for fd in fds:
        if fd > low:
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
