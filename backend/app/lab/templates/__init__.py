"""Algorithm templates: working examples users start from.

Each template is a Python source file in this folder, written as a user would write Lab
code (it imports only the SDK and allowed modules), plus metadata. `TEMPLATES` lists them;
`get_template(key)` finds one; `Template.source` is the code to put in the editor.
"""

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

TemplateType = Literal["rule", "ml", "rl"]

_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Template:
    key: str
    name: str
    description: str
    type: TemplateType
    class_name: str
    filename: str

    @cached_property
    def source(self) -> str:
        return (_HERE / self.filename).read_text(encoding="utf-8")


TEMPLATES: tuple[Template, ...] = (
    Template(
        key="ma_crossover",
        name="Moving-average crossover",
        description=(
            "Trend following: hold the coin while a fast moving average is above a slow one, "
            "with an optional dead band against whipsaws."
        ),
        type="rule",
        class_name="MovingAverageCrossover",
        filename="ma_crossover.py",
    ),
    Template(
        key="mean_reversion",
        name="Mean reversion (z-score)",
        description=(
            "Buy when the price falls a number of standard deviations below its rolling mean, "
            "sell once it has come back."
        ),
        type="rule",
        class_name="MeanReversion",
        filename="mean_reversion.py",
    ),
    Template(
        key="ml_regression",
        name="ML regression (ridge forecast)",
        description=(
            "Predict the next bar's return from lagged price features with a ridge regression; "
            "hold while the forecast beats a threshold."
        ),
        type="ml",
        class_name="RidgeReturnForecast",
        filename="ml_regression.py",
    ),
    Template(
        key="ml_classification",
        name="ML classification (up/down)",
        description=(
            "A gradient-boosting classifier estimates the probability of an up move; hold "
            "while it is above a threshold."
        ),
        type="ml",
        class_name="UpDownClassifier",
        filename="ml_classification.py",
    ),
    Template(
        key="rl_qlearning",
        name="Reinforcement learning (Q-learning)",
        description=(
            "A Gymnasium-style trading environment and a tabular Q-learning agent on "
            "discretised z-score states; reward = next-bar P&L after fees."
        ),
        type="rl",
        class_name="QLearningTrader",
        filename="rl_qlearning.py",
    ),
)

_BY_KEY = {t.key: t for t in TEMPLATES}


def get_template(key: str) -> Template:
    """The template with this key; KeyError when there is none."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise KeyError(f"no template {key!r}; templates: {', '.join(_BY_KEY)}") from None
