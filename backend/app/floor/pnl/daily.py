"""The day's P&L of an account and of each of its deployments, for the daily summary.

Rules (the daily summary's `PnlProvider`, registered when the app starts):
- Realised P&L: lots closed in [start, end), net of their fees (as the P&L routes).
- Unrealised P&L: open lots marked at the newest collected bid (as of now).
- Fees: fees and GST of the fills booked in [start, end).
- Equity change: equity at the last snapshot before `end` minus equity at the last
  snapshot at or before `start` (a deployment snapshotted only after `start` counts from
  its first snapshot, i.e. from its capital). Without snapshots it is 0.
- The account is the exact sum of its deployments; amounts are rounded to cents only here.
"""

import uuid
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from app.alerts.summary import DailyPnl, DeploymentDailyPnl
from app.floor.pnl.ledger import cents
from app.floor.pnl.service import breakdown

ZERO = Decimal(0)

_FEES = sa.text(
    """
    SELECT deployment_id, sum(fee + gst) AS fees FROM trades
    WHERE user_id = :user_id AND created_at >= :start AND created_at < :end
    GROUP BY deployment_id
    """
)

_EQUITY_CHANGE = sa.text(
    """
    SELECT d.id AS deployment_id,
           (SELECT equity FROM equity_snapshots s WHERE s.deployment_id = d.id AND s.bar < :end
             ORDER BY s.bar DESC LIMIT 1)
         - coalesce(
           (SELECT equity FROM equity_snapshots s WHERE s.deployment_id = d.id
             AND s.bar <= :start ORDER BY s.bar DESC LIMIT 1),
           (SELECT equity FROM equity_snapshots s WHERE s.deployment_id = d.id
             AND s.bar > :start ORDER BY s.bar LIMIT 1)) AS change
    FROM deployed_algorithms d WHERE d.user_id = :user_id
    """
)


def daily_pnl(
    session: Session, user_id: uuid.UUID, start: datetime, end: datetime
) -> DailyPnl | None:
    """The account's and each deployment's P&L over [start, end); None without deployments."""
    figures = breakdown(session, user_id, start, end)
    if not figures.deployments:
        return None
    rows = figures.by("deployment")
    params = {"user_id": user_id, "start": start, "end": end}
    conn = session.connection()
    fees = {r.deployment_id: Decimal(r.fees) for r in conn.execute(_FEES, params)}
    change = {
        r.deployment_id: Decimal(r.change) if r.change is not None else ZERO
        for r in conn.execute(_EQUITY_CHANGE, params)
    }
    per: list[DeploymentDailyPnl] = []
    totals = [ZERO, ZERO, ZERO, ZERO]
    for deployment_id, info in sorted(figures.deployments.items(), key=lambda i: i[1]["name"]):
        row = rows.get(deployment_id)
        values = [
            row.realised_net if row else ZERO,
            row.unrealised_net if row else ZERO,
            fees.get(deployment_id, ZERO),
            change.get(deployment_id, ZERO),
        ]
        totals = [a + b for a, b in zip(totals, values, strict=True)]
        if info["status"] == "stopped" and not any(values):
            continue  # long stopped and nothing happened: not worth a line
        per.append(
            DeploymentDailyPnl(
                deployment_id=deployment_id,
                name=str(info["name"]),
                mode=str(info["mode"]),
                realised=cents(values[0]),
                unrealised=cents(values[1]),
                fees=cents(values[2]),
                equity_change=cents(values[3]),
            )
        )
    return DailyPnl(
        realised=cents(totals[0]),
        unrealised=cents(totals[1]),
        fees=cents(totals[2]),
        equity_change=cents(totals[3]),
        deployments=tuple(per),
    )
