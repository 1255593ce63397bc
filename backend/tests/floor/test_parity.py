"""Parity: a paper deployment replayed bar by bar fills exactly as the backtest does.

The simulator replays a stored price series; at each bar the collector stores the bar,
the deployment decides on it, and only then does the replay move the simulator to the next
bar, so the order fills at bar t+1's quote, as the backtest assumes. Every fill (bar, side,
quantity, price, fee) must equal the backtest's on the same bars to a relative 1e-9.
"""

from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlmodel import Session

from app.collector.job import collect_once
from app.core.db import engine
from app.exchange.client import CoinspotClient
from app.exchange.ratelimit import SlidingWindowLimiter
from app.exchange.simulator import RunningSimulator, run_simulator
from app.exchange.simulator.config import PriceRow, PriceSnapshot, SimulatorConfig
from app.floor.brokers import Broker, OrderRequest, PaperBroker, PlaceResult, Quote
from app.floor.executor import run_cycle
from app.floor.models import DeployedAlgorithm
from app.lab.backtests.data import coin_frame
from app.lab.engine.backtest import run_backtest
from app.lab.engine.market_data import load_price_history
from app.lab.engine.results import BacktestConfig
from app.lab.engine.synthetic import synthetic_price_frame
from app.lab.sandbox.jobs import PredictJob
from app.lab.sandbox.pool import SandboxPool
from app.lab.templates import get_template
from tests.floor.conftest import FAST_RETRY
from tests.floor.factories import fitted_model, make_deployment, make_user, template_release
from tests.floor.helpers import trades_of

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(600)]
BARS = 130
WARMUP = 60
FEE = "0.01"  # the paper broker's instant fee (COINSPOT_INSTANT_FEE) and the backtest's
SLIPPAGE_BPS = "5"


def series(seed: int, start: datetime) -> pd.DataFrame:
    frame = synthetic_price_frame(["PAR"], bars=BARS, seed=seed, start=start)
    single = frame.xs("PAR", axis=1, level=0)
    assert isinstance(single, pd.DataFrame)
    return single.round(6)


def snapshots(prices: pd.DataFrame) -> list[PriceSnapshot]:
    return [
        PriceSnapshot(
            timestamp=str(ts),
            prices={
                "PAR": PriceRow(
                    bid=Decimal(f"{row['bid']:.6f}"),
                    ask=Decimal(f"{row['ask']:.6f}"),
                    last=Decimal(f"{row['last']:.6f}"),
                )
            },
        )
        for ts, row in prices.iterrows()
    ]


