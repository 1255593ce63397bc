"""P&L figures for the routes: summaries by deployment, algorithm, coin and account, the
equity history, snapshots, and CSV exports for tax records.

Rules:
- Realised P&L comes from `pnl_closed_lots` (closed within the period; all time reads
  `pnl_totals`, their exact running sums); unrealised from
  `pnl_open_lots` marked at the newest collected bid of each coin; fees are shown apart
  (realised lots' fees; the buy fees of open lots as `fees_open`). Every figure is an exact
  NUMERIC sum computed in PostgreSQL; a coarser view is the exact sum of the finer one (the
  account is the sum of its coins, which is the sum of its deployments), and amounts are
  rounded to cents (half-even) only in the answer.
- Periods: today (since 00:00 in the user's profile time zone), 7d, 30d, all, or custom
  [start, end). Unrealised P&L is always as of now.
- Equity = sleeve cash (positions) + holdings at the bid. Snapshots store it per deployment
  and 5-minute bar; the history route sums them per bar for the account and downsamples by
  taking the last snapshot of each bucket.
"""

import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from app.floor.pnl.ledger import cents

ZERO = Decimal(0)


class Period(StrEnum):
    TODAY = "today"
    WEEK = "7d"
    MONTH = "30d"
    ALL = "all"
    CUSTOM = "custom"


def period_bounds(
    period: Period, tz: str, start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime | None, datetime | None]:
    if period == Period.CUSTOM:
        if start is None or end is None:
            raise ValueError("start and end are required with period=custom")
        if end <= start:
            raise ValueError("end must be after start")
        return start, end
    if period == Period.TODAY:
        local = now.astimezone(ZoneInfo(tz))
        return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC), None
    if period == Period.WEEK:
        return now - timedelta(days=7), None
    if period == Period.MONTH:
        return now - timedelta(days=30), None
    return None, None


_MARKS = sa.text(
    """
    SELECT c.coin, p.bid, p."timestamp"
    FROM unnest(CAST(:coins AS text[])) AS c(coin)
    CROSS JOIN LATERAL (
        SELECT bid, "timestamp" FROM price_data_5min q
        WHERE q.coin_type IN (c.coin, lower(c.coin))
        ORDER BY q."timestamp" DESC LIMIT 1
    ) p
    """
)

_REALISED = sa.text(
    """
    SELECT l.deployment_id, d.algorithm_id, l.coin,
           sum(l.gross) AS gross, sum(l.fees) AS fees, sum(l.net) AS net,
           sum(l.buy_gst + l.sell_gst) AS gst, count(*) AS lots
    FROM pnl_closed_lots l JOIN deployed_algorithms d ON d.id = l.deployment_id
    WHERE l.user_id = :user_id
      AND (CAST(:start AS timestamptz) IS NULL OR l.closed_at >= :start)
      AND (CAST(:end AS timestamptz) IS NULL OR l.closed_at < :end)
      AND (CAST(:deployment_id AS uuid) IS NULL OR l.deployment_id = :deployment_id)
    GROUP BY l.deployment_id, d.algorithm_id, l.coin
    """
)

_TOTALS = sa.text(
    """
    SELECT t.deployment_id, d.algorithm_id, t.coin, t.gross, t.fees, t.net, t.gst, t.lots
    FROM pnl_totals t JOIN deployed_algorithms d ON d.id = t.deployment_id
    WHERE t.user_id = :user_id
      AND (CAST(:deployment_id AS uuid) IS NULL OR t.deployment_id = :deployment_id)
    """
)

_OPEN = sa.text(
    """
    SELECT l.deployment_id, d.algorithm_id, l.coin, sum(l.quantity) AS quantity,
           sum(l.quantity * l.price) AS cost, sum(l.fee + l.gst) AS fees
    FROM pnl_open_lots l JOIN deployed_algorithms d ON d.id = l.deployment_id
    WHERE l.user_id = :user_id
      AND (CAST(:deployment_id AS uuid) IS NULL OR l.deployment_id = :deployment_id)
    GROUP BY l.deployment_id, d.algorithm_id, l.coin
    """
)

