"""GET /api/v1/floor/events: user-scoped, paginated, filtered; bad input is a 422."""

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.events.helpers import emit, new_user


def test_polling_pages_through_own_events_and_broadcasts(client: TestClient, db: Session) -> None:
    alice, alice_token = new_user(client, db)
    bob, _ = new_user(client, db)
    start = emit(alice, step=0)
    mine = [emit(alice, step=n) for n in range(1, 4)]
    emit(bob, secret="bob's")
    broadcast = emit(None, "price.update", slot="2026-12-01T00:00:00Z", prices=[])
    headers = {"Authorization": f"Bearer {alice_token}"}

    r = client.get("/api/v1/floor/events", headers=headers, params={"after": start, "limit": 2})
    assert r.status_code == 200
    page = r.json()
    assert [e["seq"] for e in page["data"]] == mine[:2]
    assert page["has_more"] is True and page["next_after"] == mine[1]
    rest = client.get(
        "/api/v1/floor/events", headers=headers, params={"after": page["next_after"], "limit": 50}
    ).json()
    seqs = [e["seq"] for e in rest["data"]]
    assert mine[2] in seqs and broadcast in seqs
    assert all("bob's" not in str(e["payload"]) for e in rest["data"])
    assert rest["has_more"] is False
    only_prices = client.get(
        "/api/v1/floor/events",
        headers=headers,
        params={"after": start, "kind": "price.update"},
    ).json()
    assert [e["seq"] for e in only_prices["data"]] == [broadcast]
    assert only_prices["data"][0]["broadcast"] is True
    empty = client.get("/api/v1/floor/events", headers=headers, params={"after": broadcast}).json()
    assert empty == {"data": [], "next_after": broadcast, "has_more": False}


@pytest.mark.parametrize(
    "params, field",
    [
        ({"after": -1}, "after"),
        ({"limit": 0}, "limit"),
        ({"limit": 5000}, "limit"),
        ({"after": "x"}, "after"),
        ({"kind": "weather"}, "kind"),
    ],
)
def test_bad_polling_input_is_422(
    client: TestClient,
    normal_user_token_headers: dict[str, str],
    params: dict[str, object],
    field: str,
) -> None:
    r = client.get("/api/v1/floor/events", headers=normal_user_token_headers, params=params)
    assert r.status_code == 422
    assert field in str(r.json()["detail"])


def test_polling_needs_a_session(client: TestClient) -> None:
    assert client.get("/api/v1/floor/events").status_code == 401
