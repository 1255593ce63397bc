"""Backtest runs, results, comparison, sweeps and crash recovery through the API, with the
app's own worker and sandbox pool running the jobs."""

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.collector.bulk import store_frames
from app.core.config import settings
from app.core.db import engine
from app.lab.backtests.models import BacktestRun
from app.lab.backtests.runner import ProgressReporter, RunStopped
from app.lab.backtests.worker import get_worker
from tests.utils import error_text, random_email, random_password

API = f"{settings.API_V1_STR}/lab"
START = datetime(2025, 6, 1, tzinfo=UTC)
DAYS = 8
END = START + timedelta(days=DAYS) - timedelta(minutes=5)
COINS = ("LABA", "LABB")

PEEK = """import pandas as pd
from app.lab.sdk import Algorithm, to_positions


class Peek(Algorithm):
    algorithm_type = "rule"

    def predict(self, X):
        return to_positions((X["last"].shift(-1) > X["last"]).astype(float))
"""


@pytest.fixture(scope="module", autouse=True)
def prices() -> None:
    rng = np.random.default_rng(5)
    index = pd.date_range(START, periods=DAYS * 288, freq="5min", tz=UTC)
    frames = []
    for i, coin in enumerate(COINS):
        last = (100 + 50 * i) * np.exp(np.cumsum(rng.normal(0.00002, 0.003, len(index))))
        frames.append(
            pd.DataFrame(
                {
                    "timestamp": index,
                    "coin_type": coin,
                    "bid": last * 0.999,
                    "ask": last * 1.001,
                    "last": last,
                    "source": "synthetic",
                }
            )
        )
    store_frames(frames)


def headers_for_new_user(client: TestClient) -> dict[str, str]:
    email, password = random_email(), random_password()
    client.post(f"{settings.API_V1_STR}/users/signup", json={"email": email, "password": password})
    token = client.post(
        f"{settings.API_V1_STR}/login/access-token", data={"username": email, "password": password}
    ).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def algorithm(client: TestClient, headers: dict[str, str], **body: Any) -> str:
    payload = {"name": f"a {uuid.uuid4().hex[:8]}", **body}
    response = client.post(f"{API}/algorithms", headers=headers, json=payload)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def submit(client: TestClient, headers: dict[str, str], algo_id: str, **body: Any) -> str:
    payload = {
        "algorithm_id": algo_id,
        "coins": ["LABA"],
        "start": START.isoformat(),
        "end": END.isoformat(),
        **body,
    }
    response = client.post(f"{API}/backtest", headers=headers, json=payload)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def wait_until(check: Callable[[], Any], what: str, seconds: float = 90) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)  # polling the worker's progress, not papering over a race
    raise AssertionError(f"timed out waiting for {what}")


def finished(
    client: TestClient, headers: dict[str, str], run_id: str, path: str = "backtest"
) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(f"{API}/{path}/{run_id}", headers=headers).json()
        return body if body["status"] in ("succeeded", "failed", "cancelled") else None

    result: dict[str, Any] = wait_until(done, f"{path} {run_id} to finish")
    return result