_CASH = sa.text(
    """
    SELECT p.deployment_id, sum(p.cash) AS cash
    FROM positions p
    WHERE p.user_id = :user_id
      AND (CAST(:deployment_id AS uuid) IS NULL OR p.deployment_id = :deployment_id)
    GROUP BY p.deployment_id
    """
)

_DEPLOYMENTS = sa.text(
    """
    SELECT d.id, d.name, d.algorithm_id, a.name AS algorithm_name, d.mode, d.status, d.capital
    FROM deployed_algorithms d JOIN algorithms a ON a.id = d.algorithm_id
    WHERE d.user_id = :user_id
      AND (CAST(:deployment_id AS uuid) IS NULL OR d.id = :deployment_id)
    """
)


@dataclass
class Row:
    """Exact figures of one group (a deployment's coin, or any sum of those)."""

    realised_gross: Decimal = ZERO
    realised_fees: Decimal = ZERO
    realised_net: Decimal = ZERO
    gst: Decimal = ZERO
    closed_lots: int = 0
    quantity: Decimal = ZERO
    cost_open: Decimal = ZERO
    fees_open: Decimal = ZERO
    market_value: Decimal = ZERO
    cash: Decimal = ZERO
    capital: Decimal = ZERO

    def add(self, other: "Row") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def unrealised_gross(self) -> Decimal:
        return self.market_value - self.cost_open

    @property
    def unrealised_net(self) -> Decimal:
        return self.unrealised_gross - self.fees_open

    def public(self) -> dict[str, Any]:
        equity = self.cash + self.market_value
        return {
            "realised_pnl": str(cents(self.realised_net)),
            "realised_gross": str(cents(self.realised_gross)),
            "realised_fees": str(cents(self.realised_fees)),
            "gst": str(cents(self.gst)),
            "closed_lots": self.closed_lots,
            "unrealised_pnl": str(cents(self.unrealised_net)),
            "unrealised_gross": str(cents(self.unrealised_gross)),
            "fees_open": str(cents(self.fees_open)),
            "total_pnl": str(cents(self.realised_net + self.unrealised_net)),
            "exposure": str(cents(self.market_value)),
            "cash": str(cents(self.cash)),
            "equity": str(cents(equity)),
            "capital": str(cents(self.capital)),
            "average_cost": (
                str((self.cost_open + self.fees_open) / self.quantity) if self.quantity else None
            ),
        }


@dataclass
class Breakdown:
    """Exact rows per (deployment, coin), with the marks used."""

    cells: dict[tuple[uuid.UUID, str], Row]
    deployments: dict[uuid.UUID, dict[str, Any]]
    marks: dict[str, tuple[Decimal, datetime]]

    def by(self, key: str) -> dict[Any, Row]:
        out: dict[Any, Row] = {}
        for (deployment_id, coin), row in self.cells.items():
            group: Any = {
                "deployment": deployment_id,
                "coin": coin,
                "algorithm": self.deployments[deployment_id]["algorithm_id"],
                "account": "account",
            }[key]
            out.setdefault(group, Row()).add(row)
        if key in ("deployment", "algorithm", "account"):
            for deployment_id, info in self.deployments.items():
                group = {
                    "deployment": deployment_id,
                    "algorithm": info["algorithm_id"],
                    "account": "account",
                }[key]
                target = out.setdefault(group, Row())
                target.cash += info["cash"]
                target.capital += info["capital"]
        return out


