"""Start and stop the Lab's long-lived parts with the app: the sandbox pool (its forkserver
preloads numpy/pandas/scikit-learn once, so jobs start fast)."""

from fastapi import FastAPI

from app.core.lifespan import on_shutdown, on_startup
from app.lab.sandbox.service import start_default_pool, stop_default_pool


@on_startup
async def _start_lab(_: FastAPI) -> None:
    await start_default_pool()


@on_shutdown
async def _stop_lab(_: FastAPI) -> None:
    await stop_default_pool()
