"""Raising alerts: grouping, rules, and delivery to a real SMTP server and a webhook
receiver that verifies the HMAC signature."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.alerts.delivery import deliverer, sign, webhook_body
from app.alerts.models import utcnow
from app.alerts.service import check_daily_loss, check_drawdown, check_drift
from app.core.config import settings
from app.core.db import engine
from app.events.models import Event
from tests.alerts.conftest import Mailbox, Receiver
from tests.alerts.helpers import fire, load, set_rules
from tests.events.helpers import new_user


@pytest.fixture
def user(client: TestClient, db: Session) -> uuid.UUID:
    user_id, _ = new_user(client, db)
    return user_id


def test_a_hundred_repeats_are_one_alert_and_one_email(smtp: Mailbox, user: uuid.UUID) -> None:
    set_rules(user, limit_breach={"channels": ["email"]}, email_to="trader@example.com")
    first = fire(user, key="dep:7", message="max position exceeded")
    assert first is not None
    for n in range(99):
        again = fire(user, key="dep:7", message=f"max position exceeded ({n})")
        assert again is not None and again.id == first.id
    other = fire(user, key="dep:8", message="another deployment")
    assert other is not None and other.id != first.id
    deliverer.drain()

    alert = load(first.id)
    assert alert.count == 100 and alert.message == "max position exceeded (98)"
    assert alert.deliveries["email"]["status"] == "sent"
    assert len(smtp.messages) == 2  # one per group, not a hundred
    mail = smtp.messages[0]
    assert mail["To"] == "trader@example.com"
    assert mail["From"] == "alerts@example.com"
    assert "limit breach" in mail["Subject"]
    bodies = [m.get_payload(decode=True).decode() for m in smtp.messages]  # type: ignore[union-attr]
    assert any("max position exceeded" in b for b in bodies)


def test_after_the_window_a_repeat_is_a_new_alert(user: uuid.UUID) -> None:
    first = fire(user, key="k")
    later = fire(
        user, key="k", now=utcnow() + timedelta(seconds=settings.ALERT_GROUP_WINDOW_SECONDS + 5)
    )
    assert first is not None and later is not None and later.id != first.id


def test_every_raise_publishes_an_alert_event_for_its_owner(user: uuid.UUID) -> None:
    alert = fire(user, key="evt")
    fire(user, key="evt")
    assert alert is not None
    with Session(engine) as session:
        events = session.exec(
            select(Event)
            .where(Event.kind == "alert", Event.user_id == user)
            .order_by(col(Event.seq))
        ).all()
    mine = [e for e in events if e.payload["alert_id"] == str(alert.id)]
    assert [e.payload["count"] for e in mine] == [1, 2]


def test_a_disabled_rule_raises_nothing(user: uuid.UUID) -> None:
    set_rules(user, reconciliation_break={"enabled": False})
    assert fire(user, kind="reconciliation_break", key="BTC") is None


def test_a_refused_mail_is_retried(smtp: Mailbox, user: uuid.UUID) -> None:
    set_rules(user, order_problem={"channels": ["email"]})
    smtp.refuse_next = 1
    alert = fire(user, kind="order_problem", key="order:1", message="order unknown")
    assert alert is not None
    deliverer.drain()
    state = load(alert.id).deliveries["email"]
    assert state["status"] == "sent" and state["attempts"] == 2
    assert len(smtp.messages) == 1


def test_an_unreachable_smtp_server_fails_after_the_attempts(
    user: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.events.server import free_port

    monkeypatch.setattr(settings, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setattr(settings, "SMTP_PORT", free_port())  # nothing listens there
    monkeypatch.setattr(settings, "SMTP_TLS", False)
    monkeypatch.setattr(settings, "EMAILS_FROM_EMAIL", "alerts@example.com")
    monkeypatch.setattr(settings, "ALERT_DELIVERY_ATTEMPTS", 2)
    set_rules(user, system_failure={"channels": ["email"]})
    alert = fire(user, kind="system_failure", key="executor")
    assert alert is not None
    deliverer.drain()
    state = load(alert.id).deliveries["email"]
    assert state["status"] == "failed" and state["attempts"] == 2
    assert "ConnectionRefusedError" in state["error"]


def test_without_smtp_settings_email_is_skipped(
    user: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "SMTP_HOST", None)
    set_rules(user, drift={"channels": ["email"]})
    alert = fire(user, kind="drift", key="d")
    assert alert is not None
    deliverer.drain()
    assert load(alert.id).deliveries["email"]["status"] == "skipped"


def test_webhook_is_signed_and_verified_by_the_receiver(
    receiver: Receiver, user: uuid.UUID
) -> None:
    set_rules(
        user,
        webhook_url=receiver.url,
        webhook_secret=receiver.secret,
        order_problem={"channels": ["webhook"]},
    )
    alert = fire(
        user, kind="order_problem", key="order:42", message="order rejected", order_id="42"
    )
    assert alert is not None
    deliverer.drain()
    assert receiver.verdicts == ["ok"]
    body = receiver.received[0]
    assert body["id"] == str(alert.id) and body["kind"] == "order_problem"
    assert body["data"] == {"order_id": "42"} and body["message"] == "order rejected"
    assert load(alert.id).deliveries["webhook"]["status"] == "sent"


def test_a_receiver_with_another_secret_refuses_and_it_is_not_retried(
    receiver: Receiver, user: uuid.UUID
) -> None:
    set_rules(
        user,
        webhook_url=receiver.url,
        webhook_secret="a-different-secret-value",
        limit_breach={"channels": ["webhook"]},
    )
    alert = fire(user, key="x")
    assert alert is not None
    deliverer.drain()
    assert receiver.verdicts == ["bad signature"]
    state = load(alert.id).deliveries["webhook"]
    assert state["status"] == "failed" and state["attempts"] == 1 and "401" in state["error"]


def test_a_webhook_5xx_is_retried(receiver: Receiver, user: uuid.UUID) -> None:
    set_rules(
        user,
        webhook_url=receiver.url,
        webhook_secret=receiver.secret,
        limit_breach={"channels": ["webhook"]},
    )
    receiver.fail_next = 1
    alert = fire(user, key="y")
    assert alert is not None
    deliverer.drain()
    assert receiver.verdicts == ["503", "ok"]
    assert load(alert.id).deliveries["webhook"]["attempts"] == 2


def test_receivers_can_refuse_replays_and_tampering(receiver: Receiver, user: uuid.UUID) -> None:
    alert = fire(user, key="z")
    assert alert is not None
    old = webhook_body(load(alert.id), sent_at=1_000_000)
    headers = {"X-OMC-Signature": sign(receiver.secret, old), "X-OMC-Timestamp": "1000000"}
    assert receiver.verify(headers, old) == "too old (replay)"
    fresh = webhook_body(load(alert.id), sent_at=int(utcnow().timestamp()))
    stamp = str(int(utcnow().timestamp()))
    good = {"X-OMC-Signature": sign(receiver.secret, fresh), "X-OMC-Timestamp": stamp}
    assert receiver.verify(good, fresh) == "ok"
    assert receiver.verify(good, fresh.replace(b"z", b"q")) == "bad signature"
    moved = {**good, "X-OMC-Timestamp": str(int(stamp) + 60)}
    assert receiver.verify(moved, fresh) == "timestamp header differs from the signed body"


def test_thresholds_raise_only_beyond_the_users_levels(user: uuid.UUID) -> None:
    set_rules(
        user, drawdown={"level": "0.2"}, daily_loss={"level": "100"}, drift={"threshold": "0.05"}
    )
    dep = uuid.uuid4()
    with Session(engine) as session:
        assert check_drawdown(session, user, dep, Decimal("0.19")) is None
        hit = check_drawdown(session, user, dep, Decimal("0.2"))
        assert hit is not None and hit.kind == "drawdown" and hit.data["level"] == "0.2"
        assert check_daily_loss(session, user, "2026-12-01", Decimal("99.99")) is None
        assert check_daily_loss(session, user, "2026-12-01", Decimal("100.00")) is not None
        assert check_drift(session, user, dep, Decimal("0.05")) is None
        drift = check_drift(session, user, dep, Decimal("0.051"))
        assert drift is not None and "5.10%" in drift.message
        session.commit()
