"""Alert rules as the API reads and writes them, and alerts as it returns them.

Rules: every rule kind has a typed model with bounded thresholds (money as Decimal AUD,
fractions in (0, 1]); `channels` adds e-mail and/or webhook to the in-app alert (always on
for an enabled rule). Unknown fields are refused (422 naming the field).
"""

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, HttpUrl, SecretStr, UrlConstraints


class AlertKind(StrEnum):
    DRAWDOWN = "drawdown"
    DAILY_LOSS = "daily_loss"
    LIMIT_BREACH = "limit_breach"
    ORDER_PROBLEM = "order_problem"
    RECONCILIATION_BREAK = "reconciliation_break"
    SYSTEM_FAILURE = "system_failure"
    DRIFT = "drift"
    DAILY_SUMMARY = "daily_summary"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


Channel = Literal["email", "webhook"]


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    channels: list[Channel] = Field(default_factory=list, max_length=2)


class DrawdownRule(Rule):
    level: Decimal = Field(
        default=Decimal("0.10"), gt=0, le=1, description="Drawdown fraction, e.g. 0.1 = 10 %."
    )


class DailyLossRule(Rule):
    level: Decimal = Field(
        default=Decimal("500"), gt=0, max_digits=20, decimal_places=2, description="AUD."
    )


class DriftRule(Rule):
    threshold: Decimal = Field(
        default=Decimal("0.02"), gt=0, le=1, description="Fraction of capital, e.g. 0.02."
    )


def _email_only() -> list[Channel]:
    return ["email"]


class DailySummaryRule(Rule):
    enabled: bool = False
    channels: list[Channel] = Field(default_factory=_email_only, max_length=2)
    hour_utc: int = Field(default=8, ge=0, le=23, description="Hour (UTC) the summary is sent.")


class AlertRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    drawdown: DrawdownRule = Field(default_factory=DrawdownRule)
    daily_loss: DailyLossRule = Field(default_factory=DailyLossRule)
    limit_breach: Rule = Field(default_factory=Rule)
    order_problem: Rule = Field(default_factory=Rule)
    reconciliation_break: Rule = Field(default_factory=Rule)
    system_failure: Rule = Field(default_factory=Rule)
    drift: DriftRule = Field(default_factory=DriftRule)
    daily_summary: DailySummaryRule = Field(default_factory=DailySummaryRule)


class AlertRulesUpdate(BaseModel):
    """Any subset: a rule given replaces that rule; `null` clears e-mail/webhook fields."""

    model_config = ConfigDict(extra="forbid")

    drawdown: DrawdownRule | None = None
    daily_loss: DailyLossRule | None = None
    limit_breach: Rule | None = None
    order_problem: Rule | None = None
    reconciliation_break: Rule | None = None
    system_failure: Rule | None = None
    drift: DriftRule | None = None
    daily_summary: DailySummaryRule | None = None
    email_to: EmailStr | None = None
    webhook_url: Annotated[HttpUrl, UrlConstraints(max_length=2000)] | None = None
    webhook_secret: SecretStr | None = Field(default=None, min_length=16, max_length=200)


class AlertRulesPublic(BaseModel):
    rules: AlertRules
    email_to: str | None = Field(description="Where e-mails go; null = the account's e-mail.")
    webhook_url: str | None
    webhook_secret_set: bool
    webhook_secret_hint: str | None = Field(description="Last 4 characters of the secret.")
    updated_at: datetime | None


class AlertPublic(BaseModel):
    id: uuid.UUID
    kind: str
    key: str
    severity: str
    message: str
    data: dict[str, Any]
    count: int
    first_at: datetime
    last_at: datetime
    read: bool
    read_at: datetime | None
    deliveries: dict[str, Any]


class AlertsPage(BaseModel):
    data: list[AlertPublic]
    count: int
    unread: int
