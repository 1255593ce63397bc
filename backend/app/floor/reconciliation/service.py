"""Reconciliation runs: compare one Coinspot account with our books and record the breaks.

Rules:
- One run per account at a time, across processes: a session advisory lock keyed by the
  user (`ReconcileBusy` when taken). A run holds the row lock of every live deployment of
  the account (waiting at most `FLOOR_RECONCILE_LOCK_WAIT_SECONDS`, else the run is
  `deferred`), so no cycle sends an order while balances are read.
- Under those locks: orphaned intents/submissions are recovered and `unknown` orders go to
  the resolver (as a cycle would), then Coinspot's balances, open orders, order history
  since the last check (with an overlap) and balances again are read. Balances that moved
  between the two reads, or coins with an order still `unknown`, are not compared this run.
- Every difference is recorded once (see `checks` and `models`); open breaks that are no
  longer observed are resolved as `cleared`. New breaks raise a `reconciliation_break`
  alert and a `reconciliation.break` event in the run's transaction.
- An exchange fill our books hold without its exchange key (an estimated fill, booked when
  the history could not be read) is claimed by the first exchange fill of the same order
  with the same coin, side, amount and AUD total.
- Every run ends with its record: outcome clean | breaks | deferred | failed, counts, error.
"""

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from app.alerts.schemas import AlertKind
from app.alerts.service import raise_alert
from app.core.config import settings
from app.core.db import engine as default_engine
from app.credentials.service import keys_for_user
from app.events.schemas import ReconciliationBreakEvent
from app.events.service import publish_reconciliation_break
from app.exchange.client import CoinspotClient
from app.exchange.errors import ExchangeError
from app.exchange.factory import shared_client
from app.floor.brokers import CoinspotBroker, ExchangeFill
from app.floor.executor import NODE
from app.floor.ledger import Order, Position, Trade
from app.floor.ledger import OrderStatus as S
from app.floor.models import RUNNING_STATUSES, DeployedAlgorithm, DeploymentMode
from app.floor.orders import claimed_keys
from app.floor.reconciliation import checks
from app.floor.reconciliation.models import (
    FILL_KINDS,
    BreakAction,
    BreakKind,
    BreakStatus,
    ReconciliationAccount,
    ReconciliationBreak,
    ReconciliationRun,
)
from app.floor.resolver import claim_estimated, recover_orphans, resolve_deployment

logger = logging.getLogger(__name__)

# Namespace of the per-account run lock among the app's two-key advisory locks.
RECONCILE_LOCK_NS = 0x0F1013
HISTORY_OVERLAP = timedelta(minutes=10)
HISTORY_LIMIT = 500
ClientFactory = Callable[[uuid.UUID], Awaitable[CoinspotClient]]


class ReconcileBusy(Exception):
    """Another run of this account is in progress (here or in another process)."""


class NoKeysError(ValueError):
    """The account has no stored Coinspot keys: there is nothing to reconcile with."""


async def account_client(user_id: uuid.UUID) -> CoinspotClient:
    """The process's exchange client with the user's keys (decrypted for the run only)."""
    with Session(default_engine) as session:
        keys = keys_for_user(session, user_id)
    if keys is None:
        raise NoKeysError("store your Coinspot API keys to reconcile with Coinspot")
    return shared_client().with_credentials(
        keys.api_key.get_secret_value(), keys.api_secret.get_secret_value()
    )


def live_accounts(engine: Engine) -> list[uuid.UUID]:
    """Users with a running live deployment: the accounts in use."""
    with Session(engine) as session:
        rows = session.exec(
            select(DeployedAlgorithm.user_id)
            .where(
                col(DeployedAlgorithm.mode) == DeploymentMode.LIVE.value,
                col(DeployedAlgorithm.status).in_(sorted(RUNNING_STATUSES)),
            )
            .distinct()
        ).all()
    return [uuid.UUID(str(r)) for r in rows]


