"""Drift: what a deployment did against what a backtest of its release does on the same bars.

Rules:
- The backtest is the Lab's engine (`run_backtest`) on the Lab's data service, with the
  release's frozen code and the deployment's parameters (or the release's fitted model, run
  only in the sandbox), the release's fee and slippage, the deployment's capital and
  allocation, and the Floor's minimum order (the larger of the release's and
  FLOOR_MIN_ORDER_AUD). It decides from the deployment's first cycle bar to its last, exactly
  as the parity test drives a paper deployment: a decision at bar t fills at bar t+1.
- Live (or paper) fills are grouped per coin and decision bar (partial fills are one
  decision: quantity summed, price volume-weighted, fees summed, GST included) and matched
  with the backtest's fill of the same coin and decision bar.
- Slippage paid is signed against us: buying above or selling below the backtest's price is
  positive. Fee drift = our fees - the backtest's. Unmatched fills on either side are listed.
- `drift` = |our equity - the backtest's final equity| / capital, with our equity marked at
  the newest bid; above FLOOR_DRIFT_ALERT_FRACTION the report says `alert: true`.
"""

import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.core.config import settings
from app.floor.ledger import Trade
from app.floor.models import DeployedAlgorithm
from app.floor.pnl.service import breakdown
from app.floor.signals import release_models
from app.lab.backtests.data import coin_frame, positions_on_grid
from app.lab.engine.backtest import run_backtest
from app.lab.engine.market_data import load_price_history
from app.lab.engine.results import BacktestConfig
from app.lab.releases.models import Release
from app.lab.sandbox.jobs import PredictJob
from app.lab.sandbox.pool import SandboxPool

BAR = timedelta(minutes=5)
_RUN_BARS = sa.text(
    "SELECT min(bar) AS first, max(bar) AS last FROM execution_runs WHERE deployment_id = :id"
)


def _live_fills(
    session: Session, deployment_id: uuid.UUID
) -> dict[tuple[str, datetime], dict[str, Any]]:
    trades = session.exec(
        select(Trade).where(col(Trade.deployment_id) == deployment_id, col(Trade.bar).is_not(None))
    ).all()
    grouped: dict[tuple[str, datetime], list[Trade]] = defaultdict(list)
    for trade in trades:
        assert trade.bar is not None
        grouped[(trade.coin, trade.bar)].append(trade)
    out = {}
    for key, group in grouped.items():
        quantity = sum((t.quantity for t in group), Decimal(0))
        out[key] = {
            "side": group[0].side,
            "quantity": quantity,
            "price": sum((t.quantity * t.price for t in group), Decimal(0)) / quantity,
            "fee": sum((t.fee + t.gst for t in group), Decimal(0)),
            "fills": len(group),
        }
    return out


