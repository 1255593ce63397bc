"""Login throttling shared by every app process (state in PostgreSQL).

Rules kept here:
- Two counters per attempt: the account (`acct:<lower-cased e-mail>`, also for unknown
  e-mails, so the answer never reveals whether an account exists) and the client address
  (`ip:<addr>`). Each counts failures of password *and* second-factor checks.
- Up to the limit (LOGIN_MAX_FAILURES_ACCOUNT / _ADDRESS) failures cost nothing; from the
  limit on each failure locks the key for LOGIN_THROTTLE_BASE_SECONDS doubled per extra
  failure, capped at LOGIN_THROTTLE_MAX_SECONDS. While a key is locked every attempt answers
  429 with Retry-After *without* checking the password and without counting, so an attacker
  cannot lengthen a lock by hammering; a lock never lasts longer than the cap.
- Failures older than LOGIN_FAILURE_WINDOW_SECONDS are forgotten; a full successful login
  and a password reset clear the account counter (the owner always has a way in).
- Times come from the database clock, so replicas with skewed clocks agree; each update
  locks its row (SELECT … FOR UPDATE) so concurrent failures in several processes all count.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlmodel import Session

from app.core.config import settings


def account_key(email: str) -> str:
    return f"acct:{email.strip().lower()[:255]}"


def address_key(address: str | None) -> str:
    return f"ip:{address or 'unknown'}"


def _limit(key: str) -> int:
    if key.startswith("acct:"):
        return settings.LOGIN_MAX_FAILURES_ACCOUNT
    return settings.LOGIN_MAX_FAILURES_ADDRESS


def lock_seconds(failures: int, limit: int) -> int:
    """The lock after the `failures`-th failure (0 below the limit)."""
    if failures < limit:
        return 0
    exponent = min(failures - limit, 30)
    return int(
        min(settings.LOGIN_THROTTLE_BASE_SECONDS * 2**exponent, settings.LOGIN_THROTTLE_MAX_SECONDS)
    )


def retry_after(session: Session, keys: list[str]) -> int | None:
    """Seconds until the latest lock among `keys` ends, or None when none is locked."""
    row = session.execute(
        text(
            "SELECT max(EXTRACT(EPOCH FROM (locked_until - clock_timestamp()))) "
            "FROM login_throttle WHERE key = ANY(:keys) AND locked_until > clock_timestamp()"
        ),
        {"keys": keys},
    ).one()
    session.commit()
    if row[0] is None:
        return None
    return max(1, math.ceil(float(row[0])))


@dataclass(frozen=True)
class FailureOutcome:
    key: str
    failures: int
    locked_seconds: int
    notify: bool


def record_failure(session: Session, key: str) -> FailureOutcome:
    """Count one failure for `key` (atomic across processes) and lock it when due.

    `notify` is true once per window for an account key, when it first reaches its limit."""
    limit = _limit(key)
    session.execute(
        text(
            "INSERT INTO login_throttle (key, failures, last_failure_at) "
            "VALUES (:key, 0, clock_timestamp()) ON CONFLICT (key) DO NOTHING"
        ),
        {"key": key},
    )
    row = session.execute(
        text(
            "SELECT failures, last_failure_at, notified_at, clock_timestamp() "
            "FROM login_throttle WHERE key = :key FOR UPDATE"
        ),
        {"key": key},
    ).one()
    failures: int = row[0]
    last_failure_at: datetime = row[1]
    notified_at: datetime | None = row[2]
    now: datetime = row[3]
    window = timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    stale: bool = last_failure_at < now - window
    failures = 1 if stale else failures + 1
    if stale:
        notified_at = None
    seconds = lock_seconds(failures, limit)
    notify = key.startswith("acct:") and failures >= limit and notified_at is None
    locked_until: datetime | None = now + timedelta(seconds=seconds) if seconds else None
    session.execute(
        text(
            "UPDATE login_throttle SET failures = :failures, last_failure_at = :now, "
            "locked_until = :locked_until, notified_at = :notified_at WHERE key = :key"
        ),
        {
            "key": key,
            "failures": failures,
            "now": now,
            "locked_until": locked_until,
            "notified_at": now if notify else notified_at,
        },
    )
    session.commit()
    return FailureOutcome(key=key, failures=failures, locked_seconds=seconds, notify=notify)


def clear(session: Session, key: str) -> None:
    session.execute(text("DELETE FROM login_throttle WHERE key = :key"), {"key": key})
    session.commit()