async def reconcile_account(
    user_id: uuid.UUID,
    client: CoinspotClient,
    *,
    trigger: str,
    engine: Engine | None = None,
    now: datetime | None = None,
) -> ReconciliationRun:
    """One run for one account (see the module rules). `now` (tests) is the resolver's and
    the unknown-order check's clock."""
    db = engine or default_engine
    guard = db.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        got = guard.execute(
            sa.text("SELECT pg_try_advisory_lock(:ns, hashtext(:u))"),
            {"ns": RECONCILE_LOCK_NS, "u": str(user_id)},
        ).scalar()
        if not got:
            raise ReconcileBusy("a reconciliation of this account is running")
        try:
            return await _run(db, user_id, client, trigger, now)
        finally:
            guard.execute(
                sa.text("SELECT pg_advisory_unlock(:ns, hashtext(:u))"),
                {"ns": RECONCILE_LOCK_NS, "u": str(user_id)},
            )
    finally:
        guard.close()


async def _run(
    db: Engine, user_id: uuid.UUID, client: CoinspotClient, trigger: str, now: datetime | None
) -> ReconciliationRun:
    run = ReconciliationRun(user_id=user_id, trigger=trigger[:16], node=NODE)
    with Session(db) as session:
        session.add(run)
        session.commit()
        session.refresh(run)
        session.expunge(run)
    started = datetime.now(UTC)
    outcome, error = "failed", None
    counts: dict[str, Any] = {}
    try:
        outcome, counts = await _locked_check(db, user_id, client, run.id, now)
    except Exception as exc:  # the run record says what went wrong; the next run retries
        logger.exception("reconciliation failed", extra={"user": str(user_id)})
        error = f"{type(exc).__name__}: {exc}"
    with Session(db) as session:
        row = session.get(ReconciliationRun, run.id)
        assert row is not None
        row.outcome, row.counts, row.error = outcome, counts, error
        row.finished_at = datetime.now(UTC)
        session.add(row)
        session.commit()
        session.refresh(row)
        session.expunge(row)
    logger.info(
        "reconciliation run",
        extra={
            "user": str(user_id),
            "outcome": outcome,
            "ms": round((datetime.now(UTC) - started).total_seconds() * 1000, 1),
            **{k: v for k, v in counts.items() if isinstance(v, int)},
        },
    )
    return row


async def _locked_check(
    db: Engine, user_id: uuid.UUID, client: CoinspotClient, run_id: uuid.UUID, now: datetime | None
) -> tuple[str, dict[str, Any]]:
    with Session(db) as session:
        deployment_ids = list(
            session.exec(
                select(DeployedAlgorithm.id).where(
                    col(DeployedAlgorithm.user_id) == user_id,
                    col(DeployedAlgorithm.mode) == DeploymentMode.LIVE.value,
                )
            ).all()
        )
    locks = db.connect()
    try:
        locks.begin()
        wait_ms = int(settings.FLOOR_RECONCILE_LOCK_WAIT_SECONDS * 1000)
        locks.execute(sa.text(f"SET LOCAL lock_timeout = {wait_ms}"))
        try:
            locks.execute(
                sa.text(
                    "SELECT id FROM deployed_algorithms WHERE id = ANY(:ids) ORDER BY id "
                    "FOR NO KEY UPDATE"
                ),
                {"ids": deployment_ids},
            )
        except OperationalError:
            return "deferred", {"reason": "a cycle of a live deployment kept running"}
        return await _check(db, user_id, client, run_id, deployment_ids, now)
    finally:
        locks.rollback()
        locks.close()


