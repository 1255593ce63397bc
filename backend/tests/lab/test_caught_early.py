"""Mistakes caught before or explained after a run (issue 15): undefined names at validation,
parameter constraints (fast < slow) in runs and sweeps, runtime errors with the user's line,
and warnings on results (warm-up longer than the data, churn, short-run annualising)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from app.collector.bulk import store_frames
from app.lab.backtests.advice import run_warnings
from app.lab.sdk.params import ParameterError
from app.lab.validation import check_parameters, validate_code
from tests.lab.test_backtests_api import API, algorithm, finished, headers_for_new_user
from tests.utils import error_text

START = datetime(2025, 7, 1, tzinfo=UTC)
DAYS = 3
END = START + timedelta(days=DAYS) - timedelta(minutes=5)

CODE = """import pandas as pd
from app.lab.sdk import Algorithm, Int, price, sma, to_positions


class Cross(Algorithm):
    fast = Int(5, ge=2, le=5000)
    slow = Int(20, ge=3, le=5000)
    constraints = ("fast < slow",)

    def predict(self, X):
        p = price(X)
        return to_positions((sma(p, self.fast) > sma(p, {slow})).astype(float))
"""


@pytest.fixture(scope="module", autouse=True)
def prices() -> None:
    rng = np.random.default_rng(9)
    index = pd.date_range(START, periods=DAYS * 288, freq="5min", tz=UTC)
    last = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, len(index))))
    frame = pd.DataFrame(
        {
            "timestamp": index,
            "coin_type": "EARLY",
            "bid": last * 0.999,
            "ask": last * 1.001,
            "last": last,
            "source": "synthetic",
        }
    )
    store_frames([frame])


def run_body(algo_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "algorithm_id": algo_id,
        "coins": ["EARLY"],
        "start": START.isoformat(),
        "end": END.isoformat(),
        **extra,
    }


def test_an_undefined_name_is_refused_with_its_line() -> None:
    result = validate_code(CODE.format(slow="slwo"))
    assert not result.valid
    assert [(e.line, e.message) for e in result.errors] == [(12, "'slwo' is not defined (a typo?)")]
    # Names from imports, the module, builtins, comprehensions and `self.` are fine.
    assert validate_code(CODE.format(slow="self.slow")).valid


def test_constraints_are_declared_in_the_schema_and_checked() -> None:
    result = validate_code(CODE.format(slow="self.slow"))
    schema = result.parameter_schema
    assert schema is not None
    assert schema["x-constraints"] == [
        {"text": "fast < slow", "left": "fast", "op": "<", "right": "slow"}
    ]
    assert check_parameters(schema, {"fast": 5, "slow": 20}) == {"fast": 5, "slow": 20}
    with pytest.raises(ParameterError, match=r"fast \(20\) must be less than slow \(20\)"):
        check_parameters(schema, {"fast": 20, "slow": 20})
    bad = validate_code(CODE.format(slow="self.slow").replace("fast < slow", "fast < slw"))
    assert not bad.valid and "'slw' is not a numeric parameter" in bad.errors[0].message
    bad = validate_code(CODE.format(slow="self.slow").replace('("fast < slow",)', "[1]"))
    assert not bad.valid and "tuple of literal strings" in bad.errors[0].message


def test_runs_and_sweeps_check_the_constraints(client: TestClient) -> None:
    headers = headers_for_new_user(client)
    algo_id = algorithm(client, headers, template="ma_crossover")
    refused = client.post(
        f"{API}/backtest",
        headers=headers,
        json=run_body(algo_id, parameters={"fast": 48, "slow": 12}),
    )
    assert refused.status_code == 422
    assert "fast (48) must be less than slow (12)" in error_text(refused)

    sweep = {
        **run_body(algo_id),
        "parameters": {"fast": {"values": [6, 24, 48]}, "slow": {"values": [12, 36]}},
        "metric": "total_return",
    }
    response = client.post(f"{API}/sweep", headers=headers, json=sweep)
    assert response.status_code == 202, response.text
    done = finished(client, headers, response.json()["id"], path="sweep")
    assert done["status"] == "succeeded", done["error"]
    pairs = {(r["params"]["fast"], r["params"]["slow"]) for r in done["results"]["rows"]}
    assert pairs == {(6, 12), (6, 36), (24, 36)}
    assert done["space"]["skipped_by_constraints"] == 3

    none_left = {**sweep, "parameters": {"fast": {"values": [48]}, "slow": {"values": [12, 36]}}}
    refused = client.post(f"{API}/sweep", headers=headers, json=none_left)
    assert refused.status_code == 422
    assert "no combination satisfies" in error_text(refused)


def test_a_runtime_error_names_the_users_line_and_frames(client: TestClient) -> None:
    headers = headers_for_new_user(client)
    code = CODE.format(slow="self.slow").replace(
        "        p = price(X)\n", "        p = price(X)\n        missing = X['volume_not_here']\n"
    )
    algo_id = algorithm(client, headers, code=code)
    response = client.post(f"{API}/backtest", headers=headers, json=run_body(algo_id))
    assert response.status_code == 202, response.text
    run = finished(client, headers, response.json()["id"])
    assert run["status"] == "failed"
    error = run["error"]
    assert error.startswith("KeyError at line 12 of your code:"), error
    assert "line 12, in predict" in error and "missing = X['volume_not_here']" in error
    assert "site-packages" not in error and "/app/" not in error


def test_a_warm_up_longer_than_the_range_is_a_warning(client: TestClient) -> None:
    headers = headers_for_new_user(client)
    algo_id = algorithm(client, headers, code=CODE.format(slow="self.slow"))
    response = client.post(
        f"{API}/backtest",
        headers=headers,
        json=run_body(algo_id, parameters={"fast": 5, "slow": 5000}),
    )
    assert response.status_code == 202, response.text
    run = finished(client, headers, response.json()["id"])
    assert run["status"] == "succeeded", run["error"]
    codes = [w["code"] for w in run["results"]["warnings"]]
    assert "warmup_longer_than_data" in codes
    message = next(w["message"] for w in run["results"]["warnings"] if w["code"] == codes[0])
    assert "slow = 5000 bars is longer than the" in message


def test_churn_and_short_runs_are_called_out() -> None:
    schema = {"properties": {"window": {"type": "integer"}}}
    metrics = {"bars": 4032, "trades": 804, "fees_paid": 1600.0, "years": 14 / 365}
    warnings = run_warnings(
        metrics=metrics,
        schema=schema,
        parameters={"window": 12},
        held_any=True,
        starting_cash=10_000,
    )
    by_code = {w["code"]: w["message"] for w in warnings}
    assert "fees ate 16.0% of the starting cash" in by_code["high_turnover"]
    assert "covers 14 days" in by_code["short_run_annualised"]
    calm = run_warnings(
        metrics={"bars": 100_000, "trades": 10, "fees_paid": 20.0, "years": 1.0},
        schema=schema,
        parameters={"window": 12},
        held_any=True,
        starting_cash=10_000,
    )
    assert calm == []
