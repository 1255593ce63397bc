"""The reconciliation gate: a live deployment on an account with an open blocking break
places no orders.

Rules: one question (`blocking_reason`), asked by the executor right before the risk
check of every live order; the answer names the break so the run record says why.
Paper deployments never ask (their books are their own).
"""

import uuid

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app.floor.reconciliation.models import BreakStatus, ReconciliationBreak


def blocking_reason(engine: Engine, user_id: uuid.UUID) -> str | None:
    """Why the account's live orders are held back, or None when nothing blocks them."""
    with Session(engine) as session:
        row = session.exec(
            select(ReconciliationBreak)
            .where(
                col(ReconciliationBreak.user_id) == user_id,
                col(ReconciliationBreak.status) == BreakStatus.OPEN.value,
                col(ReconciliationBreak.blocking).is_(True),
            )
            .order_by(col(ReconciliationBreak.first_seen_at))
            .limit(1)
        ).first()
        if row is None:
            return None
        coin = f" on {row.coin}" if row.coin else ""
        return (
            f"reconciliation break {row.kind}{coin} (id {row.id}, open since "
            f"{row.first_seen_at.isoformat()}) blocks live orders until it is resolved"
        )
