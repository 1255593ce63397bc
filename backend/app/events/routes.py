"""Live updates over a WebSocket (`/api/v1/ws`) and the same events by polling
(`GET /api/v1/floor/events`).

Rules of the WebSocket protocol (JSON text frames):
- Authenticate at connect: `?token=<JWT>` in the URL, or a first message
  `{"token": "<JWT>"}` within `WS_AUTH_TIMEOUT_SECONDS`. A bad token closes with 4401.
- The server answers `{"type": "welcome", "last_seq": N}` (the newest event in the table).
- `{"resume_from": S}` in the first message (with the token) or as `?resume_from=S`
  replays the user's events after S from the table, then live events continue, in order,
  with no gap and no duplicate: the client's subscription starts before the replay is read,
  and live events at or below the last one sent are skipped. This is how a client
  reconnects (the SPA does). A `resume_from` sent later, on a connection already streaming,
  replays after S from the moment it is read: live events sent before it came first.
- Events: `{"type": "event", "seq", "kind", "broadcast", "payload", "created_at"}`; the
  client keeps the last `seq` it saw to resume from after a reconnect.
- `{"type": "heartbeat", "last_seq"}` after `WS_HEARTBEAT_SECONDS` without traffic;
  `{"type": "ping"}` is answered with `{"type": "pong"}`. Bad messages get
  `{"type": "error", "detail"}`; the connection stays open.
- A client that falls too far behind is closed with 1013; it reconnects and resumes.
"""

import asyncio
import contextlib
import logging
import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Query, WebSocket, WebSocketDisconnect
from sqlmodel import Session
from starlette.websockets import WebSocketState

from app.api.deps import CurrentUser, SessionDep, get_auth_context, get_current_user
from app.core.config import settings
from app.core.db import engine
from app.events import service
from app.events.hub import Subscriber, from_row, hub
from app.events.schemas import EventKind, EventsPage

logger = logging.getLogger(__name__)

router = APIRouter(tags=["events"])

CLOSE_UNAUTHORISED = 4401
CLOSE_LAGGING = 1013
REPLAY_PAGE = 500


