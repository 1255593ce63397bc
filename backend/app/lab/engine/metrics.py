"""Performance metrics of a backtest.

Conventions (shown to users, so kept simple and stated):

- Returns are per bar, ``r_t = equity_t / equity_{t-1} - 1`` (equity marked at the bid).
- Annualisation uses `periods_per_year` bars a year: 365 * 288 = 105,120 for 5-minute bars
  of a market that trades every day. A year is 365 days for CAGR and durations.
- Volatility and Sharpe use the sample standard deviation (ddof=1); Sortino divides the mean
  excess return by the downside deviation ``sqrt(mean(min(r - rf, 0)^2))`` over all bars.
  The risk-free rate (annual, default 0) is converted to a per-bar rate by compounding.
- Drawdowns are fractions of the running peak, reported as positive numbers (0.25 = 25%).
  The max drawdown's duration runs from its peak to its recovery (the first bar back at the
  peak), or to the end when it has not recovered; recovery time runs from trough to recovery.
- Trade statistics (win rate, profit factor, average win/loss) use closed round trips; a trip
  still open at the end is not counted. `trades` counts fills.
- Turnover is traded notional (buys + sells) divided by the average equity.
- Buy-and-hold buys every coin's allocation at the first chance and holds it to the end, with
  the same fees and slippage, marked at the bid (see `backtest.buy_and_hold_equity`).

Values that do not exist for a run (a Sharpe ratio without volatility, a profit factor without
losses) are None; `to_dict` turns any NaN or infinity into None as well.
"""

import math
from dataclasses import asdict, dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from app.lab.engine.backtest import buy_and_hold_return
from app.lab.engine.frame import PERIODS_PER_YEAR
from app.lab.engine.jsonsafe import JSONDict, to_json
from app.lab.engine.market import FloatArray
from app.lab.engine.results import BacktestResult

SECONDS_PER_DAY = 86_400.0
DAYS_PER_YEAR = 365.0


@dataclass(frozen=True, slots=True)
class Drawdown:
    max_drawdown: float
    peak: int | None  # bar of the peak before the deepest trough
    trough: int | None
    recovery: int | None  # first bar back at the peak; None when not recovered
    longest_start: int | None  # peak bar of the longest time under water
    longest_end: int | None  # its recovery bar, or the last bar when not recovered


@dataclass(frozen=True, slots=True)
class Metrics:
    start: datetime
    end: datetime
    bars: int
    years: float
    starting_equity: float
    final_equity: float
    total_return: float
    cagr: float | None
    annualised_volatility: float | None
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    max_drawdown: float
    max_drawdown_peak: datetime | None
    max_drawdown_trough: datetime | None
    max_drawdown_recovery: datetime | None
    max_drawdown_duration_days: float
    recovery_days: float | None
    longest_drawdown_days: float
    trades: int
    round_trips: int
    win_rate: float | None
    profit_factor: float | None
    average_win: float | None
    average_loss: float | None  # mean P&L of losing trips: a negative number
    exposure_time: float  # fraction of bars holding any coin
    average_exposure: float  # mean fraction of equity held in coins
    turnover: float
    fees_paid: float
    buy_and_hold_return: float

    def to_dict(self) -> JSONDict:
        result: JSONDict = to_json(asdict(self))
        return result


