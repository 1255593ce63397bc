"""The algorithm SDK: scikit-learn conventions, declared parameters, causal features."""

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline

from app.lab.sdk import (
    Algorithm,
    Bool,
    Choice,
    Float,
    Int,
    LaggedReturns,
    ParameterError,
    TradingEnv,
    ema,
    price,
    returns,
    rsi,
    sma,
    to_positions,
    zscore,
)


class Cross(Algorithm):
    algorithm_type = "rule"
    fast = Int(5, ge=2, le=100, description="fast")
    slow = Int(20, ge=3, le=500)
    band = Float(0.0, ge=0.0, le=0.1)
    source = Choice("last", options=("last", "mid"))
    enabled = Bool(True)

    def predict(self, X: pd.DataFrame) -> pd.Series:
        p = price(X, str(self.source))
        return to_positions((sma(p, int(self.fast)) > sma(p, int(self.slow))).astype(float))


def test_parameters_follow_scikit_learn_conventions(coin_frame: pd.DataFrame) -> None:
    algo = Cross(fast=7)
    assert algo.get_params() == {
        "fast": 7,
        "slow": 20,
        "band": 0.0,
        "source": "last",
        "enabled": True,
    }
    algo.set_params(slow=30)
    assert algo.slow == 30
    twin = clone(algo)
    assert twin.get_params() == algo.get_params() and twin is not algo
    assert algo.fit(coin_frame) is algo
    assert isinstance(algo.score(coin_frame), float)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fast": 1}, "fast"),
        ({"band": 0.5}, "band"),
        ({"source": "open"}, "source"),
        ({"speed": 3}, "speed"),
        ({"fast": 2.5}, "fast"),
    ],
)
def test_out_of_bounds_or_unknown_parameters_are_refused(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises((ParameterError, TypeError)) as refused:
        Cross(**kwargs)
    assert message in str(refused.value)


def test_the_parameter_schema_is_json_schema_with_bounds() -> None:
    schema = Cross.parameter_schema()
    props = schema["properties"]
    assert props["fast"] == {
        **props["fast"],
        "type": "integer",
        "minimum": 2,
        "maximum": 100,
        "default": 5,
    }
    assert props["source"]["enum"] == ["last", "mid"]
    assert props["enabled"]["type"] == "boolean"


def test_features_match_pandas_and_are_causal(coin_frame: pd.DataFrame) -> None:
    p = price(coin_frame)
    pd.testing.assert_series_equal(sma(p, 10), p.rolling(10).mean(), check_names=False)
    expected_ema = p.ewm(span=10, adjust=False).mean()
    assert ema(p, 10).iloc[:9].isna().all()  # NaN until a full span has been seen
    np.testing.assert_allclose(ema(p, 10).iloc[9:], expected_ema.iloc[9:])
    pd.testing.assert_series_equal(returns(p), p.pct_change(), check_names=False)
    z = zscore(p, 20)
    expected = (p - p.rolling(20).mean()) / p.rolling(20).std()
    np.testing.assert_allclose(z.dropna(), expected.dropna(), rtol=1e-9)
    r = rsi(p, 14).dropna()
    assert ((r >= 0) & (r <= 100)).all()
    # Causal: values up to bar t are the same when the frame ends at t.
    features: list[Callable[[pd.Series], pd.Series]] = [
        lambda s: sma(s, 10),
        lambda s: ema(s, 10),
        lambda s: zscore(s, 20),
        lambda s: rsi(s, 14),
    ]
    for feature in features:
        full = feature(p)
        for t in (50, 500, 3000):
            cut = feature(p.iloc[: t + 1])
            np.testing.assert_allclose(
                full.iloc[: t + 1].to_numpy(), cut.to_numpy(), equal_nan=True
            )


def test_feature_transformers_compose_into_a_pipeline(coin_frame: pd.DataFrame) -> None:
    features = LaggedReturns(lags=3)
    X = features.fit_transform(coin_frame)
    assert X.shape == (len(coin_frame), 3)
    y = price(coin_frame).pct_change().shift(-1).fillna(0.0)
    pipeline = Pipeline([("features", LaggedReturns(lags=3)), ("model", Ridge())])
    pipeline.fit(coin_frame.iloc[:2000], y.iloc[:2000])
    assert pipeline.predict(coin_frame).shape == (len(coin_frame),)


def test_to_positions_clips_and_fills() -> None:
    out = to_positions(pd.Series([np.nan, -1.0, 0.3, 2.0]))
    assert list(out) == [0.0, 0.0, 0.3, 1.0]


def test_the_trading_environment_rewards_next_bar_pnl_after_fees(coin_frame: pd.DataFrame) -> None:
    frame = coin_frame.iloc[:100]
    states = np.zeros(len(frame), dtype=int)
    env = TradingEnv(frame, states, positions=[0.0, 1.0], fee=0.001, start=0)
    env.reset()
    _, reward, *_ = env.step(1)
    last = frame["last"].to_numpy()
    # Moving to fully invested pays the fee and earns the next bar's return.
    assert reward == pytest.approx(last[1] / last[0] - 1 - 0.001, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize(
    ("fill", "low", "high"), [(0.0, 0.0, 1.0), (0.5, 0.2, 0.8), (1.0, 0.0, 0.3)]
)
def test_to_positions_on_a_series_is_fillna_then_clip(fill: float, low: float, high: float) -> None:
    """The numpy path gives what pandas' ``fillna(fill).clip(low, high)`` gives, value for
    value (NaN, ±inf, values outside the bounds, ints), and keeps the index and name."""
    from app.lab.sdk import to_positions

    index = pd.date_range("2024-01-01", periods=9, freq="5min", tz="UTC")
    raw = [np.nan, -np.inf, np.inf, -0.5, 0.0, 0.25, 0.9, 1.5, np.nan]
    for signal in (pd.Series(raw, index=index, name="s"), pd.Series(range(9), index=index)):
        expected = signal.astype(np.float64).fillna(fill).clip(low, high)
        got = to_positions(signal, fill=fill, low=low, high=high)
        pd.testing.assert_series_equal(got, expected)


def test_price_without_gaps_is_a_copy_and_with_gaps_carries_forward() -> None:
    from app.lab.sdk import price

    index = pd.date_range("2024-01-01", periods=4, freq="5min", tz="UTC")
    X = pd.DataFrame(
        {"bid": [1.0, 2.0, np.nan, 4.0], "ask": [3.0, 4.0, 5.0, 6.0], "last": [2, 3, 4, 5]},
        index=index,
    )
    last = price(X)
    assert last.dtype == np.float64 and last.name == "last" and last.tolist() == [2, 3, 4, 5]
    last.iloc[0] = 99.0
    assert X["last"].iloc[0] == 2  # a copy: changing it leaves X alone
    assert price(X, "bid").tolist() == [1.0, 2.0, 2.0, 4.0]
    mid = price(X, "mid")
    assert mid.name == "mid" and mid.tolist() == [2.0, 3.0, 3.0, 5.0]
    with pytest.raises(KeyError, match="no column 'open'"):
        price(X, "open")
