"""The five templates: they validate, run in the sandbox (fit where they learn), return
positions in [0, 1], and are causal — a decision never changes when later bars are removed."""

import numpy as np
import pandas as pd
import pytest

from app.lab.sandbox import CausalityJob, FitJob, PredictJob, SandboxPool
from app.lab.templates import TEMPLATES, get_template
from app.lab.validation import validate_code

pytestmark = pytest.mark.anyio

KEYS = [t.key for t in TEMPLATES]


def test_there_are_five_templates_of_every_kind() -> None:
    assert set(KEYS) == {
        "ma_crossover",
        "mean_reversion",
        "ml_regression",
        "ml_classification",
        "rl_qlearning",
    }
    assert {t.type for t in TEMPLATES} == {"rule", "ml", "rl"}
    with pytest.raises(KeyError):
        get_template("nope")


@pytest.mark.parametrize("key", KEYS)
def test_each_template_validates_with_a_bounded_parameter_schema(key: str) -> None:
    template = get_template(key)
    result = validate_code(template.source)
    assert result.valid, result.errors
    assert result.class_name == template.class_name
    assert result.algorithm_type == template.type
    schema = result.parameter_schema
    assert schema is not None and schema["properties"]
    for name, spec in schema["properties"].items():
        assert "default" in spec, name
        if spec.get("type") in ("integer", "number"):
            assert ("minimum" in spec or "exclusiveMinimum" in spec) and (
                "maximum" in spec or "exclusiveMaximum" in spec
            ), name


async def _positions(
    pool: SandboxPool, key: str, frame: pd.DataFrame
) -> tuple[np.ndarray, bytes | None]:
    template = get_template(key)
    if template.type == "rule":
        predicted = await pool.predict(PredictJob(code=template.source, frame=frame))
        return predicted.positions, None
    split = len(frame) * 2 // 3
    fitted = await pool.fit(
        FitJob(code=template.source, frame=frame.iloc[:split], predict_frame=frame)
    )
    assert fitted.positions is not None
    return fitted.positions, fitted.model


@pytest.mark.parametrize("key", KEYS)
async def test_each_template_runs_in_the_sandbox_and_is_causal(
    pool: SandboxPool, coin_frame: pd.DataFrame, key: str
) -> None:
    positions, model = await _positions(pool, key, coin_frame)
    assert positions.shape == (len(coin_frame),)
    assert np.isfinite(positions).all() and positions.min() >= 0 and positions.max() <= 1
    template = get_template(key)
    check = await pool.check_causality(
        CausalityJob(code=template.source, frame=coin_frame, model=model, samples=12)
    )
    assert len(check.checked_bars) >= 10
    assert check.causal, (key, check.first_difference_at)
    np.testing.assert_allclose(check.positions, positions)


async def test_a_rule_that_trades_at_all_changes_position(
    pool: SandboxPool, coin_frame: pd.DataFrame
) -> None:
    positions, _ = await _positions(pool, "ma_crossover", coin_frame)
    assert 0 < positions.mean() < 1
    assert int((np.diff(positions) != 0).sum()) > 5


async def test_an_algorithm_that_peeks_ahead_is_caught(
    pool: SandboxPool, coin_frame: pd.DataFrame
) -> None:
    peeking = (
        "import pandas as pd\nfrom app.lab.sdk import Algorithm, to_positions\n\n\n"
        'class Peek(Algorithm):\n    algorithm_type = "rule"\n\n'
        "    def predict(self, X):\n"
        '        tomorrow = X["last"].shift(-1)\n'
        '        return to_positions((tomorrow > X["last"]).astype(float))\n'
    )
    check = await pool.check_causality(CausalityJob(code=peeking, frame=coin_frame, samples=12))
    assert not check.causal
    assert check.first_difference_at is not None
    assert check.first_difference is not None and 0 <= check.first_difference < len(coin_frame)


async def test_fitted_models_travel_as_opaque_blobs_and_predict_later(
    pool: SandboxPool, coin_frame: pd.DataFrame
) -> None:
    template = get_template("ml_classification")
    fitted = await pool.fit(FitJob(code=template.source, frame=coin_frame.iloc[:2000]))
    assert isinstance(fitted.model, bytes) and len(fitted.model) > 100
    later = await pool.predict(
        PredictJob(code=template.source, frame=coin_frame, model=fitted.model)
    )
    again = await pool.predict(
        PredictJob(code=template.source, frame=coin_frame, model=fitted.model)
    )
    np.testing.assert_array_equal(later.positions, again.positions)
