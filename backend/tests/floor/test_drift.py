"""The drift report: a paper deployment replayed bar by bar matches a backtest of its release
fill for fill (no drift); a fill moved off the backtest's price shows as slippage paid."""

import uuid
from datetime import datetime

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.config import settings
from app.exchange.simulator import run_simulator
from app.exchange.simulator.config import SimulatorConfig
from app.floor.drift import drift_report
from app.lab.sandbox.pool import SandboxPool
from tests.floor.factories import make_deployment, make_user, template_release
from tests.floor.test_parity import FEE, SLIPPAGE_BPS, WARMUP, replay, series, snapshots
from tests.utils import create_random_user, user_token_headers

pytestmark = pytest.mark.anyio


async def test_a_replayed_paper_deployment_has_no_drift_until_a_fill_moves(
    db: Session, pool: SandboxPool
) -> None:
    prices = series(47, datetime(2025, 5, 1, tzinfo=pd.Timestamp.utcnow().tzinfo))
    user = make_user(db)
    release = template_release(
        db,
        user,
        "ma_crossover",
        parameters={"fast": 3, "slow": 8},
        warmup_bars=WARMUP,
        fee_rate=FEE,
        slippage_bps=SLIPPAGE_BPS,
    )
    deployment = make_deployment(db, release, coins=("PAR",))
    with run_simulator(SimulatorConfig(replay=snapshots(prices), tick_mode="manual")) as sim:
        await replay(sim, pool, deployment, prices.index)

    report = await drift_report(db, pool, deployment)
    fills = report["fills"]
    assert len(fills) >= 2, report
    assert {f["status"] for f in fills} == {"same"}, fills
    assert report["differing"] == 0 and report["matched"] == len(fills)
    assert abs(report["slippage_aud"]) < 1e-6 and abs(report["fee_drift_aud"]) < 1e-6
    assert report["drift"] < 1e-9 and report["alert"] is False

    first_buy = next(f for f in fills if f["live"]["side"] == "buy")
    db.execute(
        sa.text("UPDATE trades SET price = price * 1.01 WHERE deployment_id = :d AND bar = :b"),
        {"d": deployment.id, "b": first_buy["bar"]},
    )
    db.commit()
    moved = await drift_report(db, pool, deployment)
    row = next(f for f in moved["fills"] if f["bar"] == first_buy["bar"])
    assert row["status"] == "differs"
    assert row["slippage_bps"] == pytest.approx(100, rel=1e-6)
    assert row["slippage_aud"] > 0 and moved["slippage_aud"] == pytest.approx(row["slippage_aud"])
    assert moved["differing"] == 1


def test_drift_of_someone_elses_deployment_is_404(client: TestClient, db: Session) -> None:
    email, password = create_random_user(db)
    headers = user_token_headers(client, email, password)
    url = f"{settings.API_V1_STR}/floor/algorithms/{uuid.uuid4()}/drift"
    assert client.get(url, headers=headers).status_code == 404
