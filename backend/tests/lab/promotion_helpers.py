"""Shared set-up for promotion and registry tests: prices that a moving-average crossover
trades profitably at Coinspot's instant fee, and helpers to backtest and promote."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient

from app.collector.bulk import store_frames
from app.core.config import settings
from tests.lab.test_backtests_api import finished

API = f"{settings.API_V1_STR}/lab"
FLOOR = f"{settings.API_V1_STR}/floor"
START = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = 125
MAIN_END = START + timedelta(days=92)
OOS_END = START + timedelta(days=DAYS) - timedelta(minutes=5)
COIN = "PROMA"

SLOW_PREDICT = """import numpy as np
import pandas as pd
from app.lab.sdk import Algorithm, Int, sma, to_positions


class SlowOnShortFrames(Algorithm):
    algorithm_type = "rule"
    fast = Int(12, ge=2, le=1000)
    slow = Int(48, ge=3, le=5000)

    def predict(self, X):
        if len(X) <= 300:
            # A deliberately heavy predict on the live window (a few SVDs of 700 x 700).
            rng = np.random.default_rng(0)
            for _ in range(4):
                np.linalg.svd(rng.random((700, 700)))
        p = X["last"]
        return to_positions((sma(p, self.fast) > sma(p, self.slow)).astype(float))
"""


def store_swinging_prices(coin: str = COIN, seed: int = 3) -> None:
    """Three-day swings of +-20 % with a little noise: trends a crossover can ride."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(START, periods=DAYS * 288, freq="5min", tz=UTC)
    t = np.arange(len(index)) / (3 * 288)
    last = 100 * np.exp(0.2 * np.sin(2 * np.pi * t) + rng.normal(0, 0.001, len(index)))
    store_frames(
        [
            pd.DataFrame(
                {
                    "timestamp": index,
                    "coin_type": coin,
                    "bid": last * 0.9995,
                    "ask": last * 1.0005,
                    "last": last,
                    "source": "synthetic",
                }
            )
        ]
    )


def new_algorithm(client: TestClient, headers: dict[str, str], **body: Any) -> str:
    payload = {"name": f"p {uuid.uuid4().hex[:8]}", **body}
    response = client.post(f"{API}/algorithms", headers=headers, json=payload)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def backtest(
    client: TestClient,
    headers: dict[str, str],
    algo_id: str,
    start: datetime,
    end: datetime,
    fee_rate: float = 0.01,
    coin: str = COIN,
    **settings_: Any,
) -> str:
    body = {
        "algorithm_id": algo_id,
        "coins": [coin],
        "start": start.isoformat(),
        "end": end.isoformat(),
        "settings": {"fee_rate": fee_rate, **settings_},
    }
    response = client.post(f"{API}/backtest", headers=headers, json=body)
    assert response.status_code == 202, response.text
    run_id = str(response.json()["id"])
    result = finished(client, headers, run_id)
    assert result["status"] == "succeeded", result
    return run_id


def promotion_body(run_ids: list[str], **extra: Any) -> dict[str, Any]:
    return {"evidence": {"backtest_run_ids": run_ids}, "execution_style": "instant", **extra}
