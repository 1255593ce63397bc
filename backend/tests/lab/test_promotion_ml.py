"""An ML release: its model is fitted inside the sandbox on the declared window, stored as
an artefact (bytes the app never loads), and predicts the same after a reload in a fresh
sandbox process."""

import io
import zipfile
from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.lab.backtests.data import coin_frame
from app.lab.engine.market_data import load_price_history
from app.lab.releases.bundle import sha256
from app.lab.releases.models import Release, ReleaseArtefact
from app.lab.sandbox import Limits, SandboxPool
from app.lab.sandbox.jobs import PredictJob
from app.lab.sandbox.service import get_pool
from tests.lab.promotion_helpers import (
    API,
    FLOOR,
    START,
    backtest,
    new_algorithm,
    promotion_body,
    store_swinging_prices,
)
from tests.lab.test_backtests_api import headers_for_new_user
from tests.utils import error_text

COIN = "PROMC"
ADVISORY = {
    k: {"required": False}
    for k in (
        "min_span_days",
        "min_round_trips",
        "min_sharpe",
        "max_drawdown",
        "out_of_sample",
        "lookahead",
    )
}


@pytest.fixture(scope="module")
def fresh_pool() -> Iterator[SandboxPool]:
    sandbox = SandboxPool(
        workers=1,
        limits=Limits(cpu_seconds=20, wall_seconds=30, memory_mb=2048, max_processes=4),
        uid_base=62000,
    )
    sandbox.start()
    yield sandbox
    sandbox.close()


@pytest.mark.anyio
async def test_an_ml_release_predicts_the_same_after_a_reload(
    client: TestClient, db: Session, fresh_pool: SandboxPool
) -> None:
    store_swinging_prices(COIN, seed=5)
    owner = headers_for_new_user(client)
    assert client.put(f"{API}/promotion-policy", headers=owner, json=ADVISORY).status_code == 200
    algo = new_algorithm(client, owner, template="ml_classification", parameters={"max_iter": 20})
    end = START + timedelta(days=20)
    run = backtest(client, owner, algo, START, end, coin=COIN)
    training = {"start": START.isoformat(), "end": (START + timedelta(days=6)).isoformat()}
    no_window = client.post(
        f"{API}/algorithms/{algo}/promote", headers=owner, json=promotion_body([run])
    )
    assert no_window.status_code == 422 and "training" in error_text(no_window)
    made = client.post(
        f"{API}/algorithms/{algo}/promote",
        headers=owner,
        json=promotion_body([run], training=training, warmup_bars=500),
    )
    assert made.status_code == 201, made.text
    release = db.get(Release, made.json()["release_id"])
    assert release is not None and release.training is not None
    key = release.training["models"][COIN]
    artefact = db.get(ReleaseArtefact, key)
    assert artefact is not None and sha256(artefact.data) == key and artefact.size > 0

    bundle = client.get(f"{API}/releases/{release.id}/bundle", headers=owner)
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as zf:
        assert zf.read(f"models/{COIN}.bin") == artefact.data

    history = load_price_history(db, [COIN], end - timedelta(days=2), end)
    x = coin_frame(history.frame, COIN)
    job = PredictJob(code=release.code, frame=x, model=bytes(artefact.data))
    in_app_pool = await get_pool().predict(job)
    reloaded = await fresh_pool.predict(job)
    assert fresh_pool.forkserver_pid != get_pool().forkserver_pid
    np.testing.assert_array_equal(in_app_pool.positions, reloaded.positions)
    assert len(reloaded.positions) == len(x) and 0 < reloaded.positions.sum() < len(x)

    # Deploying an ML release on a coin it has no model for is refused.
    other = client.post(
        f"{FLOOR}/deploy",
        headers=owner,
        json={"release_id": str(release.id), "capital": "100", "coins": ["BTC"]},
    )
    assert other.status_code == 422 and "no fitted model for BTC" in error_text(other)
