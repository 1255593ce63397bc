"""A Gymnasium-style trading environment over a price frame, for reinforcement learning.

The environment walks through the bars of a frame. At each bar the agent sees an
observation (a row of features you choose, plus the position currently held), picks an
action (an index into `positions`, i.e. a target position), and receives the reward of
holding that position over the next bar, after fees::

    env = TradingEnv(X, features, positions=(0.0, 1.0), fee=0.001)
    obs, info = env.reset(seed=0)
    while True:
        action = agent.act(obs)
        obs, reward, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break

It follows the Gymnasium API (``reset`` -> ``(obs, info)``, ``step`` -> ``(obs, reward,
terminated, truncated, info)``, ``action_space``/``observation_space`` with ``n``/``shape``
and ``sample``) without depending on Gymnasium. The reward uses the next bar's price, which
is fine for training inside ``fit``; the trained policy in ``predict`` must act on
observations only, as the environment's agent does.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from app.lab.sdk.features import price
from app.lab.sdk.scoring import DEFAULT_FEE


class Discrete:
    """The actions 0 .. n-1 (like ``gymnasium.spaces.Discrete``)."""

    def __init__(self, n: int, seed: int | None = None) -> None:
        if n < 1:
            raise ValueError("Discrete needs n >= 1")
        self.n = int(n)
        self._rng = np.random.default_rng(seed)

    def sample(self) -> int:
        return int(self._rng.integers(self.n))

    def seed(self, seed: int | None) -> None:
        self._rng = np.random.default_rng(seed)

    def contains(self, x: Any) -> bool:
        return isinstance(x, int | np.integer) and 0 <= int(x) < self.n

    def __repr__(self) -> str:
        return f"Discrete({self.n})"


class Box:
    """Real vectors of a fixed shape (like ``gymnasium.spaces.Box``, unbounded)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def __repr__(self) -> str:
        return f"Box(shape={self.shape})"


class TradingEnv:
    """Walk through `X` bar by bar; see the module documentation.

    `features` holds one row of observation features per bar of `X` (a DataFrame on X's
    index, or an array); the observation at bar t is ``features[t]`` followed by the position
    held coming into the bar. Actions index into `positions`. The reward for choosing
    position w at bar t is ``w * (p[t+1] / p[t] - 1) - fee * |w - w_before|``. An episode runs
    from `start` to the last bar but one (or for `max_steps` steps).
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        X: pd.DataFrame,
        features: pd.DataFrame | npt.ArrayLike,
        *,
        positions: Sequence[float] = (0.0, 1.0),
        fee: float = DEFAULT_FEE,
        column: str = "last",
        start: int = 0,
        max_steps: int | None = None,
    ) -> None:
        if isinstance(features, pd.DataFrame):
            if not features.index.equals(X.index):
                raise ValueError("features must be on the index of X")
            matrix = features.to_numpy(dtype=np.float64)
        else:
            matrix = np.asarray(features, dtype=np.float64)
        if matrix.ndim == 1:
            matrix = matrix[:, None]
        if matrix.shape[0] != len(X):
            raise ValueError(f"features have {matrix.shape[0]} rows for {len(X)} bars")
        if len(X) < 2:
            raise ValueError("TradingEnv needs at least 2 bars")
        levels = np.asarray(positions, dtype=np.float64)
        if levels.ndim != 1 or levels.size < 1 or levels.min() < 0 or levels.max() > 1:
            raise ValueError("positions must be a list of targets in [0, 1]")
        if not 0 <= start < len(X) - 1:
            raise ValueError(f"start must be in [0, {len(X) - 2}]")
        p = price(X, column).to_numpy(dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            nxt = p[1:] / p[:-1] - 1.0
        self.features = np.nan_to_num(matrix, nan=0.0, posinf=0.0, neginf=0.0)
        self.next_returns = np.nan_to_num(nxt, nan=0.0, posinf=0.0, neginf=0.0)
        self.positions = levels
        self.fee = float(fee)
        self.start = int(start)
        self.max_steps = max_steps
        self.action_space = Discrete(levels.size)
        self.observation_space = Box((self.features.shape[1] + 1,))
        self.t = self.start
        self.held = 0.0
        self.steps = 0

    def _observation(self) -> npt.NDArray[np.float64]:
        return np.append(self.features[self.t], self.held)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[npt.NDArray[np.float64], dict[str, Any]]:
        """Start an episode at `start` (or ``options["start"]``), flat."""
        if seed is not None:
            self.action_space.seed(seed)
        start = int((options or {}).get("start", self.start))
        if not 0 <= start < len(self.next_returns):
            raise ValueError("start out of range")
        self.t = start
        self.held = 0.0
        self.steps = 0
        return self._observation(), {"bar": self.t}

    def step(
        self, action: int
    ) -> tuple[npt.NDArray[np.float64], float, bool, bool, dict[str, Any]]:
        """Hold ``positions[action]`` over the next bar."""
        if not self.action_space.contains(action):
            raise ValueError(f"invalid action {action!r} for {self.action_space}")
        target = float(self.positions[int(action)])
        reward = target * float(self.next_returns[self.t]) - self.fee * abs(target - self.held)
        self.held = target
        self.t += 1
        self.steps += 1
        terminated = self.t >= len(self.next_returns)
        truncated = self.max_steps is not None and self.steps >= self.max_steps
        if terminated:
            self.t = len(self.next_returns)  # the last bar: observation still defined
        return self._observation(), reward, terminated, bool(truncated), {"bar": self.t}
