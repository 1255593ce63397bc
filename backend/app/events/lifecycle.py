"""Start and stop this process's event listener with the app (see hub.py)."""

from fastapi import FastAPI

from app.core.lifespan import on_shutdown, on_startup
from app.events.hub import listener


@on_startup
async def _start_events(_: FastAPI) -> None:
    await listener.start()


@on_shutdown
async def _stop_events(_: FastAPI) -> None:
    await listener.stop()
