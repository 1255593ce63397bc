"""Which sandbox walls this host can raise, and whether user code may run at all.

The status page lists as walls only what holds on its own; the code policy's layers are
listed apart (`probe.policy_layers`), and the limits shown are those applied to jobs."""

import ctypes.util
import os
from collections.abc import Mapping
from typing import Any

from app.lab.sandbox import landlock, walls
from app.lab.sandbox.limits import Limits

FILESYSTEM_WALLS = (walls.LANDLOCK, walls.UNPRIVILEGED_UID)
NETWORK_WALLS = (walls.NETWORK_NAMESPACE, walls.SECCOMP, walls.LANDLOCK_NETWORK)


def user_code_allowed(verdicts: Mapping[str, Mapping[str, Any]]) -> bool:
    """User code runs only when at least one file-system wall and one network wall hold;
    otherwise it is refused rather than run open."""

    def any_active(names: tuple[str, ...]) -> bool:
        return any(verdicts.get(name, {}).get("active") for name in names)

    return any_active(FILESYSTEM_WALLS) and any_active(NETWORK_WALLS)


def host_capabilities() -> dict[str, dict[str, Any]]:
    """What this host could raise, judged without starting a sandbox (no self-test)."""
    root = os.geteuid() == 0
    abi = landlock.abi_version()
    seccomp_lib = ctypes.util.find_library("seccomp")
    with open("/proc/self/status", encoding="ascii", errors="replace") as status:
        has_seccomp = any(line.startswith("Seccomp:") for line in status)

    def entry(active: bool, detail: str) -> dict[str, Any]:
        return {"active": active, "detail": detail}

    return {
        "separate_process": entry(True, "a fresh forked process per job"),
        "clean_environment": entry(True, "the forkserver starts with a clean environment"),
        walls.NETWORK_NAMESPACE: entry(root, "needs root" if not root else "unshare(CLONE_NEWNET)"),
        walls.UNPRIVILEGED_UID: entry(root, "needs root" if not root else "one uid per slot"),
        walls.RESOURCE_LIMITS: entry(True, "setrlimit"),
        "wall_clock_timeout": entry(True, "enforced by the forkserver"),
        walls.LANDLOCK: entry(abi >= 1, f"ABI {abi}" if abi else "the kernel has no Landlock"),
        walls.LANDLOCK_NETWORK: entry(abi >= 4, f"ABI {abi}"),
        walls.LANDLOCK_SCOPES: entry(abi >= 6, f"ABI {abi}"),
        walls.SECCOMP: entry(
            bool(seccomp_lib) and has_seccomp,
            "libseccomp found" if seccomp_lib else "libseccomp not installed",
        ),
        "process_cleanup": entry(True, "the forkserver is the child subreaper"),
    }


def applied_limits(limits: Limits) -> dict[str, Any]:
    """The limits every job gets (a job may only tighten them), for the status page."""
    return {
        "cpu_seconds": limits.cpu_seconds,
        "wall_seconds": limits.wall_seconds,
        "memory_mb": limits.memory_mb,
        "max_processes": limits.max_processes,
        "max_output_bytes": limits.max_output_bytes,
    }


def limits_detail(limits: Limits) -> str:
    return (
        f"per job: cpu {limits.cpu_seconds:g} s, wall clock {limits.wall_seconds:g} s, "
        f"memory {limits.memory_mb} MiB, {limits.max_processes} processes"
    )
