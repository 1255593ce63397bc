"""Two-factor authentication: TOTP (RFC 6238, pyotp) and single-use recovery codes.

Rules kept here:
- The TOTP secret is encrypted at rest with the credentials cipher, bound to its owner.
- A code is accepted in the current 30-second step or one step either side (clock drift),
  and only once: its step must be later than the last accepted one (no replay).
- Ten recovery codes, 80 random bits each, shown once; stored as SHA-256 digests; each
  works once. Confirming a new enrolment or regenerating replaces all of them.
- Disabling needs the password and a current code (or a recovery code).
"""

import hashlib
import hmac
import secrets
import uuid
from datetime import UTC, datetime

import pyotp
import segno
from sqlmodel import Session, col, delete, select

from app.auth.models import RecoveryCode, UserTotp
from app.core.config import settings
from app.core.crypto import DecryptionError, SecretCipher, get_credentials_cipher

RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


def _context(user_id: uuid.UUID) -> str:
    return f"user_totp:{user_id}:secret"


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def normalise_code(code: str) -> str:
    return "".join(code.split()).lower()


def get(session: Session, user_id: uuid.UUID) -> UserTotp | None:
    return session.get(UserTotp, user_id)


def is_enabled(session: Session, user_id: uuid.UUID) -> bool:
    row = get(session, user_id)
    return row is not None and row.confirmed_at is not None


def begin_setup(session: Session, *, user_id: uuid.UUID, email: str) -> tuple[str, str, str]:
    """Store a new unconfirmed secret; returns (secret, otpauth URI, QR code as SVG data URI)."""
    secret = pyotp.random_base32()
    encrypted = get_credentials_cipher().encrypt(secret, context=_context(user_id))
    row = get(session, user_id)
    if row is None:
        row = UserTotp(user_id=user_id, secret_encrypted=encrypted)
    else:
        row.secret_encrypted = encrypted
        row.confirmed_at = None
        row.last_used_step = 0
        row.created_at = datetime.now(UTC)
    session.add(row)
    session.commit()
    uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=settings.PROJECT_NAME)
    qr = segno.make(uri, error="m").svg_data_uri(scale=5, border=2)
    return secret, uri, qr


def _secret(row: UserTotp) -> str:
    return get_credentials_cipher().decrypt(row.secret_encrypted, context=_context(row.user_id))


def verify_totp(session: Session, row: UserTotp, code: str) -> bool:
    """Check a 6-digit code; on success remember its step so it cannot be used again."""
    code = normalise_code(code)
    if len(code) != 6 or not code.isdigit():
        return False
    totp = pyotp.TOTP(_secret(row))
    current = totp.timecode(datetime.now(UTC))
    for step in (current - 1, current, current + 1):
        if step <= row.last_used_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            row.last_used_step = step
            session.add(row)
            session.commit()
            return True
    return False


def use_recovery_code(session: Session, user_id: uuid.UUID, code: str) -> bool:
    digest = _hash(normalise_code(code).replace("-", ""))
    row = session.exec(
        select(RecoveryCode)
        .where(RecoveryCode.user_id == user_id)
        .where(RecoveryCode.code_hash == digest)
        .where(col(RecoveryCode.used_at).is_(None))
        .with_for_update()
    ).first()
    if row is None:
        session.rollback()
        return False
    row.used_at = datetime.now(UTC)
    session.add(row)
    session.commit()
    return True


def check_second_factor(session: Session, user_id: uuid.UUID, code: str) -> str | None:
    """'totp' or 'recovery_code' when `code` is a valid second factor, else None."""
    row = get(session, user_id)
    if row is None or row.confirmed_at is None:
        return None
    if verify_totp(session, row, code):
        return "totp"
    if use_recovery_code(session, user_id, code):
        return "recovery_code"
    return None


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def replace_recovery_codes(session: Session, user_id: uuid.UUID) -> list[str]:
    session.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    for code in codes:
        session.add(RecoveryCode(user_id=user_id, code_hash=_hash(code.replace("-", ""))))
    session.commit()
    return codes


def confirm(session: Session, row: UserTotp) -> list[str]:
    row.confirmed_at = datetime.now(UTC)
    session.add(row)
    session.commit()
    return replace_recovery_codes(session, row.user_id)


def disable(session: Session, user_id: uuid.UUID) -> None:
    session.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    session.exec(delete(UserTotp).where(col(UserTotp.user_id) == user_id))
    session.commit()


def recovery_codes_left(session: Session, user_id: uuid.UUID) -> int:
    rows = session.exec(
        select(RecoveryCode.id)
        .where(RecoveryCode.user_id == user_id)
        .where(col(RecoveryCode.used_at).is_(None))
    ).all()
    return len(rows)


def rotate_all(session: Session, cipher: SecretCipher) -> tuple[int, list[uuid.UUID]]:
    """Re-encrypt every TOTP secret under the first key (part of `rotate-keys`); returns
    (rotated, users whose secret no configured key decrypts — left unchanged)."""
    rotated, failed = 0, []
    rows = session.exec(select(UserTotp).order_by(col(UserTotp.user_id)).with_for_update()).all()
    for row in rows:
        try:
            cipher.decrypt(row.secret_encrypted, context=_context(row.user_id))
            row.secret_encrypted = cipher.rotate(row.secret_encrypted)
        except DecryptionError:
            failed.append(row.user_id)
            continue
        session.add(row)
        rotated += 1
    session.commit()
    return rotated, failed