def test_a_backtest_runs_and_its_results_add_up(client: TestClient) -> None:
    headers = headers_for_new_user(client)
    algo_id = algorithm(
        client, headers, template="ma_crossover", parameters={"fast": 6, "slow": 36}
    )
    run_id = submit(client, headers, algo_id, settings={"starting_cash": 5000, "fee_rate": 0.002})
    run = finished(client, headers, run_id)
    assert run["status"] == "succeeded", run["error"]
    assert run["progress"] == 1.0 and run["parameters"]["fast"] == 6
    metrics = run["results"]["metrics"]
    for name in (
        "total_return",
        "cagr",
        "sharpe",
        "sortino",
        "max_drawdown",
        "win_rate",
        "fees_paid",
        "buy_and_hold_return",
        "trades",
    ):
        assert name in metrics
    assert run["lookahead"]["checked"] is True and run["lookahead"]["bias_detected"] is False
    lookahead = run["lookahead"]
    assert lookahead["decision_changes"] > 0 and 0 < lookahead["sampled_bars"] <= 12
    assert 0 < lookahead["sampled_bars"] <= 12
    assert (
        lookahead["checked_bars"]
        == lookahead["decision_changes_checked"] + lookahead["sampled_bars"]
    )
    assert lookahead["detail"].startswith("no lookahead found: checked ")
    assert run["settings"]["fee_rate"] == 0.002

    equity = client.get(
        f"{API}/backtest/{run_id}/equity", headers=headers, params={"max_points": 100}
    ).json()
    assert equity["bars"] == DAYS * 288 and equity["points"] <= 100
    assert equity["equity"][0] == pytest.approx(5000)
    assert equity["equity"][-1] == pytest.approx(metrics["final_equity"])
    for e, c, h in zip(
        equity["equity"], equity["cash"], equity["holdings_value"]["LABA"], strict=True
    ):
        assert e == pytest.approx(c + h, rel=1e-9, abs=1e-6)
    assert max(equity["drawdown"]) <= 0

    trades: list[dict[str, Any]] = []
    skip = 0
    while True:
        page = client.get(
            f"{API}/backtest/{run_id}/trades", headers=headers, params={"skip": skip, "limit": 7}
        ).json()
        trades += page["data"]
        skip += 7
        if skip >= page["count"]:
            break
    assert len(trades) == metrics["trades"] > 0
    assert [t["time"] for t in trades] == sorted(t["time"] for t in trades)
    assert sum(t["fee"] for t in trades) == pytest.approx(metrics["fees_paid"])
    assert all(t["fee"] == pytest.approx(t["notional"] * 0.002) for t in trades)
    buys = client.get(
        f"{API}/backtest/{run_id}/trades", headers=headers, params={"side": "buy", "limit": 1000}
    ).json()
    assert buys["count"] == sum(1 for t in trades if t["side"] == "buy")
    trips = client.get(
        f"{API}/backtest/{run_id}/round-trips", headers=headers, params={"limit": 1000}
    ).json()
    assert trips["count"] >= metrics["round_trips"]
    assert all(t["pnl"] == pytest.approx(t["proceeds"] - t["cost"]) for t in trips["data"])

    listed = client.get(f"{API}/algorithms/{algo_id}/backtests", headers=headers).json()
    assert listed["count"] == 1 and listed["data"][0]["id"] == run_id
    assert listed["data"][0]["key_metrics"]["total_return"] == pytest.approx(
        metrics["total_return"]
    )
    algorithms = client.get(f"{API}/algorithms", headers=headers).json()["data"]
    (mine,) = [a for a in algorithms if a["id"] == algo_id]
    assert mine["last_backtest"]["id"] == run_id
    assert mine["last_backtest"]["sharpe"] == pytest.approx(metrics["sharpe"])


@pytest.mark.parametrize(
    ("change", "status", "detail"),
    [
        ({"coins": ["NOPE"]}, 422, "unknown coin"),
        ({"start": END.isoformat(), "end": START.isoformat()}, 422, "start must be before end"),
        ({"start": "2019-01-01T00:00:00Z", "end": "2019-01-05T00:00:00Z"}, 422, "no price data"),
        ({"parameters": {"fast": 0}}, 422, "fast"),
        ({"settings": {"starting_cash": -5}}, 422, None),
        (
            {"settings": {"allocation": {"LABA": 0.7, "LABB": 0.7}}, "coins": ["LABA", "LABB"]},
            422,
            "more than 1",
        ),
        ({"start": "2025-06-01T00:00:00"}, 422, None),
        ({"algorithm_id": str(uuid.uuid4())}, 404, "not found"),
    ],
)
def test_bad_backtest_requests_are_refused_clearly(
    client: TestClient, change: dict[str, Any], status: int, detail: str | None
) -> None:
    headers = headers_for_new_user(client)
    algo_id = algorithm(client, headers, template="ma_crossover")
    payload = {
        "algorithm_id": algo_id,
        "coins": ["LABA"],
        "start": START.isoformat(),
        "end": END.isoformat(),
        **change,
    }
    response = client.post(f"{API}/backtest", headers=headers, json=payload)
    assert response.status_code == status, response.text
    if detail:
        assert detail in str(response.json()["detail"])


