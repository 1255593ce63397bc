"""Setups and readers shared by the risk engine tests."""

import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.alerts.models import Alert
from app.core.db import engine
from app.events.models import Event
from app.floor.executor import BrokerFactory, run_cycle
from app.floor.models import DeployedAlgorithm
from app.floor.risk.state import FloorAccount
from app.lab.sandbox.pool import SandboxPool
from app.users.models import User
from tests.floor.conftest import BAR_T
from tests.floor.factories import BAR, HOLD_CODE, make_deployment, make_release, seed_prices
from tests.floor.helpers import runs_of


def deploy(
    db: Session,
    user: User,
    limits: dict[str, Any],
    *,
    mode: str = "paper",
    capital: str = "10000",
    fraction: float = 1.0,
    coin: str = "BTC",
) -> DeployedAlgorithm:
    """A Hold deployment on `coin` with these stored limits (bars seeded at BAR_T..+3)."""
    release = make_release(db, user, HOLD_CODE, parameters={"fraction": fraction}, warmup_bars=3)
    for i in range(4):
        seed_prices(db, coin, BAR_T + i * BAR, 4)
    dep = make_deployment(db, release, mode=mode, capital=capital, coins=(coin,))
    set_limits(dep.id, limits)
    db.refresh(dep)
    return dep


def set_limits(deployment_id: uuid.UUID, limits: dict[str, Any]) -> None:
    with Session(engine) as s:
        row = s.get(DeployedAlgorithm, deployment_id)
        assert row is not None
        row.risk_limits = limits
        s.add(row)
        s.commit()


def set_fraction(deployment_id: uuid.UUID, fraction: float) -> None:
    with Session(engine) as s:
        row = s.get(DeployedAlgorithm, deployment_id)
        assert row is not None
        row.parameters = {"fraction": fraction}
        s.add(row)
        s.commit()


def set_account_limits(user_id: uuid.UUID, limits: dict[str, Any]) -> None:
    with Session(engine) as s:
        row = s.get(FloorAccount, user_id) or FloorAccount(user_id=user_id)
        row.limits = limits
        s.add(row)
        s.commit()


def account_state(user_id: uuid.UUID) -> str:
    with Session(engine) as s:
        row = s.get(FloorAccount, user_id)
        return "active" if row is None else row.status


def status_of(deployment_id: uuid.UUID) -> str:
    with Session(engine) as s:
        row = s.get(DeployedAlgorithm, deployment_id)
        assert row is not None
        return row.status


def events_of(user_id: uuid.UUID, kind: str) -> list[dict[str, Any]]:
    with Session(engine) as s:
        rows = s.exec(
            select(Event)
            .where(col(Event.user_id) == user_id, col(Event.kind) == kind)
            .order_by(col(Event.seq))
        ).all()
        return [r.payload for r in rows]


def breach_alerts(user_id: uuid.UUID) -> list[Alert]:
    with Session(engine) as s:
        rows = s.exec(
            select(Alert).where(col(Alert.user_id) == user_id, col(Alert.kind) == "limit_breach")
        ).all()
        return list(rows)


def audit_actions(object_id: uuid.UUID) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT action FROM audit_log WHERE object_id = :o ORDER BY created_at"),
            {"o": object_id},
        ).all()
    return [str(r[0]) for r in rows]


async def cycle(
    deployment: DeployedAlgorithm, step: int, pool: SandboxPool, factory: BrokerFactory
) -> dict[str, Any]:
    """Run the cycle of bar BAR_T + step; returns the coin's decision."""
    await run_cycle(
        deployment.id, BAR_T + step * BAR, trigger="test", pool=pool, broker_factory=factory
    )
    decisions = runs_of(deployment.id)[-1].decisions
    (decision,) = decisions.values()
    assert isinstance(decision, dict)
    return decision


def assert_breach(
    user_id: uuid.UUID,
    deployment_id: uuid.UUID,
    limit: str,
    *,
    scope: str = "deployment",
    state: str,
) -> dict[str, Any]:
    """The last risk.breach event is this limit's, with the state after it; a limit_breach
    alert names it. Returns the event's payload."""
    events = events_of(user_id, "risk.breach")
    assert events, "no risk.breach event"
    event = events[-1]
    assert event["limit"] == limit and event["scope"] == scope
    assert event["deployment_id"] == str(deployment_id)
    assert event["state_after"] == state
    if limit == "cooldown_minutes":  # minutes since the loss, within the cooldown
        assert Decimal(event["value"]) < Decimal(event["threshold"])
    else:
        assert Decimal(event["value"]) > Decimal(event["threshold"])
    alerts = [a for a in breach_alerts(user_id) if a.data.get("limit") == limit]
    assert alerts and alerts[0].data["status"] == state
    assert alerts[0].data["deployment_id"] == str(deployment_id)
    return event
