"""Targets for one decision: the warm-up bars and the release's `predict` in the sandbox.

Rules:
- Bars come from the Lab's data service (`load_price_history`), the warm-up window ending
  at the decision's bar: `warmup_bars` bars per coin, on the same grid and gap rules as a
  backtest.
- User code runs only in the sandbox, and only the release's frozen code with the
  deployment's parameters, or (trained algorithms) the release's fitted model, whose bytes
  are passed to the sandbox unopened.
- The target is the position `predict` gives for the decision's bar itself; a coin with no
  price at that bar gets no decision (and no order).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from app.lab.backtests.data import coin_frame
from app.lab.engine.market_data import load_price_history
from app.lab.releases.models import Release, ReleaseArtefact
from app.lab.sandbox.jobs import PredictJob
from app.lab.sandbox.pool import SandboxPool

BAR = timedelta(minutes=5)
MIN_WARMUP_BARS = 2


@dataclass(frozen=True)
class CoinTarget:
    coin: str
    target: Decimal | None
    detail: str
    sandbox_ms: float = 0.0


def bar_of(moment: datetime) -> datetime:
    """The latest 5-minute boundary at or before `moment`."""
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % 300, tz=moment.tzinfo)


def release_models(session: Session, release: Release) -> dict[str, bytes]:
    """The release's fitted models by coin (opaque bytes, never loaded here)."""
    if not release.training:
        return {}
    models: dict[str, bytes] = {}
    for coin, digest in dict(release.training.get("models", {})).items():
        artefact = session.get(ReleaseArtefact, str(digest))
        if artefact is None:
            raise ValueError(f"release {release.id} lacks its model for {coin}")
        models[str(coin).upper()] = bytes(artefact.data)
    return models


async def compute_targets(
    session: Session,
    pool: SandboxPool,
    release: Release,
    coins: list[str],
    parameters: dict[str, Any],
    bar: datetime,
) -> list[CoinTarget]:
    warmup = max(release.warmup_bars, MIN_WARMUP_BARS)
    start = bar - (warmup - 1) * BAR
    history = load_price_history(session, coins, start, bar)
    models = release_models(session, release)
    session.rollback()  # end the read transaction before the sandbox runs
    targets: list[CoinTarget] = []
    for coin in coins:
        symbol = coin.upper()
        frame = coin_frame(history.frame, symbol)
        if frame.empty or frame.index[-1].to_pydatetime() != bar:
            targets.append(CoinTarget(symbol, None, f"no price at the bar {bar.isoformat()}"))
            continue
        model = models.get(symbol)
        if release.training and model is None:
            targets.append(CoinTarget(symbol, None, "the release has no model for this coin"))
            continue
        job = PredictJob(
            code=release.code,
            frame=frame,
            params={} if model is not None else parameters,
            model=model,
        )
        result = await pool.predict(job)
        value = float(result.positions[-1])
        targets.append(
            CoinTarget(symbol, Decimal(value), "predicted", sandbox_ms=result.stats.wall_ms)
        )
    return targets