def test_someone_elses_runs_and_algorithms_are_404(client: TestClient) -> None:
    owner, stranger = headers_for_new_user(client), headers_for_new_user(client)
    algo_id = algorithm(client, owner, template="mean_reversion")
    run_id = submit(client, owner, algo_id)
    for path in (
        f"/backtest/{run_id}",
        f"/backtest/{run_id}/equity",
        f"/backtest/{run_id}/trades",
        f"/algorithms/{algo_id}/backtests",
    ):
        assert client.get(f"{API}{path}", headers=stranger).status_code == 404, path
    assert client.post(f"{API}/backtest/{run_id}/cancel", headers=stranger).status_code == 404
    response = client.post(
        f"{API}/backtest",
        headers=stranger,
        json={
            "algorithm_id": algo_id,
            "coins": ["LABA"],
            "start": START.isoformat(),
            "end": END.isoformat(),
        },
    )
    assert response.status_code == 404
    finished(client, owner, run_id)


def test_an_algorithm_that_peeks_ahead_is_flagged(client: TestClient) -> None:
    headers = headers_for_new_user(client)
    algo_id = algorithm(client, headers, code=PEEK)
    run = finished(client, headers, submit(client, headers, algo_id))
    assert run["status"] == "succeeded"
    assert run["lookahead"]["bias_detected"] is True
    assert run["lookahead"]["first_bar"] is not None and "future" in run["lookahead"]["detail"]


def test_ml_templates_train_before_the_traded_window_and_two_coins_share_the_cash(
    client: TestClient,
) -> None:
    headers = headers_for_new_user(client)
    algo_id = algorithm(client, headers, template="ml_classification")
    run = finished(
        client,
        headers,
        submit(
            client,
            headers,
            algo_id,
            coins=["LABA", "LABB"],
            settings={"allocation": {"LABA": 0.5, "LABB": 0.3}, "train_fraction": 0.4},
        ),
    )
    assert run["status"] == "succeeded", run["error"]
    windows = run["results"]["windows"]
    assert windows["train"]["end"] == windows["trade"]["start"]
    assert run["lookahead"]["bias_detected"] is False
    equity = client.get(
        f"{API}/backtest/{run['id']}/equity", headers=headers, params={"max_points": 50}
    ).json()
    assert set(equity["holdings_value"]) == {"LABA", "LABB"}
    # 20 % of the cash is never allocated: it stays in cash the whole time.
    assert min(equity["cash"]) >= 0.2 * 10_000 - 1e-6


