"""The optional Redis pub/sub transport for event notifications (`EVENTS_BACKEND=redis`).

Rules: the events table stays the source of truth; Redis only wakes listeners. Messages
are published after the publishing transaction commits (so nothing is announced that was
rolled back); a failed publish is logged, and clients still get the event by resuming or
polling, and every listener reads the table on reconnect.
"""

import logging
from collections.abc import Awaitable, Callable
from functools import lru_cache

import redis
import redis.asyncio as aioredis

from app.core.config import settings
from app.events.hub import handle_message
from app.events.service import CHANNEL

logger = logging.getLogger(__name__)


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


def publish_sync(messages: list[bytes]) -> None:
    try:
        client = _client(settings.REDIS_URL)
        for message in messages:
            client.publish(CHANNEL, message)
    except redis.RedisError as exc:
        logger.error("event notification not sent to Redis", extra={"error": type(exc).__name__})


async def listen_redis(on_connected: Callable[[], Awaitable[None]]) -> None:
    client = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=5)
    try:
        async with client.pubsub() as pubsub:
            await pubsub.subscribe(CHANNEL)
            await on_connected()
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    await handle_message(message["data"])
    finally:
        await client.aclose()
    raise ConnectionError("Redis subscription ended")
