"""Storing, reading, replacing and removing a user's encrypted Coinspot credentials.

Plaintext exists only inside `KeyPair` (SecretStr fields, masked reprs), which callers
build with `decrypt` when a request or job needs it and drop afterwards.
"""

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import SecretStr
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.core.crypto import DecryptionError, SecretCipher, get_credentials_cipher
from app.credentials.models import (
    CoinspotCredential,
    CredentialCreate,
    CredentialPublic,
    CredentialUpdate,
    PermissionLevel,
    ValidationStatus,
    utcnow,
)
from app.exchange.nonce import key_fingerprint

logger = logging.getLogger(__name__)

KEY_COLUMN = "api_key"
# bandit B105: a column name, not a secret
SECRET_COLUMN = "api_secret"  # nosec B105


class CredentialExistsError(Exception):
    """The user already has stored credentials."""


class IncompleteReentryError(Exception):
    """Stored credentials cannot be decrypted and the update does not replace both parts."""


@dataclass(frozen=True, slots=True)
class KeyPair:
    """Decrypted credentials; reprs and str() show only asterisks."""

    api_key: SecretStr
    api_secret: SecretStr


ChangeListener = Callable[[uuid.UUID], None]
# Anything that keeps a per-user exchange client (or other state derived from the keys)
# registers here and drops it when a user's credentials are replaced or removed.
_change_listeners: list[ChangeListener] = []


def on_credentials_changed(listener: ChangeListener) -> ChangeListener:
    _change_listeners.append(listener)
    return listener


def remove_change_listener(listener: ChangeListener) -> None:
    _change_listeners.remove(listener)


def _notify_changed(user_id: uuid.UUID) -> None:
    for listener in list(_change_listeners):
        try:
            listener(user_id)
        except Exception as exc:  # one faulty listener must not block the others
            logger.error(
                "credentials change listener failed",
                extra={"listener": getattr(listener, "__name__", "?"), "error": type(exc).__name__},
            )


def fingerprint(api_key: str) -> str:
    """A short, stable identifier of a key that reveals nothing usable about it; the
    same one the exchange layer writes in its logs, so the two can be matched."""
    return key_fingerprint(api_key)


def _context(user_id: uuid.UUID, column: str) -> str:
    return f"coinspot_credentials:{user_id}:{column}"


def encrypt_field(cipher: SecretCipher, user_id: uuid.UUID, column: str, value: str) -> str:
    return cipher.encrypt(value, context=_context(user_id, column))


def get_for_user(session: Session, user_id: uuid.UUID) -> CoinspotCredential | None:
    return session.exec(
        select(CoinspotCredential).where(CoinspotCredential.user_id == user_id)
    ).first()


def decrypt(row: CoinspotCredential, cipher: SecretCipher | None = None) -> KeyPair:
    """Decrypt both parts; DecryptionError when either is corrupt, misplaced or unreadable."""
    cipher = cipher or get_credentials_cipher()
    return KeyPair(
        api_key=SecretStr(
            cipher.decrypt(row.api_key_encrypted, context=_context(row.user_id, KEY_COLUMN))
        ),
        api_secret=SecretStr(
            cipher.decrypt(row.api_secret_encrypted, context=_context(row.user_id, SECRET_COLUMN))
        ),
    )


def keys_for_user(session: Session, user_id: uuid.UUID) -> KeyPair | None:
    """For jobs (e.g. a live executor): the user's decrypted pair, None when none is
    stored. Raises like `decrypt`. Hold the result only as long as the job needs it."""
    row = get_for_user(session, user_id)
    return decrypt(row) if row is not None else None


def to_public(row: CoinspotCredential) -> CredentialPublic:
    """The masked view. Decrypts the key (and checks the secret) so a broken row shows up."""
    keys = decrypt(row)
    return CredentialPublic(
        label=row.label,
        key_last4=keys.api_key.get_secret_value()[-4:],
        key_fingerprint=row.key_fingerprint,
        permission_level=PermissionLevel(row.permission_level),
        validation_status=ValidationStatus(row.validation_status),
        last_validated_at=row.last_validated_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def create(session: Session, *, user_id: uuid.UUID, data: CredentialCreate) -> CoinspotCredential:
    cipher = get_credentials_cipher()
    api_key = data.api_key.get_secret_value()
    row = CoinspotCredential(
        user_id=user_id,
        label=data.label,
        api_key_encrypted=encrypt_field(cipher, user_id, KEY_COLUMN, api_key),
        api_secret_encrypted=encrypt_field(
            cipher, user_id, SECRET_COLUMN, data.api_secret.get_secret_value()
        ),
        key_fingerprint=fingerprint(api_key),
    )
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        # Two concurrent creates: the unique user_id index decides; the loser gets a 409.
        session.rollback()
        raise CredentialExistsError() from None
    session.refresh(row)
    return row


def update(
    session: Session, *, row: CoinspotCredential, data: CredentialUpdate
) -> tuple[CoinspotCredential, list[str]]:
    """Apply the given fields; returns the row and the names of the changed fields.

    After any update the row decrypts completely: when the stored ciphertext is already
    unreadable, only a full re-entry (key and secret) is accepted.
    """
    cipher = get_credentials_cipher()
    changed: list[str] = []
    replaces_both = data.api_key is not None and data.api_secret is not None
    if not replaces_both:
        try:
            decrypt(row, cipher)
        except DecryptionError:
            raise IncompleteReentryError() from None
    if data.label is not None and data.label != row.label:
        row.label = data.label
        changed.append("label")
    if data.api_key is not None:
        api_key = data.api_key.get_secret_value()
        row.api_key_encrypted = encrypt_field(cipher, row.user_id, KEY_COLUMN, api_key)
        row.key_fingerprint = fingerprint(api_key)
        changed.append("api_key")
    if data.api_secret is not None:
        row.api_secret_encrypted = encrypt_field(
            cipher, row.user_id, SECRET_COLUMN, data.api_secret.get_secret_value()
        )
        changed.append("api_secret")
    if data.api_key is not None or data.api_secret is not None:
        # New key material: what we knew about the old pair no longer holds.
        row.validation_status = ValidationStatus.NOT_VALIDATED.value
        row.permission_level = PermissionLevel.UNKNOWN.value
        row.last_validated_at = None
    row.updated_at = utcnow()
    session.add(row)
    session.commit()
    session.refresh(row)
    if "api_key" in changed or "api_secret" in changed:
        _notify_changed(row.user_id)
    return row, changed


def delete(session: Session, *, row: CoinspotCredential) -> None:
    user_id = row.user_id
    session.delete(row)
    session.commit()
    _notify_changed(user_id)


def record_validation(
    session: Session,
    *,
    row: CoinspotCredential,
    status: ValidationStatus,
    permission_level: PermissionLevel | None,
) -> CoinspotCredential:
    """Store a validation outcome. Key material is never touched here."""
    row.validation_status = status.value
    if permission_level is not None:
        row.permission_level = permission_level.value
    row.last_validated_at = utcnow()
    row.updated_at = row.last_validated_at
    session.add(row)
    session.commit()
    session.refresh(row)
    return row
