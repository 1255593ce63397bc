"""Coinspot API credentials (encrypted at rest) and their audit log: tables and schemas."""

import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, SecretStr, StringConstraints
from pydantic import Field as PydanticField
from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Text, Uuid
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class PermissionLevel(StrEnum):
    UNKNOWN = "unknown"
    READ_ONLY = "read_only"
    FULL_ACCESS = "full_access"


class ValidationStatus(StrEnum):
    NOT_VALIDATED = "not_validated"
    VALID = "valid"
    INVALID_KEY = "invalid_key"
    INVALID_SIGNATURE = "invalid_signature"
    RATE_LIMITED = "rate_limited"
    EXCHANGE_UNAVAILABLE = "exchange_unavailable"
    EXCHANGE_ERROR = "exchange_error"


class AuditAction(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    VALIDATE = "validate"
    ROTATE_KEY = "rotate_key"


class AuditOutcome(StrEnum):
    SUCCESS = "success"
    CONFLICT = "conflict"
    NOT_FOUND = "not_found"
    UNDECRYPTABLE = "undecryptable"
    ENCRYPTION_NOT_CONFIGURED = "encryption_not_configured"
    THROTTLED = "throttled"
    VALID = "valid"
    INVALID_KEY = "invalid_key"
    INVALID_SIGNATURE = "invalid_signature"
    RATE_LIMITED = "rate_limited"
    EXCHANGE_UNAVAILABLE = "exchange_unavailable"
    EXCHANGE_ERROR = "exchange_error"


class CoinspotCredential(SQLModel, table=True):
    """One user's Coinspot key pair. Only ciphertext, a fingerprint and metadata are stored."""

    __tablename__ = "coinspot_credentials"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid(),
            ForeignKey("user.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
            index=True,
        )
    )
    label: str = Field(max_length=100)
    api_key_encrypted: str = Field(sa_column=Column(Text(), nullable=False))
    api_secret_encrypted: str = Field(sa_column=Column(Text(), nullable=False))
    key_fingerprint: str = Field(max_length=64)
    permission_level: str = Field(default=PermissionLevel.UNKNOWN.value, max_length=16)
    validation_status: str = Field(default=ValidationStatus.NOT_VALIDATED.value, max_length=32)
    last_validated_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class CredentialAuditLog(SQLModel, table=True):
    """Who did what to their credentials, when, and how it ended. No secret material."""

    __tablename__ = "credential_audit_log"

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger(), primary_key=True, autoincrement=True)
    )
    # SET NULL: the trail outlives the account it describes.
    user_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(Uuid(), ForeignKey("user.id", ondelete="SET NULL"), index=True),
    )
    action: str = Field(max_length=16)
    outcome: str = Field(max_length=32)
    key_fingerprint: str | None = Field(default=None, max_length=64)
    detail: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=False, index=True),
    )


# --- input validation ------------------------------------------------------------------
# Coinspot keys are 32 hex characters and secrets somewhat longer; we accept a wider but
# still plausible shape so a format change on their side does not lock users out.
# Messages never include the offending value: it may be a secret.
KEY_MIN, KEY_MAX = 16, 128
SECRET_MIN, SECRET_MAX = 16, 256
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_\-+/=.]+")
# bandit B105: help text
_TOKEN_CHARS_TEXT = "ASCII letters, digits and - _ + / = ."  # nosec B105


def _token_check(name: str, low: int, high: int) -> AfterValidator:
    def check(value: SecretStr) -> SecretStr:
        raw = value.get_secret_value().strip()
        if not raw:
            raise ValueError(f"{name} must not be empty")
        if not low <= len(raw) <= high:
            raise ValueError(f"{name} must be {low} to {high} characters long")
        if not _TOKEN_CHARS.fullmatch(raw):
            raise ValueError(f"{name} may contain only {_TOKEN_CHARS_TEXT}")
        return SecretStr(raw)

    return AfterValidator(check)


def _label_check(value: str) -> str:
    label = value.strip()
    if not label:
        raise ValueError("label must not be empty")
    if any(not ch.isprintable() for ch in label):
        raise ValueError("label must not contain control characters")
    return label


ApiKey = Annotated[SecretStr, _token_check("api_key", KEY_MIN, KEY_MAX)]
ApiSecret = Annotated[SecretStr, _token_check("api_secret", SECRET_MIN, SECRET_MAX)]
Label = Annotated[str, StringConstraints(max_length=100), AfterValidator(_label_check)]


_KEY_HELP = f"Coinspot API key: {KEY_MIN} to {KEY_MAX} characters ({_TOKEN_CHARS_TEXT})"
_SECRET_HELP = f"Coinspot API secret: {SECRET_MIN} to {SECRET_MAX} characters ({_TOKEN_CHARS_TEXT})"
_LABEL_HELP = "Your name for this key pair (up to 100 characters)"


class CredentialCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: Label = PydanticField(default="Coinspot", description=_LABEL_HELP)
    api_key: ApiKey = PydanticField(description=_KEY_HELP)
    api_secret: ApiSecret = PydanticField(description=_SECRET_HELP)


class CredentialUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: Label | None = PydanticField(default=None, description=_LABEL_HELP)
    api_key: ApiKey | None = PydanticField(default=None, description=_KEY_HELP)
    api_secret: ApiSecret | None = PydanticField(default=None, description=_SECRET_HELP)


# --- responses ------------------------------------------------------------------------
class CredentialPublic(SQLModel):
    """The masked view: never the secret, never more than the key's last four characters."""

    label: str
    key_last4: str
    key_fingerprint: str
    permission_level: PermissionLevel
    validation_status: ValidationStatus
    last_validated_at: datetime | None
    created_at: datetime
    updated_at: datetime


class BalanceSummary(SQLModel):
    coin: str
    balance: Decimal
    aud_balance: Decimal
    rate: Decimal


class ValidationResult(SQLModel):
    valid: bool
    status: ValidationStatus
    reason: str | None = None
    permission_level: PermissionLevel
    checked_at: datetime
    balances: list[BalanceSummary] | None = None


class AuditEntry(SQLModel):
    action: AuditAction
    outcome: AuditOutcome
    key_fingerprint: str | None
    detail: str | None
    created_at: datetime


class AuditEntries(SQLModel):
    data: list[AuditEntry]
    count: int
