"""The promotion gate: evidence in, a checklist out.

Rules:
- Evidence is the user's own succeeded backtest runs (the first is the main one) and,
  optionally, a succeeded sweep; anything else is refused with the field named
  (`EvidenceError`, a 422), never silently dropped.
- Every criterion of the user's policy appears in the checklist with its threshold, the
  measured value and pass/fail; `evidence_matches` (the evidence was run with this version
  and these parameters) is always required and not editable.
- Costs must match how the release will trade: every evidence run (and the sweep) must have
  been simulated with a fee rate at least the execution style's fee from settings.
- Out of sample: a sweep's test window for these parameters, or a later backtest (its traded
  window starts at or after the main run's end). Rule: total return >= buy-and-hold - margin.
- The resource check runs `predict` once in the sandbox on the last `warmup_bars` bars of the
  main run's first coin (with the fitted model for ML), timed by the sandbox pool.
- Nothing here creates anything; `service.promote` stores the release when `passed`.
"""

import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlmodel import Session, col, select

from app.core.config import settings
from app.lab.backtests.algorithms import AlgorithmVersion
from app.lab.backtests.data import coin_frame
from app.lab.backtests.models import BacktestRun, ParameterSweep, RunStatus
from app.lab.engine.market_data import load_price_history
from app.lab.releases.policy import PromotionPolicy
from app.lab.releases.schemas import ChecklistItem, ExecutionStyle, PromoteRequest
from app.lab.sandbox.errors import SandboxError
from app.lab.sandbox.jobs import FitJob, PredictJob
from app.lab.sandbox.pool import SandboxPool


