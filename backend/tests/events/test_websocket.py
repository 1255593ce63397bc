"""The WebSocket: isolation between users, resume without gaps or duplicates, replicas."""

import threading
from collections.abc import Iterator

import orjson
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session
from websockets.exceptions import ConnectionClosed

from app.events.hub import LISTENER_APP_NAME, Subscriber
from tests.conftest import ADMIN_URL, TEST_DB_NAME
from tests.events.helpers import emit, new_user, open_ws, recv, recv_event, visible_seqs
from tests.events.server import app_process


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with app_process() as base:
        yield base


def test_each_user_gets_only_their_own_events_and_broadcasts(
    server: str, client: TestClient, db: Session
) -> None:
    alice, alice_token = new_user(client, db)
    bob, bob_token = new_user(client, db)
    with open_ws(server, token=alice_token) as wa, open_ws(server, token=bob_token) as wb:
        assert recv(wa)["type"] == "welcome"
        assert recv(wb)["type"] == "welcome"
        seq_a = emit(alice, who="alice")
        seq_b = emit(bob, who="bob")
        seq_all = emit(None, "price.update", slot="2026-12-01T00:00:00+00:00", prices=[])

        got_a = [recv_event(wa), recv_event(wa)]
        got_b = [recv_event(wb), recv_event(wb)]
    # Each client's next event after its own is the broadcast: the other's never came between.
    assert [m["seq"] for m in got_a] == [seq_a, seq_all]
    assert [m["seq"] for m in got_b] == [seq_b, seq_all]
    assert got_a[0]["payload"] == {"who": "alice"} and not got_a[0]["broadcast"]
    assert got_a[1]["broadcast"] and got_a[1]["kind"] == "price.update"


def test_a_client_that_resumes_gets_what_it_missed_then_live_events(
    server: str, client: TestClient, db: Session
) -> None:
    user, token = new_user(client, db)
    with open_ws(server, token=token) as ws:
        recv(ws)
        first = emit(user, step=1)
        assert recv_event(ws)["seq"] == first
    missed = [emit(user, step=n) for n in (2, 3, 4)]
    with open_ws(server, token=token, resume_from=first) as ws:
        welcome = recv(ws)
        assert welcome["type"] == "welcome" and welcome["last_seq"] >= missed[-1]
        replayed = [recv_event(ws) for _ in missed]
        assert [m["seq"] for m in replayed] == missed
        assert [m["payload"]["step"] for m in replayed] == [2, 3, 4]
        live = emit(user, step=5)
        assert recv_event(ws)["seq"] == live  # no duplicate of the replay in between


def test_resume_while_events_keep_coming_has_no_gap_and_no_duplicate(
    server: str, client: TestClient, db: Session
) -> None:
    user, token = new_user(client, db)
    start = emit(user, step=0)
    for n in range(30):
        emit(user, step=n)
    stop = threading.Event()

    def keep_publishing() -> None:
        n = 0
        while not stop.is_set() and n < 200:
            emit(user, step=1000 + n)
            n += 1

    writer = threading.Thread(target=keep_publishing)
    writer.start()
    try:
        # As the SPA reconnects: the token and the resume point in the first message.
        with open_ws(server) as ws:
            ws.send(orjson.dumps({"token": token, "resume_from": start}).decode())
            assert recv(ws)["type"] == "welcome"
            received = [recv_event(ws)["seq"] for _ in range(120)]
    finally:
        stop.set()
        writer.join()
    expected = visible_seqs(user, start)[:120]
    assert received == expected


def test_events_reach_clients_of_every_app_process(
    server: str, client: TestClient, db: Session
) -> None:
    user, token = new_user(client, db)
    with app_process() as second:
        with open_ws(server, token=token) as w1, open_ws(second, token=token) as w2:
            recv(w1), recv(w2)
            seq = emit(user, replica="any")
            assert recv_event(w1)["seq"] == seq
            assert recv_event(w2)["seq"] == seq
        # The event published through one app process (a route) reaches the other's client.
        # Polling the first process shows the same event with the same seq.
        r = client.get(
            "/api/v1/floor/events",
            params={"after": seq - 1},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200 and r.json()["data"][0]["seq"] == seq


def test_the_listener_reconnects_and_delivers_what_was_published_meanwhile(
    server: str, client: TestClient, db: Session
) -> None:
    user, token = new_user(client, db)
    with open_ws(server, token=token) as ws:
        recv(ws)
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND application_name = %s",
                (TEST_DB_NAME, LISTENER_APP_NAME),
            ).fetchall()
        assert killed and all(row[0] for row in killed)
        seqs = [emit(user, during="reconnect", n=n) for n in range(3)]
        assert [recv_event(ws)["seq"] for _ in seqs] == seqs


def test_redis_backend_delivers_across_processes(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.core.config import settings

    user, token = new_user(client, db)
    with app_process(EVENTS_BACKEND="redis") as base, open_ws(base, token=token) as ws:
        recv(ws)
        monkeypatch.setattr(settings, "EVENTS_BACKEND", "redis")
        seqs = [emit(user, via="redis", n=n) for n in range(3)]
        assert [recv_event(ws)["seq"] for _ in seqs] == seqs


def test_token_in_the_first_message_ping_and_bad_messages(
    server: str, client: TestClient, db: Session
) -> None:
    user, token = new_user(client, db)
    with open_ws(server) as ws:
        ws.send(orjson.dumps({"token": token}).decode())
        assert recv(ws)["type"] == "welcome"
        ws.send('{"type": "ping"}')
        assert recv(ws) == {"type": "pong"}
        ws.send("not json")
        assert recv(ws) == {"type": "error", "detail": "message: not valid JSON"}
        ws.send('{"resume_from": -3}')
        assert "resume_from" in recv(ws)["detail"]
        ws.send('{"what": 1}')
        assert recv(ws)["type"] == "error"
        seq = emit(user, still="open")
        assert recv_event(ws)["seq"] == seq


@pytest.mark.parametrize(
    "query, first",
    [({"token": "not-a-jwt"}, None), ({}, '{"token": 42}'), ({}, "garbage")],
)
def test_bad_tokens_are_refused(server: str, query: dict[str, str], first: str | None) -> None:
    with open_ws(server, **query) as ws:
        if first is not None:
            ws.send(first)
        with pytest.raises(ConnectionClosed) as closed:
            recv(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def test_a_bad_resume_in_the_url_is_refused(server: str, client: TestClient, db: Session) -> None:
    _, token = new_user(client, db)
    with open_ws(server, token=token, resume_from="abc") as ws:
        message = recv(ws)
        assert message["type"] == "error" and "resume_from" in message["detail"]
        with pytest.raises(ConnectionClosed) as closed:
            recv(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


def test_a_lagging_subscriber_is_marked_and_stops_queueing() -> None:
    import uuid

    sub = Subscriber(uuid.uuid4(), limit=2)
    sub.offer("a")
    sub.offer("b")
    sub.offer("c")
    sub.offer("d")
    assert sub.lagging
    assert [sub.queue.get_nowait() for _ in range(3)] == ["a", "b", None]
    assert sub.queue.empty()
