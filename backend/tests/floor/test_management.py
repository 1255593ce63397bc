"""Floor management and monitoring routes: running algorithms with P&L, activate / pause /
deactivate, parameter overrides, performance, recent trades, status; privacy and bad input."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.config import settings
from app.core.db import engine
from app.floor.executor import ensure_positions
from app.floor.pnl.service import snapshot
from app.lab.templates import get_template
from app.users.models import User
from tests.floor.factories import make_deployment, make_release, seed_prices
from tests.floor.test_pnl_api import book
from tests.utils import create_random_user, error_text, user_token_headers

FLOOR = f"{settings.API_V1_STR}/floor"


@pytest.fixture(scope="module")
def setup(client: TestClient, db: Session) -> dict[str, Any]:
    email, password = create_random_user(db)
    user = db.query(User).filter(User.email == email).one()  # type: ignore[arg-type]
    template = get_template("ma_crossover")
    assert template is not None
    release = make_release(db, user, template.source, parameters={"fast": 12, "slow": 48})
    paper = make_deployment(db, release, capital="1000", coins=("MGMTX",))
    live = make_deployment(db, release, capital="1000", coins=("MGMTX",), mode="live")
    for dep in (paper, live):
        ensure_positions(engine, dep)
    book(db, paper, "MGMTX", "buy", "2", "100", "2.00", 0)
    seed_prices(db, "MGMTX", datetime.now(UTC), 2, bid="110", ask="111")
    return {
        "headers": user_token_headers(client, email, password),
        "paper": str(paper.id),
        "live": str(live.id),
    }


def test_running_algorithms_show_pnl_and_status_changes(
    client: TestClient, setup: dict[str, Any]
) -> None:
    h = setup["headers"]
    listed = client.get(f"{FLOOR}/algorithms", headers=h).json()
    rows = {r["deployment"]["id"]: r for r in listed["data"]}
    assert set(rows) == {setup["paper"], setup["live"]}
    paper = rows[setup["paper"]]
    assert paper["exposure"] == "220.00"  # 2 coins at the bid 110
    assert paper["unrealised_pnl"] == "18.00"  # 2 * (110 - 100) - 2.00 fee
    assert paper["equity"] == "1018.00"
    assert rows[setup["live"]]["total_pnl"] == "0.00"

    dep = setup["paper"]
    assert client.post(f"{FLOOR}/algorithms/{dep}/activate", headers=h).status_code == 409
    assert client.post(f"{FLOOR}/algorithms/{dep}/pause", headers=h).json()["status"] == "paused"
    assert client.post(f"{FLOOR}/algorithms/{dep}/activate", headers=h).json()["status"] == "active"
    status = client.get(f"{FLOOR}/status", headers=h).json()
    assert status["deployments"] == {"active": 2}
    assert status["unknown_orders"] == 0 and status["open_orders"] == 0
    audit = client.get(
        "/api/v1/audit", headers=h, params={"object_type": "deployment", "object_id": dep}
    ).json()["data"]
    assert [e["action"] for e in audit][:2] == ["deployment.resume", "deployment.pause"]


def test_parameter_overrides_are_bounded_audited_and_paper_only(
    client: TestClient, setup: dict[str, Any]
) -> None:
    h = setup["headers"]
    url = f"{FLOOR}/algorithms/{setup['paper']}/parameters"
    ok = client.put(url, headers=h, json={"parameters": {"fast": 10}})
    assert ok.status_code == 200, ok.text
    assert ok.json()["parameters"]["fast"] == 10 and ok.json()["parameters"]["slow"] == 48
    for bad in ({"fast": 1}, {"fast": "ten"}, {"nope": 3}):
        r = client.put(url, headers=h, json={"parameters": bad})
        assert r.status_code == 422 and "parameters" in error_text(r), bad
    assert client.put(url, headers=h, json={"fast": 10}).status_code == 422
    live = client.put(
        f"{FLOOR}/algorithms/{setup['live']}/parameters",
        headers=h,
        json={"parameters": {"fast": 10}},
    )
    assert live.status_code == 409 and "new release" in error_text(live)
    audit = client.get(
        "/api/v1/audit",
        headers=h,
        params={"object_id": setup["paper"], "object_type": "deployment"},
    ).json()["data"]
    override = next(e for e in audit if e["action"] == "deployment.parameters_override")
    assert override["before"]["parameters"]["fast"] == 12
    assert override["after"]["parameters"]["fast"] == 10


def test_performance_recent_trades_and_privacy(
    client: TestClient, db: Session, setup: dict[str, Any]
) -> None:
    h = setup["headers"]
    now = datetime.now(UTC)
    bar = now.replace(second=0, microsecond=0, minute=now.minute - now.minute % 5)
    snapshot(db, bar + timedelta(minutes=5))
    snapshot(db, bar + timedelta(minutes=10))
    db.commit()
    perf = client.get(f"{FLOOR}/algorithms/{setup['paper']}/performance", headers=h).json()
    assert perf["snapshots"] == 2 and perf["live"]["total_return"] == 0.0
    assert perf["live"]["max_drawdown"] == 0.0
    trades = client.get(f"{FLOOR}/algorithms/{setup['paper']}/recent-trades", headers=h).json()
    assert len(trades) == 1 and trades[0]["side"] == "buy"
    assert (
        client.get(
            f"{FLOOR}/algorithms/{setup['paper']}/recent-trades", headers=h, params={"limit": 0}
        ).status_code
        == 422
    )

    email, password = create_random_user(db)
    stranger = user_token_headers(client, email, password)
    for method, path in (
        ("post", "activate"),
        ("post", "pause"),
        ("post", "deactivate"),
        ("get", "performance"),
        ("get", "recent-trades"),
    ):
        r = getattr(client, method)(f"{FLOOR}/algorithms/{setup['paper']}/{path}", headers=stranger)
        assert r.status_code == 404, path
    assert (
        client.put(
            f"{FLOOR}/algorithms/{setup['paper']}/parameters",
            headers=stranger,
            json={"parameters": {}},
        ).status_code
        == 404
    )
    assert client.get(f"{FLOOR}/algorithms", headers=stranger).json()["count"] == 0
    assert client.get(f"{FLOOR}/status", headers=stranger).json()["deployments"] == {}
    assert client.post(f"{FLOOR}/algorithms/{uuid.uuid4()}/pause", headers=h).status_code == 404
    stopped = client.post(f"{FLOOR}/algorithms/{setup['live']}/deactivate", headers=h).json()
    assert stopped["status"] == "stopped"