@router.get("/floor/events", response_model=EventsPage)
def list_events(
    session: SessionDep,
    current_user: CurrentUser,
    after: Annotated[
        int, Query(ge=0, le=2**63 - 1, description="Return events with seq greater than this.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    kind: Annotated[list[EventKind] | None, Query(description="Only these kinds.")] = None,
) -> EventsPage:
    """The current user's events and broadcasts after `after`, oldest first."""
    kinds = [k.value for k in kind] if kind else None
    rows = service.events_after(session, current_user.id, after, limit + 1, kinds)
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_after = rows[-1].seq if rows else after
    assert next_after is not None
    return EventsPage(
        data=[service.to_public(r) for r in rows], next_after=next_after, has_more=has_more
    )


def _authenticate(token: str) -> uuid.UUID | None:
    with Session(engine) as session:
        try:
            return get_current_user(session, get_auth_context(session, token)).id
        except HTTPException:
            return None


def _replay_page(user_id: uuid.UUID, after: int) -> list[Any]:
    with Session(engine) as session:
        return [from_row(r) for r in service.events_after(session, user_id, after, REPLAY_PAGE)]


def _newest() -> int:
    with Session(engine) as session:
        return service.last_seq(session)


class _Connection:
    def __init__(self, websocket: WebSocket, sub: Subscriber) -> None:
        self.ws = websocket
        self.sub = sub
        self.last_sent = 0

    async def replay(self, after: int) -> None:
        cursor = after
        while True:
            page = await asyncio.to_thread(_replay_page, self.sub.user_id, cursor)
            for event in page:
                await self.ws.send_text(event.text)
                self.last_sent = max(self.last_sent, event.seq)
            if len(page) < REPLAY_PAGE:
                break
            cursor = page[-1].seq
        self.last_sent = max(self.last_sent, after)

    async def sender(self) -> None:
        """The only writer: live events, replays and answers, in the order queued."""
        while True:
            try:
                item = await asyncio.wait_for(
                    self.sub.queue.get(), timeout=settings.WS_HEARTBEAT_SECONDS
                )
            except TimeoutError:
                await self.ws.send_json({"type": "heartbeat", "last_seq": self.last_sent})
                continue
            if item is None:  # lagging
                await self.ws.close(code=CLOSE_LAGGING, reason="too far behind; resume")
                return
            if isinstance(item, tuple):
                action, value = item
                if action == "resume":
                    await self.replay(value)
                else:
                    await self.ws.send_json(value)
                continue
            if item.seq > self.last_sent:
                await self.ws.send_text(item.text)
                self.last_sent = item.seq

    async def receiver(self) -> None:
        while True:
            raw = await self.ws.receive_text()
            self.handle(raw)

    def handle(self, raw: str) -> None:
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self.sub.queue.put_nowait(("send", _error("message: not valid JSON")))
            return
        if not isinstance(message, dict):
            self.sub.queue.put_nowait(("send", _error("message: expected a JSON object")))
            return
        if message.get("type") == "ping":
            self.sub.queue.put_nowait(("send", {"type": "pong"}))
            return
        if "resume_from" in message:
            problem = _check_resume(message["resume_from"])
            if problem:
                self.sub.queue.put_nowait(("send", _error(problem)))
            else:
                self.sub.queue.put_nowait(("resume", message["resume_from"]))
            return
        self.sub.queue.put_nowait(("send", _error("message: expected resume_from or ping")))


def _error(detail: str) -> dict[str, str]:
    return {"type": "error", "detail": detail}


def _check_resume(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        return "resume_from: must be a whole number from 0 to 2**63 - 1"
    return None


async def _first_message(websocket: WebSocket) -> dict[str, Any] | None:
    try:
        raw = await asyncio.wait_for(
            websocket.receive_text(), timeout=settings.WS_AUTH_TIMEOUT_SECONDS
        )
        message = orjson.loads(raw)
    except (TimeoutError, orjson.JSONDecodeError):
        return None
    return message if isinstance(message, dict) else None


@router.websocket("/ws")
async def websocket_events(
    websocket: WebSocket,
    token: str | None = None,
    resume_from: str | None = None,
) -> None:
    await websocket.accept()
    resume: Any = None
    if resume_from is not None:
        resume = int(resume_from) if resume_from.isdigit() else resume_from
    if token is None:
        first = await _first_message(websocket)
        token = first.get("token") if first else None
        if first and "resume_from" in first:
            resume = first["resume_from"]
    if resume is not None and (problem := _check_resume(resume)):
        await websocket.send_json(_error(problem))
        await websocket.close(code=1008, reason=problem)
        return
    user_id = await asyncio.to_thread(_authenticate, token) if isinstance(token, str) else None
    if user_id is None:
        await websocket.close(code=CLOSE_UNAUTHORISED, reason="Could not validate credentials")
        return
    sub = hub.subscribe(user_id)  # before anything is read: nothing falls in between
    conn = _Connection(websocket, sub)
    conn.last_sent = hub.last_seq  # without a resume: live events from now on
    tasks: list[asyncio.Task[None]] = []
    try:
        await websocket.send_json({"type": "welcome", "last_seq": await asyncio.to_thread(_newest)})
        if resume is not None:
            conn.last_sent = 0
            await conn.replay(resume)  # live events queue up meanwhile; repeats are skipped
        tasks = [asyncio.create_task(conn.sender()), asyncio.create_task(conn.receiver())]
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            exc = task.exception()
            if exc is not None and not isinstance(exc, WebSocketDisconnect | RuntimeError):
                logger.warning("websocket ended with an error", extra={"error": type(exc).__name__})
    except WebSocketDisconnect:
        pass
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        hub.unsubscribe(sub)
        if websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close()