def breakdown(
    session: Session,
    user_id: uuid.UUID,
    start: datetime | None,
    end: datetime | None,
    deployment_id: uuid.UUID | None = None,
) -> Breakdown:
    conn = session.connection()
    params = {"user_id": user_id, "start": start, "end": end, "deployment_id": deployment_id}
    cells: dict[tuple[uuid.UUID, str], Row] = {}
    # All time: the running totals; a period: the lots closed in it (an indexed range).
    realised = _TOTALS if start is None and end is None else _REALISED
    for r in conn.execute(realised, params):
        cell = cells.setdefault((r.deployment_id, r.coin), Row())
        cell.realised_gross, cell.realised_fees, cell.realised_net = r.gross, r.fees, r.net
        cell.gst, cell.closed_lots = r.gst, int(r.lots)
    opened = list(conn.execute(_OPEN, params))
    coins = sorted({r.coin for r in opened})
    marks = {m.coin: (Decimal(m.bid), m.timestamp) for m in conn.execute(_MARKS, {"coins": coins})}
    for r in opened:
        cell = cells.setdefault((r.deployment_id, r.coin), Row())
        cell.quantity, cell.cost_open, cell.fees_open = r.quantity, r.cost, r.fees
        bid = marks.get(r.coin, (ZERO, None))[0]
        cell.market_value = r.quantity * bid
    cash = {r.deployment_id: r.cash for r in conn.execute(_CASH, params)}
    deployments = {
        r.id: {
            "name": r.name,
            "algorithm_id": r.algorithm_id,
            "algorithm_name": r.algorithm_name,
            "mode": r.mode,
            "status": r.status,
            "capital": r.capital,
            "cash": cash.get(r.id, r.capital),
        }
        for r in conn.execute(_DEPLOYMENTS, params)
    }
    return Breakdown(cells, deployments, marks)


def snapshot(session: Session, bar: datetime) -> int:
    """Equity of every deployment that is not stopped, at `bar`; returns rows written."""
    result = session.connection().execute(
        sa.text(
            """
            WITH marks AS (
                SELECT c.coin, p.bid FROM (SELECT DISTINCT coin FROM pnl_open_lots) c
                CROSS JOIN LATERAL (
                    SELECT bid FROM price_data_5min q
                    WHERE q.coin_type IN (c.coin, lower(c.coin)) AND q."timestamp" <= :bar
                    ORDER BY q."timestamp" DESC LIMIT 1
                ) p
            ), holdings AS (
                SELECT l.deployment_id, sum(l.quantity * coalesce(m.bid, 0)) AS value
                FROM pnl_open_lots l LEFT JOIN marks m ON m.coin = l.coin
                GROUP BY l.deployment_id
            ), cash AS (
                SELECT deployment_id, sum(cash) AS cash FROM positions GROUP BY deployment_id
            )
            INSERT INTO equity_snapshots (deployment_id, bar, user_id, cash, holdings, equity)
            SELECT d.id, :bar, d.user_id, coalesce(c.cash, d.capital), coalesce(h.value, 0),
                   coalesce(c.cash, d.capital) + coalesce(h.value, 0)
            FROM deployed_algorithms d
            LEFT JOIN cash c ON c.deployment_id = d.id
            LEFT JOIN holdings h ON h.deployment_id = d.id
            WHERE d.status <> 'stopped' AND d.deployed_at <= :bar
            ON CONFLICT (deployment_id, bar) DO UPDATE
               SET cash = EXCLUDED.cash, holdings = EXCLUDED.holdings, equity = EXCLUDED.equity
            """
        ),
        {"bar": bar},
    )
    return int(result.rowcount or 0)


_BUCKETS = {"5m": "5 minutes", "1h": "1 hour", "1d": "1 day"}


def history(
    session: Session,
    user_id: uuid.UUID,
    deployment_id: uuid.UUID | None,
    start: datetime | None,
    end: datetime | None,
    interval: str,
) -> list[dict[str, Any]]:
    """Equity per bucket (last snapshot in it), with cumulative return and drawdown."""
    rows = (
        session.connection()
        .execute(
            sa.text(
                """
            WITH per_bar AS (
                SELECT bar, sum(equity) AS equity, sum(cash) AS cash, sum(holdings) AS holdings
                FROM equity_snapshots
                WHERE user_id = :user_id
                  AND (CAST(:deployment_id AS uuid) IS NULL OR deployment_id = :deployment_id)
                  AND (CAST(:start AS timestamptz) IS NULL OR bar >= :start)
                  AND (CAST(:end AS timestamptz) IS NULL OR bar < :end)
                GROUP BY bar
            )
            SELECT DISTINCT ON (date_bin(CAST(:step AS interval), bar, TIMESTAMPTZ '2000-01-01'))
                   bar, equity, cash, holdings
            FROM per_bar
            ORDER BY date_bin(CAST(:step AS interval), bar, TIMESTAMPTZ '2000-01-01'), bar DESC
            """
            ),
            {
                "user_id": user_id,
                "deployment_id": deployment_id,
                "start": start,
                "end": end,
                "step": _BUCKETS[interval],
            },
        )
        .all()
    )
    out: list[dict[str, Any]] = []
    first: Decimal | None = None
    peak = ZERO
    for r in rows:
        equity = Decimal(r.equity)
        first = equity if first is None else first
        peak = max(peak, equity)
        out.append(
            {
                "bar": r.bar,
                "equity": str(cents(equity)),
                "cash": str(cents(Decimal(r.cash))),
                "holdings": str(cents(Decimal(r.holdings))),
                "cumulative_return": float(equity / first - 1) if first else None,
                "drawdown": float(1 - equity / peak) if peak > 0 else 0.0,
            }
        )
    return out


