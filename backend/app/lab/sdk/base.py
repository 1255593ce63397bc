"""`Algorithm`, the base class of every Lab algorithm.

An algorithm is a scikit-learn estimator whose ``predict`` returns target positions::

    from app.lab.sdk import Algorithm, Int, price, sma, to_positions

    class MovingAverageCrossover(Algorithm):
        \"\"\"Hold the coin while the fast average is above the slow one.\"\"\"

        algorithm_type = "rule"
        fast = Int(12, ge=2, le=500, description="Bars in the fast average")
        slow = Int(48, ge=5, le=2000, description="Bars in the slow average")

        def predict(self, X):
            p = price(X)
            return to_positions(sma(p, self.fast) > sma(p, self.slow))

The rules:

- Write exactly one subclass of `Algorithm` per algorithm; declare its parameters as class
  attributes (`Int`, `Float`, `Bool`, `Choice`) and do not write ``__init__``: the class
  gets a constructor taking the parameters as keyword arguments, like any scikit-learn
  estimator (``MovingAverageCrossover(fast=5)``), with ``get_params`` and ``set_params``.
- ``X`` is a `pandas.DataFrame` of price bars indexed by UTC timestamp, oldest first, with
  the columns ``bid``, ``ask`` and ``last`` (AUD per coin) and possibly more. It holds only
  the bars where the coin has a price: short gaps (up to the run's ``ffill_limit``) are
  filled with the last price, longer gaps are removed. So the index may jump, and a rolling
  window of 12 rows spans 12 priced bars, which can be more than an hour when it spans a
  gap. The run's data summary (``results.data``) lists the gaps.
- ``predict(X)`` returns one target position per row of ``X``: the fraction of the capital
  to hold in the coin after that bar, in [0, 1], and a finite number (NaN is refused: to
  mean "no opinion yet" return 0, or use `to_positions`). It must be causal: the position at
  bar t may only use rows up to t. The Lab checks this by predicting on frames cut off at
  every bar where the position changes (and at a sample of other bars) and flags the run
  when a position changes; the helpers in `app.lab.sdk.features` are causal by construction.
- How positions become orders: the decision at bar t fills at the next bar with a real price
  (never on a forward-filled bar), buys at the ask and sells at the bid. An order is placed
  only when the position changes; one smaller than the run's minimum order size is skipped
  and not retried until the position changes again.
- ``fit(X, y=None)`` is optional (rule-based algorithms have nothing to learn). Machine-
  learning algorithms train on the frame they are given and store what they learn in
  attributes ending in ``_`` (scikit-learn's convention, e.g. ``self.model_``). Labels may
  look one bar ahead (`forward_returns`), but only inside ``fit``.
- ``score(X, y=None)`` defaults to the annualised Sharpe ratio of the positions on ``X``
  after fees (see `app.lab.sdk.scoring`), so scikit-learn's model selection can rank
  parameter sets: ``GridSearchCV(algo, {"fast": [6, 12]}, cv=TimeSeriesSplit(4)).fit(X)``.
- Set ``algorithm_type`` to ``"rule"``, ``"ml"`` or ``"rl"`` to tell the Lab what kind of
  algorithm it is (optional).
- Declare relations between parameters as ``constraints = ("fast < slow",)`` (optional):
  literal strings ``name op name-or-number`` with op one of ``< <= > >= !=``. The parameter
  form, backtests and sweeps check them before anything runs (see `app.lab.constraints`).
"""

import inspect
from typing import Any, ClassVar, Self

import pandas as pd
from sklearn.base import BaseEstimator

from app.lab.sdk.params import Param, ParameterError, declared_params, object_schema
from app.lab.sdk.scoring import DEFAULT_FEE, backtest_sharpe

ALGORITHM_TYPES = ("rule", "ml", "rl")


class Algorithm(BaseEstimator):
    """Base class of Lab algorithms: a scikit-learn estimator that predicts target positions.

    See the module documentation for the contract. Subclasses override `predict`, and `fit`
    when they learn from data.
    """

    #: "rule", "ml" or "rl"; shown in the Lab. None when not declared.
    algorithm_type: ClassVar[str | None] = None
    #: Relations between parameters, e.g. ("fast < slow",); checked before every run.
    constraints: ClassVar[tuple[str, ...]] = ()
    #: The fee rate `score` charges on every change of position.
    fee: ClassVar[float] = DEFAULT_FEE

    def __init__(self, **params: Any) -> None:
        declared = declared_params(type(self))
        unknown = sorted(set(params) - set(declared))
        if unknown:
            known = ", ".join(declared) or "none"
            raise ParameterError(
                f"{type(self).__name__} has no parameter {', '.join(map(repr, unknown))} "
                f"(its parameters: {known})"
            )
        for name, declaration in declared.items():
            setattr(self, name, params.get(name, declaration.default))

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} must not define __init__: declare parameters as class "
                "attributes (Int, Float, Bool, Choice) and set up state in fit()"
            )
        if cls.algorithm_type is not None and cls.algorithm_type not in ALGORITHM_TYPES:
            raise TypeError(
                f"algorithm_type must be one of {', '.join(ALGORITHM_TYPES)}, "
                f"got {cls.algorithm_type!r}"
            )
        params = declared_params(cls)

        def __init__(self: Algorithm, **params: Any) -> None:
            Algorithm.__init__(self, **params)

        # A real signature, so that scikit-learn (clone, repr) and help() see the parameters.
        __init__.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
            + [
                inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=p.default)
                for name, p in params.items()
            ]
        )
        __init__.__qualname__ = f"{cls.__qualname__}.__init__"
        __init__.__doc__ = f"Create a {cls.__name__} (parameters as keyword arguments)."
        type.__setattr__(cls, "__init__", __init__)

    @classmethod
    def _get_param_names(cls) -> list[str]:
        return sorted(declared_params(cls))

    @classmethod
    def parameters(cls) -> dict[str, Param[Any]]:
        """The declared parameters, by name."""
        return declared_params(cls)

    @classmethod
    def parameter_schema(cls) -> dict[str, Any]:
        """The parameters as a JSON schema (an object with one property per parameter)."""
        return object_schema(cls.__name__, declared_params(cls))

    def fit(self, X: pd.DataFrame, y: Any = None) -> Self:
        """Learn from the price bars `X` (oldest first). The default learns nothing."""
        return self

    def predict(self, X: pd.DataFrame) -> Any:
        """One target position in [0, 1] per row of `X`, each using only rows up to its own."""
        raise NotImplementedError(f"{type(self).__name__} must define predict(self, X)")

    def score(self, X: pd.DataFrame, y: Any = None) -> float:
        """Annualised Sharpe ratio of this algorithm's positions on `X`, after fees."""
        return backtest_sharpe(X, self.predict(X), fee=self.fee)
