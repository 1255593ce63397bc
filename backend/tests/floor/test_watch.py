"""The leader's watch and the daily summary's P&L: drift, drawdown and daily-loss alerts
fire past their levels (and not below), drift checks are bounded, and the daily summary
e-mail (a real SMTP server) carries the day's P&L per deployment and account."""

import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.alerts.delivery import deliverer
from app.alerts.models import Alert
from app.alerts.summary import send_daily_summaries
from app.core.db import engine
from app.exchange.simulator import RunningSimulator
from app.floor.drift import drift_report
from app.floor.executor import BrokerFactory
from app.floor.models import DeployedAlgorithm
from app.floor.watch import check_equity, drift_alert, due_for_drift
from app.lab.sandbox.pool import SandboxPool
from app.users.models import User
from tests.alerts.conftest import Mailbox, smtp  # noqa: F401 (the SMTP server fixture)
from tests.alerts.helpers import set_rules
from tests.floor.factories import HOLD_CODE, make_deployment, make_release, make_user
from tests.floor.helpers import trades_of
from tests.floor.test_live_faults import cycle, live

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(400)]
Brokers = Callable[..., BrokerFactory]


def alerts_of(user_id: uuid.UUID, kind: str) -> list[Alert]:
    with Session(engine) as s:
        query = select(Alert).where(col(Alert.user_id) == user_id, col(Alert.kind) == kind)
        return list(s.exec(query).all())


async def test_drift_past_the_users_threshold_raises_an_alert(
    db: Session, simulator: RunningSimulator, pool: SandboxPool, sim_brokers: Brokers
) -> None:
    deployment, account = live(db, simulator)
    await cycle(deployment, 0, pool, sim_brokers(account))
    # The simulator's price is not the seeded bars' price: the live buy drifted.
    report = await drift_report(db, pool, deployment)
    drift = Decimal(str(report["drift"]))
    db.rollback()
    assert Decimal("0.02") < drift < Decimal("0.9"), report

    set_rules(deployment.user_id, drift={"threshold": "0.9"})
    assert await drift_alert(engine, pool, deployment.id) is None
    assert alerts_of(deployment.user_id, "drift") == []

    set_rules(deployment.user_id, drift={"threshold": "0.02"})
    alert = await drift_alert(engine, pool, deployment.id)
    assert alert is not None
    (stored,) = alerts_of(deployment.user_id, "drift")
    assert stored.key == f"deployment:{deployment.id}"
    assert Decimal(stored.data["drift"]) == drift and stored.data["threshold"] == "0.02"


def test_drift_checks_are_bounded_and_least_recently_checked_first() -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    a, b, c, d = (uuid.UUID(int=i) for i in range(1, 5))
    checked = {
        a: now - timedelta(minutes=5),
        b: now - timedelta(hours=3),
        c: now - timedelta(hours=2),
    }
    # a was checked 5 minutes ago (not due); d never (first); then the oldest check.
    assert due_for_drift([a, b, c, d], checked, now, 2) == [d, b]
    assert due_for_drift([a, b, c, d], checked, now, 10) == [d, b, c]
    assert due_for_drift([a], checked, now, 10) == []


def snapshot(deployment: DeployedAlgorithm, bar: datetime, equity: str) -> None:
    with Session(engine) as s:
        s.execute(
            sa.text(
                "INSERT INTO equity_snapshots (deployment_id, bar, user_id, cash, holdings, equity)"
                " VALUES (:d, :bar, :u, :e, 0, :e)"
            ),
            {"d": deployment.id, "bar": bar, "u": deployment.user_id, "e": Decimal(equity)},
        )
        s.commit()


def test_drawdown_and_daily_loss_alerts_fire_past_their_levels(db: Session) -> None:
    user = make_user(db)
    release = make_release(db, user, HOLD_CODE)
    falling = make_deployment(db, release)
    steady = make_deployment(db, release)
    # A day of its own far from other tests' snapshots.
    day = datetime(2031, 1, 1, tzinfo=UTC) + timedelta(days=random.randrange(3000))
    morning, bar = day + timedelta(hours=6), day + timedelta(hours=12)
    snapshot(falling, day - timedelta(minutes=5), "10000")  # the equity the day began with
    snapshot(falling, morning, "10400")  # the peak
    snapshot(falling, bar, "9100")  # 12.5 % below the peak, 900 AUD below the day's start
    snapshot(steady, day - timedelta(minutes=5), "5000")
    snapshot(steady, bar, "4950")  # 1 % below: no drawdown alert (level 10 %)

    set_rules(user.id, daily_loss={"level": "1000"})
    assert check_equity(engine, bar) == 1  # the drawdown only: 950 AUD lost < 1000
    (drawdown,) = alerts_of(user.id, "drawdown")
    assert drawdown.key == f"deployment:{falling.id}"
    assert Decimal(drawdown.data["drawdown"]) == Decimal("1300") / Decimal("10400")
    assert alerts_of(user.id, "daily_loss") == []

    set_rules(user.id, daily_loss={"level": "900"})
    assert check_equity(engine, bar) == 2
    (loss,) = alerts_of(user.id, "daily_loss")
    assert loss.key == f"day:{day.date().isoformat()}" and Decimal(loss.data["loss"]) == 950
    (drawdown,) = alerts_of(user.id, "drawdown")
    assert drawdown.count == 2  # grouped, not raised again


