import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Session

from app.alerts.models import Alert
from app.alerts.schemas import AlertRulesUpdate
from app.alerts.service import raise_alert, update_rules
from app.core.db import engine


def set_rules(user_id: uuid.UUID, **fields: Any) -> None:
    with Session(engine) as session:
        update_rules(session, user_id, AlertRulesUpdate.model_validate(fields))


def fire(
    user_id: uuid.UUID,
    kind: str = "limit_breach",
    key: str = "dep:1",
    message: str = "limit breached",
    now: datetime | None = None,
    **data: Any,
) -> Alert | None:
    with Session(engine) as session:
        alert = raise_alert(session, user_id, kind, key, message, data, now=now)
        session.commit()
        if alert is not None:
            session.refresh(alert)
            session.expunge(alert)
        return alert


def load(alert_id: uuid.UUID) -> Alert:
    with Session(engine) as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None
        return alert
