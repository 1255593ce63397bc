"""The execution API: run-now and the deployment's orders, trades, positions and runs."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.config import settings
from app.floor.signals import bar_of
from app.users.models import User
from tests.floor.factories import HOLD_CODE, make_deployment, make_release, seed_prices
from tests.utils import create_random_user, user_token_headers


def user_with_headers(client: TestClient, db: Session) -> tuple[User, dict[str, str]]:
    email, password = create_random_user(db)
    user = db.exec(sa.select(User).where(User.email == email)).scalar_one()  # type: ignore[call-overload,arg-type]
    return user, user_token_headers(client, email, password)


def test_run_now_and_the_deployments_records(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No exchange in this test: the paper broker quotes from the latest collected bar.
    monkeypatch.setattr(settings, "FLOOR_QUOTE_MAX_AGE_SECONDS", 600.0)
    owner, headers = user_with_headers(client, db)
    _, other_headers = user_with_headers(client, db)
    release = make_release(db, owner, HOLD_CODE, parameters={"fraction": 0.5}, warmup_bars=3)
    deployment = make_deployment(db, release, capital="1000")
    seed_prices(db, "BTC", bar_of(datetime.now(UTC)), 5, bid="50000", ask="50100")
    base = f"{settings.API_V1_STR}/floor/deployments/{deployment.id}"

    r = client.post(f"{base}/run-now", headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "succeeded"
    decision = body["decisions"]["BTC"]
    assert decision["action"] == "order" and decision["status"] == "filled"
    assert decision["quote"] == "collected"

    again = client.post(f"{base}/run-now", headers=headers)
    assert again.status_code == 409 and "decided already" in again.json()["detail"]

    orders = client.get(f"{base}/orders", headers=headers).json()
    assert orders["count"] == 1 and orders["data"][0]["status"] == "filled"
    assert orders["data"][0]["side"] == "buy"
    trades = client.get(f"{base}/trades", headers=headers).json()
    assert trades["count"] == 1
    trade = trades["data"][0]
    assert trade["source"] == "paper" and Decimal(trade["price"]) == Decimal("50100")
    positions = client.get(f"{base}/positions", headers=headers).json()
    (position,) = positions["data"]
    assert position["coin"] == "BTC" and Decimal(position["last_target"]) == Decimal("0.5")
    runs = client.get(f"{base}/runs?skip=0&limit=1", headers=headers).json()
    assert runs["count"] == 1 and runs["data"][0]["order_ids"] == [orders["data"][0]["id"]]
    assert client.get(f"{base}/runs?skip=1", headers=headers).json()["data"] == []

    account = client.get(f"{settings.API_V1_STR}/floor/positions", headers=headers).json()
    assert [(a["mode"], a["coin"], a["deployments"]) for a in account] == [("paper", "BTC", 1)]
    assert Decimal(account[0]["quantity"]) == Decimal(position["quantity"]) > 0
    assert client.get(f"{settings.API_V1_STR}/floor/positions", headers=other_headers).json() == []

    for path in ("orders", "trades", "positions", "runs"):
        assert client.get(f"{base}/{path}", headers=other_headers).status_code == 404
    assert client.post(f"{base}/run-now", headers=other_headers).status_code == 404
    bad = client.get(f"{base}/orders?limit=0", headers=headers)
    assert bad.status_code == 422 and "limit" in str(bad.json()["detail"])
