"""Start-up and shutdown hooks that domains register (scheduler, worker pools ...).

Domains register here instead of importing app.main, which would be circular.
"""

from collections.abc import Awaitable, Callable

from fastapi import FastAPI

LifespanHook = Callable[[FastAPI], Awaitable[None]]
startup_hooks: list[LifespanHook] = []
shutdown_hooks: list[LifespanHook] = []


def on_startup(hook: LifespanHook) -> LifespanHook:
    """Register a coroutine run when the app starts, in registration order."""
    startup_hooks.append(hook)
    return hook


def on_shutdown(hook: LifespanHook) -> LifespanHook:
    """Register a coroutine run when the app stops; hooks run in reverse order."""
    shutdown_hooks.append(hook)
    return hook
