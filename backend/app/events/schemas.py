"""Event kinds and their typed payloads, and the event as clients receive it.

Rules: every kind the platform publishes is listed in `EventKind`; each has a payload model
(money and quantities as decimal strings, times as ISO-8601 UTC). Producers call the typed
helpers in `service.py`, which validate the payload before it is stored.
"""

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EventKind(StrEnum):
    PRICE_UPDATE = "price.update"
    ORDER_CREATED = "order.created"
    ORDER_SUBMITTED = "order.submitted"
    ORDER_OPEN = "order.open"
    ORDER_PARTIALLY_FILLED = "order.partially_filled"
    ORDER_FILLED = "order.filled"
    ORDER_CANCELLED = "order.cancelled"
    ORDER_REJECTED = "order.rejected"
    ORDER_UNKNOWN = "order.unknown"
    FILL = "fill"
    DEPLOYMENT_STATUS = "deployment.status"
    ACCOUNT_STATUS = "account.status"
    RISK_BREACH = "risk.breach"
    PNL_UPDATE = "pnl.update"
    ALERT = "alert"
    EMERGENCY_STOP = "floor.emergency_stop"
    RECONCILIATION_BREAK = "reconciliation.break"
    LAB_JOB = "lab.job"


ORDER_KINDS = frozenset(k for k in EventKind if k.value.startswith("order."))


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CoinPrice(_Payload):
    coin: str
    bid: Decimal
    ask: Decimal
    last: Decimal


class PriceUpdate(_Payload):
    slot: datetime
    prices: list[CoinPrice]


class OrderEvent(_Payload):
    order_id: uuid.UUID
    deployment_id: uuid.UUID | None = None
    coin: str
    side: str = Field(pattern="^(buy|sell)$")
    status: str
    amount: Decimal | None = None
    price: Decimal | None = None
    filled_amount: Decimal | None = None
    reason: str | None = None


class FillEvent(_Payload):
    fill_id: uuid.UUID
    order_id: uuid.UUID
    deployment_id: uuid.UUID | None = None
    coin: str
    side: str = Field(pattern="^(buy|sell)$")
    amount: Decimal
    price: Decimal
    fee: Decimal
    filled_at: datetime


class DeploymentStatusEvent(_Payload):
    deployment_id: uuid.UUID
    status: str
    previous: str | None = None
    reason: str | None = None


class AccountStatusEvent(_Payload):
    """The Floor account's trading state (the user's live deployments together)."""

    status: str
    previous: str | None = None
    reason: str | None = None


class RiskBreachEvent(_Payload):
    """An order the risk engine refused, the limit and the numbers, and what it did."""

    scope: str = Field(pattern="^(deployment|account)$")
    deployment_id: uuid.UUID
    limit: str
    action: str
    value: Decimal
    threshold: Decimal
    coin: str
    side: str = Field(pattern="^(buy|sell)$")
    notional: Decimal
    state_before: str
    state_after: str
    message: str
    figures: dict[str, str] = {}


class PnlUpdate(_Payload):
    deployment_id: uuid.UUID | None = None
    realised: Decimal
    unrealised: Decimal
    fees: Decimal
    equity: Decimal
    as_of: datetime


class AlertEvent(_Payload):
    alert_id: uuid.UUID
    kind: str
    key: str
    message: str
    severity: str
    count: int
    read: bool


class ReconciliationBreakEvent(_Payload):
    break_id: uuid.UUID
    kind: str
    coin: str | None = None
    status: str
    blocking: bool
    ours: Decimal | None = None
    theirs: Decimal | None = None
    message: str


class LabJobEvent(_Payload):
    """A Lab backtest or sweep changed status (claimed, finished, failed, cancelled or queued
    again), so a page waiting for it can fetch it at once instead of polling."""

    job: str = Field(pattern="^(backtest|sweep)$")
    job_id: uuid.UUID
    algorithm_id: uuid.UUID
    status: str
    stage: str | None = None


class EventPublic(BaseModel):
    """One event as the WebSocket and the polling route deliver it."""

    seq: int
    kind: str
    broadcast: bool
    payload: dict[str, Any]
    created_at: datetime


class EventsPage(BaseModel):
    data: list[EventPublic]
    next_after: int = Field(description="Pass as `after` to get the following events.")
    has_more: bool