def test_cancel_and_compare(client: TestClient) -> None:
    headers = headers_for_new_user(client)
    algo_id = algorithm(client, headers, template="ma_crossover")
    cancelled_id = submit(client, headers, algo_id)
    cancel = client.post(f"{API}/backtest/{cancelled_id}/cancel", headers=headers)
    assert cancel.status_code in (200, 409)
    first = finished(
        client,
        headers,
        submit(client, headers, algo_id, parameters={"fast": 6, "slow": 24}, label="fast"),
    )
    second = finished(
        client,
        headers,
        submit(client, headers, algo_id, parameters={"fast": 24, "slow": 96}, label="slow"),
    )
    if cancel.status_code == 200:
        stopped = client.get(f"{API}/backtest/{cancelled_id}", headers=headers).json()
        assert stopped["status"] == "cancelled" and stopped["results"] is None
        assert (
            client.get(f"{API}/backtest/{cancelled_id}/equity", headers=headers).status_code == 409
        )
        assert (
            client.post(f"{API}/backtest/{cancelled_id}/cancel", headers=headers).status_code == 409
        )

    comparison = client.get(
        f"{API}/backtests/compare", headers=headers, params={"ids": f"{first['id']},{second['id']}"}
    ).json()
    assert [r["label"] for r in comparison["runs"]] == ["fast", "slow"]
    # What each run was run with, so the comparison can show it (issue 15).
    for run in comparison["runs"]:
        assert run["settings"]["starting_cash"] == 10_000 and run["settings"]["fee_rate"] > 0
        assert run["start_date"].startswith(START.date().isoformat())
        assert run["end_date"] > run["start_date"]
    sharpe = {r["id"]: r["metrics"]["sharpe"] for r in comparison["runs"]}
    assert comparison["best"]["sharpe"] == max(sharpe, key=lambda k: sharpe[k])
    assert (
        len(comparison["time"])
        == len(comparison["equity"][first["id"]])
        == len(comparison["equity"][second["id"]])
    )
    bad = client.get(f"{API}/backtests/compare", headers=headers, params={"ids": first["id"]})
    assert bad.status_code == 422


def test_a_sweep_ranks_combinations_in_and_out_of_sample(client: TestClient) -> None:
    headers = headers_for_new_user(client)
    algo_id = algorithm(client, headers, template="ma_crossover")
    body = {
        "algorithm_id": algo_id,
        "coins": ["LABA"],
        "start": START.isoformat(),
        "end": END.isoformat(),
        "parameters": {"fast": {"values": [4, 8, 12]}, "slow": {"min": 24, "max": 72, "steps": 3}},
        "metric": "total_return",
        "test_fraction": 0.25,
    }
    response = client.post(f"{API}/sweep", headers=headers, json=body)
    assert response.status_code == 202, response.text
    sweep = finished(client, headers, response.json()["id"], path="sweep")
    assert sweep["status"] == "succeeded", sweep["error"]
    results = sweep["results"]
    rows = results["rows"]
    assert len(rows) == 9 and results["failed"] == 0
    assert {(r["params"]["fast"], r["params"]["slow"]) for r in rows} == {
        (f, s) for f in (4, 8, 12) for s in (24, 48, 72)
    }
    in_sample = [r["in_sample"]["total_return"] for r in rows]
    assert in_sample == sorted(in_sample, reverse=True) and [r["rank"] for r in rows] == list(
        range(1, 10)
    )
    assert all(r["out_of_sample"]["total_return"] is not None for r in rows)
    assert results["in_sample"]["end"] == results["out_of_sample"]["start"]

    too_big = {
        **body,
        "parameters": {
            "fast": {"min": 2, "max": 1000, "steps": 100},
            "slow": {"min": 3, "max": 5000, "steps": 100},
        },
    }
    refused = client.post(f"{API}/sweep", headers=headers, json=too_big)
    assert refused.status_code == 422 and "more than the limit" in error_text(refused)


def insert_running_run(
    algo_id: str, user_id: str, worker_id: str, since: datetime, *, attempts: int = 1
) -> uuid.UUID:
    """A 1-coin MA-crossover run stored as `running` on `worker_id` since `since` (as a
    worker would leave it), without going through the queue."""
    run = BacktestRun(
        algorithm_id=uuid.UUID(algo_id),
        user_id=uuid.UUID(user_id),
        algorithm_version=1,
        coins=["LABA"],
        start_date=START,
        end_date=END,
        settings={
            "starting_cash": 10_000,
            "fee_rate": 0.001,
            "slippage_bps": 0,
            "min_order_aud": 0,
            "allocation": None,
            "train_fraction": 0.3,
            "ffill_limit": 3,
            "lookahead_samples": 6,
        },
        parameters={"fast": 12, "slow": 48, "band": 0.0, "source": "last"},
        status="running",
        attempts=attempts,
        worker_id=worker_id,
        stage="starting",
        started_at=since,
        heartbeat_at=since,
    )
    with Session(engine) as session:
        session.add(run)
        session.commit()
        return run.id