async def drift_report(
    session: Session, pool: SandboxPool, deployment: DeployedAlgorithm
) -> dict[str, Any]:
    release = session.get(Release, deployment.release_id)
    assert release is not None
    bars = session.connection().execute(_RUN_BARS, {"id": deployment.id}).one()
    report: dict[str, Any] = {
        "deployment_id": str(deployment.id),
        "threshold": settings.FLOOR_DRIFT_ALERT_FRACTION,
    }
    if bars.first is None:
        return {
            **report,
            "detail": "the deployment has not decided yet",
            "fills": [],
            "alert": False,
        }
    first: datetime = bars.first
    last: datetime = bars.last
    warmup = max(release.warmup_bars, 2)
    history = load_price_history(session, deployment.coins, first - (warmup - 1) * BAR, last + BAR)
    models = release_models(session, release)
    live = _live_fills(session, deployment.id)
    ours = breakdown(session, deployment.user_id, None, None, deployment.id).by("deployment")
    session.rollback()  # no transaction stays open while the sandbox runs

    frame = history.frame
    traded = frame.loc[frame.index >= pd.Timestamp(first)]
    targets: dict[str, pd.Series[float]] = {}
    for coin in deployment.coins:
        x = coin_frame(frame, coin)
        model = models.get(coin)
        predicted = await pool.predict(
            PredictJob(
                code=release.code,
                frame=x,
                params={} if model is not None else deployment.parameters,
                model=model,
            )
        )
        series = pd.Series(predicted.positions, index=x.index, dtype="float64")
        targets[coin] = positions_on_grid(series, pd.DatetimeIndex(traded.index))
    costs = release.costs
    config = BacktestConfig(
        starting_cash=float(deployment.capital),
        fee_rate=float(costs.get("fee_rate", settings.COINSPOT_INSTANT_FEE)),
        slippage_bps=float(costs.get("slippage_bps", 0)),
        min_order_aud=max(
            float(costs.get("min_order_aud", 0)), float(settings.FLOOR_MIN_ORDER_AUD)
        ),
        allocation={c: float(v) for c, v in deployment.allocation.items()},
    )
    result = run_backtest(traded, pd.DataFrame(targets, index=traded.index), config)
    coins = list(result.coins)
    fills = result.fills
    backtest: dict[tuple[str, datetime], dict[str, Any]] = {}
    for i in range(len(fills.bar)):
        fill_bar = int(fills.bar[i])
        decided = traded.index[fill_bar - 1].to_pydatetime() if fill_bar > 0 else None
        if decided is None:
            continue
        backtest[(coins[int(fills.coin[i])], decided)] = {
            "side": "buy" if fills.buy[i] else "sell",
            "quantity": float(fills.quantity[i]),
            "price": float(fills.price[i]),
            "fee": float(fills.fee[i]),
        }

    rows = []
    slippage_aud = 0.0
    fee_drift = 0.0
    for key in sorted(set(live) | set(backtest), key=lambda k: (k[1], k[0])):
        mine, theirs = live.get(key), backtest.get(key)
        row: dict[str, Any] = {"coin": key[0], "bar": key[1].isoformat()}
        if mine is not None:
            row["live"] = {k: str(v) if isinstance(v, Decimal) else v for k, v in mine.items()}
        if theirs is not None:
            row["backtest"] = theirs
        if mine is None or theirs is None:
            row["status"] = "live only" if theirs is None else "backtest only"
        elif mine["side"] != theirs["side"]:
            row["status"] = "side differs"
        else:
            sign = 1.0 if mine["side"] == "buy" else -1.0
            paid = sign * (float(mine["price"]) - theirs["price"]) * float(mine["quantity"])
            row["slippage_aud"] = paid
            row["slippage_bps"] = sign * (float(mine["price"]) / theirs["price"] - 1) * 10_000
            row["fee_drift_aud"] = float(mine["fee"]) - theirs["fee"]
            row["quantity_drift"] = float(mine["quantity"]) / theirs["quantity"] - 1
            slippage_aud += paid
            fee_drift += row["fee_drift_aud"]
            same = abs(row["quantity_drift"]) <= 1e-9 and abs(row["slippage_bps"]) <= 1e-5
            row["status"] = "same" if same else "differs"
        rows.append(row)
    figures = ours.get(deployment.id)
    live_equity = (
        float(figures.cash + figures.market_value) if figures else float(deployment.capital)
    )
    backtest_equity = float(result.equity[-1])
    drift = abs(live_equity - backtest_equity) / float(deployment.capital)
    return {
        **report,
        "from_bar": first.isoformat(),
        "to_bar": last.isoformat(),
        "fills": rows,
        "matched": sum(1 for r in rows if r["status"] in ("same", "differs")),
        "differing": sum(1 for r in rows if r["status"] != "same"),
        "slippage_aud": slippage_aud,
        "fee_drift_aud": fee_drift,
        "live_equity": live_equity,
        "backtest_equity": backtest_equity,
        "drift": drift,
        "alert": drift > settings.FLOOR_DRIFT_ALERT_FRACTION,
    }
