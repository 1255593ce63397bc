"""Which sandbox walls this host can raise, and whether user code may run at all."""

import ctypes.util
import os
from collections.abc import Mapping
from typing import Any

from app.lab.sandbox import landlock, walls

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
        "import_allowlist": entry(True, "import hook in every child"),
        "static_check": entry(True, "code is checked before it runs"),
    }
