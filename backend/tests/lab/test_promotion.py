"""The promotion gate through the API: policy, checklist, releases, bundle, audit."""

import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.db import engine
from app.lab.algorithms.models import Algorithm
from tests.lab.promotion_helpers import (
    API,
    MAIN_END,
    OOS_END,
    SLOW_PREDICT,
    START,
    backtest,
    new_algorithm,
    promotion_body,
    store_swinging_prices,
)
from tests.lab.test_backtests_api import PEEK, headers_for_new_user
from tests.utils import error_text


@pytest.fixture(scope="module", autouse=True)
def prices() -> None:
    store_swinging_prices()


@pytest.fixture(scope="module")
def owner(client: TestClient) -> dict[str, str]:
    return headers_for_new_user(client)


@pytest.fixture(scope="module")
def good(client: TestClient, owner: dict[str, str]) -> dict[str, str]:
    """An MA-crossover algorithm with a 92-day main backtest and a later out-of-sample one,
    both at the instant fee."""
    algo = new_algorithm(client, owner, template="ma_crossover")
    main = backtest(client, owner, algo, START, MAIN_END)
    later = backtest(client, owner, algo, MAIN_END, OOS_END)
    cheap = backtest(client, owner, algo, START, MAIN_END, fee_rate=0.001)
    return {"algo": algo, "main": main, "later": later, "cheap": cheap}


@pytest.fixture
def policy_reset(client: TestClient, owner: dict[str, str]) -> Iterator[None]:
    defaults = client.get(f"{API}/promotion-policy", headers=owner).json()
    yield
    assert client.put(f"{API}/promotion-policy", headers=owner, json=defaults).status_code == 200


HOLD = """import pandas as pd
from app.lab.sdk import Algorithm


class Hold(Algorithm):
    algorithm_type = "rule"

    def predict(self, X):
        return pd.Series(1.0, index=X.index)
"""


def failed_required(body: dict[str, Any]) -> set[str]:
    return {i["key"] for i in body["checklist"] if i["required"] and not i["passed"]}


def test_a_good_template_backtest_is_promoted(
    client: TestClient, owner: dict[str, str], good: dict[str, str]
) -> None:
    body = promotion_body([good["main"], good["later"]])
    checked = client.post(
        f"{API}/algorithms/{good['algo']}/promotion-check", headers=owner, json=body
    )
    assert checked.status_code == 200, checked.text
    report = checked.json()
    assert report["passed"] is True and report["release_id"] is None, report
    keys = {i["key"] for i in report["checklist"]}
    assert keys == {
        "evidence_matches",
        "min_span_days",
        "min_round_trips",
        "min_sharpe",
        "max_drawdown",
        "lookahead",
        "out_of_sample",
        "fees_match_execution",
        "resources",
    }
    for item in report["checklist"]:
        assert item["passed"], item
        assert item["detail"]
    span = next(i for i in report["checklist"] if i["key"] == "min_span_days")
    assert span["threshold"] == 90 and span["measured"] >= 90
    # Nothing was created by the check.
    assert client.get(f"{API}/releases", headers=owner).json()["count"] == 0

    made = client.post(f"{API}/algorithms/{good['algo']}/promote", headers=owner, json=body)
    assert made.status_code == 201, made.text
    release_id = made.json()["release_id"]
    assert release_id
    algo = client.get(f"{API}/algorithms/{good['algo']}", headers=owner).json()
    assert algo["status"] == "deployable"

    release = client.get(f"{API}/releases/{release_id}", headers=owner).json()
    assert release["algorithm_id"] == good["algo"]
    assert release["costs"]["execution_style"] == "instant"
    assert float(release["costs"]["fee_rate"]) == pytest.approx(0.01)
    assert set(release["libraries"]) == {"python", "numpy", "pandas", "scikit-learn"}
    assert release["evidence"]["backtest_run_ids"] == [good["main"], good["later"]]
    assert len(release["content_hash"]) == 64 and release["in_use"] is False
    assert "class MovingAverageCrossover" in release["code"]

    listed = client.get(f"{API}/releases", headers=owner, params={"algorithm_id": good["algo"]})
    assert [r["id"] for r in listed.json()["data"]] == [release_id]

    bundle = client.get(f"{API}/releases/{release_id}/bundle", headers=owner)
    assert bundle.status_code == 200 and bundle.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert zf.read("algorithm.py").decode() == release["code"]
    assert manifest["content_hash"] == release["content_hash"]
    assert manifest["parameters"] == release["parameters"]
    # The same content again is the same release (content-addressed), not a copy.
    again = client.post(f"{API}/algorithms/{good['algo']}/promote", headers=owner, json=body)
    assert again.status_code == 201 and again.json()["release_id"] == release_id
    # Other costs are other content: a new release with another hash.
    slipped = client.post(
        f"{API}/algorithms/{good['algo']}/promote",
        headers=owner,
        json={**body, "slippage_bps": 5},
    )
    assert slipped.status_code == 201 and slipped.json()["release_id"] != release_id
    other = client.get(f"{API}/releases/{slipped.json()['release_id']}", headers=owner).json()
    assert other["content_hash"] != release["content_hash"]

    audit = client.get(
        "/api/v1/audit", headers=owner, params={"object_type": "release", "object_id": release_id}
    ).json()
    assert [e["action"] for e in audit["data"]] == ["release.create"]
    assert audit["data"][0]["after"]["algorithm_status"] == {
        "before": "draft",
        "after": "deployable",
    }


