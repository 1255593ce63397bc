"""The Floor's process-wide parts: the default broker for a deployment and the executor
started and stopped with the app.

Rules:
- Paper deployments get a `PaperBroker` quoting from Coinspot's public prices; live ones a
  `CoinspotBroker` with the owner's stored keys (decrypted only for the cycle, never logged).
  A live deployment without usable keys fails its cycle with a readable error.
- The executor runs only when `FLOOR_EXECUTOR_ENABLED`; tests turn it off and call
  `run_cycle` (or run-now) directly.
"""

from fastapi import FastAPI
from sqlmodel import Session

from app.core.config import settings
from app.core.db import engine
from app.core.lifespan import on_shutdown, on_startup
from app.credentials.service import keys_for_user
from app.exchange.factory import shared_client
from app.floor.brokers import Broker, CoinspotBroker, PaperBroker
from app.floor.models import DeployedAlgorithm, DeploymentMode
from app.floor.scheduler import FloorService
from app.lab.sandbox.service import get_pool


class NoCredentialsError(ValueError):
    pass


async def default_broker(deployment: DeployedAlgorithm) -> Broker:
    client = shared_client()
    if deployment.mode == DeploymentMode.PAPER:
        return PaperBroker(client, engine)
    with Session(engine) as session:
        keys = keys_for_user(session, deployment.user_id)
    if keys is None:
        raise NoCredentialsError("live trading needs the owner's Coinspot API keys")
    return CoinspotBroker(
        client.with_credentials(keys.api_key.get_secret_value(), keys.api_secret.get_secret_value())
    )


_service: FloorService | None = None


def get_service() -> FloorService | None:
    return _service


async def start_executor() -> None:
    global _service
    if not settings.FLOOR_EXECUTOR_ENABLED or _service is not None:
        return
    _service = FloorService(get_pool(), default_broker)
    _service.start()


async def stop_executor() -> None:
    global _service
    service, _service = _service, None
    if service is not None:
        await service.stop()


@on_startup
async def _start_floor(_: FastAPI) -> None:
    await start_executor()


@on_shutdown
async def _stop_floor(_: FastAPI) -> None:
    await stop_executor()
