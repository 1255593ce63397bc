"""Landlock through raw syscalls: file-system confinement, plus (kernel permitting) a TCP
deny-all and scoping of abstract Unix sockets and signals.

The PyPI `landlock` package only covers file-system rules; the network rules (ABI 4) and
scopes (ABI 6) need the ruleset attribute in full, so this module speaks to the kernel
directly. Each right is only requested when the running kernel's ABI knows it.

Use in two steps, because opening the allowed paths may need privileges the sandbox will
have dropped by the time it restricts itself:

    ruleset = prepare_ruleset(read=[...], write=[...])   # as root, before setuid
    ...drop privileges, set no_new_privs...
    restrict_self(ruleset)                               # then nothing else is reachable
"""

import ctypes
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass

_SYS_CREATE_RULESET = 444
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1 << 0
_RULE_PATH_BENEATH = 1

# File-system access rights, by the ABI version that introduced them.
EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5

_FS_V1 = (1 << 13) - 1
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV

NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1

READ_RIGHTS = READ_FILE | READ_DIR
WRITE_RIGHTS = (
    READ_RIGHTS | WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG | REFER | TRUNCATE
)


class LandlockError(OSError):
    pass


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def abi_version() -> int:
    """The kernel's Landlock ABI version, 0 when Landlock is unavailable."""
    result = _syscall(
        ctypes.c_long(_SYS_CREATE_RULESET),
        None,
        ctypes.c_size_t(0),
        ctypes.c_uint32(_CREATE_RULESET_VERSION),
    )
    return max(int(result), 0)


def handled_fs_rights(abi: int) -> int:
    rights = _FS_V1
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


@dataclass(frozen=True)
class Ruleset:
    fd: int
    abi: int
    network: bool  # TCP bind/connect denied
    scoped: bool  # abstract Unix sockets and signals confined to the sandbox


def _fail(what: str) -> LandlockError:
    err = ctypes.get_errno()
    return LandlockError(err, f"landlock {what}: {os.strerror(err)}")


def prepare_ruleset(read: Iterable[str], write: Iterable[str]) -> Ruleset:
    """A ruleset that allows reading (and listing) under `read`, reading and writing under
    `write`, and nothing else on the file system; on ABI >= 4 no TCP bind/connect at all;
    on ABI >= 6 no abstract Unix sockets or signals outside the sandbox. Paths that do not
    exist are skipped."""
    abi = abi_version()
    if abi < 1:
        raise LandlockError(0, "landlock is not available on this kernel")
    handled = handled_fs_rights(abi)
    attr = _RulesetAttr(handled, 0, 0)
    size = 8
    if abi >= 4:
        attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP
        size = 16
    if abi >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        size = 24
    fd = _syscall(
        ctypes.c_long(_SYS_CREATE_RULESET),
        ctypes.byref(attr),
        ctypes.c_size_t(size),
        ctypes.c_uint32(0),
    )
    if fd < 0:
        raise _fail("create_ruleset")
    try:
        for paths, rights in ((read, READ_RIGHTS), (write, WRITE_RIGHTS)):
            for path in paths:
                _add_path(int(fd), path, rights & handled)
    except BaseException:
        os.close(int(fd))
        raise
    return Ruleset(fd=int(fd), abi=abi, network=abi >= 4, scoped=abi >= 6)


def _add_path(ruleset_fd: int, path: str, rights: int) -> None:
    try:
        path_fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        if not stat.S_ISDIR(os.fstat(path_fd).st_mode):
            rights &= _FILE_RIGHTS
        rule = _PathBeneathAttr(rights, path_fd)
        result = _syscall(
            ctypes.c_long(_SYS_ADD_RULE),
            ctypes.c_int(ruleset_fd),
            ctypes.c_int(_RULE_PATH_BENEATH),
            ctypes.byref(rule),
            ctypes.c_uint32(0),
        )
        if result < 0:
            raise _fail(f"add_rule({path})")
    finally:
        os.close(path_fd)


def restrict_self(ruleset: Ruleset) -> None:
    """Confine this thread (and all it forks) to the ruleset. Needs no_new_privs (or
    CAP_SYS_ADMIN)."""
    try:
        if (
            _syscall(
                ctypes.c_long(_SYS_RESTRICT_SELF), ctypes.c_int(ruleset.fd), ctypes.c_uint32(0)
            )
            < 0
        ):
            raise _fail("restrict_self")
    finally:
        os.close(ruleset.fd)
