"""Which limits apply and what a breach of each does.

Rules:
- A deployment's limits are what its row stores (`risk_limits`, JSON): the deploy route and
  `PUT …/limits` store every field, defaults filled in. A field the row does not have is not
  enforced (rows written before a limit existed keep trading as they did).
- The account's limits live in `floor_accounts.limits`; no row = nothing enforced.
- Every limit has a documented default action (`DEFAULT_ACTIONS`): `refuse` (the order
  only), `reducing` (only orders that shrink positions, and cancels) or `halted` (nothing
  but cancels). `actions` in the stored limits overrides it per limit.
- States only escalate on a breach: active < reducing < halted. Going back to `active` is
  an explicit, audited action of the user.
"""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from app.floor.schemas import AccountLimits, RiskLimits

REFUSE, REDUCING, HALTED = "refuse", "reducing", "halted"
ACTIVE = "active"
_RANK = {ACTIVE: 0, REDUCING: 1, HALTED: 2}

# What a breach does unless the limits say otherwise (DEVELOPMENT.md, "Risk engine").
DEFAULT_ACTIONS: dict[str, str] = {
    "max_order_aud": REDUCING,
    "max_position_aud": REDUCING,
    "max_position_fraction": REDUCING,
    "daily_loss_aud": HALTED,
    "max_drawdown_fraction": HALTED,
    "max_orders_per_hour": REDUCING,
    "cooldown_minutes": REFUSE,
    "max_price_age_seconds": REFUSE,
    "max_price_jump_fraction": REFUSE,
    "max_spread_fraction": REFUSE,
}
ACCOUNT_DEFAULT_ACTIONS: dict[str, str] = {
    "max_exposure_aud": REDUCING,
    "daily_loss_aud": HALTED,
}


def escalates(current: str, action: str) -> bool:
    """Whether `action` moves a state `current` further (refuse never moves anything)."""
    if action == REFUSE or current not in _RANK:
        return False
    return _RANK[action] > _RANK[current]


def deployment_limits(stored: dict[str, Any] | None) -> RiskLimits:
    """The limits a deployment row enforces (missing fields = not enforced)."""
    stored = stored or {}
    values = {name: stored.get(name) for name in RiskLimits.model_fields if name != "actions"}
    values["actions"] = stored.get("actions") or {}
    return RiskLimits.model_validate(values)


def account_limits(stored: dict[str, Any] | None) -> AccountLimits:
    stored = stored or {}
    values = {name: stored.get(name) for name in AccountLimits.model_fields if name != "actions"}
    values["actions"] = stored.get("actions") or {}
    return AccountLimits.model_validate(values)


def deployment_actions(limits: RiskLimits) -> dict[str, str]:
    return {**DEFAULT_ACTIONS, **{str(k): str(v) for k, v in limits.actions.items()}}


def account_actions(limits: AccountLimits) -> dict[str, str]:
    return {**ACCOUNT_DEFAULT_ACTIONS, **{str(k): str(v) for k, v in limits.actions.items()}}


@dataclass(frozen=True)
class Breach:
    """One limit an order would break, with the numbers that show it."""

    scope: str  # "deployment" | "account"
    limit: str
    action: str
    value: Decimal
    threshold: Decimal
    message: str
    figures: dict[str, Any] = field(default_factory=dict)
