"""Validate stored keys against Coinspot through the exchange layer, and record the outcome.

The check is the read-only `my/balances` call (signed with HMAC-SHA512 by the exchange
client), which proves the key and the secret and gives the user a balances summary.

Permission level: after balances succeed, the full-access API's `status` is probed. It
changes nothing on the account, and Coinspot refuses it for read-only keys, so
success → `full_access`, an authentication refusal → `read_only`, anything else
(rate limit, outage) → `unknown`. We never place, quote or cancel anything to find out.

Outcomes that say something about the keys (valid, bad key, bad signature) are stored
on the row. Transient ones (rate limited, exchange down, unexpected answer) leave the
row exactly as it was: an outage must not mark good keys bad. Every outcome is audited.
"""

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends
from sqlmodel import Session, select

from app.core.config import settings
from app.credentials import audit
from app.credentials.models import (
    AuditAction,
    AuditOutcome,
    BalanceSummary,
    CoinspotCredential,
    PermissionLevel,
    ValidationResult,
    ValidationStatus,
    utcnow,
)
from app.credentials.service import KeyPair, record_validation
from app.exchange.client import CoinspotClient
from app.exchange.errors import (
    AuthenticationError,
    ExchangeError,
    ExchangeUnavailableError,
    RateLimitError,
)
from app.exchange.transport import RetryPolicy

logger = logging.getLogger(__name__)

ClientFactory = Callable[[KeyPair], CoinspotClient]


def default_client_factory(keys: KeyPair) -> CoinspotClient:
    # One attempt: the user is waiting, and a retried rate limit or outage would hide
    # the very answer ("rate limited", "exchange unavailable") they asked for.
    return CoinspotClient(
        settings.COINSPOT_BASE_URL,
        api_key=keys.api_key.get_secret_value(),
        api_secret=keys.api_secret.get_secret_value(),
        timeout_seconds=settings.CREDENTIALS_VALIDATE_TIMEOUT_SECONDS,
        rate_limit=settings.COINSPOT_RATE_LIMIT_PER_MINUTE,
        retry=RetryPolicy(attempts=1),
    )


def get_client_factory() -> ClientFactory:
    """Builds the exchange client for a key pair; tests override it to reach the simulator."""
    return default_client_factory


ClientFactoryDep = Annotated[ClientFactory, Depends(get_client_factory)]

_REASONS: dict[ValidationStatus, str] = {
    ValidationStatus.INVALID_KEY: "bad key: Coinspot does not accept this API key",
    ValidationStatus.INVALID_SIGNATURE: (
        "bad signature: the API secret does not match this key (re-enter the secret)"
    ),
    ValidationStatus.RATE_LIMITED: "rate limited by Coinspot; try again in a minute",
    ValidationStatus.EXCHANGE_UNAVAILABLE: "exchange unavailable: Coinspot could not be reached",
    ValidationStatus.EXCHANGE_ERROR: "exchange error: Coinspot gave an unexpected answer",
}
_TRANSIENT = {
    ValidationStatus.RATE_LIMITED,
    ValidationStatus.EXCHANGE_UNAVAILABLE,
    ValidationStatus.EXCHANGE_ERROR,
}


@dataclass
class Outcome:
    status: ValidationStatus
    permission_level: PermissionLevel = PermissionLevel.UNKNOWN
    balances: list[BalanceSummary] = field(default_factory=list)
    reason: str | None = None


def _classify(exc: Exception) -> Outcome:
    status: ValidationStatus
    reason = None
    if isinstance(exc, AuthenticationError):
        if exc.reason == "invalid_signature":
            status = ValidationStatus.INVALID_SIGNATURE
        elif exc.reason == "invalid_nonce":
            # Our nonces only grow; a refusal means another program uses the same key
            # with larger nonces. Not a verdict on the key itself.
            status = ValidationStatus.EXCHANGE_ERROR
            reason = "nonce refused: is this API key also used by another program?"
        elif exc.reason == "permission_denied":
            status = ValidationStatus.INVALID_KEY
            reason = "bad key: this API key may not read balances"
        else:
            status = ValidationStatus.INVALID_KEY
    elif isinstance(exc, RateLimitError):
        status = ValidationStatus.RATE_LIMITED
    elif isinstance(exc, ExchangeUnavailableError):
        status = ValidationStatus.EXCHANGE_UNAVAILABLE
    else:
        status = ValidationStatus.EXCHANGE_ERROR
    return Outcome(status=status, reason=reason or _REASONS[status])


