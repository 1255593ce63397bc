"""The deployment registry: deploy on paper and live (with each live requirement refused
with its reason), status changes, algorithm status, audit, privacy and bad input."""

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from app.core.config import settings
from app.core.db import engine
from app.exchange.simulator import RunningSimulator, run_simulator
from tests.lab.promotion_helpers import (
    API,
    FLOOR,
    MAIN_END,
    OOS_END,
    START,
    backtest,
    new_algorithm,
    promotion_body,
    store_swinging_prices,
)
from tests.lab.test_backtests_api import headers_for_new_user
from tests.utils import (
    enable_two_factor,
    error_text,
    random_email,
    random_password,
    user_token_headers,
)

COIN = "PROMB"
CREDS = f"{settings.API_V1_STR}/credentials/coinspot"


@pytest.fixture(scope="module")
def simulator_server() -> Any:
    with run_simulator() as sim:
        yield sim


@pytest.fixture
def simulator(simulator_server: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> Any:
    simulator_server.admin.reset()
    monkeypatch.setattr(settings, "COINSPOT_BASE_URL", simulator_server.base_url)
    return simulator_server


@pytest.fixture(scope="module")
def owner_email() -> str:
    return random_email()


@pytest.fixture(scope="module")
def owner(client: TestClient, owner_email: str) -> dict[str, str]:
    password = random_password()
    signup = client.post(
        f"{settings.API_V1_STR}/users/signup", json={"email": owner_email, "password": password}
    )
    assert signup.status_code in (200, 201), signup.text
    return user_token_headers(client, owner_email, password)


@pytest.fixture(scope="module")
def release(client: TestClient, owner: dict[str, str]) -> dict[str, str]:
    store_swinging_prices(COIN, seed=4)
    algo = new_algorithm(client, owner, template="ma_crossover")
    runs = [
        backtest(client, owner, algo, START, MAIN_END, coin=COIN),
        backtest(client, owner, algo, MAIN_END, OOS_END, coin=COIN),
    ]
    made = client.post(f"{API}/algorithms/{algo}/promote", headers=owner, json=promotion_body(runs))
    assert made.status_code == 201, made.text
    return {"algo": algo, "release": made.json()["release_id"]}


def deploy(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    return client.post(f"{FLOOR}/deploy", headers=headers, json=body)


def algorithm_status(client: TestClient, headers: dict[str, str], algo: str) -> str:
    return str(client.get(f"{API}/algorithms/{algo}", headers=headers).json()["status"])


def test_paper_deploy_status_changes_and_audit(
    client: TestClient, owner: dict[str, str], release: dict[str, str]
) -> None:
    available = client.get(f"{FLOOR}/available-algorithms", headers=owner).json()
    assert release["release"] in [a["release_id"] for a in available["data"]]
    made = deploy(
        client,
        owner,
        release_id=release["release"],
        mode="paper",
        capital="2500.50",
        coins=[COIN.lower()],
        schedule_bars=3,
        risk_limits={"max_order_aud": "500.00", "max_orders_per_hour": 12},
    )
    assert made.status_code == 201, made.text
    body = made.json()
    dep = body["id"]
    assert body["mode"] == "paper" and body["status"] == "active"
    assert body["capital"] == "2500.50" and body["coins"] == [COIN]
    assert body["allocation"] == {COIN: "1.00000000"}
    assert body["risk_limits"]["max_order_aud"] == "500.00"
    assert body["risk_limits"]["max_orders_per_hour"] == 12
    assert body["execution_style"] == "instant" and body["schedule_bars"] == 3
    assert algorithm_status(client, owner, release["algo"]) == "deployed"
    # Editing a deployed algorithm is refused by the Lab.
    assert (
        client.put(
            f"{API}/algorithms/{release['algo']}", headers=owner, json={"parameters": {"fast": 5}}
        ).status_code
        == 409
    )

    listed = client.get(f"{FLOOR}/deployments", headers=owner, params={"mode": "paper"}).json()
    assert dep in [d["id"] for d in listed["data"]]
    assert client.get(f"{FLOOR}/deployments/{dep}", headers=owner).json()["id"] == dep

    paused = client.post(
        f"{FLOOR}/deployments/{dep}/pause", headers=owner, json={"reason": "lunch"}
    )
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    again = client.post(f"{FLOOR}/deployments/{dep}/pause", headers=owner)
    assert again.status_code == 409 and "paused" in error_text(again)
    assert (
        client.post(f"{FLOOR}/deployments/{dep}/resume", headers=owner).json()["status"] == "active"
    )
    stopped = client.post(f"{FLOOR}/deployments/{dep}/stop", headers=owner).json()
    assert stopped["status"] == "stopped" and stopped["stopped_at"] is not None
    assert client.post(f"{FLOOR}/deployments/{dep}/resume", headers=owner).status_code == 409
    assert algorithm_status(client, owner, release["algo"]) == "deployable"

    # A release a deployment refers to cannot be deleted, even after the deployment stopped.
    refused = client.delete(f"{API}/releases/{release['release']}", headers=owner)
    assert refused.status_code == 409 and "deployment" in error_text(refused)
    assert client.get(f"{API}/releases/{release['release']}", headers=owner).json()["in_use"]

    audit = client.get(
        "/api/v1/audit", headers=owner, params={"object_type": "deployment", "object_id": dep}
    ).json()["data"]
    assert [e["action"] for e in reversed(audit)] == [
        "deployment.create",
        "deployment.pause",
        "deployment.resume",
        "deployment.stop",
    ]
    assert audit[-1]["after"]["algorithm_status"] == {"before": "deployable", "after": "deployed"}
    assert audit[0]["before"]["status"] == "active" and audit[0]["after"]["status"] == "stopped"
    assert audit[0]["client_address"]
    assert audit[2]["after"]["status_reason"] == "lunch"

    # Each status change is a live `deployment.status` event for the owner.
    events = client.get(
        "/api/v1/floor/events",
        headers=owner,
        params={"kind": "deployment.status", "limit": 1000},
    ).json()["data"]
    changes = [e["payload"] for e in events if e["payload"]["deployment_id"] == dep]
    assert [(c["previous"], c["status"]) for c in changes] == [
        ("active", "paused"),
        ("paused", "active"),
        ("active", "stopped"),
    ]
    assert changes[0]["reason"] == "lunch"


def test_live_needs_step_up_credentials_paper_time_acknowledgement_and_balance(
    client: TestClient,
    owner: dict[str, str],
    owner_email: str,
    release: dict[str, str],
    simulator: RunningSimulator,
) -> None:
    live = {"release_id": release["release"], "mode": "live", "capital": "1000", "coins": [COIN]}
    # Live trading moves money: without two-factor authentication it is refused outright.
    no_2fa = deploy(client, owner, **live, acknowledge_real_money=True)
    assert no_2fa.status_code == 403 and no_2fa.headers["X-Step-Up-Required"] == "enrol"
    enable_two_factor(client, owner, owner_email)  # this session now has a fresh factor
    no_keys = deploy(client, owner, **live, acknowledge_real_money=True)
    assert no_keys.status_code == 422 and "credentials" in error_text(no_keys)

    account = simulator.admin.create_account({"AUD": "5000.00"})
    stored = client.post(
        CREDS,
        headers=owner,
        json={"label": "main", "api_key": account.api_key, "api_secret": account.api_secret},
    )
    assert stored.status_code in (200, 201), stored.text
    unvalidated = deploy(client, owner, **live, acknowledge_real_money=True)
    assert unvalidated.status_code == 422 and "validated" in error_text(unvalidated)
    assert client.post(f"{CREDS}/validate", headers=owner).json()["valid"] is True

    paper = deploy(client, owner, release_id=release["release"], capital="100", coins=[COIN])
    assert paper.status_code == 201
    too_soon = deploy(client, owner, **live, acknowledge_real_money=True)
    assert too_soon.status_code == 422
    assert "paper" in error_text(too_soon) and "24" in error_text(too_soon)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE deployed_algorithms SET deployed_at = deployed_at - :d WHERE id = :id"),
            {"d": timedelta(hours=25), "id": paper.json()["id"]},
        )
    unacknowledged = deploy(client, owner, **live)
    assert unacknowledged.status_code == 422
    assert "acknowledge_real_money" in error_text(unacknowledged)
    too_much = deploy(client, owner, **{**live, "capital": "5000.01"}, acknowledge_real_money=True)
    assert too_much.status_code == 422 and "balance" in error_text(too_much)
    ok = deploy(client, owner, **live, acknowledge_real_money=True)
    assert ok.status_code == 201, ok.text
    assert ok.json()["mode"] == "live" and ok.json()["acknowledged_real_money"] is True

    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE coinspot_credentials SET permission_level = 'read_only' "
                "WHERE api_key_encrypted IS NOT NULL AND user_id = "
                "(SELECT user_id FROM deployed_algorithms WHERE id = :id)"
            ),
            {"id": ok.json()["id"]},
        )
    read_only = deploy(client, owner, **live, acknowledge_real_money=True)
    assert read_only.status_code == 422 and "trading rights" in error_text(read_only)