def _csv(header: list[str], rows: Iterator[Any]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(row)
        yield buffer.getvalue()


def export_csv(
    session: Session, user_id: uuid.UUID, kind: str, start: datetime | None, end: datetime | None
) -> Iterator[str]:
    """Fills or realised lots as CSV rows (exact amounts, UTC ISO times)."""
    params = {"user_id": user_id, "start": start, "end": end}
    if kind == "fills":
        result = session.connection().execute(
            sa.text(
                """
                SELECT coalesce(t.exchange_time, t.created_at) AS time, d.name, t.deployment_id,
                       t.coin, t.side, t.quantity, t.price, t.fee, t.gst, t.total_aud, t.source,
                       t.order_id
                FROM trades t JOIN deployed_algorithms d ON d.id = t.deployment_id
                WHERE t.user_id = :user_id
                  AND (CAST(:start AS timestamptz) IS NULL
                       OR coalesce(t.exchange_time, t.created_at) >= :start)
                  AND (CAST(:end AS timestamptz) IS NULL
                       OR coalesce(t.exchange_time, t.created_at) < :end)
                ORDER BY 1, t.id
                """
            ),
            params,
        )
        header = [
            "time_utc",
            "deployment",
            "deployment_id",
            "coin",
            "side",
            "quantity",
            "price_aud",
            "fee_ex_gst_aud",
            "gst_aud",
            "total_aud",
            "source",
            "order_id",
        ]
        return _csv(header, ([r[0].isoformat(), *r[1:]] for r in result))
    result = session.connection().execute(
        sa.text(
            """
            SELECT l.opened_at, l.closed_at, d.name, l.deployment_id, l.coin, l.quantity,
                   l.buy_price, l.sell_price, l.quantity * l.buy_price + l.buy_fee + l.buy_gst,
                   l.quantity * l.sell_price - l.sell_fee - l.sell_gst,
                   l.buy_fee + l.sell_fee, l.buy_gst + l.sell_gst, l.gross, l.net
            FROM pnl_closed_lots l JOIN deployed_algorithms d ON d.id = l.deployment_id
            WHERE l.user_id = :user_id
              AND (CAST(:start AS timestamptz) IS NULL OR l.closed_at >= :start)
              AND (CAST(:end AS timestamptz) IS NULL OR l.closed_at < :end)
            ORDER BY l.closed_at, l.id
            """
        ),
        params,
    )
    header = [
        "opened_utc",
        "closed_utc",
        "deployment",
        "deployment_id",
        "coin",
        "quantity",
        "buy_price_aud",
        "sell_price_aud",
        "cost_base_aud",
        "proceeds_aud",
        "fees_ex_gst_aud",
        "gst_aud",
        "gross_pnl_aud",
        "net_pnl_aud",
    ]
    return _csv(header, ([r[0].isoformat(), r[1].isoformat(), *r[2:]] for r in result))


def snapshot_all(engine: sa.Engine, bar: datetime) -> int:
    """The leader's snapshot of every deployment's equity at `bar`, in its own transaction."""
    with Session(engine) as session:
        written = snapshot(session, bar)
        session.commit()
        return written


def owner_of(session: Session, deployment_id: uuid.UUID) -> uuid.UUID | None:
    owner: uuid.UUID | None = (
        session.connection()
        .execute(
            sa.text("SELECT user_id FROM deployed_algorithms WHERE id = :id"), {"id": deployment_id}
        )
        .scalar()
    )
    return owner
