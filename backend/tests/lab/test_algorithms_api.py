"""Algorithms API: CRUD, immutable versions, ownership, pagination, validation, templates."""

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.config import settings
from app.lab.algorithms.models import Algorithm, AlgorithmStatus
from app.lab.templates import TEMPLATES
from tests.utils import error_text, random_email, random_password

API = f"{settings.API_V1_STR}/lab"

CODE = """import pandas as pd
from app.lab.sdk import Algorithm, Int, to_positions


class Momentum(Algorithm):
    algorithm_type = "rule"
    window = Int(10, ge=2, le=100, description="bars")

    def predict(self, X):
        return to_positions(X["last"] > X["last"].shift(self.window))
"""


def new_user_headers(client: TestClient) -> dict[str, str]:
    email, password = random_email(), random_password()
    assert (
        client.post(
            f"{settings.API_V1_STR}/users/signup", json={"email": email, "password": password}
        ).status_code
        == 200
    )
    token = client.post(
        f"{settings.API_V1_STR}/login/access-token", data={"username": email, "password": password}
    ).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def create(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    payload = {"name": f"algo {uuid.uuid4().hex[:8]}", "code": CODE, **body}
    if "template" in body:
        payload.pop("code")
    response = client.post(f"{API}/algorithms", headers=headers, json=payload)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_read_update_with_versions(client: TestClient) -> None:
    headers = new_user_headers(client)
    created = create(client, headers, parameters={"window": 20}, description="first try")
    assert (
        created["latest_version"] == 1
        and created["type"] == "rule"
        and created["status"] == "draft"
    )
    assert created["parameters"] == {"window": 20}
    assert created["parameter_schema"]["properties"]["window"]["maximum"] == 100
    algo_id = created["id"]

    # Same code: no new version. New code: version 2, version 1 unchanged.
    same = client.put(f"{API}/algorithms/{algo_id}", headers=headers, json={"code": CODE})
    assert same.json()["latest_version"] == 1
    changed_code = CODE.replace("le=100", "le=200")
    updated = client.put(
        f"{API}/algorithms/{algo_id}",
        headers=headers,
        json={"code": changed_code, "name": "renamed"},
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert (
        body["latest_version"] == 2
        and body["name"] == "renamed"
        and body["parameters"] == {"window": 20}
    )
    v1 = client.get(f"{API}/algorithms/{algo_id}/versions/1", headers=headers).json()
    v2 = client.get(f"{API}/algorithms/{algo_id}/versions/2", headers=headers).json()
    assert v1["code"] == CODE and v2["code"] == changed_code and v1["code_hash"] != v2["code_hash"]
    versions = client.get(f"{API}/algorithms/{algo_id}/versions", headers=headers).json()
    assert versions["count"] == 2 and [v["version"] for v in versions["data"]] == [2, 1]
    assert client.get(f"{API}/algorithms/{algo_id}/versions/3", headers=headers).status_code == 404

    params = client.put(
        f"{API}/algorithms/{algo_id}", headers=headers, json={"parameters": {"window": 150}}
    )
    assert params.json()["parameters"] == {"window": 150} and params.json()["latest_version"] == 2


def test_invalid_code_and_parameters_are_422_with_details(client: TestClient) -> None:
    headers = new_user_headers(client)
    bad = client.post(
        f"{API}/algorithms",
        headers=headers,
        json={"name": "bad", "code": CODE.replace("import pandas as pd", "import os")},
    )
    assert bad.status_code == 422
    assert "line 1" in error_text(bad) and "os" in error_text(bad)
    out_of_bounds = client.post(
        f"{API}/algorithms",
        headers=headers,
        json={"name": "b", "code": CODE, "parameters": {"window": 1}},
    )
    assert out_of_bounds.status_code == 422 and "window must be >= 2" in error_text(out_of_bounds)
    both = client.post(
        f"{API}/algorithms",
        headers=headers,
        json={"name": "c", "code": CODE, "template": "ma_crossover"},
    )
    assert both.status_code == 422
    unknown_template = client.post(
        f"{API}/algorithms", headers=headers, json={"name": "d", "template": "nope"}
    )
    assert unknown_template.status_code == 422 and "nope" in error_text(unknown_template)
    blank_name = client.post(
        f"{API}/algorithms", headers=headers, json={"name": "   ", "code": CODE}
    )
    assert blank_name.status_code == 422
    created = create(client, headers)
    broken = client.put(
        f"{API}/algorithms/{created['id']}", headers=headers, json={"code": "def x(:\n"}
    )
    assert broken.status_code == 422 and "line 1" in error_text(broken)
    assert (
        client.get(f"{API}/algorithms/{created['id']}", headers=headers).json()["latest_version"]
        == 1
    )


def test_validate_endpoint_reports_line_numbers_without_saving(client: TestClient) -> None:
    headers = new_user_headers(client)
    response = client.post(
        f"{API}/algorithms/validate",
        headers=headers,
        json={"code": CODE.replace("        return", "        eval('1')\n        return")},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False
    assert any(e["line"] == 10 and "eval" in e["message"] for e in body["errors"])
    ok = client.post(f"{API}/algorithms/validate", headers=headers, json={"code": CODE}).json()
    assert ok["valid"] is True and ok["class_name"] == "Momentum"
    assert client.get(f"{API}/algorithms", headers=headers).json()["count"] == 0


def test_names_are_unique_per_user(client: TestClient) -> None:
    headers = new_user_headers(client)
    create(client, headers, name="Trend")
    again = client.post(f"{API}/algorithms", headers=headers, json={"name": "trend", "code": CODE})
    assert again.status_code == 409
    create(client, new_user_headers(client), name="Trend")  # someone else may use it


def test_other_users_get_404_everywhere(client: TestClient) -> None:
    owner, stranger = new_user_headers(client), new_user_headers(client)
    algo_id = create(client, owner)["id"]
    for method, path, body in (
        ("GET", f"/algorithms/{algo_id}", None),
        ("PUT", f"/algorithms/{algo_id}", {"name": "mine now"}),
        ("DELETE", f"/algorithms/{algo_id}", None),
        ("GET", f"/algorithms/{algo_id}/versions", None),
        ("GET", f"/algorithms/{algo_id}/versions/1", None),
    ):
        response = client.request(method, f"{API}{path}", headers=stranger, json=body)
        assert response.status_code == 404, (method, path)
    assert client.get(f"{API}/algorithms/{algo_id}", headers=owner).status_code == 200


def test_pagination_filters_and_search(client: TestClient) -> None:
    headers = new_user_headers(client)
    names = [f"alpha {i}" for i in range(7)] + ["beta_1", "Gamma 50%"]
    ids = {create(client, headers, name=n)["id"] for n in names}
    seen = []
    for skip in range(0, 9, 4):
        page = client.get(
            f"{API}/algorithms", headers=headers, params={"skip": skip, "limit": 4}
        ).json()
        assert page["count"] == 9
        seen += [a["id"] for a in page["data"]]
    assert sorted(seen) == sorted(ids) and len(seen) == 9
    assert (
        client.get(f"{API}/algorithms", headers=headers, params={"search": "ALPHA"}).json()["count"]
        == 7
    )
    assert (
        client.get(f"{API}/algorithms", headers=headers, params={"search": "50%"}).json()["count"]
        == 1
    )
    assert (
        client.get(f"{API}/algorithms", headers=headers, params={"search": "_"}).json()["count"]
        == 1
    )
    ml = create(client, headers, template="ml_regression", name="ml one")
    assert (
        client.get(f"{API}/algorithms", headers=headers, params={"type": "ml"}).json()["data"][0][
            "id"
        ]
        == ml["id"]
    )
    client.put(f"{API}/algorithms/{ml['id']}", headers=headers, json={"status": "lab"})
    labbed = client.get(f"{API}/algorithms", headers=headers, params={"status": "lab"}).json()
    assert [a["id"] for a in labbed["data"]] == [ml["id"]]
    assert (
        client.get(f"{API}/algorithms", headers=headers, params={"status": "bogus"}).status_code
        == 422
    )


def test_status_moves_and_delete_refused_while_deployed(client: TestClient, db: Session) -> None:
    headers = new_user_headers(client)
    algo_id = create(client, headers)["id"]
    to_deployed = client.put(
        f"{API}/algorithms/{algo_id}", headers=headers, json={"status": "deployed"}
    )
    assert to_deployed.status_code == 422 and "cannot go from draft to deployed" in error_text(
        to_deployed
    )
    assert (
        client.put(
            f"{API}/algorithms/{algo_id}", headers=headers, json={"status": "lab"}
        ).status_code
        == 200
    )
    # Only the promotion gate makes an algorithm deployable.
    by_hand = client.put(
        f"{API}/algorithms/{algo_id}", headers=headers, json={"status": "deployable"}
    )
    assert by_hand.status_code == 422 and "cannot go from lab to deployable" in error_text(by_hand)
    # The Floor marks an algorithm deployed; simulate that directly in the database.
    algorithm = db.get(Algorithm, uuid.UUID(algo_id))
    assert algorithm is not None
    algorithm.status = AlgorithmStatus.DEPLOYED.value
    db.add(algorithm)
    db.commit()
    refused = client.delete(f"{API}/algorithms/{algo_id}", headers=headers)
    assert refused.status_code == 409 and "deployed" in refused.json()["detail"]
    assert (
        client.put(
            f"{API}/algorithms/{algo_id}", headers=headers, json={"code": CODE + "\n"}
        ).status_code
        == 409
    )
    assert (
        client.put(
            f"{API}/algorithms/{algo_id}", headers=headers, json={"description": "still fine"}
        ).status_code
        == 200
    )
    algorithm.status = AlgorithmStatus.LAB.value
    db.add(algorithm)
    db.commit()
    assert client.delete(f"{API}/algorithms/{algo_id}", headers=headers).status_code == 204
    assert client.get(f"{API}/algorithms/{algo_id}", headers=headers).status_code == 404


@pytest.mark.parametrize("key", [t.key for t in TEMPLATES])
def test_create_from_each_template(
    client: TestClient, normal_user_token_headers: dict[str, str], key: str
) -> None:
    templates = client.get(f"{API}/templates", headers=normal_user_token_headers).json()
    template = next(t for t in templates if t["key"] == key)
    created = create(
        client, normal_user_token_headers, template=key, name=f"{key} {uuid.uuid4().hex[:6]}"
    )
    assert created["code"] == template["source"]
    assert created["type"] == template["type"]
    assert set(created["parameters"]) == set(template["parameter_schema"]["properties"])


def test_lab_routes_need_a_login(client: TestClient) -> None:
    assert client.get(f"{API}/algorithms").status_code == 401
    assert client.get(f"{API}/templates").status_code == 401
    assert client.post(f"{API}/algorithms/validate", json={"code": CODE}).status_code == 401