async def _permission_level(client: CoinspotClient) -> PermissionLevel:
    try:
        await client.full_access_status()
    except AuthenticationError as exc:
        # The key just read balances, so a refusal here is about its permissions.
        if exc.reason == "invalid_nonce":
            return PermissionLevel.UNKNOWN
        return PermissionLevel.READ_ONLY
    except Exception as exc:  # no verdict; the keys are still valid
        logger.info("permission probe inconclusive", extra={"error": type(exc).__name__})
        return PermissionLevel.UNKNOWN
    return PermissionLevel.FULL_ACCESS


async def check_keys(keys: KeyPair, factory: ClientFactory) -> Outcome:
    """Ask Coinspot whether the pair works. Never raises for exchange trouble."""
    try:
        async with factory(keys) as client:
            try:
                balances = await client.balances()
            except ExchangeError as exc:
                outcome = _classify(exc)
                logger.info(
                    "coinspot credentials check failed",
                    extra={"status": outcome.status.value, "reason": exc.reason},
                )
                return outcome
            permission = await _permission_level(client)
    except Exception as exc:
        # The exchange layer types every failure it knows; anything else is a bug. Answer
        # without a stack trace and log only the type: a message might quote a header.
        logger.error("coinspot credentials check crashed", extra={"error": type(exc).__name__})
        return Outcome(
            status=ValidationStatus.EXCHANGE_ERROR,
            reason=_REASONS[ValidationStatus.EXCHANGE_ERROR],
        )
    summary = [
        BalanceSummary(coin=b.coin, balance=b.balance, aud_balance=b.aud_balance, rate=b.rate)
        for b in sorted(balances.balances.values(), key=lambda b: b.coin)
    ]
    return Outcome(status=ValidationStatus.VALID, permission_level=permission, balances=summary)


_AUDIT_OUTCOME = {
    ValidationStatus.VALID: AuditOutcome.VALID,
    ValidationStatus.INVALID_KEY: AuditOutcome.INVALID_KEY,
    ValidationStatus.INVALID_SIGNATURE: AuditOutcome.INVALID_SIGNATURE,
    ValidationStatus.RATE_LIMITED: AuditOutcome.RATE_LIMITED,
    ValidationStatus.EXCHANGE_UNAVAILABLE: AuditOutcome.EXCHANGE_UNAVAILABLE,
    ValidationStatus.EXCHANGE_ERROR: AuditOutcome.EXCHANGE_ERROR,
}


@dataclass(frozen=True)
class Snapshot:
    """Which ciphertexts were checked, so the verdict is stored only on that same pair."""

    key_fingerprint: str
    api_key_encrypted: str
    api_secret_encrypted: str
    permission_level: PermissionLevel

    @classmethod
    def of(cls, row: CoinspotCredential) -> "Snapshot":
        return cls(
            row.key_fingerprint,
            row.api_key_encrypted,
            row.api_secret_encrypted,
            PermissionLevel(row.permission_level),
        )


def record_outcome(
    session: Session, *, user_id: uuid.UUID, checked: Snapshot, outcome: Outcome
) -> ValidationResult:
    checked_at = utcnow()
    known_permission = checked.permission_level
    if outcome.status not in _TRANSIENT:
        # Re-read under a row lock: the pair may have been replaced or deleted while
        # Coinspot was answering, and a verdict on old keys must not land on new ones.
        row = session.exec(
            select(CoinspotCredential)
            .where(CoinspotCredential.user_id == user_id)
            .with_for_update()
        ).first()
        if (
            row is not None
            and row.api_key_encrypted == checked.api_key_encrypted
            and row.api_secret_encrypted == checked.api_secret_encrypted
        ):
            permission = (
                outcome.permission_level
                if outcome.status is ValidationStatus.VALID
                else PermissionLevel.UNKNOWN
            )
            row = record_validation(
                session, row=row, status=outcome.status, permission_level=permission
            )
            checked_at = row.last_validated_at or checked_at
        else:
            session.rollback()
            logger.info(
                "credentials changed during validation; verdict not stored",
                extra={"user_id": str(user_id), "key_fingerprint": checked.key_fingerprint},
            )
    audit.record(
        session,
        user_id=user_id,
        action=AuditAction.VALIDATE,
        outcome=_AUDIT_OUTCOME[outcome.status],
        key_fingerprint=checked.key_fingerprint,
        detail=(
            f"permission: {outcome.permission_level.value}"
            if outcome.status is ValidationStatus.VALID
            else outcome.reason
        ),
    )
    logger.info(
        "coinspot credentials validated",
        extra={
            "user_id": str(user_id),
            "key_fingerprint": checked.key_fingerprint,
            "status": outcome.status.value,
        },
    )
    return ValidationResult(
        valid=outcome.status is ValidationStatus.VALID,
        status=outcome.status,
        reason=outcome.reason,
        permission_level=known_permission
        if outcome.status in _TRANSIENT
        else outcome.permission_level,
        checked_at=checked_at,
        balances=outcome.balances if outcome.status is ValidationStatus.VALID else None,
    )
