"""The app as a second replica for tests: the real app, routers and lifespan hooks, except
the Lab's sandbox pool and backtest worker (slow to start, unrelated to live updates)."""

from app.core import lifespan
from app.lab import lifecycle as lab_lifecycle
from app.main import app

lifespan.startup_hooks.remove(lab_lifecycle._start_lab)
lifespan.shutdown_hooks.remove(lab_lifecycle._stop_lab)

__all__ = ["app"]