class ReplayBroker:
    """The paper broker, but the first quote of a cycle (asked after the decision) moves the
    replay to the next bar first."""

    def __init__(self, inner: PaperBroker, sim: RunningSimulator) -> None:
        self._inner = inner
        self._sim = sim
        self.moved = False
        self.mode = inner.mode

    async def quote(self, coin: str) -> Quote | None:
        if not self.moved:
            self._sim.admin.tick()
            self.moved = True
        return await self._inner.quote(coin)

    def prepare(self, request: OrderRequest) -> OrderRequest | None:
        return self._inner.prepare(request)

    async def place(self, request: OrderRequest) -> PlaceResult:
        return await self._inner.place(request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


async def replay(
    sim: RunningSimulator, pool: SandboxPool, deployment: DeployedAlgorithm, index: pd.Index
) -> None:
    async with CoinspotClient(
        sim.base_url, retry=FAST_RETRY, rate_limiter=SlidingWindowLimiter(100_000, 60.0)
    ) as client:
        for t in range(len(index) - 1):
            bar = index[t].to_pydatetime()
            summary = await collect_once(
                client,
                node="replay",
                trigger="replay",
                interval_seconds=300,
                attempts=1,
                delay_seconds=0,
                slot=bar,
            )
            assert summary.rows_stored == 1
            if t < WARMUP - 1:
                sim.admin.tick()
                continue
            broker = ReplayBroker(PaperBroker(client, engine), sim)

            async def factory(_: DeployedAlgorithm, b: Broker = broker) -> Broker:
                return b

            await run_cycle(deployment.id, bar, trigger="replay", pool=pool, broker_factory=factory)
            if not broker.moved:
                sim.admin.tick()
        last = await collect_once(
            client,
            node="replay",
            trigger="replay",
            interval_seconds=300,
            attempts=1,
            delay_seconds=0,
            slot=index[-1].to_pydatetime(),
        )
        assert last.rows_stored == 1


async def backtest_fills(
    db: Session,
    pool: SandboxPool,
    code: str,
    params: dict[str, Any],
    model: bytes | None,
    index: pd.Index,
) -> list[tuple[datetime, str, float, float, float]]:
    history = load_price_history(db, ["PAR"], index[0].to_pydatetime(), index[-1].to_pydatetime())
    db.rollback()
    frame = coin_frame(history.frame, "PAR")
    assert len(frame) == len(index)
    predicted = await pool.predict(PredictJob(code=code, frame=frame, params=params, model=model))
    targets = predicted.positions.copy()
    targets[: WARMUP - 1] = 0.0  # the deployment decides from its first full warm-up on
    config = BacktestConfig(
        starting_cash=10000.0, fee_rate=float(FEE), slippage_bps=float(SLIPPAGE_BPS)
    )
    result = run_backtest(history.frame, pd.Series(targets, index=frame.index), config)
    fills = result.fills
    return [
        (
            index[int(fills.bar[i])].to_pydatetime(),
            "buy" if fills.buy[i] else "sell",
            float(fills.quantity[i]),
            float(fills.price[i]),
            float(fills.fee[i]),
        )
        for i in range(len(fills.bar))
    ]


def floor_fills(
    deployment: DeployedAlgorithm, index: pd.Index
) -> list[tuple[datetime, str, float, float, float]]:
    position = {ts.to_pydatetime(): i for i, ts in enumerate(index)}
    out = []
    for trade in trades_of(deployment.id):
        assert trade.bar is not None and trade.source == "paper"
        executed = index[position[trade.bar] + 1].to_pydatetime()  # decided on t, filled at t+1
        out.append(
            (
                executed,
                trade.side,
                float(trade.quantity),
                float(trade.price),
                float(trade.fee + trade.gst),
            )
        )
    return out


def assert_same(floor: list[Any], backtest: list[Any]) -> None:
    assert len(backtest) >= 2, "the series should make the algorithm trade"
    assert [(f[0], f[1]) for f in floor] == [(b[0], b[1]) for b in backtest]
    for i, (mine, theirs) in enumerate(zip(floor, backtest, strict=True)):
        np.testing.assert_allclose(
            mine[2:], theirs[2:], rtol=1e-9, atol=0, err_msg=f"fill {i}: {mine} != {theirs}"
        )


async def test_ma_crossover_paper_fills_equal_the_backtest(db: Session, pool: SandboxPool) -> None:
    prices = series(21, datetime(2025, 3, 1, tzinfo=pd.Timestamp.utcnow().tzinfo))
    params = {"fast": 3, "slow": 8}
    user = make_user(db)
    release = template_release(
        db,
        user,
        "ma_crossover",
        parameters=params,
        warmup_bars=WARMUP,
        fee_rate=FEE,
        slippage_bps=SLIPPAGE_BPS,
    )
    deployment = make_deployment(db, release, coins=("PAR",))
    with run_simulator(SimulatorConfig(replay=snapshots(prices), tick_mode="manual")) as sim:
        await replay(sim, pool, deployment, prices.index)
    backtest = await backtest_fills(db, pool, release.code, params, None, prices.index)
    assert_same(floor_fills(deployment, prices.index), backtest)


async def test_ml_template_paper_fills_equal_the_backtest(db: Session, pool: SandboxPool) -> None:
    prices = series(33, datetime(2025, 4, 1, tzinfo=pd.Timestamp.utcnow().tzinfo))
    params = {"lags": 3, "window": 10, "threshold": 0.0}
    code = get_template("ml_regression").source
    model = await fitted_model(pool, code, prices.iloc[:WARMUP], params)
    user = make_user(db)
    release = template_release(
        db,
        user,
        "ml_regression",
        parameters=params,
        # Its RSI feature is an exponential average whose value depends on how much history
        # it saw: the warm-up window reaches back to the first bar of the series.
        warmup_bars=BARS,
        fee_rate=FEE,
        slippage_bps=SLIPPAGE_BPS,
        models={"PAR": model},
    )
    deployment = make_deployment(db, release, coins=("PAR",))
    with run_simulator(SimulatorConfig(replay=snapshots(prices), tick_mode="manual")) as sim:
        await replay(sim, pool, deployment, prices.index)
    backtest = await backtest_fills(db, pool, code, {}, model, prices.index)
    assert_same(floor_fills(deployment, prices.index), backtest)