def test_someone_elses_release_and_deployment_are_404(
    client: TestClient, owner: dict[str, str], release: dict[str, str]
) -> None:
    dep = deploy(client, owner, release_id=release["release"], capital="10", coins=[COIN])
    assert dep.status_code == 201
    dep_id = dep.json()["id"]
    stranger = headers_for_new_user(client)
    stolen = deploy(client, stranger, release_id=release["release"], capital="10", coins=[COIN])
    assert stolen.status_code == 404
    assert client.get(f"{FLOOR}/deployments/{dep_id}", headers=stranger).status_code == 404
    for action in ("pause", "resume", "stop"):
        assert (
            client.post(f"{FLOOR}/deployments/{dep_id}/{action}", headers=stranger).status_code
            == 404
        )
    assert client.get(f"{FLOOR}/deployments", headers=stranger).json()["count"] == 0
    assert client.get(f"{FLOOR}/available-algorithms", headers=stranger).json()["count"] == 0
    missing = deploy(client, owner, release_id=str(uuid.uuid4()), capital="10", coins=[COIN])
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"capital": "-5"}, "capital"),
        ({"capital": "1.001"}, "capital"),
        ({"capital": "ten"}, "capital"),
        ({"coins": []}, "coins"),
        ({"coins": ["B@D"]}, "coins"),
        ({"allocation": {"OTHER": "0.5"}}, "allocation"),
        ({"allocation": {COIN: "1.5"}}, "allocation"),
        ({"schedule_bars": 0}, "schedule_bars"),
        ({"mode": "yolo"}, "mode"),
        ({"risk_limits": {"max_order_aud": "0"}}, "max_order_aud"),
        ({"risk_limits": {"surprise": 1}}, "surprise"),
    ],
)
def test_bad_deploy_requests_name_the_field(
    client: TestClient,
    owner: dict[str, str],
    release: dict[str, str],
    change: dict[str, Any],
    field: str,
) -> None:
    body = {"release_id": release["release"], "capital": "100", "coins": [COIN], **change}
    r = deploy(client, owner, **body)
    assert r.status_code == 422, r.text
    assert field in json.dumps(r.json()["detail"])


def test_deployment_list_filters_and_pages(
    client: TestClient, owner: dict[str, str], release: dict[str, str]
) -> None:
    for _ in range(3):
        assert (
            deploy(
                client, owner, release_id=release["release"], capital="5", coins=[COIN]
            ).status_code
            == 201
        )
    page = client.get(
        f"{FLOOR}/deployments", headers=owner, params={"limit": 2, "status": "active"}
    ).json()
    assert len(page["data"]) == 2 and page["count"] >= 3
    rest = client.get(
        f"{FLOOR}/deployments", headers=owner, params={"limit": 2, "skip": 2, "status": "active"}
    ).json()
    assert not {d["id"] for d in page["data"]} & {d["id"] for d in rest["data"]}
    assert client.get(f"{FLOOR}/deployments", headers=owner, params={"limit": 0}).status_code == 422
    assert (
        client.get(f"{FLOOR}/deployments", headers=owner, params={"status": "zzz"}).status_code
        == 422
    )
