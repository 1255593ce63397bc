"""Start and stop the Lab's long-lived parts with the app: the sandbox pool (its forkserver
preloads numpy/pandas/scikit-learn once, so jobs start fast), the worker that runs
queued backtests and sweeps, and the engine's compiled loop (loaded in the background, so the
first backtest does not wait for it; one that comes sooner waits only for what is left)."""

import asyncio

from fastapi import FastAPI

from app.core.lifespan import on_shutdown, on_startup
from app.lab.backtests.worker import start_worker, stop_worker
from app.lab.engine import kernel
from app.lab.sandbox.service import start_default_pool, stop_default_pool

_background: set[asyncio.Task[float]] = set()


@on_startup
async def _start_lab(_: FastAPI) -> None:
    task = asyncio.create_task(asyncio.to_thread(kernel.warm_up))
    _background.add(task)
    task.add_done_callback(_background.discard)
    await start_default_pool()
    await start_worker()


@on_shutdown
async def _stop_lab(_: FastAPI) -> None:
    # The worker first: it hands running jobs back to the queue while the pool still exists.
    await stop_worker()
    await stop_default_pool()
