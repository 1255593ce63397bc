"""The leader's watch over running deployments: drawdown, daily loss and drift alerts.

Rules:
- `check_equity` runs right after the 5-minute equity snapshots (leader only, one pass per
  bar, two indexed queries): a deployment's drawdown is its equity at the bar against the
  highest equity it ever snapshotted; an account's daily loss is, summed over its
  deployments snapshotted at the bar, the equity at the start of the user's day (00:00 in
  their time zone, as the risk engine's daily-loss limit counts it; the latest snapshot at or
  before then, else the day's first) minus the equity now. The user's rule
  levels decide (`alerts.service.check_drawdown` / `check_daily_loss`); repeats within the
  grouping window only raise the count.
- `check_drift` is bounded: at most `FLOOR_DRIFT_CHECKS_PER_ROUND` deployments per round,
  each at most once every `FLOOR_DRIFT_CHECK_MINUTES` (the least recently checked first),
  because a drift report replays the deployment's bars through the sandbox. A drift above
  the user's drift rule threshold (default 2 %, the same as FLOOR_DRIFT_ALERT_FRACTION)
  raises a `drift` alert. A report that fails is logged and retried on a later round.
"""

import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app.alerts.models import Alert
from app.alerts.service import check_daily_loss, check_drawdown
from app.alerts.service import check_drift as alert_on_drift
from app.core.config import settings
from app.floor.drift import drift_report
from app.floor.models import RUNNING_STATUSES, DeployedAlgorithm
from app.floor.risk.measures import day_start, time_zone_of
from app.lab.sandbox.pool import SandboxPool

logger = logging.getLogger(__name__)

_DRAWDOWN = sa.text(
    """
    SELECT s.deployment_id, s.user_id, s.equity,
           (SELECT max(p.equity) FROM equity_snapshots p
             WHERE p.deployment_id = s.deployment_id AND p.bar <= :bar) AS peak
    FROM equity_snapshots s WHERE s.bar = :bar
    """
)

_DAILY_LOSS = sa.text(
    """
    SELECT s.user_id, sum(coalesce(
             (SELECT p.equity FROM equity_snapshots p WHERE p.deployment_id = s.deployment_id
                AND p.bar <= :day ORDER BY p.bar DESC LIMIT 1),
             (SELECT p.equity FROM equity_snapshots p WHERE p.deployment_id = s.deployment_id
                AND p.bar > :day ORDER BY p.bar LIMIT 1)) - s.equity) AS loss
    FROM equity_snapshots s WHERE s.bar = :bar AND s.user_id = :user
    GROUP BY s.user_id
    """
)

_USERS_AT_BAR = sa.text(
    """
    SELECT DISTINCT s.user_id, u.timezone FROM equity_snapshots s
    JOIN "user" u ON u.id = s.user_id WHERE s.bar = :bar
    """
)


def check_equity(engine: Engine, bar: datetime) -> int:
    """Drawdown and daily-loss alerts from the snapshots at `bar`; returns alerts raised."""
    started = time.perf_counter()
    raised = 0
    with Session(engine) as session:
        conn = session.connection()
        for row in conn.execute(_DRAWDOWN, {"bar": bar}).all():
            peak, equity = Decimal(row.peak or 0), Decimal(row.equity)
            if peak <= 0 or equity >= peak:
                continue
            if check_drawdown(session, row.user_id, row.deployment_id, (peak - equity) / peak):
                raised += 1
        for user in conn.execute(_USERS_AT_BAR, {"bar": bar}).all():
            day = day_start(user.timezone, bar)
            local_date = day.astimezone(time_zone_of(user.timezone)).date().isoformat()
            params = {"bar": bar, "day": day, "user": user.user_id}
            for row in conn.execute(_DAILY_LOSS, params).all():
                loss = Decimal(row.loss or 0)
                if loss > 0 and check_daily_loss(session, row.user_id, local_date, loss):
                    raised += 1
        session.commit()
    logger.info(
        "equity alerts checked",
        extra={
            "bar": bar.isoformat(),
            "raised": raised,
            "ms": round((time.perf_counter() - started) * 1000, 3),
        },
    )
    return raised


async def drift_alert(engine: Engine, pool: SandboxPool, deployment_id: uuid.UUID) -> Alert | None:
    """Compute one deployment's drift report and raise its alert when it is over the
    owner's threshold; returns the alert (or None)."""
    started = time.perf_counter()
    with Session(engine) as session:
        deployment = session.get(DeployedAlgorithm, deployment_id)
        if deployment is None:
            return None
        report = await drift_report(session, pool, deployment)
        drift = report.get("drift")
        alert = None
        if drift is not None:
            figure = Decimal(str(drift))
            alert = alert_on_drift(session, deployment.user_id, deployment_id, figure)
        session.commit()
    logger.info(
        "drift checked",
        extra={
            "deployment": str(deployment_id),
            "drift": drift,
            "alert": alert is not None,
            "ms": round((time.perf_counter() - started) * 1000, 3),
        },
    )
    return alert


def due_for_drift(
    running: list[uuid.UUID], checked: dict[uuid.UUID, datetime], now: datetime, limit: int
) -> list[uuid.UUID]:
    """The deployments to check this round: not checked for FLOOR_DRIFT_CHECK_MINUTES,
    least recently checked first, at most `limit`."""
    never = datetime.min.replace(tzinfo=UTC)
    every = timedelta(minutes=settings.FLOOR_DRIFT_CHECK_MINUTES)
    due = [d for d in running if now - checked.get(d, never) >= every]
    return sorted(due, key=lambda d: (checked.get(d, never), str(d)))[:limit]


async def check_drift(
    engine: Engine,
    pool: SandboxPool,
    checked: dict[uuid.UUID, datetime],
    now: datetime | None = None,
) -> int:
    """One bounded round of drift checks; `checked` (deployment -> last check) is the
    caller's memory between rounds. Returns alerts raised."""
    moment = now or datetime.now(UTC)
    with Session(engine) as session:
        running = list(
            session.exec(
                select(DeployedAlgorithm.id).where(
                    col(DeployedAlgorithm.status).in_(sorted(RUNNING_STATUSES)),
                    col(DeployedAlgorithm.last_run_bar).is_not(None),
                )
            ).all()
        )
    raised = 0
    for deployment_id in due_for_drift(
        running, checked, moment, settings.FLOOR_DRIFT_CHECKS_PER_ROUND
    ):
        checked[deployment_id] = moment
        try:
            raised += await drift_alert(engine, pool, deployment_id) is not None
        except Exception:
            logger.exception("drift check failed", extra={"deployment": str(deployment_id)})
    return raised
