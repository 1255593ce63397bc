"""Coinspot credentials API: store, read masked, replace, remove, validate, audit trail.

Storing or replacing keys needs a fresh second factor (`FreshSecondFactorUser`, see
app/api/deps.py). Reading shows only the last 4 characters, so nothing is revealed that
needs one; deleting only removes access, and stays open as a safety action.

Every route acts on the caller's own credentials only; there is no id in any path, so
another user's credentials are unreachable and a user without any gets 404.

Errors (decided for the whole domain):
- 503 "credential encryption is not configured" (no key) or "... is misconfigured"
  (a configured key is not a Fernet key): nothing is stored or read in plaintext.
- 409 "stored credentials cannot be decrypted with the configured keys; ..." when the
  ciphertext was tampered with or made under a key that is no longer configured. 409
  because the stored resource conflicts with the server's keys and the user can resolve
  it (PUT both key and secret, or DELETE); DELETE always works.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Response, status
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from app.api.deps import CurrentUser, FreshSecondFactorUser, SessionDep
from app.api.errors import invalid
from app.api.pagination import Skip, limit_query
from app.core.config import settings
from app.core.crypto import (
    DecryptionError,
    EncryptionNotConfiguredError,
    InvalidEncryptionKeyError,
)
from app.core.lifespan import on_startup
from app.credentials import audit, service, validation
from app.credentials.models import (
    AuditAction,
    AuditEntries,
    AuditEntry,
    AuditOutcome,
    CoinspotCredential,
    CredentialCreate,
    CredentialPublic,
    CredentialUpdate,
    ValidationResult,
)
from app.credentials.ratelimit import validate_limiter
from app.credentials.safe_errors import SecretSafeRoute, install_access_log_filter
from app.users.models import Message, User

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/credentials", tags=["credentials"], route_class=SecretSafeRoute)


@on_startup
async def _redact_credentials_query_strings(_: FastAPI) -> None:
    # At start-up, after uvicorn has configured its loggers.
    install_access_log_filter(f"{settings.API_V1_STR}/credentials")


NOT_FOUND_DETAIL = "No Coinspot credentials are stored for this account"
EXISTS_DETAIL = "Coinspot credentials already exist; replace them with PUT or delete them first"
UNDECRYPTABLE_DETAIL = (
    "stored credentials cannot be decrypted with the configured keys; re-enter them "
    "(PUT with both api_key and api_secret) or delete them"
)
NOT_CONFIGURED_DETAIL = "credential encryption is not configured"

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No credentials stored"}}
_UNDECRYPTABLE: dict[int | str, dict[str, Any]] = {
    409: {"description": "Stored credentials cannot be decrypted with the configured keys"}
}
_NO_ENCRYPTION: dict[int | str, dict[str, Any]] = {
    503: {"description": "Credential encryption is not configured"}
}


@contextmanager
def _crypto_errors(
    session: Session, user: User, action: AuditAction, row: CoinspotCredential | None = None
) -> Iterator[None]:
    """Turn key-handling failures into clear HTTP errors and audit them."""
    fingerprint = row.key_fingerprint if row else None
    try:
        yield
    except EncryptionNotConfiguredError:
        audit.record(
            session,
            user_id=user.id,
            action=action,
            outcome=AuditOutcome.ENCRYPTION_NOT_CONFIGURED,
            key_fingerprint=fingerprint,
        )
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, NOT_CONFIGURED_DETAIL)
    except InvalidEncryptionKeyError as exc:
        audit.record(
            session,
            user_id=user.id,
            action=action,
            outcome=AuditOutcome.ENCRYPTION_NOT_CONFIGURED,
            key_fingerprint=fingerprint,
        )
        logger.error("credential encryption key is malformed", extra={"error": str(exc)})
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"credential encryption is misconfigured: {exc}"
        )
    except (DecryptionError, service.IncompleteReentryError):
        audit.record(
            session,
            user_id=user.id,
            action=action,
            outcome=AuditOutcome.UNDECRYPTABLE,
            key_fingerprint=fingerprint,
        )
        logger.warning(
            "stored credentials cannot be decrypted",
            extra={"user_id": str(user.id), "key_fingerprint": fingerprint},
        )
        raise HTTPException(status.HTTP_409_CONFLICT, UNDECRYPTABLE_DETAIL)


def _own_row_or_404(session: Session, user: User, action: AuditAction) -> CoinspotCredential:
    row = service.get_for_user(session, user.id)
    if row is None:
        audit.record(session, user_id=user.id, action=action, outcome=AuditOutcome.NOT_FOUND)
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND_DETAIL)
    return row


@router.post(
    "/coinspot",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "Credentials already stored"}, **_NO_ENCRYPTION},
)
def create_credentials(
    session: SessionDep, current_user: FreshSecondFactorUser, body: CredentialCreate
) -> CredentialPublic:
    """Store your Coinspot API key and secret (encrypted). 409 when you already have some.
    Needs a fresh second factor (403 with `X-Step-Up-Required` otherwise)."""
    if service.get_for_user(session, current_user.id) is not None:
        audit.record(
            session,
            user_id=current_user.id,
            action=AuditAction.CREATE,
            outcome=AuditOutcome.CONFLICT,
        )
        raise HTTPException(status.HTTP_409_CONFLICT, EXISTS_DETAIL)
    with _crypto_errors(session, current_user, AuditAction.CREATE):
        try:
            row = service.create(session, user_id=current_user.id, data=body)
        except service.CredentialExistsError:
            audit.record(
                session,
                user_id=current_user.id,
                action=AuditAction.CREATE,
                outcome=AuditOutcome.CONFLICT,
            )
            raise HTTPException(status.HTTP_409_CONFLICT, EXISTS_DETAIL)
        public = service.to_public(row)
    audit.record(
        session,
        user_id=current_user.id,
        action=AuditAction.CREATE,
        outcome=AuditOutcome.SUCCESS,
        key_fingerprint=row.key_fingerprint,
    )
    logger.info(
        "coinspot credentials stored",
        extra={"user_id": str(current_user.id), "key_fingerprint": row.key_fingerprint},
    )
    return public


@router.get("/coinspot", responses={**_NOT_FOUND, **_UNDECRYPTABLE, **_NO_ENCRYPTION})
def read_credentials(session: SessionDep, current_user: CurrentUser) -> CredentialPublic:
    """Your stored credentials, masked: label, last 4 characters of the key, fingerprint,
    permission level and validation status. Never the secret."""
    row = service.get_for_user(session, current_user.id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND_DETAIL)
    try:
        return service.to_public(row)
    except (EncryptionNotConfiguredError, InvalidEncryptionKeyError):
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, NOT_CONFIGURED_DETAIL)
    except DecryptionError:
        raise HTTPException(status.HTTP_409_CONFLICT, UNDECRYPTABLE_DETAIL)


@router.put("/coinspot", responses={**_NOT_FOUND, **_UNDECRYPTABLE, **_NO_ENCRYPTION})
def update_credentials(
    session: SessionDep, current_user: FreshSecondFactorUser, body: CredentialUpdate
) -> CredentialPublic:
    """Replace the key and/or the secret and/or the label. New key material resets the
    validation status to `not_validated`. Needs a fresh second factor."""
    if body.label is None and body.api_key is None and body.api_secret is None:
        raise invalid("give at least one of label, api_key, api_secret", "body")
    row = _own_row_or_404(session, current_user, AuditAction.UPDATE)
    with _crypto_errors(session, current_user, AuditAction.UPDATE, row):
        row, changed = service.update(session, row=row, data=body)
        public = service.to_public(row)
    audit.record(
        session,
        user_id=current_user.id,
        action=AuditAction.UPDATE,
        outcome=AuditOutcome.SUCCESS,
        key_fingerprint=row.key_fingerprint,
        detail=f"changed: {', '.join(changed)}" if changed else "no change",
    )
    logger.info(
        "coinspot credentials updated",
        extra={"user_id": str(current_user.id), "changed": ",".join(changed)},
    )
    return public


@router.delete("/coinspot", responses=_NOT_FOUND)
def delete_credentials(session: SessionDep, current_user: CurrentUser) -> Message:
    """Remove your stored credentials (works even when they can no longer be decrypted)."""
    row = _own_row_or_404(session, current_user, AuditAction.DELETE)
    fingerprint = row.key_fingerprint
    service.delete(session, row=row)
    audit.record(
        session,
        user_id=current_user.id,
        action=AuditAction.DELETE,
        outcome=AuditOutcome.SUCCESS,
        key_fingerprint=fingerprint,
    )
    logger.info(
        "coinspot credentials deleted",
        extra={"user_id": str(current_user.id), "key_fingerprint": fingerprint},
    )
    return Message(message="Coinspot credentials deleted")


@router.post(
    "/coinspot/validate",
    responses={
        **_NOT_FOUND,
        **_UNDECRYPTABLE,
        429: {"description": "Too many validations; see Retry-After"},
        **_NO_ENCRYPTION,
    },
)
async def validate_credentials(
    session: SessionDep,
    current_user: CurrentUser,
    client_factory: validation.ClientFactoryDep,
    response: Response,
) -> ValidationResult:
    """Check the stored keys against Coinspot's read-only balances (HMAC-SHA512 signed).

    Answers `valid` with a balances summary, or `invalid` with the reason: bad key, bad
    signature, rate limited, exchange unavailable. Rate-limited per user."""
    row = await run_in_threadpool(_own_row_or_404, session, current_user, AuditAction.VALIDATE)
    retry_after = validate_limiter.acquire(
        current_user.id, settings.CREDENTIALS_VALIDATE_PER_MINUTE
    )
    if retry_after is not None:
        logger.warning("credential validation throttled", extra={"user_id": str(current_user.id)})
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many validation attempts: at most {settings.CREDENTIALS_VALIDATE_PER_MINUTE} "
            f"per minute; retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )

    checked = validation.Snapshot.of(row)

    def decrypt_row() -> service.KeyPair:
        with _crypto_errors(session, current_user, AuditAction.VALIDATE, row):
            keys = service.decrypt(row)
        # End the transaction: no database connection is held while Coinspot answers.
        session.commit()
        return keys

    keys = await run_in_threadpool(decrypt_row)
    outcome = await validation.check_keys(keys, client_factory)
    del keys
    result = await run_in_threadpool(
        validation.record_outcome,
        session,
        user_id=current_user.id,
        checked=checked,
        outcome=outcome,
    )
    response.headers["Cache-Control"] = "no-store"
    return result


@router.get("/coinspot/audit")
def read_audit_log(
    session: SessionDep,
    current_user: CurrentUser,
    skip: Skip = 0,
    limit: Annotated[int, limit_query(500)] = 100,
) -> AuditEntries:
    """Your own credentials audit trail, newest first."""
    rows, count = audit.entries_for_user(session, user_id=current_user.id, skip=skip, limit=limit)
    data: list[Any] = [AuditEntry.model_validate(r, from_attributes=True) for r in rows]
    return AuditEntries(data=data, count=count)