async def _check(
    db: Engine,
    user_id: uuid.UUID,
    client: CoinspotClient,
    run_id: uuid.UUID,
    deployment_ids: list[uuid.UUID],
    now: datetime | None,
) -> tuple[str, dict[str, Any]]:
    counts: dict[str, Any] = {"deployments": len(deployment_ids)}
    broker = CoinspotBroker(client)
    resolved = 0
    for deployment_id in deployment_ids:
        recover_orphans(db, deployment_id)
        try:
            settled = await resolve_deployment(db, broker, deployment_id, now=now)
        except ExchangeError as exc:  # the order stays unknown; its age decides the break
            counts["resolver_error"] = str(exc)[:300]
            continue
        resolved += sum(1 for o in settled if o.status != S.UNKNOWN)
    counts["unknown_resolved"] = resolved
    with Session(db) as session:
        account = session.get(ReconciliationAccount, user_id)
        since = _history_start(session, user_id, account)
    checked_at = datetime.now(UTC)
    first = await broker.balances()
    book = await client.my_open_orders()
    history = await client.order_history(start=since, limit=HISTORY_LIMIT)
    second = await broker.balances()
    fills = [
        *_fills(history.buy_orders, "buy"),
        *_fills(history.sell_orders, "sell"),
    ]
    exchange_open = [("buy", o) for o in book.buy_orders] + [("sell", o) for o in book.sell_orders]
    counts.update({"exchange_fills": len(fills), "exchange_open_orders": len(exchange_open)})
    if len(history.buy_orders) + len(history.sell_orders) >= HISTORY_LIMIT:
        counts["history_truncated"] = True
    moment = now or datetime.now(UTC)
    with Session(db) as session:
        new = _compare(
            session, user_id, run_id, first, second, exchange_open, fills, moment, counts
        )
        account = session.get(ReconciliationAccount, user_id)
        assert account is not None
        if not counts.get("history_truncated"):
            account.fills_checked_until = checked_at
        session.add(account)
        _announce(session, user_id, new)
        session.commit()
    counts["new_breaks"] = len(new)
    return ("breaks" if counts["open_breaks"] else "clean"), counts


def _history_start(
    session: Session, user_id: uuid.UUID, account: ReconciliationAccount | None
) -> datetime:
    if account is not None and account.fills_checked_until is not None:
        return account.fills_checked_until - HISTORY_OVERLAP
    first = session.exec(
        select(sa.func.min(DeployedAlgorithm.deployed_at)).where(
            col(DeployedAlgorithm.user_id) == user_id,
            col(DeployedAlgorithm.mode) == DeploymentMode.LIVE.value,
        )
    ).one()
    return (first or datetime.now(UTC)) - checks.CLOCK_SKEW


def _fills(entries: Any, side: str) -> list[ExchangeFill]:
    return [
        ExchangeFill(
            coin=e.coin.upper(),
            side="buy" if side == "buy" else "sell",
            amount=e.amount,
            rate=e.rate,
            sold_at=e.sold_at,
            fee=e.aud_fee_ex_gst + e.aud_gst,
            gst=e.aud_gst,
            aud_total=e.aud_total,
        )
        for e in entries
    ]


def _live_orders(session: Session, user_id: uuid.UUID, since: datetime) -> list[Order]:
    query = select(Order).where(
        col(Order.user_id) == user_id,
        col(Order.mode) == DeploymentMode.LIVE.value,
        sa.or_(
            col(Order.status).in_([S.OPEN.value, S.PARTIALLY_FILLED.value, S.UNKNOWN.value]),
            col(Order.created_at) >= since,
        ),
    )
    return list(session.exec(query).all())


