"""The alerts API: rules (with a write-only webhook secret), listing, read marks, isolation."""

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.alerts.helpers import fire
from tests.events.helpers import new_user
from tests.utils import error_text


@pytest.fixture
def alice(client: TestClient, db: Session) -> tuple[uuid.UUID, dict[str, str]]:
    user_id, token = new_user(client, db)
    return user_id, {"Authorization": f"Bearer {token}"}


def test_rules_default_then_partial_update(
    client: TestClient, alice: tuple[uuid.UUID, dict[str, str]]
) -> None:
    _, headers = alice
    r = client.get("/api/v1/alerts/rules", headers=headers)
    assert r.status_code == 200
    body = r.json()
    assert body["rules"]["drawdown"] == {"enabled": True, "channels": [], "level": "0.10"}
    assert body["rules"]["daily_summary"]["enabled"] is False
    assert body["webhook_secret_set"] is False and body["updated_at"] is None

    r = client.put(
        "/api/v1/alerts/rules",
        headers=headers,
        json={"drawdown": {"level": "0.25", "channels": ["email"]}, "email_to": "ops@example.com"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["rules"]["drawdown"]["level"] == "0.25"
    assert body["rules"]["drawdown"]["channels"] == ["email"]
    assert body["rules"]["daily_loss"]["level"] == "500"  # untouched
    assert body["email_to"] == "ops@example.com"
    assert client.get("/api/v1/alerts/rules", headers=headers).json() == body


def test_the_webhook_secret_is_write_only(
    client: TestClient, alice: tuple[uuid.UUID, dict[str, str]], db: Session
) -> None:
    user_id, headers = alice
    secret = "s3cret-" + uuid.uuid4().hex
    r = client.put(
        "/api/v1/alerts/rules",
        headers=headers,
        json={
            "webhook_url": "https://hooks.example.com/omc",
            "webhook_secret": secret,
            "order_problem": {"channels": ["webhook"]},
        },
    )
    assert r.status_code == 200, r.text
    assert secret not in r.text
    assert r.json()["webhook_secret_set"] is True
    assert r.json()["webhook_secret_hint"] == secret[-4:]
    assert secret not in client.get("/api/v1/alerts/rules", headers=headers).text
    from app.alerts.models import AlertRulesRow

    row = db.get(AlertRulesRow, user_id)
    db.refresh(row)
    assert (
        row is not None
        and row.webhook_secret_encrypted
        and secret not in row.webhook_secret_encrypted
    )

    # Clearing the secret while a rule still uses the webhook is refused, naming the rule.
    r = client.put("/api/v1/alerts/rules", headers=headers, json={"webhook_secret": None})
    assert r.status_code == 422
    assert "order_problem.channels" in error_text(r)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"drawdown": {"level": "0"}}, "level"),
        ({"drawdown": {"level": "1.5"}}, "level"),
        ({"daily_loss": {"level": "-5"}}, "level"),
        ({"daily_loss": {"level": "1.234"}}, "level"),
        ({"drift": {"threshold": "abc"}}, "threshold"),
        ({"daily_summary": {"hour_utc": 24}}, "hour_utc"),
        ({"limit_breach": {"channels": ["sms"]}}, "channels"),
        ({"limit_breach": {"surprise": 1}}, "surprise"),
        ({"nonsense": True}, "nonsense"),
        ({"email_to": "not-an-email"}, "email_to"),
        ({"webhook_url": "ftp://example.com/x"}, "webhook_url"),
        ({"webhook_secret": "tooshort-xyz"}, "webhook_secret"),
    ],
)
def test_bad_rules_are_422_naming_the_field(
    client: TestClient, alice: tuple[uuid.UUID, dict[str, str]], body: dict[str, object], field: str
) -> None:
    _, headers = alice
    r = client.put("/api/v1/alerts/rules", headers=headers, json=body)
    assert r.status_code == 422, r.text
    assert field in str(r.json()["detail"])
    # Inputs (the webhook secret above all) are never echoed back.
    assert all("input" not in item for item in r.json()["detail"])
    assert "tooshort-xyz" not in r.text


