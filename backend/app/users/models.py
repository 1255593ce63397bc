"""Users: table model and API schemas (template parity plus the OMC profile)."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated
from zoneinfo import available_timezones

from pydantic import AfterValidator, BeforeValidator, EmailStr
from sqlalchemy import Column, DateTime, Numeric
from sqlmodel import Field, SQLModel

SUPPORTED_BASE_CURRENCIES = ("AUD",)
_TIMEZONES = frozenset(available_timezones())


def _check_timezone(value: str) -> str:
    if value not in _TIMEZONES:
        raise ValueError(f"'{value}' is not an IANA time zone name (e.g. 'Australia/Sydney')")
    return value


def _check_currency(value: str) -> str:
    upper = value.upper()
    if upper not in SUPPORTED_BASE_CURRENCIES:
        raise ValueError(f"base currency must be one of {', '.join(SUPPORTED_BASE_CURRENCIES)}")
    return upper


def _not_null(value: object) -> object:
    if value is None:
        raise ValueError("cannot be null: send a value, or leave the field out to keep it")
    return value


# A PATCH field that may be left out (keeps the stored value) but not cleared: the column
# always has a value. Only free-text names (full_name, display_name) can be set to null.
NotNull = BeforeValidator(_not_null)

TimezoneName = Annotated[str, AfterValidator(_check_timezone)]
BaseCurrency = Annotated[str, AfterValidator(_check_currency)]
RiskAmount = Annotated[
    Decimal, Field(ge=0, le=Decimal("1000000000"), max_digits=14, decimal_places=2)
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class UserBase(SQLModel):
    email: EmailStr = Field(unique=True, index=True, max_length=255)
    is_active: bool = True
    is_superuser: bool = False
    full_name: str | None = Field(default=None, max_length=255)


class ProfileFields(SQLModel):
    display_name: str | None = Field(default=None, max_length=100)
    timezone: TimezoneName = Field(default="UTC", max_length=64)
    base_currency: BaseCurrency = Field(default="AUD", max_length=8)
    max_position_size_aud: RiskAmount = Field(default=Decimal("1000.00"))
    daily_loss_limit_aud: RiskAmount = Field(default=Decimal("100.00"))


class UserCreate(UserBase, ProfileFields):
    password: str = Field(min_length=8, max_length=128)


class UserRegister(SQLModel):
    email: EmailStr = Field(max_length=255)
    password: str = Field(min_length=8, max_length=128)
    full_name: str | None = Field(default=None, max_length=255)


class UserUpdate(SQLModel):
    """Leave a field out to keep it; only full_name and display_name can be cleared (null)."""

    email: Annotated[EmailStr, NotNull] = Field(default=None, max_length=255)
    password: Annotated[str, NotNull] = Field(default=None, min_length=8, max_length=128)
    is_active: Annotated[bool, NotNull] = Field(default=None)
    is_superuser: Annotated[bool, NotNull] = Field(default=None)
    full_name: str | None = Field(default=None, max_length=255)
    display_name: str | None = Field(default=None, max_length=100)
    timezone: Annotated[TimezoneName, NotNull] = Field(default=None, max_length=64)
    base_currency: Annotated[BaseCurrency, NotNull] = Field(default=None, max_length=8)
    max_position_size_aud: Annotated[RiskAmount, NotNull] = Field(default=None)
    daily_loss_limit_aud: Annotated[RiskAmount, NotNull] = Field(default=None)


class UserUpdateMe(SQLModel):
    """Leave a field out to keep it; only full_name and display_name can be cleared (null)."""

    full_name: str | None = Field(default=None, max_length=255)
    email: Annotated[EmailStr, NotNull] = Field(default=None, max_length=255)
    display_name: str | None = Field(default=None, max_length=100)
    timezone: Annotated[TimezoneName, NotNull] = Field(default=None, max_length=64)
    base_currency: Annotated[BaseCurrency, NotNull] = Field(default=None, max_length=8)
    max_position_size_aud: Annotated[RiskAmount, NotNull] = Field(default=None)
    daily_loss_limit_aud: Annotated[RiskAmount, NotNull] = Field(default=None)


class UpdatePassword(SQLModel):
    current_password: str = Field(min_length=8, max_length=128)
    new_password: str = Field(min_length=8, max_length=128)


class User(UserBase, table=True):
    __tablename__ = "user"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    hashed_password: str
    display_name: str | None = Field(default=None, max_length=100)
    timezone: str = Field(default="UTC", max_length=64)
    base_currency: str = Field(default="AUD", max_length=8)
    max_position_size_aud: Decimal = Field(
        default=Decimal("1000.00"), sa_column=Column(Numeric(14, 2), nullable=False)
    )
    daily_loss_limit_aud: Decimal = Field(
        default=Decimal("100.00"), sa_column=Column(Numeric(14, 2), nullable=False)
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class UserPublic(UserBase, ProfileFields):
    id: uuid.UUID
    created_at: datetime


class UsersPublic(SQLModel):
    data: list[UserPublic]
    count: int


class Message(SQLModel):
    message: str


class Token(SQLModel):
    access_token: str
    token_type: str = "bearer"


class TokenPayload(SQLModel):
    sub: str | None = None


class NewPassword(SQLModel):
    token: str
    new_password: str = Field(min_length=8, max_length=128)
