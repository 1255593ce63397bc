"""Static validation of Lab code: syntax, interface, import policy, parameter schema — each
problem with its line number; and parameter values checked against the schema."""

import pytest

from app.lab.sdk import ParameterError
from app.lab.validation import check_parameters, validate_code

GOOD = """import pandas as pd
from app.lab.sdk import Algorithm, Int, to_positions


class Good(Algorithm):
    algorithm_type = "rule"
    window = Int(10, ge=2, le=100, description="bars")

    def predict(self, X):
        return to_positions(X["last"] > X["last"].rolling(self.window).mean())
"""


def test_valid_code_gives_its_class_type_and_schema() -> None:
    result = validate_code(GOOD)
    assert result.valid and result.errors == []
    assert result.class_name == "Good" and result.algorithm_type == "rule"
    assert result.parameter_schema is not None
    assert result.parameter_schema["properties"]["window"]["maximum"] == 100


@pytest.mark.parametrize(
    ("code", "line", "words"),
    [
        ("def broken(:\n    pass\n", 1, "syntax"),
        ("import pandas as pd\n\n\nx = 1\n", None, "Algorithm"),
        (GOOD.replace("import pandas as pd", "import requests"), 1, "requests"),
        (
            GOOD.replace(
                "        return to_positions", "        eval('1')\n        return to_positions"
            ),
            10,
            "eval",
        ),
        (GOOD.replace("window = Int(10, ge=2, le=100", "window = Int(10, ge=2"), 7, "le"),
        (GOOD.replace("window = Int(10,", "window = Int(1000,"), 7, "window"),
    ],
)
def test_problems_are_reported_with_line_numbers(code: str, line: int | None, words: str) -> None:
    result = validate_code(code)
    assert not result.valid
    assert any(words.lower() in e.message.lower() for e in result.errors), [
        e.message for e in result.errors
    ]
    if line is not None:
        assert any(e.line == line for e in result.errors), [e.model_dump() for e in result.errors]


def test_check_parameters_fills_defaults_and_lists_every_problem() -> None:
    schema = validate_code(GOOD).parameter_schema
    assert schema is not None
    assert check_parameters(schema, {}) == {"window": 10}
    assert check_parameters(schema, {"window": 20.0}) == {"window": 20}
    with pytest.raises(ParameterError) as refused:
        check_parameters(schema, {"window": 1, "speed": 3})
    message = str(refused.value)
    assert "window must be >= 2" in message and "unknown parameter 'speed'" in message
