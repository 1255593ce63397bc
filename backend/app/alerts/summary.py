"""The daily summary: per user, the last 24 hours in one message (in-app and e-mail).

Rules:
- The hourly job sends, at each user's `daily_summary.hour_utc`, a summary of the 24 hours
  ending at that hour: alerts by kind (with repeat counts), deployment changes from the
  audit log, deployments running now, and the P&L of the account and of each deployment
  from the pluggable provider (`set_pnl_provider`; the app registers
  `app.floor.pnl.daily.daily_pnl` at start-up, see `lifecycle`).
- It is idempotent: the summary is an alert of kind `daily_summary` keyed by its end time,
  raised with `once=True`, so every replica may run the job and each user gets one.
"""

import logging
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from app.alerts import service
from app.alerts.models import Alert, AlertRulesRow, utcnow
from app.alerts.schemas import AlertKind, Severity
from app.audit.models import AuditLog
from app.core.db import engine
from app.floor.models import RUNNING_STATUSES, DeployedAlgorithm
from app.users.models import User

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeploymentDailyPnl:
    """AUD figures of one deployment over the summary's window."""

    deployment_id: uuid.UUID
    name: str
    mode: str
    realised: Decimal
    unrealised: Decimal
    fees: Decimal
    equity_change: Decimal


@dataclass(frozen=True)
class DailyPnl:
    """AUD figures of the account over the summary's window (and per deployment)."""

    realised: Decimal
    unrealised: Decimal
    fees: Decimal
    equity_change: Decimal
    deployments: tuple[DeploymentDailyPnl, ...] = ()


PnlProvider = Callable[[Session, uuid.UUID, datetime, datetime], DailyPnl | None]
_pnl_provider: PnlProvider | None = None


def set_pnl_provider(provider: PnlProvider | None) -> None:
    global _pnl_provider
    _pnl_provider = provider


def build_summary(
    session: Session,
    user_id: uuid.UUID,
    start: datetime,
    end: datetime,
    pnl_provider: PnlProvider | None = None,
) -> tuple[str, dict[str, Any]]:
    """(message text, data) for one user's window [start, end)."""
    alerts = session.exec(
        select(Alert).where(
            Alert.user_id == user_id,
            Alert.kind != AlertKind.DAILY_SUMMARY.value,
            col(Alert.last_at) >= start,
            col(Alert.last_at) < end,
        )
    ).all()
    by_kind: Counter[str] = Counter()
    for alert in alerts:
        by_kind[alert.kind] += alert.count
    changes = session.exec(
        select(AuditLog)
        .where(
            AuditLog.owner_id == user_id,
            AuditLog.object_type == "deployment",
            col(AuditLog.created_at) >= start,
            col(AuditLog.created_at) < end,
        )
        .order_by(col(AuditLog.created_at))
    ).all()
    running = session.exec(
        select(DeployedAlgorithm).where(
            DeployedAlgorithm.user_id == user_id,
            col(DeployedAlgorithm.status).in_(RUNNING_STATUSES),
        )
    ).all()
    provider = pnl_provider or _pnl_provider
    pnl = provider(session, user_id, start, end) if provider else None

    lines = [f"Summary for {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC", ""]
    if pnl is not None:
        lines += [
            f"P&L: realised {pnl.realised} AUD, unrealised {pnl.unrealised} AUD, "
            f"fees {pnl.fees} AUD, equity change {pnl.equity_change} AUD",
        ]
        for one in pnl.deployments:
            lines.append(
                f"  - {one.name} ({one.mode}): realised {one.realised} AUD, unrealised "
                f"{one.unrealised} AUD, fees {one.fees} AUD, equity change {one.equity_change} AUD"
            )
        lines.append("")
    lines.append(f"Deployments running: {len(running)}")
    for dep in running:
        lines.append(f"  - {dep.name} ({dep.mode}, {dep.status})")
    lines.append(f"Deployment changes: {len(changes)}")
    for change in changes:
        lines.append(f"  - {change.created_at:%H:%M} {change.action} {change.object_id}")
    lines.append(f"Alerts: {sum(by_kind.values())}")
    for kind, count in sorted(by_kind.items()):
        lines.append(f"  - {kind}: {count}")
    data: dict[str, Any] = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "alerts_by_kind": dict(by_kind),
        "deployments_running": len(running),
        "deployment_changes": [
            {"at": c.created_at.isoformat(), "action": c.action, "deployment_id": str(c.object_id)}
            for c in changes
        ],
        "pnl": None
        if pnl is None
        else {
            "realised": str(pnl.realised),
            "unrealised": str(pnl.unrealised),
            "fees": str(pnl.fees),
            "equity_change": str(pnl.equity_change),
            "deployments": [
                {
                    "deployment_id": str(d.deployment_id),
                    "name": d.name,
                    "mode": d.mode,
                    "realised": str(d.realised),
                    "unrealised": str(d.unrealised),
                    "fees": str(d.fees),
                    "equity_change": str(d.equity_change),
                }
                for d in pnl.deployments
            ],
        },
    }
    return "\n".join(lines), data


def send_daily_summaries(
    now: datetime | None = None, pnl_provider: PnlProvider | None = None
) -> int:
    """Raise the summary for every user whose summary hour is `now`'s hour; returns how many
    were raised (users who already got this one are skipped)."""
    end = (now or utcnow()).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=1)
    sent = 0
    with Session(engine) as session:
        candidates = session.exec(
            select(AlertRulesRow.user_id)
            .join(User, col(User.id) == AlertRulesRow.user_id)
            .where(col(User.is_active))
        ).all()
    for user_id in candidates:
        with Session(engine) as session:
            rule = service.effective_rules(service.rules_row(session, user_id)).daily_summary
            if not rule.enabled or rule.hour_utc != end.hour:
                continue
            key = f"summary:{end.isoformat()}"
            done = session.exec(
                select(Alert.id).where(
                    Alert.user_id == user_id,
                    Alert.kind == AlertKind.DAILY_SUMMARY.value,
                    Alert.key == key,
                )
            ).first()
            if done is not None:
                continue  # `once` below still guards against a replica racing us
            text, data = build_summary(session, user_id, start, end, pnl_provider)
            alert = service.raise_alert(
                session,
                user_id,
                AlertKind.DAILY_SUMMARY,
                key,
                text,
                data,
                severity=Severity.INFO,
                once=True,
                now=end,
            )
            session.commit()
            if alert is not None:
                sent += 1
    logger.info("daily summaries", extra={"hour": end.isoformat(), "sent": sent})
    return sent