@pytest.mark.parametrize(
    ("criterion", "policy", "evidence"),
    [
        ("min_span_days", {"min_span_days": {"threshold": 200}}, None),
        ("min_round_trips", {"min_round_trips": {"threshold": 100000}}, None),
        ("min_sharpe", {"min_sharpe": {"threshold": 9.5}}, "hold"),
        ("max_drawdown", {"max_drawdown": {"threshold": 0.0001}}, None),
        ("out_of_sample", {}, "main_only"),
        ("fees_match_execution", {}, "cheap"),
        ("resources", {"resources": {"threshold": 100}}, "slow"),
        ("lookahead", {}, "peek"),
    ],
)
def test_each_criterion_refuses_with_that_criterion_marked(
    client: TestClient,
    owner: dict[str, str],
    good: dict[str, str],
    policy_reset: None,
    criterion: str,
    policy: dict[str, Any],
    evidence: str | None,
) -> None:
    del policy_reset
    if policy:
        assert client.put(f"{API}/promotion-policy", headers=owner, json=policy).status_code == 200
    algo = good["algo"]
    runs = [good["main"], good["later"]]
    if evidence == "main_only":
        runs = [good["main"]]
    elif evidence == "cheap":
        runs = [good["cheap"], good["later"]]
    elif evidence in ("slow", "peek", "hold"):
        code = {"slow": SLOW_PREDICT, "peek": PEEK, "hold": HOLD}[evidence]
        algo = new_algorithm(client, owner, code=code)
        # The policy's other criteria are made advisory: only the one under test decides.
        advisory = {
            k: {"required": False}
            for k in (
                "min_span_days",
                "min_round_trips",
                "min_sharpe",
                "max_drawdown",
                "out_of_sample",
            )
            if k != criterion
        }
        client.put(f"{API}/promotion-policy", headers=owner, json=advisory)
        runs = [backtest(client, owner, algo, START, START.replace(day=15))]
    refused = client.post(
        f"{API}/algorithms/{algo}/promote", headers=owner, json=promotion_body(runs)
    )
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert failed_required(body) == {criterion}, body["checklist"]
    assert criterion in error_text(refused) and body["passed"] is False
    item = next(i for i in body["checklist"] if i["key"] == criterion)
    assert item["passed"] is False and item["detail"]

    # Made advisory, the same criterion no longer blocks: it is shown as failed.
    relaxed = client.put(
        f"{API}/promotion-policy", headers=owner, json={criterion: {"required": False}}
    )
    assert relaxed.status_code == 200
    checked = client.post(
        f"{API}/algorithms/{algo}/promotion-check", headers=owner, json=promotion_body(runs)
    ).json()
    assert checked["passed"] is True
    shown = next(i for i in checked["checklist"] if i["key"] == criterion)
    assert shown["passed"] is False and shown["required"] is False


def test_policy_edits_are_validated_audited_and_private(
    client: TestClient, owner: dict[str, str], policy_reset: None
) -> None:
    del policy_reset
    default = client.get(f"{API}/promotion-policy", headers=owner).json()
    assert default["min_span_days"] == {"required": True, "threshold": 90.0}
    assert default["min_round_trips"]["threshold"] == 20
    assert default["min_sharpe"]["threshold"] == 0.5
    assert default["max_drawdown"]["threshold"] == 0.3
    for bad, field in (
        ({"max_drawdown": {"threshold": 0}}, "max_drawdown"),
        ({"min_round_trips": {"threshold": -1}}, "min_round_trips"),
        ({"nonsense": {"required": True}}, "nonsense"),
        ({"min_sharpe": {"threshold": "high"}}, "min_sharpe"),
    ):
        r = client.put(f"{API}/promotion-policy", headers=owner, json=bad)
        assert r.status_code == 422, bad
        assert field in json.dumps(r.json()["detail"])
    changed = client.put(
        f"{API}/promotion-policy", headers=owner, json={"min_sharpe": {"threshold": 1.25}}
    ).json()
    assert changed["min_sharpe"]["threshold"] == 1.25
    assert changed["max_drawdown"] == default["max_drawdown"]
    stranger = headers_for_new_user(client)
    assert client.get(f"{API}/promotion-policy", headers=stranger).json() == default
    entries = client.get(
        "/api/v1/audit", headers=owner, params={"object_type": "promotion_policy"}
    ).json()["data"]
    assert entries[0]["after"]["min_sharpe"]["threshold"] == 1.25
    assert entries[0]["before"]["min_sharpe"]["threshold"] == 0.5
    assert client.get("/api/v1/audit", headers=stranger, params={"all": True}).status_code == 403


