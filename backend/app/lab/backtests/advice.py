"""Warnings a finished backtest carries with its results, in words a trader reads.

Rules kept here:
- Warnings never change a result; they explain one that would otherwise mislead: a run with
  no trades because the algorithm's warm-up (its longest window) is longer than the bars it
  traded, a run whose fees ate a large share of the starting cash (churn), and annualised
  figures computed from a short run.
- Each warning is a dict with a stable `code` (the UI may style by it) and a `message`.
- Thresholds are constants here, so tests and the UI agree on them.
"""

from collections.abc import Mapping
from typing import Any

#: Fees above this share of the starting cash are called out as churn.
HIGH_FEES_SHARE = 0.05
#: Annualised figures of runs shorter than this many days get a caveat.
SHORT_RUN_DAYS = 90.0


def _integer_windows(
    schema: Mapping[str, Any], parameters: Mapping[str, Any]
) -> list[tuple[str, int]]:
    properties: Mapping[str, Any] = schema.get("properties", {})
    windows = []
    for name, spec in properties.items():
        value = parameters.get(name)
        if spec.get("type") == "integer" and isinstance(value, int) and not isinstance(value, bool):
            windows.append((name, value))
    return sorted(windows, key=lambda item: -item[1])


def run_warnings(
    *,
    metrics: Mapping[str, Any],
    schema: Mapping[str, Any],
    parameters: Mapping[str, Any],
    held_any: bool,
    starting_cash: float,
) -> list[dict[str, str]]:
    """What a trader should know before trusting these results."""
    warnings: list[dict[str, str]] = []
    bars = int(metrics.get("bars") or 0)
    trades = int(metrics.get("trades") or 0)
    if trades == 0:
        longer = [(n, v) for n, v in _integer_windows(schema, parameters) if v >= bars]
        if longer and not held_any:
            name, value = longer[0]
            warnings.append(
                {
                    "code": "warmup_longer_than_data",
                    "message": (
                        f"No trades: {name} = {value} bars is longer than the {bars} bars traded, "
                        "so the algorithm never finished warming up. Choose a longer range or a "
                        f"smaller {name}."
                    ),
                }
            )
        else:
            warnings.append(
                {
                    "code": "no_trades",
                    "message": f"No trades: the algorithm never changed position over {bars} bars.",
                }
            )
    fees = float(metrics.get("fees_paid") or 0.0)
    if starting_cash > 0 and fees / starting_cash >= HIGH_FEES_SHARE:
        warnings.append(
            {
                "code": "high_turnover",
                "message": (
                    f"High turnover: {trades} trades; fees ate {fees / starting_cash:.1%} of the "
                    "starting cash. Trade less often (a longer window, a dead band, a minimum "
                    "holding time or a higher threshold)."
                ),
            }
        )
    years = float(metrics.get("years") or 0.0)
    if 0 < years * 365 < SHORT_RUN_DAYS:
        warnings.append(
            {
                "code": "short_run_annualised",
                "message": (
                    f"This run covers {years * 365:.0f} days: annualised figures (CAGR, "
                    "volatility, Sharpe, Sortino, Calmar) extrapolate it to a year and "
                    "exaggerate both gains and losses."
                ),
            }
        )
    return warnings
