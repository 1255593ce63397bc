"""The daily summary: built per user at their hour, with the pluggable P&L, sent once."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.alerts.delivery import deliverer
from app.alerts.models import Alert
from app.alerts.summary import DailyPnl, send_daily_summaries
from app.audit.models import AuditLog
from app.core.db import engine
from tests.alerts.conftest import Mailbox
from tests.alerts.helpers import fire, set_rules
from tests.events.helpers import new_user

NOW = datetime(2026, 12, 1, 7, 0, 30, tzinfo=UTC)


def test_the_summary_lists_the_days_alerts_changes_and_pnl(
    smtp: Mailbox, client: TestClient, db: Session
) -> None:
    user, _ = new_user(client, db)
    quiet, _ = new_user(client, db)
    set_rules(user, daily_summary={"enabled": True, "hour_utc": 7})
    set_rules(quiet, daily_summary={"enabled": True, "hour_utc": 9})  # not its hour
    for _ in range(3):
        fire(user, kind="order_problem", key="o:1", now=NOW - timedelta(hours=2))
    fire(user, kind="drift", key="d", now=NOW - timedelta(hours=5))
    fire(user, kind="drift", key="old", now=NOW - timedelta(days=2))  # outside the window
    deployment = uuid.uuid4()
    with Session(engine) as session:
        session.add(
            AuditLog(
                owner_id=user,
                actor_id=user,
                action="deployment.pause",
                object_type="deployment",
                object_id=deployment,
                created_at=NOW - timedelta(hours=1),
            )
        )
        session.commit()
    calls: list[tuple[uuid.UUID, datetime, datetime]] = []

    def pnl(_: Session, user_id: uuid.UUID, start: datetime, end: datetime) -> DailyPnl:
        calls.append((user_id, start, end))
        return DailyPnl(Decimal("12.34"), Decimal("-5.00"), Decimal("1.10"), Decimal("7.34"))

    assert send_daily_summaries(NOW, pnl) == 1
    assert send_daily_summaries(NOW, pnl) == 0  # once per user and day, on any replica
    deliverer.drain()

    end = NOW.replace(minute=0, second=0)
    assert calls == [(user, end - timedelta(days=1), end)]
    with Session(engine) as session:
        summary = session.exec(
            select(Alert).where(Alert.user_id == user, Alert.kind == "daily_summary")
        ).one()
        assert (
            session.exec(
                select(Alert).where(Alert.user_id == quiet, Alert.kind == "daily_summary")
            ).first()
            is None
        )
    assert summary.data["alerts_by_kind"] == {"order_problem": 3, "drift": 1}
    assert summary.data["pnl"] == {
        "realised": "12.34",
        "unrealised": "-5.00",
        "fees": "1.10",
        "equity_change": "7.34",
        "deployments": [],
    }
    assert summary.data["deployment_changes"][0]["action"] == "deployment.pause"
    assert "realised 12.34 AUD" in summary.message
    assert summary.deliveries["email"]["status"] == "sent"
    assert len(smtp.messages) == 1
    body = smtp.messages[0].get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "order_problem: 3" in body and "deployment.pause" in body
