"""Alert rules, raising alerts (with grouping) and reading them.

Rules:
- `raise_alert` stores the alert in the caller's transaction and publishes an `alert`
  event; e-mail and webhook deliveries start only after that transaction commits.
- Repeats are grouped: the same user, kind and key within `ALERT_GROUP_WINDOW_SECONDS` of
  the group's last occurrence increments `count` (and marks it unread again) instead of
  creating an alert, and is not delivered again. A transaction-scoped advisory lock on
  (user, kind, key) makes concurrent raisers agree on one group.
- A disabled rule raises nothing. Thresholds (drawdown, daily loss, drift) are compared by
  the `check_*` helpers, which the P&L and drift code call with their figures.
- The webhook secret is encrypted with the credentials cipher, bound to its owner.
"""

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlmodel import Session, col, func, select

from app.alerts.models import Alert, AlertRulesRow, utcnow
from app.alerts.schemas import (
    AlertKind,
    AlertPublic,
    AlertRules,
    AlertRulesPublic,
    AlertRulesUpdate,
    Severity,
)
from app.core.config import settings
from app.core.crypto import get_credentials_cipher
from app.events.schemas import AlertEvent
from app.events.service import publish_alert
from app.users.models import User

SECRET_FIELD = "webhook_secret"  # nosec B105 - the name of a field, not a secret


class RulesError(ValueError):
    """A rules update that cannot be accepted; `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def secret_context(user_id: uuid.UUID) -> str:
    return f"alert_rules:{user_id}:{SECRET_FIELD}"


def rules_row(session: Session, user_id: uuid.UUID) -> AlertRulesRow | None:
    return session.get(AlertRulesRow, user_id)


def effective_rules(row: AlertRulesRow | None) -> AlertRules:
    return AlertRules.model_validate(row.rules) if row else AlertRules()


def rules_public(row: AlertRulesRow | None) -> AlertRulesPublic:
    return AlertRulesPublic(
        rules=effective_rules(row),
        email_to=row.email_to if row else None,
        webhook_url=row.webhook_url if row else None,
        webhook_secret_set=bool(row and row.webhook_secret_encrypted),
        webhook_secret_hint=row.webhook_secret_hint if row else None,
        updated_at=row.updated_at if row else None,
    )


def update_rules(session: Session, user_id: uuid.UUID, body: AlertRulesUpdate) -> AlertRulesRow:
    row = rules_row(session, user_id) or AlertRulesRow(
        user_id=user_id, rules=AlertRules().model_dump(mode="json")
    )
    given = body.model_fields_set
    rules = effective_rules(row).model_copy(
        update={
            k: getattr(body, k) for k in AlertRules.model_fields if k in given and getattr(body, k)
        }
    )
    if "email_to" in given:
        row.email_to = str(body.email_to) if body.email_to else None
    if "webhook_url" in given:
        row.webhook_url = str(body.webhook_url) if body.webhook_url else None
    if "webhook_secret" in given:
        if body.webhook_secret is None:
            row.webhook_secret_encrypted = row.webhook_secret_hint = None
        else:
            secret = body.webhook_secret.get_secret_value()
            cipher = get_credentials_cipher()
            row.webhook_secret_encrypted = cipher.encrypt(secret, context=secret_context(user_id))
            row.webhook_secret_hint = secret[-4:]
    for name in AlertRules.model_fields:
        rule = getattr(rules, name)
        if "webhook" in rule.channels and not (row.webhook_url and row.webhook_secret_encrypted):
            raise RulesError(
                f"{name}.channels", "the webhook channel needs webhook_url and webhook_secret"
            )
    row.rules = rules.model_dump(mode="json")
    row.updated_at = utcnow()
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def webhook_secret(row: AlertRulesRow) -> str | None:
    if not row.webhook_secret_encrypted:
        return None
    cipher = get_credentials_cipher()
    return cipher.decrypt(row.webhook_secret_encrypted, context=secret_context(row.user_id))


def to_public(alert: Alert) -> AlertPublic:
    return AlertPublic(
        id=alert.id,
        kind=alert.kind,
        key=alert.key,
        severity=alert.severity,
        message=alert.message,
        data=alert.data,
        count=alert.count,
        first_at=alert.first_at,
        last_at=alert.last_at,
        read=alert.read_at is not None,
        read_at=alert.read_at,
        deliveries=alert.deliveries,
    )


def _event(alert: Alert) -> AlertEvent:
    return AlertEvent(
        alert_id=alert.id,
        kind=alert.kind,
        key=alert.key,
        message=alert.message,
        severity=alert.severity,
        count=alert.count,
        read=alert.read_at is not None,
    )


def raise_alert(
    session: Session,
    user_id: uuid.UUID,
    kind: AlertKind | str,
    key: str,
    message: str,
    data: dict[str, Any] | None = None,
    *,
    severity: Severity = Severity.WARNING,
    once: bool = False,
    now: datetime | None = None,
) -> Alert | None:
    """Store (or group) an alert if the user's rule for `kind` is enabled; deliver it by the
    rule's channels after the caller commits. `once`: do nothing if this user ever had an
    alert with this kind and key (daily summaries). Returns the alert, or None."""
    kind = AlertKind(kind)
    rules = effective_rules(rules_row(session, user_id))
    rule = getattr(rules, kind.value)
    if not rule.enabled:
        return None
    now = now or utcnow()
    key = key[:200]
    session.execute(
        sa.select(
            sa.func.pg_advisory_xact_lock(
                sa.func.hashtextextended(f"alert:{user_id}:{kind}:{key}", 0)
            )
        )
    )
    same = select(Alert).where(Alert.user_id == user_id, Alert.kind == kind.value, Alert.key == key)
    if once:
        if session.exec(same.limit(1)).first() is not None:
            return None
        existing = None
    else:
        window = now - timedelta(seconds=settings.ALERT_GROUP_WINDOW_SECONDS)
        existing = session.exec(
            same.where(col(Alert.last_at) >= window).order_by(col(Alert.last_at).desc()).limit(1)
        ).first()
    clean = dict(data or {})
    if existing is not None:
        existing.count += 1
        existing.last_at = now
        existing.message = message
        existing.data = clean
        existing.read_at = None
        session.add(existing)
        session.flush()
        publish_alert(session, user_id, _event(existing))
        return existing
    alert = Alert(
        user_id=user_id,
        kind=kind.value,
        key=key,
        severity=severity.value,
        message=message,
        data=clean,
        first_at=now,
        last_at=now,
        deliveries={c: {"status": "pending"} for c in rule.channels},
    )
    session.add(alert)
    session.flush()
    publish_alert(session, user_id, _event(alert))
    if rule.channels:
        _deliver_after_commit(session, alert.id)
    return alert


def _deliver_after_commit(session: Session, alert_id: uuid.UUID) -> None:
    from app.alerts.delivery import deliverer

    def _after_commit(_: Any) -> None:
        deliverer.submit(alert_id)

    sa_event.listen(session, "after_commit", _after_commit, once=True)


def raise_for_everyone(
    session: Session, kind: AlertKind, key: str, message: str, data: dict[str, Any] | None = None
) -> int:
    """A platform-wide problem (collector failure): one alert per active user whose rule for
    `kind` is enabled. Returns how many users got it."""
    raised = 0
    for user_id in session.exec(select(User.id).where(col(User.is_active))).all():
        if raise_alert(session, user_id, kind, key, message, data, severity=Severity.CRITICAL):
            raised += 1
    return raised


def check_drawdown(
    session: Session, user_id: uuid.UUID, deployment_id: uuid.UUID, drawdown: Decimal
) -> Alert | None:
    """Alert when a deployment's drawdown (a fraction) is at or beyond the user's level."""
    level = effective_rules(rules_row(session, user_id)).drawdown.level
    if drawdown < level:
        return None
    return raise_alert(
        session,
        user_id,
        AlertKind.DRAWDOWN,
        f"deployment:{deployment_id}",
        f"Drawdown {drawdown:.2%} reached the alert level {level:.2%}",
        {"deployment_id": str(deployment_id), "drawdown": str(drawdown), "level": str(level)},
    )


def check_daily_loss(session: Session, user_id: uuid.UUID, day: str, loss: Decimal) -> Alert | None:
    """Alert when the account's loss of `day` (a positive AUD amount) reaches the level."""
    level = effective_rules(rules_row(session, user_id)).daily_loss.level
    if loss < level:
        return None
    return raise_alert(
        session,
        user_id,
        AlertKind.DAILY_LOSS,
        f"day:{day}",
        f"Loss of {loss} AUD today reached the alert level {level} AUD",
        {"day": day, "loss": str(loss), "level": str(level)},
    )


