"""Account security tables (sessions, login audit, throttling, TOTP, policy) and schemas.

Rules kept here:
- No secret is stored in clear: refresh tokens and recovery codes are stored as SHA-256
  digests of high-entropy random values; the TOTP secret is Fernet-encrypted (bound to its
  owner) under `CREDENTIALS_ENCRYPTION_KEYS`.
- Every timestamp is timezone-aware UTC; rows of a deleted user go with it (ON DELETE CASCADE),
  except login events for unknown e-mails, which have no user.
"""

import uuid
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Index, Uuid
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(nullable: bool = False, index: bool = False) -> Column:  # type: ignore[type-arg]
    return Column(DateTime(timezone=True), nullable=nullable, index=index)


def _user_fk(nullable: bool = False, index: bool = True) -> Column:  # type: ignore[type-arg]
    return Column(Uuid, ForeignKey("user.id", ondelete="CASCADE"), nullable=nullable, index=index)


class LoginResult(StrEnum):
    SUCCESS = "success"
    BAD_CREDENTIALS = "bad_credentials"
    INACTIVE = "inactive"
    THROTTLED = "throttled"
    TWO_FACTOR_PENDING = "two_factor_pending"
    TWO_FACTOR_FAILED = "two_factor_failed"
    RECOVERY_CODE_USED = "recovery_code_used"
    REFRESH_REUSE = "refresh_reuse"
    STEP_UP = "step_up"
    STEP_UP_FAILED = "step_up_failed"


class UserSession(SQLModel, table=True):
    """One signed-in device: a refresh-token family. Rotation replaces `refresh_hash`."""

    __tablename__ = "user_session"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(sa_column=_user_fk())
    refresh_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    last_used_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    expires_at: datetime = Field(sa_column=_ts())
    revoked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    revoked_reason: str | None = Field(default=None, max_length=64)
    stepped_up_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    rotations: int = Field(default=0)
    ip_address: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=255)


class LoginEvent(SQLModel, table=True):
    """The login audit log: every sign-in attempt, second factor, step-up and refresh reuse."""

    __tablename__ = "login_event"
    __table_args__ = (Index("ix_login_event_user_created", "user_id", "created_at"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    user_id: uuid.UUID | None = Field(default=None, sa_column=_user_fk(nullable=True, index=False))
    email: str = Field(max_length=255)
    result: str = Field(max_length=32)
    ip_address: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class LoginThrottle(SQLModel, table=True):
    """Failure counters per account (`acct:<email>`) and per client address (`ip:<addr>`)."""

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True, max_length=300)
    failures: int = Field(default=0)
    last_failure_at: datetime = Field(sa_column=_ts())
    locked_until: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    notified_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class UserTotp(SQLModel, table=True):
    """A user's TOTP secret; enabled once `confirmed_at` is set."""

    __tablename__ = "user_totp"

    user_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    )
    secret_encrypted: str
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    confirmed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    # The last accepted 30-second step: a code is accepted once (no replay).
    last_used_step: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


class RecoveryCode(SQLModel, table=True):
    """Single-use recovery codes (SHA-256 of an 80-bit random code)."""

    __tablename__ = "user_recovery_code"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(sa_column=_user_fk())
    code_hash: str = Field(max_length=64)
    used_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class SecurityPolicy(SQLModel, table=True):
    """Platform-wide policy set by a superuser (one row, id = 1)."""

    __tablename__ = "security_policy"

    id: int = Field(default=1, primary_key=True)
    require_two_factor: bool = Field(default=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


# --- API schemas ---------------------------------------------------------------------------


class LoginResponse(SQLModel):
    """Either tokens, or `two_factor_required` with a short-lived `mfa_token` for step two."""

    access_token: str | None = None
    token_type: str = "bearer"
    expires_in: int | None = None
    two_factor_required: bool = False
    mfa_token: str | None = None


class AccessToken(SQLModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class TwoFactorLogin(SQLModel):
    mfa_token: str = Field(min_length=1, max_length=2000)
    code: str = Field(min_length=6, max_length=32)


class CodeBody(SQLModel):
    code: str = Field(min_length=6, max_length=32)


class DisableTwoFactor(SQLModel):
    password: str = Field(min_length=1, max_length=128)
    code: str = Field(min_length=6, max_length=32)


class TwoFactorStatus(SQLModel):
    enabled: bool
    pending_setup: bool
    recovery_codes_left: int
    required_by_policy: bool


class TwoFactorSetup(SQLModel):
    secret: str
    otpauth_uri: str
    qr_svg_data_uri: str


class RecoveryCodes(SQLModel):
    recovery_codes: list[str]


class StepUpGrant(SQLModel):
    valid_until: datetime


class SessionPublic(SQLModel):
    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    ip_address: str | None
    user_agent: str | None
    current: bool


class SessionsPublic(SQLModel):
    data: list[SessionPublic]
    count: int


class LoginEventPublic(SQLModel):
    id: int
    created_at: datetime
    result: str
    ip_address: str | None
    user_agent: str | None


class LoginEventsPublic(SQLModel):
    data: list[LoginEventPublic]
    count: int


class PolicyPublic(SQLModel):
    require_two_factor: bool


class PolicyUpdate(SQLModel):
    require_two_factor: bool