def test_the_webhook_channel_needs_a_url_and_secret(
    client: TestClient, alice: tuple[uuid.UUID, dict[str, str]]
) -> None:
    _, headers = alice
    r = client.put(
        "/api/v1/alerts/rules", headers=headers, json={"drift": {"channels": ["webhook"]}}
    )
    assert r.status_code == 422
    assert error_text(r).startswith("drift.channels")


def test_listing_pages_unread_filter_and_read_marks(
    client: TestClient, alice: tuple[uuid.UUID, dict[str, str]]
) -> None:
    user_id, headers = alice
    alerts = [fire(user_id, key=f"dep:{n}", message=f"breach {n}") for n in range(5)]
    assert all(alerts)
    r = client.get("/api/v1/alerts", headers=headers, params={"limit": 2})
    assert r.status_code == 200
    page = r.json()
    assert page["count"] == 5 and page["unread"] == 5 and len(page["data"]) == 2
    assert [a["message"] for a in page["data"]] == ["breach 4", "breach 3"]  # newest first
    second = client.get("/api/v1/alerts", headers=headers, params={"limit": 2, "skip": 2}).json()
    assert [a["message"] for a in second["data"]] == ["breach 2", "breach 1"]

    target = alerts[2]
    assert target is not None
    r = client.post(f"/api/v1/alerts/{target.id}/read", headers=headers)
    assert r.status_code == 200 and r.json()["read"] is True and r.json()["read_at"]
    unread = client.get("/api/v1/alerts", headers=headers, params={"unread": True}).json()
    assert unread["count"] == 4 and unread["unread"] == 4
    assert str(target.id) not in {a["id"] for a in unread["data"]}
    read = client.get("/api/v1/alerts", headers=headers, params={"unread": False}).json()
    assert [a["id"] for a in read["data"]] == [str(target.id)]
    by_kind = client.get("/api/v1/alerts", headers=headers, params={"kind": "drift"}).json()
    assert by_kind["count"] == 0

    r = client.post("/api/v1/alerts/read-all", headers=headers)
    assert r.json() == {"updated": 4}
    assert client.get("/api/v1/alerts", headers=headers).json()["unread"] == 0


def test_another_users_alert_is_404_and_invisible(
    client: TestClient, alice: tuple[uuid.UUID, dict[str, str]], db: Session
) -> None:
    alice_id, _ = alice
    mine = fire(alice_id, key="private")
    assert mine is not None
    _, bob_token = new_user(client, db)
    bob = {"Authorization": f"Bearer {bob_token}"}
    assert client.post(f"/api/v1/alerts/{mine.id}/read", headers=bob).status_code == 404
    assert client.post(f"/api/v1/alerts/{uuid.uuid4()}/read", headers=bob).status_code == 404
    assert client.get("/api/v1/alerts", headers=bob).json()["count"] == 0


@pytest.mark.parametrize(
    "method, path, params",
    [
        ("get", "/api/v1/alerts", {"limit": 0}),
        ("get", "/api/v1/alerts", {"limit": 500}),
        ("get", "/api/v1/alerts", {"skip": -1}),
        ("get", "/api/v1/alerts", {"kind": "weather"}),
        ("get", "/api/v1/alerts", {"unread": "maybe"}),
        ("post", "/api/v1/alerts/not-a-uuid/read", {}),
    ],
)
def test_bad_query_input_is_422(
    client: TestClient,
    alice: tuple[uuid.UUID, dict[str, str]],
    method: str,
    path: str,
    params: dict[str, object],
) -> None:
    _, headers = alice
    r = getattr(client, method)(path, headers=headers, params=params)
    assert r.status_code == 422, r.text


def test_routes_need_a_session(client: TestClient) -> None:
    assert client.get("/api/v1/alerts").status_code == 401
    assert client.get("/api/v1/alerts/rules").status_code == 401
    assert client.put("/api/v1/alerts/rules", json={}).status_code == 401
    assert client.post(f"/api/v1/alerts/{uuid.uuid4()}/read").status_code == 401