class EvidenceError(ValueError):
    """The request names evidence that cannot be used (422; `field` says which)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass
class Assessment:
    checklist: list[ChecklistItem]
    parameters: dict[str, Any]
    costs: dict[str, Any]
    evidence: dict[str, Any]
    models: dict[str, bytes] = field(default_factory=dict)
    training: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        return all(item.passed for item in self.checklist if item.required)


def style_fee(style: ExecutionStyle) -> float:
    return (
        settings.COINSPOT_INSTANT_FEE
        if style == ExecutionStyle.INSTANT
        else settings.COINSPOT_MARKET_FEE
    )


def _run_fee(run_settings: dict[str, Any]) -> float:
    fee = run_settings.get("fee_rate")
    return float(settings.COINSPOT_MARKET_FEE if fee is None else fee)


def _load_runs(
    session: Session, user_id: uuid.UUID, algorithm_id: uuid.UUID, ids: list[uuid.UUID]
) -> list[BacktestRun]:
    found = {
        r.id: r for r in session.exec(select(BacktestRun).where(col(BacktestRun.id).in_(ids))).all()
    }
    runs = []
    for i, run_id in enumerate(ids):
        name = f"evidence.backtest_run_ids[{i}]"
        run = found.get(run_id)
        if run is None or run.user_id != user_id:
            raise EvidenceError(name, f"no backtest run {run_id}")
        if run.algorithm_id != algorithm_id:
            raise EvidenceError(name, "that backtest is of another algorithm")
        if run.status != RunStatus.SUCCEEDED.value or not run.results_json:
            raise EvidenceError(name, f"that backtest has not succeeded (it is {run.status})")
        runs.append(run)
    return runs


def _load_sweep(
    session: Session, user_id: uuid.UUID, algorithm_id: uuid.UUID, sweep_id: uuid.UUID | None
) -> ParameterSweep | None:
    if sweep_id is None:
        return None
    sweep = session.get(ParameterSweep, sweep_id)
    if sweep is None or sweep.user_id != user_id:
        raise EvidenceError("evidence.sweep_id", f"no sweep {sweep_id}")
    if sweep.algorithm_id != algorithm_id:
        raise EvidenceError("evidence.sweep_id", "that sweep is of another algorithm")
    if sweep.status != RunStatus.SUCCEEDED.value or not sweep.results_json:
        raise EvidenceError("evidence.sweep_id", f"that sweep has not succeeded ({sweep.status})")
    return sweep


def _trade_window(run: BacktestRun) -> tuple[datetime, datetime]:
    window = (run.results_json or {}).get("windows", {}).get("trade") or {}
    start = window.get("start")
    end = window.get("end")
    if start is None or end is None:
        return run.start_date, run.end_date
    return datetime.fromisoformat(start), datetime.fromisoformat(end)


def _metrics(run: BacktestRun) -> dict[str, Any]:
    metrics: dict[str, Any] = (run.results_json or {}).get("metrics") or {}
    return metrics


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _same_parameters(given: dict[str, Any], release: dict[str, Any]) -> bool:
    return {**release, **given} == release


def _item(
    key: str,
    label: str,
    required: bool,
    threshold: Any,
    measured: Any,
    passed: bool,
    detail: str,
) -> ChecklistItem:
    return ChecklistItem(
        key=key,
        label=label,
        required=required,
        threshold=threshold,
        measured=measured,
        passed=passed,
        detail=detail,
    )


def _out_of_sample(
    policy: PromotionPolicy,
    main: BacktestRun,
    runs: list[BacktestRun],
    sweep: ParameterSweep | None,
    parameters: dict[str, Any],
) -> ChecklistItem:
    margin = policy.out_of_sample.threshold
    rule = f"total return >= buy-and-hold - {margin:.2%} on a window not used to choose"
    source: str | None = None
    oos: dict[str, Any] | None = None
    if sweep is not None:
        for row in (sweep.results_json or {}).get("rows", []):
            if row.get("out_of_sample") and _same_parameters(row.get("params") or {}, parameters):
                oos = row["out_of_sample"]
                source = f"sweep {sweep.id} test window"
                break
    if oos is None:
        _, main_end = _trade_window(main)
        for run in runs[1:]:
            start, _ = _trade_window(run)
            if start >= main_end:
                oos = _metrics(run)
                source = f"backtest {run.id} on a later window"
                break
    if oos is None:
        return _item(
            "out_of_sample",
            "Out-of-sample result",
            policy.out_of_sample.required,
            margin,
            None,
            False,
            f"no out-of-sample evidence: give a sweep with these parameters or a backtest "
            f"on a window after the main one ({rule})",
        )
    total = _finite(oos.get("total_return"))
    hold = _finite(oos.get("buy_and_hold_return"))
    passed = total is not None and hold is not None and total >= hold - margin
    measured = None if total is None or hold is None else round(total - hold, 6)
    return _item(
        "out_of_sample",
        "Out-of-sample result",
        policy.out_of_sample.required,
        margin,
        measured,
        passed,
        f"{source}: total return {total} vs buy-and-hold {hold} ({rule})",
    )


async def assess(
    session: Session,
    pool: SandboxPool,
    *,
    user_id: uuid.UUID,
    version: AlgorithmVersion,
    policy: PromotionPolicy,
    request: PromoteRequest,
) -> Assessment:
    runs = _load_runs(session, user_id, version.algorithm_id, request.evidence.backtest_run_ids)
    sweep = _load_sweep(session, user_id, version.algorithm_id, request.evidence.sweep_id)
    main = runs[0]
    parameters = (
        dict(request.parameters) if request.parameters is not None else dict(main.parameters)
    )
    needs_fit = version.type in ("ml", "rl")
    if needs_fit and request.training is None:
        raise EvidenceError("training", "an ML algorithm needs a training window to fit its model")
    if not needs_fit and request.training is not None:
        raise EvidenceError("training", "only ML algorithms are trained")

    checklist: list[ChecklistItem] = []
    mismatched = [
        str(r.id)
        for r in runs
        if r.algorithm_version != version.version or not _same_parameters(r.parameters, parameters)
    ]
    checklist.append(
        _item(
            "evidence_matches",
            "Evidence is of this version and these parameters",
            True,
            None,
            len(runs) - len(mismatched),
            not mismatched,
            "every backtest matches"
            if not mismatched
            else f"run with another version or other parameters: {', '.join(mismatched)}",
        )
    )

    start, end = _trade_window(main)
    span = (end - start) / timedelta(days=1)
    checklist.append(
        _item(
            "min_span_days",
            "Backtest span (days)",
            policy.min_span_days.required,
            policy.min_span_days.threshold,
            round(span, 3),
            span >= policy.min_span_days.threshold,
            f"main backtest traded {start.isoformat()} to {end.isoformat()}",
        )
    )
    metrics = _metrics(main)
    trips = int(metrics.get("round_trips") or 0)
    checklist.append(
        _item(
            "min_round_trips",
            "Closed round trips",
            policy.min_round_trips.required,
            policy.min_round_trips.threshold,
            trips,
            trips >= policy.min_round_trips.threshold,
            "closed round trips in the main backtest",
        )
    )
    sharpe = _finite(metrics.get("sharpe"))
    checklist.append(
        _item(
            "min_sharpe",
            "Sharpe ratio after fees",
            policy.min_sharpe.required,
            policy.min_sharpe.threshold,
            sharpe,
            sharpe is not None and sharpe >= policy.min_sharpe.threshold,
            "annualised Sharpe of the main backtest, fees included"
            if sharpe is not None
            else "the main backtest has no Sharpe ratio (no volatility)",
        )
    )
    drawdown = _finite(metrics.get("max_drawdown"))
    checklist.append(
        _item(
            "max_drawdown",
            "Maximum drawdown",
            policy.max_drawdown.required,
            policy.max_drawdown.threshold,
            drawdown,
            drawdown is not None and drawdown <= policy.max_drawdown.threshold,
            "deepest fall from a peak in the main backtest",
        )
    )
    biased = [str(r.id) for r in runs if not (r.lookahead or {}).get("checked")]
    flagged = [str(r.id) for r in runs if (r.lookahead or {}).get("bias_detected")]
    checklist.append(
        _item(
            "lookahead",
            "Lookahead check passed",
            policy.lookahead.required,
            None,
            "bias detected" if flagged else ("not checked" if biased else "passed"),
            not flagged and not biased,
            (f"lookahead found in {', '.join(flagged)}" if flagged else "")
            or (f"not checked in {', '.join(biased)}" if biased else "no lookahead found"),
        )
    )
    checklist.append(_out_of_sample(policy, main, runs, sweep, parameters))

    needed = style_fee(request.execution_style)
    fees = [_run_fee(r.settings) for r in runs] + ([_run_fee(sweep.settings)] if sweep else [])
    lowest = min(fees)
    checklist.append(
        _item(
            "fees_match_execution",
            "Backtested with the fee of the execution style",
            policy.fees_match_execution.required,
            needed,
            lowest,
            lowest >= needed - 1e-12,
            f"{request.execution_style.value} trades cost {needed:.2%}; the lowest fee in the "
            f"evidence is {lowest:.2%}",
        )
    )

    models: dict[str, bytes] = {}
    training: dict[str, Any] | None = None
    coins = list(main.coins)
    if needs_fit and request.training is not None:
        train_coins = request.training.coins or coins
        history = load_price_history(
            session, train_coins, request.training.start, request.training.end
        )
        for coin in train_coins:
            x = coin_frame(history.frame, coin)
            if len(x) < 2:
                raise EvidenceError("training", f"{coin}: no prices in the training window")
            try:
                fitted = await pool.fit(FitJob(code=version.code, frame=x, params=parameters))
            except SandboxError as error:
                raise EvidenceError("training", f"{coin}: fitting failed: {error}") from None
            models[coin] = fitted.model
        training = {
            "start": request.training.start.isoformat(),
            "end": request.training.end.isoformat(),
            "coins": train_coins,
        }
        coins = train_coins

    checklist.append(
        await _resource_check(
            session, pool, policy, version, request, main, coins, models, parameters
        )
    )
    costs = {
        "execution_style": request.execution_style.value,
        "fee_rate": repr(needed),
        "slippage_bps": repr(request.slippage_bps),
        "min_order_aud": repr(request.min_order_aud),
    }
    evidence = {
        "backtest_run_ids": [str(r.id) for r in runs],
        "sweep_id": str(sweep.id) if sweep else None,
        "main": {
            "coins": list(main.coins),
            "start": start.isoformat(),
            "end": end.isoformat(),
            "settings": main.settings,
            "metrics": {
                k: metrics.get(k)
                for k in (
                    "total_return",
                    "sharpe",
                    "max_drawdown",
                    "round_trips",
                    "trades",
                    "fees_paid",
                    "buy_and_hold_return",
                )
            },
        },
    }
    return Assessment(checklist, parameters, costs, evidence, models, training)


async def _resource_check(
    session: Session,
    pool: SandboxPool,
    policy: PromotionPolicy,
    version: AlgorithmVersion,
    request: PromoteRequest,
    main: BacktestRun,
    coins: list[str],
    models: dict[str, bytes],
    parameters: dict[str, Any],
) -> ChecklistItem:
    limit = policy.resources.threshold
    coin = coins[0]
    bars = request.warmup_bars
    end = main.end_date
    start = end - timedelta(minutes=5 * (bars + 12))
    history = load_price_history(session, [coin], start, end)
    x = coin_frame(history.frame, coin).iloc[-bars:]
    if x.empty:
        return _item(
            "resources",
            "One predict on the live window within the time limit (ms)",
            policy.resources.required,
            limit,
            None,
            False,
            f"no {coin} prices before {end.isoformat()} to time a predict on",
        )
    model = models.get(coin)
    job = PredictJob(
        code=version.code,
        frame=pd.DataFrame(x),
        params={} if model is not None else parameters,
        model=model,
    )
    try:
        result = await pool.predict(job)
    except SandboxError as error:
        return _item(
            "resources",
            "One predict on the live window within the time limit (ms)",
            policy.resources.required,
            limit,
            None,
            False,
            f"predict failed in the sandbox: {error}",
        )
    wall = round(result.stats.wall_ms, 1)
    return _item(
        "resources",
        "One predict on the live window within the time limit (ms)",
        policy.resources.required,
        limit,
        wall,
        wall <= limit,
        f"predict on {len(x)} bars of {coin}: {wall} ms, {result.stats.max_rss_mb:.0f} MiB peak",
    )