def compute_metrics(
    result: BacktestResult,
    *,
    periods_per_year: int = PERIODS_PER_YEAR,
    risk_free_rate: float = 0.0,
) -> Metrics:
    equity = result.equity
    index = result.index
    start_cash = result.config.starting_cash
    seconds = (index[-1] - index[0]).total_seconds()
    years = seconds / (SECONDS_PER_DAY * DAYS_PER_YEAR)
    final = float(equity[-1])
    total_return = final / start_cash - 1.0
    cagr = _cagr(final / start_cash, years)

    returns = equity[1:] / equity[:-1] - 1.0
    rf = (1.0 + risk_free_rate) ** (1.0 / periods_per_year) - 1.0
    volatility, sharpe, sortino = _risk_ratios(returns - rf, returns, periods_per_year)

    dd = drawdown(equity, np.asarray(index.values).view(np.int64))
    calmar = cagr / dd.max_drawdown if cagr is not None and dd.max_drawdown > 0 else None

    def days(a: int | None, b: int | None) -> float | None:
        if a is None or b is None:
            return None
        return float((index[b] - index[a]).total_seconds() / SECONDS_PER_DAY)

    def moment(bar: int | None) -> datetime | None:
        return None if bar is None else index[bar].to_pydatetime()

    last = len(equity) - 1
    dd_end = last if dd.recovery is None else dd.recovery
    trips = result.trips
    pnl = trips.pnl[~trips.is_open]
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    gross_loss = -float(losses.sum())
    value = result.holdings_value
    traded = result.traded_notional

    return Metrics(
        start=index[0].to_pydatetime(),
        end=index[-1].to_pydatetime(),
        bars=len(equity),
        years=years,
        starting_equity=start_cash,
        final_equity=final,
        total_return=total_return,
        cagr=cagr,
        annualised_volatility=volatility,
        sharpe=sharpe,
        sortino=sortino,
        calmar=calmar,
        max_drawdown=dd.max_drawdown,
        max_drawdown_peak=moment(dd.peak),
        max_drawdown_trough=moment(dd.trough),
        max_drawdown_recovery=moment(dd.recovery),
        max_drawdown_duration_days=days(dd.peak, dd_end) or 0.0,
        recovery_days=days(dd.trough, dd.recovery),
        longest_drawdown_days=days(dd.longest_start, dd.longest_end) or 0.0,
        trades=len(result.fills),
        round_trips=len(pnl),
        win_rate=len(wins) / len(pnl) if len(pnl) else None,
        profit_factor=float(wins.sum()) / gross_loss if gross_loss > 0 else None,
        average_win=float(wins.mean()) if len(wins) else None,
        average_loss=float(losses.mean()) if len(losses) else None,
        exposure_time=float((result.holdings > 0).any(axis=1).mean()),
        average_exposure=float((value.sum(axis=1) / equity).mean()),
        turnover=traded / float(equity.mean()),
        fees_paid=result.fees_paid,
        buy_and_hold_return=buy_and_hold_return(result.market, result.config),
    )


def _cagr(growth: float, years: float) -> float | None:
    if years <= 0:
        return None
    if growth <= 0:
        return -1.0
    try:
        value = math.exp(math.log(growth) / years) - 1.0
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def _risk_ratios(
    excess: FloatArray, returns: FloatArray, periods_per_year: int
) -> tuple[float | None, float | None, float | None]:
    if len(returns) < 2 or not np.isfinite(returns).all():
        return None, None, None
    scale = math.sqrt(periods_per_year)
    std = float(returns.std(ddof=1))
    volatility = std * scale
    mean_excess = float(excess.mean())
    sharpe = mean_excess / std * scale if std > 0 else None
    downside = math.sqrt(float(np.mean(np.minimum(excess, 0.0) ** 2)))
    sortino = mean_excess / downside * scale if downside > 0 else None
    return volatility, sharpe, sortino


def drawdown(equity: FloatArray, times: npt.NDArray[np.int64] | None = None) -> Drawdown:
    """The deepest drawdown of an equity curve, with its bars, and the longest spell under
    water (from the peak to the recovery bar, or to the last bar), longest by `times` (one
    number per bar, e.g. nanoseconds) or by bar count when None."""
    peaks = np.maximum.accumulate(equity)
    depth = 1.0 - equity / peaks
    trough = int(np.argmax(depth))
    max_dd = float(depth[trough])
    if max_dd <= 0:
        return Drawdown(0.0, None, None, None, None, None)
    peak_value = peaks[trough]
    # The peak is the last bar at the peak value before the trough.
    peak = int(trough - np.argmax(equity[trough::-1] >= peak_value))
    after = np.flatnonzero(equity[trough + 1 :] >= peak_value)
    recovery = int(trough + 1 + after[0]) if after.size else None

    under = equity < peaks
    edges = np.diff(np.concatenate(([0], under.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)  # first bar under water
    ends = np.flatnonzero(edges == -1)  # first bar back at a peak (== len when never)
    last = len(equity) - 1
    begin = starts - 1  # the peak bar precedes the first bar under water
    finish = np.minimum(ends, last)
    clock = np.arange(len(equity)) if times is None else times
    longest = int(np.argmax(clock[finish] - clock[begin]))
    return Drawdown(max_dd, peak, trough, recovery, int(begin[longest]), int(finish[longest]))


def curve_metrics(equity: FloatArray, periods_per_year: int = PERIODS_PER_YEAR) -> JSONDict:
    """Return, volatility, Sharpe, Sortino and max drawdown of an equity curve alone, with the
    definitions above (the Floor measures live equity with these, beside the backtest's)."""
    if len(equity) == 0:
        return {"total_return": None, "sharpe": None, "sortino": None, "max_drawdown": None}
    returns = equity[1:] / equity[:-1] - 1.0
    volatility, sharpe, sortino = _risk_ratios(returns, returns, periods_per_year)
    result: JSONDict = to_json(
        {
            "total_return": float(equity[-1] / equity[0] - 1.0),
            "annualised_volatility": volatility,
            "sharpe": sharpe,
            "sortino": sortino,
            "max_drawdown": drawdown(equity).max_drawdown,
            "bars": len(equity),
        }
    )
    return result
