"""Users with tokens, publishing and a WebSocket client with bounded waits."""

import uuid
from typing import Any

import orjson
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from websockets.sync.client import ClientConnection, connect

from app.core.db import engine
from app.events.models import Event
from app.events.service import publish
from app.users.models import User
from tests.utils import create_random_user, user_token_headers

WAIT = 20.0  # an upper bound for a message that must arrive; never a pass condition


def new_user(client: TestClient, db: Session) -> tuple[uuid.UUID, str]:
    email, password = create_random_user(db)
    headers = user_token_headers(client, email, password)
    user = db.exec(select(User).where(User.email == email)).one()
    return user.id, headers["Authorization"].removeprefix("Bearer ")


def emit(user_id: uuid.UUID | None, kind: str = "pnl.update", **payload: Any) -> int:
    with Session(engine) as session:
        row = publish(session, user_id, kind, payload or {"n": 1})
        session.commit()
        assert row.seq is not None
        return row.seq


def ws_url(base: str, **query: str | int) -> str:
    url = base.replace("http://", "ws://") + "/api/v1/ws"
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return url


def open_ws(base: str, **query: str | int) -> ClientConnection:
    return connect(ws_url(base, **query), open_timeout=WAIT, close_timeout=5)


def recv(ws: ClientConnection, skip_heartbeats: bool = True) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = orjson.loads(ws.recv(timeout=WAIT))
        if skip_heartbeats and message.get("type") == "heartbeat":
            continue
        return message


def recv_event(ws: ClientConnection) -> dict[str, Any]:
    message = recv(ws)
    assert message["type"] == "event", message
    return message


def visible_seqs(user_id: uuid.UUID, after: int) -> list[int]:
    with Session(engine) as session:
        rows = session.exec(
            select(Event.seq)
            .where(Event.seq > after)  # type: ignore[operator]
            .where((Event.user_id == user_id) | (Event.user_id.is_(None)))  # type: ignore[union-attr]
            .order_by(Event.seq)  # type: ignore[arg-type]
        ).all()
        return [int(s) for s in rows if s is not None]