def test_the_daily_loss_alert_counts_from_midnight_in_the_users_time_zone(db: Session) -> None:
    """A Sydney user's day starts at 13:00 UTC (summer, UTC+11): the loss is measured from
    the snapshot before that, not from UTC midnight, and the alert names the Sydney date."""
    user = make_user(db)
    with Session(engine) as s:
        row = s.get(User, user.id)
        assert row is not None
        row.timezone = "Australia/Sydney"
        s.add(row)
        s.commit()
    deployment = make_deployment(db, make_release(db, user, HOLD_CODE))
    # 13:00 UTC on a January day far from other tests' snapshots = 00:00 the next day in Sydney.
    utc_day = datetime(2032, 1, 1, tzinfo=UTC) + timedelta(days=random.randrange(300))
    sydney_midnight = utc_day + timedelta(hours=13)
    snapshot(deployment, utc_day - timedelta(minutes=5), "10000")  # UTC's day start
    snapshot(deployment, sydney_midnight - timedelta(minutes=5), "9000")  # Sydney's
    bar = sydney_midnight + timedelta(hours=2)
    snapshot(deployment, bar, "8800")
    set_rules(user.id, daily_loss={"level": "500"}, drawdown={"level": "0.9"})
    # From Sydney's midnight: 200 AUD, under the level (from UTC midnight it would be 1200).
    assert check_equity(engine, bar) == 0
    set_rules(user.id, daily_loss={"level": "150"}, drawdown={"level": "0.9"})
    assert check_equity(engine, bar) == 1
    (loss,) = alerts_of(user.id, "daily_loss")
    local_day = (utc_day + timedelta(days=1)).date().isoformat()
    assert loss.key == f"day:{local_day}" and Decimal(loss.data["loss"]) == 200


@pytest.mark.usefixtures("client")  # the app's start-up registers the P&L provider
async def test_the_daily_summary_email_has_the_days_pnl_per_deployment_and_account(
    smtp: Mailbox,  # noqa: F811
    db: Session,
    simulator: RunningSimulator,
    pool: SandboxPool,
    sim_brokers: Brokers,
) -> None:
    deployment, account = live(db, simulator)
    factory = sim_brokers(account)
    await cycle(deployment, 0, pool, factory)  # buys
    dep = db.get(DeployedAlgorithm, deployment.id)
    assert dep is not None
    dep.parameters = {"fraction": 0.0}
    db.add(dep)
    db.commit()
    await cycle(deployment, 1, pool, factory)  # sells everything
    buy, sell = trades_of(deployment.id)
    assert (buy.side, sell.side) == ("buy", "sell") and sell.quantity == buy.quantity
    realised = (sell.total_aud - buy.total_aud).quantize(Decimal("0.01"))
    fees = (buy.fee + buy.gst + sell.fee + sell.gst).quantize(Decimal("0.01"))
    assert realised != 0

    now = datetime.now(UTC) + timedelta(hours=1)  # the window ends after the trades
    set_rules(deployment.user_id, daily_summary={"enabled": True, "hour_utc": now.hour})
    send_daily_summaries(now)  # the provider the app registered at start-up
    deliverer.drain()

    user = db.get(User, deployment.user_id)
    assert user is not None
    (summary,) = alerts_of(deployment.user_id, "daily_summary")
    pnl = summary.data["pnl"]
    assert pnl["realised"] == str(realised) and pnl["fees"] == str(fees)
    assert pnl["unrealised"] == "0.00"  # nothing is held any more
    (line,) = pnl["deployments"]
    assert line["deployment_id"] == str(deployment.id) and line["realised"] == str(realised)
    (mail,) = [m for m in smtp.messages if m["To"] == user.email]
    body = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert f"P&L: realised {realised} AUD, unrealised 0.00 AUD, fees {fees} AUD" in body
    assert f"{deployment.name} (live): realised {realised} AUD" in body
