"""The app's sandbox pool (one per process), configured from settings, and the health
report of its walls.

Wire it into the app with the lifespan hooks::

    from app.core.lifespan import on_shutdown, on_startup
    from app.lab.sandbox import start_default_pool, stop_default_pool
    on_startup(lambda app: start_default_pool())
    on_shutdown(lambda app: stop_default_pool())
"""

import logging
import threading
from typing import Any

from app.lab.sandbox.limits import Limits
from app.lab.sandbox.pool import SandboxPool
from app.lab.sandbox.probe import policy_layers
from app.lab.sandbox.status import (
    applied_limits,
    host_capabilities,
    limits_detail,
    user_code_allowed,
)
from app.lab.sandbox.walls import RESOURCE_LIMITS

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_pool: SandboxPool | None = None


def get_pool() -> SandboxPool:
    """The app's pool, created from settings on first use (it starts its forkserver on the
    first job, or with `start_default_pool`)."""
    global _pool
    with _lock:
        if _pool is None:
            from app.core.config import settings

            _pool = SandboxPool(
                workers=settings.SANDBOX_WORKERS,
                limits=Limits.from_settings(),
                uid_base=settings.SANDBOX_UID_BASE,
            )
        return _pool


async def start_default_pool() -> None:
    """Start the forkserver now, so that the first job does not wait for it. A host that
    cannot confine user code is logged, not fatal: the app runs, user code is refused."""
    pool = get_pool()
    try:
        await pool.astart()
    except Exception:
        logger.exception("the Lab sandbox could not start; user code will be refused")


async def stop_default_pool() -> None:
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        await pool.aclose()


def sandbox_status() -> dict[str, Any]:
    """Each sandbox wall and whether it is active on this host.

    When the app's pool is running, the answer comes from its self-test (a child that raised
    the walls and tried to read /etc/passwd, write outside its directory, open sockets and
    fork); otherwise from what the host offers (``"verified": false``). User code is refused
    unless a file-system wall and a network wall are active.
    """
    pool = _pool
    if pool is not None and pool.started:
        return pool.status()
    walls = host_capabilities()
    limits = pool.limits if pool is not None else Limits.from_settings()
    walls[RESOURCE_LIMITS]["detail"] = limits_detail(limits)
    return {
        "user_code_allowed": user_code_allowed(walls),
        "verified": False,
        "running": False,
        "workers": pool.workers if pool is not None else None,
        "walls": walls,
        "policy": policy_layers(),
        "limits": applied_limits(limits),
    }
