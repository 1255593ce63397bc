"""This process's side of live updates: the subscribers (WebSocket clients) and the
listener that feeds them.

Rules:
- One listener per app process. It holds a dedicated connection that LISTENs on the events
  channel (or subscribes to Redis), and reconnects with a growing pause when it is lost.
  After every (re)connect it reads the table for events after the last one it dispatched,
  so a lost connection delays events but never drops them.
- Events reach the hub in seq order; anything at or below the last dispatched seq is a
  duplicate and is dropped here.
- Dispatching never waits on a client: each subscriber has its own queue, and a client
  that falls `WS_QUEUE_SIZE` events behind is marked lagging and disconnected (it resumes
  from its last seq).
- A subscriber gets its own user's events and broadcasts (user_id NULL), nothing else.
"""

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlmodel import Session

from app.core.config import settings
from app.core.db import engine
from app.events import service
from app.events.models import Event

logger = logging.getLogger(__name__)

LISTENER_APP_NAME = "omc-events-listener"


@dataclass(frozen=True)
class LiveEvent:
    seq: int
    user_id: uuid.UUID | None
    text: str  # the message sent to clients, serialised once for every subscriber


def client_message(
    seq: int, kind: str, user_id: uuid.UUID | None, payload: Any, created_at: datetime | str
) -> str:
    stamp = created_at if isinstance(created_at, str) else created_at.isoformat()
    return orjson.dumps(
        {
            "type": "event",
            "seq": seq,
            "kind": kind,
            "broadcast": user_id is None,
            "payload": payload,
            "created_at": stamp,
        }
    ).decode("utf-8")


def from_row(row: Event) -> LiveEvent:
    assert row.seq is not None
    text = client_message(row.seq, row.kind, row.user_id, row.payload, row.created_at)
    return LiveEvent(row.seq, row.user_id, text)


@dataclass(eq=False)
class Subscriber:
    user_id: uuid.UUID
    limit: int
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    lagging: bool = False

    def offer(self, item: Any) -> None:
        if self.lagging:
            return
        if self.queue.qsize() >= self.limit:
            self.lagging = True
            self.queue.put_nowait(None)  # wakes the sender, which closes the connection
            return
        self.queue.put_nowait(item)


class Hub:
    def __init__(self) -> None:
        self._by_user: dict[uuid.UUID, set[Subscriber]] = {}
        self.last_seq = 0

    def subscribe(self, user_id: uuid.UUID) -> Subscriber:
        sub = Subscriber(user_id, settings.WS_QUEUE_SIZE)
        self._by_user.setdefault(user_id, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        subs = self._by_user.get(sub.user_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._by_user[sub.user_id]

    @property
    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._by_user.values())

    def dispatch(self, event: LiveEvent) -> None:
        if event.seq <= self.last_seq:
            return
        self.last_seq = event.seq
        if event.user_id is None:
            for subs in self._by_user.values():
                for sub in subs:
                    sub.offer(event)
        else:
            for sub in self._by_user.get(event.user_id, ()):
                sub.offer(event)


hub = Hub()


def _read_after(after: int, limit: int = 1000) -> list[LiveEvent]:
    with Session(engine) as session:
        return [from_row(r) for r in service.all_events_after(session, after, limit)]


def _read_seqs(seqs: list[int]) -> list[LiveEvent]:
    with Session(engine) as session:
        return [from_row(r) for r in service.events_by_seq(session, seqs)]


def _read_last_seq() -> int:
    with Session(engine) as session:
        return service.last_seq(session)


async def handle_message(raw: str | bytes) -> None:
    """One notification (PostgreSQL or Redis) into the hub."""
    try:
        data = orjson.loads(raw)
        seq = int(data["seq"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        logger.warning("malformed event notification ignored")
        return
    if seq <= hub.last_seq:
        return
    if settings.EVENTS_BACKEND == "redis":
        # Redis messages may arrive out of commit order: read the table up to this point
        # (everything <= seq is committed, publishes commit in seq order).
        await catch_up()
        return
    if data.get("ref"):
        for event in await asyncio.to_thread(_read_seqs, [seq]):
            hub.dispatch(event)
        return
    owner = uuid.UUID(data["user_id"]) if data.get("user_id") else None
    text = client_message(seq, data["kind"], owner, data["payload"], data["created_at"])
    hub.dispatch(LiveEvent(seq, owner, text))


_catch_up_lock = asyncio.Lock()


async def catch_up() -> None:
    """Dispatch what was committed after the last dispatched event (after a (re)connect,
    or on a Redis wake-up)."""
    async with _catch_up_lock:
        while True:
            batch = await asyncio.to_thread(_read_after, hub.last_seq)
            for event in batch:
                hub.dispatch(event)
            if len(batch) < 1000:
                return


class Listener:
    """The background task that keeps one LISTEN (or Redis subscription) alive."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.reconnects = 0
        self._initialised = False

    async def start(self, wait_seconds: float = 10.0) -> None:
        """Start listening; wait (a bounded time) for the first connection, so that the app
        serves clients with a live listener. If it cannot connect, it keeps trying."""
        global _catch_up_lock
        if self._task is None:
            # Fresh primitives: an app (tests, reloads) may start again on another loop.
            self.connected = asyncio.Event()
            _catch_up_lock = asyncio.Lock()
            self._task = asyncio.create_task(self._run(), name="events-listener")
        try:
            await asyncio.wait_for(self.connected.wait(), timeout=wait_seconds)
        except TimeoutError:
            logger.error("event listener not connected yet; live updates are delayed")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.connected.clear()

    async def _run(self) -> None:
        pause = 0.5
        while True:
            try:
                if not self._initialised:
                    # Read before subscribing; the catch-up after subscribing fills the gap.
                    hub.last_seq = await asyncio.to_thread(_read_last_seq)
                    self._initialised = True
                if settings.EVENTS_BACKEND == "redis":
                    from app.events.redis_backend import listen_redis

                    await listen_redis(self._on_connected)
                else:
                    await self._listen_postgres()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.connected.clear()
                self.reconnects += 1
                logger.warning(
                    "event listener lost its connection; reconnecting",
                    extra={"error": type(exc).__name__, "pause_s": pause},
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, 30.0)
            else:
                pause = 0.5

    async def _on_connected(self) -> None:
        await catch_up()
        self.connected.set()
        logger.info("event listener connected", extra={"backend": settings.EVENTS_BACKEND})

    async def _listen_postgres(self) -> None:
        import psycopg
        from sqlalchemy.engine import make_url

        dsn = (
            make_url(settings.SQLALCHEMY_DATABASE_URI)
            .set(drivername="postgresql")
            .render_as_string(hide_password=False)
        )
        async with await psycopg.AsyncConnection.connect(
            dsn, autocommit=True, application_name=LISTENER_APP_NAME
        ) as conn:
            await conn.execute(f"LISTEN {service.CHANNEL}")
            await self._on_connected()
            async for note in conn.notifies():
                await handle_message(note.payload)
        raise ConnectionError("notification stream ended")


listener = Listener()