def test_runs_left_running_by_a_crash_are_requeued_or_failed(client: TestClient) -> None:
    headers = headers_for_new_user(client)
    algo_id = algorithm(client, headers, template="ma_crossover")
    user_id = client.get(f"{settings.API_V1_STR}/users/me", headers=headers).json()["id"]
    stale = datetime.now(UTC) - timedelta(minutes=30)

    def orphan(attempts: int) -> uuid.UUID:
        return insert_running_run(algo_id, user_id, "crashed-process", stale, attempts=attempts)

    retried, exhausted = orphan(attempts=1), orphan(attempts=settings.BACKTEST_MAX_ATTEMPTS)
    worker = get_worker()
    assert worker is not None
    portal = client.portal  # the app's event loop, where the worker lives
    assert portal is not None
    portal.call(worker.recover)
    with Session(engine) as session:
        status = dict(
            session.execute(
                sa.text("SELECT id, status FROM algorithm_backtest_runs WHERE id IN (:a, :b)"),
                {"a": retried, "b": exhausted},
            ).all()
        )
    assert status[exhausted] == "failed"
    failed_run = client.get(f"{API}/backtest/{exhausted}", headers=headers).json()
    assert "stopped while running" in failed_run["error"]
    done = finished(client, headers, str(retried))
    assert done["status"] == "succeeded" and done["results"]["metrics"]["trades"] >= 0


def test_sweeps_are_listed_cancellable_and_private(client: TestClient) -> None:
    owner, stranger = headers_for_new_user(client), headers_for_new_user(client)
    algo_id = algorithm(client, owner, template="ma_crossover")
    body = {
        "algorithm_id": algo_id,
        "coins": ["LABA"],
        "start": START.isoformat(),
        "end": END.isoformat(),
        "parameters": {"fast": {"values": [6, 12]}},
        "mode": "random",
        "samples": 2,
        "seed": 3,
    }
    sweep_id = client.post(f"{API}/sweep", headers=owner, json=body).json()["id"]
    listed = client.get(f"{API}/algorithms/{algo_id}/sweeps", headers=owner).json()
    assert listed["count"] == 1 and listed["data"][0]["id"] == sweep_id
    assert listed["data"][0]["space"]["combination_count"] == 2
    assert client.get(f"{API}/sweep/{sweep_id}", headers=stranger).status_code == 404
    assert client.post(f"{API}/sweep/{sweep_id}/cancel", headers=stranger).status_code == 404
    assert client.get(f"{API}/algorithms/{algo_id}/sweeps", headers=stranger).status_code == 404
    first = client.post(f"{API}/sweep/{sweep_id}/cancel", headers=owner)
    assert first.status_code in (200, 409)
    final = finished(client, owner, sweep_id, path="sweep")
    if first.status_code == 200:
        assert final["status"] == "cancelled" and final["results"] is None
    again = client.post(f"{API}/sweep/{sweep_id}/cancel", headers=owner)
    assert again.status_code == 409 and "already" in again.json()["detail"]
    unknown = client.post(
        f"{API}/sweep", headers=owner, json={**body, "parameters": {"speed": {"values": [1]}}}
    )
    assert unknown.status_code == 422 and "unknown parameter" in error_text(unknown)