def test_bad_evidence_is_refused_naming_the_field(
    client: TestClient, owner: dict[str, str], good: dict[str, str]
) -> None:
    url = f"{API}/algorithms/{good['algo']}/promote"
    missing = client.post(url, headers=owner, json=promotion_body([str(uuid.uuid4())]))
    assert missing.status_code == 422
    assert "evidence.backtest_run_ids[0]" in error_text(missing)
    empty = client.post(url, headers=owner, json={"evidence": {"backtest_run_ids": []}})
    assert empty.status_code == 422 and "backtest_run_ids" in json.dumps(empty.json()["detail"])
    other_algo = new_algorithm(client, owner, template="ma_crossover")
    wrong = client.post(
        f"{API}/algorithms/{other_algo}/promote", headers=owner, json=promotion_body([good["main"]])
    )
    assert wrong.status_code == 422 and "another algorithm" in error_text(wrong)
    bad_params = client.post(
        url, headers=owner, json=promotion_body([good["main"]], parameters={"fast": 0})
    )
    assert bad_params.status_code == 422 and "parameters" in error_text(bad_params)
    # Parameters that differ from the evidence's fail the always-required match.
    other_params = client.post(
        url,
        headers=owner,
        json=promotion_body([good["main"], good["later"]], parameters={"fast": 13}),
    )
    assert other_params.status_code == 422
    assert "evidence_matches" in failed_required(other_params.json())
    training = client.post(
        url,
        headers=owner,
        json=promotion_body(
            [good["main"]],
            training={"start": START.isoformat(), "end": MAIN_END.isoformat()},
        ),
    )
    assert training.status_code == 422 and "training" in error_text(training)
    style = client.post(
        url, headers=owner, json={**promotion_body([good["main"]]), "execution_style": "fast"}
    )
    assert style.status_code == 422 and "execution_style" in json.dumps(style.json()["detail"])


def test_someone_elses_algorithm_and_release_are_404(
    client: TestClient, owner: dict[str, str], good: dict[str, str]
) -> None:
    made = client.post(
        f"{API}/algorithms/{good['algo']}/promote",
        headers=owner,
        json=promotion_body([good["main"], good["later"]]),
    )
    release_id = made.json()["release_id"]
    stranger = headers_for_new_user(client)
    body = promotion_body([good["main"], good["later"]])
    for path in ("promote", "promotion-check"):
        r = client.post(f"{API}/algorithms/{good['algo']}/{path}", headers=stranger, json=body)
        assert r.status_code == 404, r.text
    for url in (f"{API}/releases/{release_id}", f"{API}/releases/{release_id}/bundle"):
        assert client.get(url, headers=stranger).status_code == 404
    assert client.delete(f"{API}/releases/{release_id}", headers=stranger).status_code == 404
    assert client.get(f"{API}/releases", headers=stranger).json()["count"] == 0
    # A stranger's own algorithm cannot use the owner's runs as evidence.
    theirs = new_algorithm(client, stranger, template="ma_crossover")
    r = client.post(f"{API}/algorithms/{theirs}/promote", headers=stranger, json=body)
    assert r.status_code == 422 and "no backtest run" in error_text(r)


def test_releases_are_immutable_and_deletable_only_when_unused(
    client: TestClient, owner: dict[str, str], good: dict[str, str], db: Session
) -> None:
    body = promotion_body([good["main"], good["later"]], slippage_bps=7)
    release_id = client.post(
        f"{API}/algorithms/{good['algo']}/promote", headers=owner, json=body
    ).json()["release_id"]
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="immutable"):
        conn.execute(
            sa.text("UPDATE releases SET parameters = '{}'::jsonb WHERE id = :id"),
            {"id": release_id},
        )
    assert client.patch(f"{API}/releases/{release_id}", headers=owner, json={}).status_code == 405
    assert client.delete(f"{API}/releases/{release_id}", headers=owner).status_code == 204
    assert client.get(f"{API}/releases/{release_id}", headers=owner).status_code == 404
    # An archived (retired) algorithm is not promoted.
    algorithm = db.get(Algorithm, uuid.UUID(good["algo"]))
    assert algorithm is not None
    status_before = algorithm.status
    algorithm.status = "archived"
    db.add(algorithm)
    db.commit()
    try:
        r = client.post(f"{API}/algorithms/{good['algo']}/promote", headers=owner, json=body)
        assert r.status_code == 409 and "archived" in error_text(r)
    finally:
        algorithm.status = status_before
        db.add(algorithm)
        db.commit()