def check_drift(
    session: Session, user_id: uuid.UUID, deployment_id: uuid.UUID, drift: Decimal
) -> Alert | None:
    """Alert when a deployment's drift from its backtest (a fraction) passes the threshold."""
    threshold = effective_rules(rules_row(session, user_id)).drift.threshold
    if drift <= threshold:
        return None
    return raise_alert(
        session,
        user_id,
        AlertKind.DRIFT,
        f"deployment:{deployment_id}",
        f"Live results drift {drift:.2%} from the backtest (threshold {threshold:.2%})",
        {"deployment_id": str(deployment_id), "drift": str(drift), "threshold": str(threshold)},
    )


def listing(
    session: Session,
    user_id: uuid.UUID,
    *,
    unread: bool | None,
    kind: AlertKind | None,
    skip: int,
    limit: int,
) -> tuple[list[Alert], int, int]:
    """(page, matching count, unread count), newest first."""
    query = select(Alert).where(Alert.user_id == user_id)
    if unread is True:
        query = query.where(col(Alert.read_at).is_(None))
    elif unread is False:
        query = query.where(col(Alert.read_at).is_not(None))
    if kind is not None:
        query = query.where(Alert.kind == kind.value)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    unread_count = session.exec(
        select(func.count())
        .select_from(Alert)
        .where(Alert.user_id == user_id, col(Alert.read_at).is_(None))
    ).one()
    rows = session.exec(
        query.order_by(col(Alert.last_at).desc(), col(Alert.id)).offset(skip).limit(limit)
    ).all()
    return list(rows), int(total), int(unread_count)


def get_alert(session: Session, user_id: uuid.UUID, alert_id: uuid.UUID) -> Alert | None:
    alert = session.get(Alert, alert_id)
    return alert if alert is not None and alert.user_id == user_id else None


def mark_read(session: Session, alert: Alert) -> Alert:
    if alert.read_at is None:
        alert.read_at = utcnow()
        session.add(alert)
        session.commit()
        session.refresh(alert)
    return alert


def mark_all_read(session: Session, user_id: uuid.UUID) -> int:
    result = session.execute(
        sa.update(Alert)
        .where(col(Alert.user_id) == user_id, col(Alert.read_at).is_(None))
        .values(read_at=utcnow())
    )
    session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