def lab_job_events(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    page = client.get(
        f"{settings.API_V1_STR}/floor/events",
        headers=headers,
        params={"kind": "lab.job", "limit": 1000},
    )
    assert page.status_code == 200, page.text
    return [e["payload"] for e in page.json()["data"]]


def test_job_status_changes_are_pushed_to_their_owner(client: TestClient) -> None:
    """Claimed, finished and cancelled jobs publish `lab.job` events (what the SPA and the
    bench wait on instead of polling), to the owner only; the WebSocket delivers the finish."""
    headers, stranger = headers_for_new_user(client), headers_for_new_user(client)
    algo_id = algorithm(client, headers, template="ma_crossover")
    token = headers["Authorization"].removeprefix("Bearer ")
    with client.websocket_connect(f"{settings.API_V1_STR}/ws") as ws:
        ws.send_json({"token": token})
        assert ws.receive_json()["type"] == "welcome"
        run_id = submit(client, headers, algo_id)
        pushed: list[dict[str, Any]] = []
        while not pushed or pushed[-1]["status"] in ("queued", "running"):
            message = ws.receive_json()  # bounded: the test's own timeout
            if message.get("type") == "event" and message["kind"] == "lab.job":
                pushed.append(message["payload"])
    assert [(p["job"], p["job_id"], p["status"]) for p in pushed] == [
        ("backtest", run_id, "running"),
        ("backtest", run_id, "succeeded"),
    ]
    assert pushed[-1]["algorithm_id"] == algo_id and pushed[-1]["stage"] == "done"
    # The run is readable as succeeded the moment its event arrives (same transaction).
    assert client.get(f"{API}/backtest/{run_id}", headers=headers).json()["status"] == "succeeded"

    sweep = client.post(
        f"{API}/sweep",
        headers=headers,
        json={
            "algorithm_id": algo_id,
            "coins": ["LABA"],
            "start": START.isoformat(),
            "end": END.isoformat(),
            "parameters": {"fast": {"values": [4, 8]}, "slow": {"values": [24]}},
            "metric": "sharpe",
        },
    ).json()
    assert finished(client, headers, sweep["id"], path="sweep")["status"] == "succeeded"
    cancelled_id = submit(client, headers, algo_id)
    cancel = client.post(f"{API}/backtest/{cancelled_id}/cancel", headers=headers)
    final = finished(client, headers, cancelled_id)["status"]
    assert cancel.status_code == (200 if final == "cancelled" else 409)

    events = lab_job_events(client, headers)
    assert [(e["job"], e["status"]) for e in events if e["job_id"] == sweep["id"]] == [
        ("sweep", "running"),
        ("sweep", "succeeded"),
    ]
    assert [e["status"] for e in events if e["job_id"] == cancelled_id][-1] == final
    assert lab_job_events(client, stranger) == []


def test_progress_is_written_at_most_every_interval_and_a_lost_run_stops(
    client: TestClient,
) -> None:
    """`ProgressReporter` skips writes closer than its interval to the last one (the claim
    counts), writes the next due one, and stops a run cancelled meanwhile at that write."""
    headers = headers_for_new_user(client)
    algo_id = algorithm(client, headers, template="ma_crossover")
    user_id = client.get(f"{settings.API_V1_STR}/users/me", headers=headers).json()["id"]
    run_id = insert_running_run(algo_id, user_id, "progress-test", datetime.now(UTC))

    def stage() -> tuple[str | None, float]:
        with Session(engine) as session:
            row = session.get(BacktestRun, run_id)
            assert row is not None
            return row.stage, row.progress

    clock = [100.0]
    reporter = ProgressReporter(
        BacktestRun, run_id, "progress-test", interval=0.25, clock=lambda: clock[0]
    )
    clock[0] = 100.2
    asyncio.run(reporter(0.1, "loading prices"))
    assert stage() == ("starting", 0.0)
    clock[0] = 100.3
    asyncio.run(reporter(0.4, "predicting"))
    assert stage() == ("predicting", 0.4)
    clock[0] = 100.5
    asyncio.run(reporter(0.6, "simulating"))
    assert stage() == ("predicting", 0.4)

    client.post(f"{API}/backtest/{run_id}/cancel", headers=headers)
    assert stage()[0] == "cancelled"
    clock[0] = 100.6
    with pytest.raises(RunStopped):
        asyncio.run(reporter(0.9, "packing"))
    with Session(engine) as session:
        row = session.get(BacktestRun, run_id)
        assert row is not None and row.status == "cancelled"
