"""The limits routes: read and replace a deployment's and the account's limits (audited),
resume the account, activate a halted deployment; bad input, privacy, stopped deployments."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.config import settings
from app.core.db import engine
from app.floor.models import DeployedAlgorithm
from app.floor.risk.state import FloorAccount
from app.users.models import User
from tests.floor.factories import HOLD_CODE, make_deployment, make_release
from tests.floor.risk_support import audit_actions, events_of, status_of
from tests.utils import create_random_user, error_text, user_token_headers

FLOOR = f"{settings.API_V1_STR}/floor"


def _user(client: TestClient, db: Session) -> tuple[User, dict[str, str]]:
    email, password = create_random_user(db)
    user = db.query(User).filter(User.email == email).one()  # type: ignore[arg-type]
    return user, user_token_headers(client, email, password)


@pytest.fixture(scope="module")
def owners(client: TestClient, db: Session) -> dict[str, Any]:
    user, headers = _user(client, db)
    other, other_headers = _user(client, db)
    release = make_release(db, user, HOLD_CODE, parameters={"fraction": 1.0})
    dep = make_deployment(db, release)
    return {"user": user, "h": headers, "other_h": other_headers, "dep": dep, "release": release}


def _field_named(response: Any, field: str) -> bool:
    detail = response.json()["detail"]
    return any(field in [str(part) for part in error["loc"]] for error in detail)


def test_deployment_limits_read_replace_and_audit(
    client: TestClient, owners: dict[str, Any]
) -> None:
    h, dep = owners["h"], owners["dep"]
    url = f"{FLOOR}/deployments/{dep.id}/limits"
    empty = client.get(url, headers=h).json()
    assert empty["limits"]["max_order_aud"] is None and empty["status"] == "active"
    assert empty["actions"]["daily_loss_aud"] == "halted"  # the documented default
    body = {
        "max_order_aud": "250.00",
        "daily_loss_aud": "100",
        "actions": {"max_order_aud": "halted"},
    }
    r = client.put(url, headers=h, json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["limits"]["max_order_aud"] == "250.00"
    assert out["actions"]["max_order_aud"] == "halted"
    assert out["actions"]["max_position_aud"] == "reducing"
    # Fields left out take their defaults (the price guards from the settings).
    assert out["limits"]["max_price_age_seconds"] == settings.FLOOR_RISK_MAX_PRICE_AGE_SECONDS
    assert client.get(url, headers=h).json() == out
    assert "deployment.limits_update" in audit_actions(dep.id)
    audit = client.get(
        "/api/v1/audit", headers=h, params={"object_type": "deployment", "object_id": str(dep.id)}
    ).json()["data"]
    entry = next(e for e in audit if e["action"] == "deployment.limits_update")
    assert entry["before"]["risk_limits"] == {}
    assert entry["after"]["risk_limits"]["max_order_aud"] == "250.00"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"max_order_aud": "-5"}, "max_order_aud"),
        ({"max_position_fraction": "1.5"}, "max_position_fraction"),
        ({"max_orders_per_hour": 0}, "max_orders_per_hour"),
        ({"max_price_age_seconds": "soon"}, "max_price_age_seconds"),
        ({"actions": {"max_order_aud": "explode"}}, "max_order_aud"),
        ({"actions": {"no_such_limit": "halted"}}, "no_such_limit"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_deployment_limits_bad_input_names_the_field(
    client: TestClient, owners: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    url = f"{FLOOR}/deployments/{owners['dep'].id}/limits"
    r = client.put(url, headers=owners["h"], json=body)
    assert r.status_code == 422, r.text
    assert _field_named(r, field), r.text
    assert error_text(r)


def test_another_users_deployment_is_404_and_stopped_is_409(
    client: TestClient, db: Session, owners: dict[str, Any]
) -> None:
    url = f"{FLOOR}/deployments/{owners['dep'].id}/limits"
    assert client.get(url, headers=owners["other_h"]).status_code == 404
    r = client.put(url, headers=owners["other_h"], json={"max_order_aud": "1.00"})
    assert r.status_code == 404
    stopped = make_deployment(db, owners["release"], status="stopped")
    r = client.put(f"{FLOOR}/deployments/{stopped.id}/limits", headers=owners["h"], json={})
    assert r.status_code == 409 and "stopped" in error_text(r)


def test_account_limits_audited_and_resume(client: TestClient, owners: dict[str, Any]) -> None:
    h, user = owners["h"], owners["user"]
    first = client.get(f"{FLOOR}/limits", headers=h).json()
    assert first["status"] == "active" and first["limits"]["max_exposure_aud"] is None
    assert first["time_zone"] == user.timezone
    r = client.put(f"{FLOOR}/limits", headers=h, json={"max_exposure_aud": "5000.00"})
    assert r.status_code == 200, r.text
    assert r.json()["limits"]["max_exposure_aud"] == "5000.00"
    assert r.json()["actions"] == {"max_exposure_aud": "reducing", "daily_loss_aud": "halted"}
    for bad, field in (
        ({"max_exposure_aud": "0"}, "max_exposure_aud"),
        ({"daily_loss_aud": "1.234"}, "daily_loss_aud"),
        ({"actions": {"max_order_aud": "halted"}}, "max_order_aud"),
    ):
        wrong = client.put(f"{FLOOR}/limits", headers=h, json=bad)
        assert wrong.status_code == 422 and _field_named(wrong, field), wrong.text
    # Nothing to resume while active.
    again = client.post(f"{FLOOR}/limits/resume", headers=h)
    assert again.status_code == 409 and "active" in error_text(again)
    with Session(engine) as s:  # the risk engine halted the account
        row = s.get(FloorAccount, user.id)
        assert row is not None
        row.status, row.status_reason = "halted", "risk: test"
        s.add(row)
        s.commit()
    assert client.get(f"{FLOOR}/limits", headers=h).json()["status"] == "halted"
    resumed = client.post(f"{FLOOR}/limits/resume", headers=h, json={"reason": "checked"})
    assert resumed.status_code == 200 and resumed.json()["status"] == "active"
    account_rows = [a for a in audit_actions(user.id) if a.startswith("floor_account.")]
    assert account_rows == ["floor_account.limits_update", "floor_account.resume"]
    (change,) = events_of(user.id, "account.status")
    assert change == {"status": "active", "previous": "halted", "reason": "checked"}


def test_activate_brings_halted_and_reducing_back(
    client: TestClient, db: Session, owners: dict[str, Any]
) -> None:
    h = owners["h"]
    for state in ("halted", "reducing"):
        dep = make_deployment(db, owners["release"], status=state)
        r = client.post(f"{FLOOR}/algorithms/{dep.id}/activate", headers=h, json={"reason": "ok"})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "active" and status_of(dep.id) == "active"
        assert audit_actions(dep.id) == ["deployment.resume"]
        with Session(engine) as s:
            row = s.get(DeployedAlgorithm, dep.id)
            assert row is not None and row.status_reason == "ok"
    other = client.post(
        f"{FLOOR}/algorithms/{owners['dep'].id}/activate", headers=owners["other_h"]
    )
    assert other.status_code == 404
