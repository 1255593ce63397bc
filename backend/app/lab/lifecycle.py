"""Start and stop the Lab's long-lived parts with the app: the sandbox pool (its forkserver
preloads numpy/pandas/scikit-learn once, so jobs start fast) and the worker that runs
queued backtests and sweeps."""

from fastapi import FastAPI

from app.core.lifespan import on_shutdown, on_startup
from app.lab.backtests.worker import start_worker, stop_worker
from app.lab.sandbox.service import start_default_pool, stop_default_pool


@on_startup
async def _start_lab(_: FastAPI) -> None:
    await start_default_pool()
    await start_worker()


@on_shutdown
async def _stop_lab(_: FastAPI) -> None:
    # The worker first: it hands running jobs back to the queue while the pool still exists.
    await stop_worker()
    await stop_default_pool()
