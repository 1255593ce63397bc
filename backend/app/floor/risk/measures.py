"""The figures the risk engine compares with the limits, read from the database.

Rules:
- Read-only, in Decimal. Equity = the sleeves' cash + holdings marked at the bid: the
  order's coin at the quote the order was sized with, other coins at their latest collected
  bid, and a coin never collected at its average price (cost).
- Daily loss = equity at the start of the day - equity now (so realised and unrealised
  P&L since then, fees included). The day starts at 00:00 in the owner's time zone (the
  user's `timezone` field); its equity is the last equity snapshot at or before that
  moment, or the capital when there is none (a deployment deployed today).
- Peak equity = the highest of the capital and every equity snapshot; drawdown =
  (peak - equity now) / peak.
- Orders per hour counts every order the deployment created in the last 60 minutes,
  whatever became of it. A losing round trip is a closed P&L lot with a negative net.
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

_EQUITY = sa.text(
    """
    SELECT p.deployment_id, p.coin, p.quantity, p.cash, p.average_price,
           (SELECT q.bid FROM price_data_5min q
             WHERE q.coin_type IN (p.coin, lower(p.coin)) AND q."timestamp" <= :now
             ORDER BY q."timestamp" DESC LIMIT 1) AS bid
    FROM positions p WHERE p.deployment_id = ANY(:ids)
    """
)


def equities(
    conn: Connection, deployment_ids: Sequence[uuid.UUID], marks: dict[str, Decimal], now: datetime
) -> tuple[dict[uuid.UUID, Decimal], dict[uuid.UUID, Decimal]]:
    """(equity, holdings value) per deployment that has positions."""
    equity: dict[uuid.UUID, Decimal] = {}
    holdings: dict[uuid.UUID, Decimal] = {}
    if not deployment_ids:
        return equity, holdings
    rows = conn.execute(_EQUITY, {"ids": list(deployment_ids), "now": now}).all()
    for row in rows:
        key = uuid.UUID(str(row.deployment_id))
        bid = None if row.bid is None else Decimal(row.bid)
        mark = marks.get(str(row.coin))
        if mark is None:
            mark = bid if bid is not None and bid > 0 else Decimal(row.average_price)
        value = Decimal(row.quantity) * mark
        holdings[key] = holdings.get(key, Decimal(0)) + value
        equity[key] = equity.get(key, Decimal(0)) + Decimal(row.cash) + value
    return equity, holdings


def time_zone_of(name: str | None) -> ZoneInfo:
    """The zone named `name`, or UTC when it is missing or unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def day_start(time_zone: str | None, now: datetime) -> datetime:
    """00:00 of `now`'s day in `time_zone` (UTC when unknown), as a UTC datetime."""
    local = now.astimezone(time_zone_of(time_zone))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.astimezone(UTC)


def user_time_zone(conn: Connection, user_id: uuid.UUID) -> str:
    value = conn.execute(sa.text('SELECT timezone FROM "user" WHERE id = :u'), {"u": user_id})
    return str(value.scalar() or "UTC")


def start_equity(
    conn: Connection, deployment_ids: Sequence[uuid.UUID], start: datetime
) -> dict[uuid.UUID, Decimal]:
    """Equity at `start` per deployment (last snapshot at or before it, else the capital)."""
    if not deployment_ids:
        return {}
    rows = conn.execute(
        sa.text(
            """
            SELECT d.id, coalesce(
                (SELECT s.equity FROM equity_snapshots s
                  WHERE s.deployment_id = d.id AND s.bar <= :start
                  ORDER BY s.bar DESC LIMIT 1), d.capital)
            FROM deployed_algorithms d WHERE d.id = ANY(:ids)
            """
        ),
        {"ids": list(deployment_ids), "start": start},
    ).all()
    return {uuid.UUID(str(r[0])): Decimal(r[1]) for r in rows}


def peak_equity(conn: Connection, deployment_id: uuid.UUID, capital: Decimal) -> Decimal:
    value = conn.execute(
        sa.text("SELECT max(equity) FROM equity_snapshots WHERE deployment_id = :d"),
        {"d": deployment_id},
    ).scalar()
    return max(capital, Decimal(value)) if value is not None else capital


def orders_last_hour(conn: Connection, deployment_id: uuid.UUID, now: datetime) -> int:
    value = conn.execute(
        sa.text("SELECT count(*) FROM orders WHERE deployment_id = :d AND created_at > :since"),
        {"d": deployment_id, "since": now - timedelta(hours=1)},
    ).scalar()
    return int(value or 0)


def last_losing_round_trip(
    conn: Connection, deployment_id: uuid.UUID
) -> tuple[datetime, Decimal] | None:
    row = conn.execute(
        sa.text(
            "SELECT closed_at, net FROM pnl_closed_lots WHERE deployment_id = :d AND net < 0 "
            "ORDER BY closed_at DESC LIMIT 1"
        ),
        {"d": deployment_id},
    ).first()
    return None if row is None else (row[0], Decimal(row[1]))


def previous_bar(
    conn: Connection, coin: str, bar: datetime, max_age_seconds: int
) -> tuple[datetime, Decimal, Decimal] | None:
    """The latest collected bar of `coin` at or before `bar`, if at most `max_age_seconds`
    older than it and with a usable bid and ask."""
    row = conn.execute(
        sa.text(
            'SELECT "timestamp", bid, ask FROM price_data_5min WHERE coin_type = ANY(:c) '
            'AND "timestamp" <= :bar AND "timestamp" >= :oldest '
            'ORDER BY "timestamp" DESC LIMIT 1'
        ),
        {
            "c": [coin.upper(), coin.lower()],
            "bar": bar,
            "oldest": bar - timedelta(seconds=max_age_seconds),
        },
    ).first()
    if row is None or not (row[1] and row[2] and row[1] > 0 and row[2] > 0):
        return None
    return row[0], Decimal(row[1]), Decimal(row[2])


def live_deployments(conn: Connection, user_id: uuid.UUID) -> list[uuid.UUID]:
    """The user's live deployments that are not stopped (they share one Coinspot account)."""
    rows = conn.execute(
        sa.text(
            "SELECT id FROM deployed_algorithms WHERE user_id = :u AND mode = 'live' "
            "AND status <> 'stopped'"
        ),
        {"u": user_id},
    ).all()
    return [uuid.UUID(str(r[0])) for r in rows]