def explained_balances(session: Session, user_id: uuid.UUID) -> dict[str, Decimal]:
    """Net of our booked live trades plus exchange fills recorded as breaks, not booked."""
    total: dict[str, Decimal] = {}
    rows = session.exec(
        select(Trade.coin, Trade.side, sa.func.sum(Trade.quantity), sa.func.sum(Trade.total_aud))
        .join(Order, col(Order.id) == col(Trade.order_id))
        .where(col(Trade.user_id) == user_id, col(Order.mode) == DeploymentMode.LIVE.value)
        .group_by(col(Trade.coin), col(Trade.side))
    ).all()
    for coin, side, quantity, aud in rows:
        checks.add_into(total, checks.fill_effect(coin.upper(), side, quantity, aud))
    breaks = session.exec(
        select(ReconciliationBreak).where(
            col(ReconciliationBreak.user_id) == user_id,
            col(ReconciliationBreak.kind).in_([k.value for k in FILL_KINDS]),
        )
    ).all()
    keys = [str(b.detail.get("match_key")) for b in breaks]
    booked = claimed_keys(session, user_id, keys)
    for item in breaks:
        if item.detail.get("match_key") in booked or item.coin is None:
            continue
        fill = checks.detail_fill(item.coin, item.detail)
        checks.add_into(
            total, checks.fill_effect(item.coin, fill.side, fill.amount, fill.aud_total)
        )
    return total


def claimed_by_sleeves(session: Session, user_id: uuid.UUID) -> dict[str, Decimal]:
    """What the running live deployments' sleeves say the account holds for them."""
    rows = session.exec(
        select(Position)
        .join(DeployedAlgorithm, col(DeployedAlgorithm.id) == col(Position.deployment_id))
        .where(
            col(Position.user_id) == user_id,
            col(DeployedAlgorithm.mode) == DeploymentMode.LIVE.value,
            col(DeployedAlgorithm.status).in_(sorted(RUNNING_STATUSES)),
        )
    ).all()
    total: dict[str, Decimal] = {}
    for position in rows:
        checks.add_into(total, {position.coin.upper(): position.quantity, "AUD": position.cash})
    return total


def _compare(
    session: Session,
    user_id: uuid.UUID,
    run_id: uuid.UUID,
    first: dict[str, Decimal],
    second: dict[str, Decimal],
    exchange_open: list[tuple[str, Any]],
    fills: list[ExchangeFill],
    moment: datetime,
    counts: dict[str, Any],
) -> list[ReconciliationBreak]:
    window = timedelta(seconds=settings.FLOOR_RESOLVE_WINDOW_SECONDS)
    earliest = min((f.sold_at for f in fills), default=moment) - window
    orders = _live_orders(session, user_id, earliest)
    counts["estimated_fills_claimed"] = claim_estimated(session, user_id, fills)
    existing = {
        b.key: b
        for b in session.exec(
            select(ReconciliationBreak).where(col(ReconciliationBreak.user_id) == user_id)
        ).all()
    }
    booked = claimed_keys(session, user_id, [f.match_key for f in fills])
    recorded = {k.removeprefix("fill:") for k in existing if k.startswith("fill:")}
    open_ids = {o.id for _, o in exchange_open}
    found = checks.classify_fills(fills, orders, booked | recorded, window, open_ids)
    thought_open = {
        b.order_id
        for b in [*existing.values()]
        if b.kind == BreakKind.FILLED_THOUGHT_OPEN and b.order_id is not None
    } | {o.order_id for o in found if o.kind == BreakKind.FILLED_THOUGHT_OPEN and o.order_id}
    found += checks.compare_open_orders(exchange_open, orders, thought_open)
    grace = timedelta(seconds=settings.FLOOR_RESOLVE_GRACE_SECONDS)
    found += checks.stuck_unknown(orders, moment, grace)
    new = _record(session, user_id, run_id, found, existing, moment)
    skip = {o.coin.upper() for o in orders if o.status == S.UNKNOWN}
    if skip:
        skip.add(checks.AUD)
    if first != second:
        skip |= set(first) | set(second) | {checks.AUD}
        counts["balances_moved"] = True
    balance_found = _balances(session, user_id, second, skip, counts)
    new += _record(session, user_id, run_id, balance_found, existing, moment)
    seen = {o.key for o in [*found, *balance_found]}
    counts["cleared"] = _clear(session, existing, seen, skip, booked, moment)
    counts["open_breaks"] = sum(
        1 for b in [*existing.values(), *new] if b.status == BreakStatus.OPEN
    )
    counts["skipped_coins"] = sorted(skip)
    return new


