"""Reinforcement learning: tabular Q-learning in a trading environment.

The environment (`TradingEnv` from the SDK) walks through the training bars; at each bar
the agent observes a discretised state (where the price sits against its rolling mean, as
a z-score bucket, and whether the last bar went up) together with the position it holds,
chooses a target position, and is rewarded with the next bar's profit or loss after fees.
`fit` learns a Q-table with epsilon-greedy exploration over several episodes; `predict`
follows the greedy policy bar by bar, using only past and current bars.

A skeleton to grow from: richer states, more position levels, or a function approximator
in place of the table.
"""

import numpy as np
import pandas as pd

from app.lab.sdk import (
    Algorithm,
    Float,
    Int,
    TradingEnv,
    check_is_fitted,
    price,
    returns,
    zscore,
)


class QLearningTrader(Algorithm):
    """Greedy policy of a Q-table learned on (z-score bucket, last move, position held)."""

    algorithm_type = "rl"

    window = Int(48, ge=5, le=2000, description="Bars in the z-score's rolling mean")
    bins = Int(6, ge=2, le=20, description="Z-score buckets between -3 and +3")
    levels = Int(2, ge=2, le=5, description="Position levels from 0 to 1 (2 = flat or all in)")
    episodes = Int(20, ge=1, le=500, description="Training episodes")
    episode_bars = Int(2000, ge=10, le=100_000, description="Bars per episode")
    learning_rate = Float(0.1, gt=0.0, le=1.0, description="Q-learning step size")
    discount = Float(0.9, ge=0.0, lt=1.0, description="Discount of future rewards")
    epsilon = Float(0.2, ge=0.0, le=1.0, description="Exploration rate (decays to 0)")
    fee_rate = Float(0.001, ge=0.0, lt=0.1, description="Fee charged on position changes")
    seed = Int(0, ge=0, le=2**31 - 1, description="Random seed")

    def _states(self, X: pd.DataFrame) -> np.ndarray:
        """Per bar: z-score bucket * 2 + (last bar went up), or -1 while warming up."""
        p = price(X)
        z = zscore(p, self.window).to_numpy()
        up = (returns(p) > 0).to_numpy()
        edges = np.linspace(-3.0, 3.0, self.bins + 1)[1:-1]
        bucket = np.digitize(np.nan_to_num(z), edges)
        states = bucket * 2 + up.astype(int)
        states[np.isnan(z)] = -1
        return states

    def _position_levels(self) -> np.ndarray:
        return np.linspace(0.0, 1.0, self.levels)

    def fit(self, X: pd.DataFrame, y: object = None) -> "QLearningTrader":
        states = self._states(X)
        ready = np.flatnonzero(states >= 0)
        if ready.size < 3:
            raise ValueError(f"need more than {self.window} bars to train")
        first = int(ready[0])
        levels = self._position_levels()
        env = TradingEnv(X, states, positions=list(levels), fee=self.fee_rate, start=first)
        q = np.zeros((self.bins * 2, self.levels, self.levels))
        rng = np.random.default_rng(self.seed)
        env.max_steps = self.episode_bars
        last_start = max(first, len(X) - 2 - self.episode_bars)
        for episode in range(self.episodes):
            start = int(rng.integers(first, last_start + 1))
            obs, _ = env.reset(seed=self.seed + episode, options={"start": start})
            held = 0
            explore = self.epsilon * (1.0 - episode / self.episodes)
            while True:
                state = int(obs[0])
                if rng.random() < explore:
                    action = env.action_space.sample()
                else:
                    action = int(np.argmax(q[state, held]))
                obs, reward, terminated, truncated, _ = env.step(action)
                # Rewards in basis points keep the table's numbers readable.
                target = reward * 1e4
                if not terminated:
                    target += self.discount * float(q[int(obs[0]), action].max())
                q[state, held, action] += self.learning_rate * (target - q[state, held, action])
                held = action
                if terminated or truncated:
                    break
        self.q_table_ = q
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "q_table_")
        best = self.q_table_.argmax(axis=2).tolist()  # best[state][held] -> action
        levels = self._position_levels()
        out = np.zeros(len(X))
        held = 0
        for t, state in enumerate(self._states(X).tolist()):
            held = 0 if state < 0 else best[state][held]
            out[t] = levels[held]
        return out
