"""Promotion policy: the criteria a release must meet, per user, with defaults from settings.

Rules:
- Every criterion has `required` (a failure refuses the release) or advisory (shown, not
  blocking) and, where it has one, a bounded threshold. A user who never saved a policy gets
  the settings' defaults; a saved policy is merged over them field by field, so a criterion
  added later gets its default rather than an error.
- `PUT` takes any subset of criteria and changes only those (`extra` keys are refused with
  the field named); the answer is always the complete, effective policy.
- The out-of-sample rule we chose: on a window not used to choose the parameters, the total
  return must not trail buy-and-hold by more than `margin` (a fraction, default 0.05).
  It is stated in every checklist so a user sees the rule that was applied.
"""

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model
from sqlmodel import Session

from app.core.config import settings
from app.lab.releases.models import PromotionPolicyRow


class _Criterion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    required: bool = True


class SpanCriterion(_Criterion):
    threshold: float = Field(ge=0, le=3650, description="Minimum backtest span in days")


class TripsCriterion(_Criterion):
    threshold: int = Field(ge=0, le=1_000_000, description="Minimum closed round trips")


class SharpeCriterion(_Criterion):
    threshold: float = Field(ge=-10, le=10, description="Minimum Sharpe ratio after fees")


class DrawdownCriterion(_Criterion):
    threshold: float = Field(gt=0, le=1, description="Maximum drawdown as a fraction (0.3 = 30%)")


class FlagCriterion(_Criterion):
    pass


class OutOfSampleCriterion(_Criterion):
    threshold: float = Field(
        ge=0, le=1, description="How far total return may trail buy-and-hold (fraction)"
    )


class ResourceCriterion(_Criterion):
    threshold: int = Field(ge=100, le=60_000, description="Time limit of one predict, in ms")


class PromotionPolicy(BaseModel):
    """The effective policy (every criterion present)."""

    model_config = ConfigDict(extra="forbid")

    min_span_days: SpanCriterion
    min_round_trips: TripsCriterion
    min_sharpe: SharpeCriterion
    max_drawdown: DrawdownCriterion
    lookahead: FlagCriterion
    out_of_sample: OutOfSampleCriterion
    resources: ResourceCriterion
    fees_match_execution: FlagCriterion


def _partial(model: type[_Criterion]) -> type[BaseModel]:
    """The same criterion with every field optional (for partial updates), bounds kept."""
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        bounded: Any = (
            Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        )
        fields[name] = (bounded | None, Field(default=None, description=info.description))
    return create_model(f"{model.__name__}Update", __config__=ConfigDict(extra="forbid"), **fields)


SpanUpdate = _partial(SpanCriterion)
TripsUpdate = _partial(TripsCriterion)
SharpeUpdate = _partial(SharpeCriterion)
DrawdownUpdate = _partial(DrawdownCriterion)
FlagUpdate = _partial(FlagCriterion)
OutOfSampleUpdate = _partial(OutOfSampleCriterion)
ResourceUpdate = _partial(ResourceCriterion)


class PromotionPolicyUpdate(BaseModel):
    """Any subset of the criteria, each with any subset of its fields; the rest stay."""

    model_config = ConfigDict(extra="forbid")

    min_span_days: SpanUpdate | None = None  # type: ignore[valid-type]
    min_round_trips: TripsUpdate | None = None  # type: ignore[valid-type]
    min_sharpe: SharpeUpdate | None = None  # type: ignore[valid-type]
    max_drawdown: DrawdownUpdate | None = None  # type: ignore[valid-type]
    lookahead: FlagUpdate | None = None  # type: ignore[valid-type]
    out_of_sample: OutOfSampleUpdate | None = None  # type: ignore[valid-type]
    resources: ResourceUpdate | None = None  # type: ignore[valid-type]
    fees_match_execution: FlagUpdate | None = None  # type: ignore[valid-type]


def default_policy() -> PromotionPolicy:
    return PromotionPolicy(
        min_span_days=SpanCriterion(threshold=settings.PROMOTION_MIN_SPAN_DAYS),
        min_round_trips=TripsCriterion(threshold=settings.PROMOTION_MIN_ROUND_TRIPS),
        min_sharpe=SharpeCriterion(threshold=settings.PROMOTION_MIN_SHARPE),
        max_drawdown=DrawdownCriterion(threshold=settings.PROMOTION_MAX_DRAWDOWN),
        lookahead=FlagCriterion(),
        out_of_sample=OutOfSampleCriterion(threshold=settings.PROMOTION_OOS_MARGIN),
        resources=ResourceCriterion(threshold=settings.PROMOTION_PREDICT_LIMIT_MS),
        fees_match_execution=FlagCriterion(),
    )


def _merge(base: PromotionPolicy, stored: dict[str, Any]) -> PromotionPolicy:
    data = base.model_dump()
    for key, value in stored.items():
        if key in data and isinstance(value, dict):
            data[key] = {**data[key], **value}
    return PromotionPolicy.model_validate(data)


def get_policy(session: Session, user_id: uuid.UUID) -> PromotionPolicy:
    row = session.get(PromotionPolicyRow, user_id)
    return _merge(default_policy(), row.criteria if row is not None else {})


def update_policy(
    session: Session, user_id: uuid.UUID, update: PromotionPolicyUpdate
) -> tuple[PromotionPolicy, PromotionPolicy]:
    """Apply `update`; returns (before, after). The caller commits."""
    before = get_policy(session, user_id)
    changes = update.model_dump(exclude_none=True)
    after = _merge(before, changes)
    row = session.get(PromotionPolicyRow, user_id)
    if row is None:
        row = PromotionPolicyRow(user_id=user_id, criteria={})
    row.criteria = after.model_dump()
    row.updated_at = datetime.now(UTC)
    session.add(row)
    return before, after