def _balances(
    session: Session,
    user_id: uuid.UUID,
    actual: dict[str, Decimal],
    skip: set[str],
    counts: dict[str, Any],
) -> list[checks.Observation]:
    session.flush()
    explained = explained_balances(session, user_id)
    account = session.get(ReconciliationAccount, user_id)
    if account is None:
        account = ReconciliationAccount(user_id=user_id)
        session.add(account)
    if account.baseline_at is None:
        if skip:
            counts["baseline"] = "deferred: orders in flight"
            return []
        account.baseline_exchange = checks.as_texts(actual)
        account.baseline_explained = checks.as_texts(explained)
        account.baseline_at = datetime.now(UTC)
        counts["baseline"] = "taken"
        return []
    expected = checks.expected_balances(
        checks.as_decimals(account.baseline_exchange),
        checks.as_decimals(account.baseline_explained),
        explained,
        checks.as_decimals(account.adjustments),
    )
    return checks.compare_balances(actual, expected, claimed_by_sleeves(session, user_id), skip)


def _record(
    session: Session,
    user_id: uuid.UUID,
    run_id: uuid.UUID,
    found: list[checks.Observation],
    existing: dict[str, ReconciliationBreak],
    moment: datetime,
) -> list[ReconciliationBreak]:
    new = []
    for item in found:
        row = existing.get(item.key)
        if row is not None:
            if row.status == BreakStatus.OPEN:
                row.last_seen_at = moment
                row.theirs = item.theirs if item.theirs is not None else row.theirs
                session.add(row)
            continue
        row = ReconciliationBreak(
            user_id=user_id,
            key=item.key[:300],
            kind=item.kind.value,
            coin=item.coin,
            deployment_id=item.deployment_id,
            order_id=item.order_id,
            ours=item.ours,
            theirs=item.theirs,
            message=item.message[:500],
            detail=item.detail,
            blocking=item.blocking,
            first_run_id=run_id,
            first_seen_at=moment,
            last_seen_at=moment,
        )
        session.add(row)
        existing[item.key] = row
        new.append(row)
    session.flush()
    return new


def _clear(
    session: Session,
    existing: dict[str, ReconciliationBreak],
    seen: set[str],
    skip: set[str],
    booked: set[str],
    moment: datetime,
) -> int:
    """Resolve open breaks whose difference is gone."""
    cleared = 0
    for row in existing.values():
        if row.status != BreakStatus.OPEN or row.key in seen:
            continue
        if row.kind in FILL_KINDS:
            gone = row.detail.get("match_key") in booked
        elif row.kind == BreakKind.BALANCE_CHANGED:
            gone = (row.coin or "") not in skip
        else:
            gone = True
        if not gone:
            continue
        row.status = BreakStatus.RESOLVED.value
        row.resolution_action = BreakAction.CLEARED.value
        row.resolution_note = "no longer observed at Coinspot"
        row.resolved_at = moment
        session.add(row)
        cleared += 1
    return cleared


def _announce(session: Session, user_id: uuid.UUID, new: list[ReconciliationBreak]) -> None:
    """An alert and an event per new break (last in the transaction, as events require)."""
    for row in new:
        raise_alert(
            session,
            user_id,
            AlertKind.RECONCILIATION_BREAK,
            row.key,
            row.message,
            {"break_id": str(row.id), "kind": row.kind, "coin": row.coin, "blocking": row.blocking},
        )
        publish_reconciliation_break(
            session,
            user_id,
            ReconciliationBreakEvent(
                break_id=row.id,
                kind=row.kind,
                coin=row.coin,
                status=row.status,
                blocking=row.blocking,
                ours=row.ours,
                theirs=row.theirs,
                message=row.message,
            ),
        )
