"""The deployment registry: deploy a release on paper or live, list, read, change status.

Rules:
- Only the user's own releases deploy; another user's release or deployment is a 404.
- A live deployment needs, each refused with its reason (422): validated Coinspot
  credentials with trading rights (full access); the same release having run on paper for at
  least FLOOR_LIVE_MIN_PAPER_HOURS (longest paper deployment, `stopped_at` or now minus
  `deployed_at`); capital within the account's AUD balance on Coinspot; and
  `acknowledge_real_money: true`. An exchange that cannot be asked is a 503, not a yes.
- An ML release deploys only on coins it has a fitted model for.
- The algorithm is `deployed` while any deployment of it is not stopped, and goes back to
  `deployable` when the last one stops. Every deployment and status change is audited with
  before/after in the same transaction.
- `stopped` is final: a stopped deployment is not resumed (deploy again instead). `resume`
  also brings a deployment back from the risk engine's `reducing` and `halted`.
- `halted` by an emergency stop ends only by an explicit resume (-> `active`) or stop;
  either removes the stop's halt marker in the same transaction.
"""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi import Request
from sqlmodel import Session, col, func, select

from app.audit import service as audit
from app.core.config import settings
from app.credentials import service as credentials
from app.credentials.models import PermissionLevel, ValidationStatus
from app.credentials.validation import default_client_factory
from app.events.schemas import DeploymentStatusEvent
from app.events.service import publish_deployment_status
from app.exchange.errors import ExchangeError
from app.floor.halts import clear_halt
from app.floor.models import RUNNING_STATUSES, DeployedAlgorithm, DeploymentMode, DeploymentStatus
from app.floor.schemas import AvailableRelease, DeploymentPublic, DeployRequest
from app.lab.algorithms.models import Algorithm, AlgorithmStatus
from app.lab.releases.models import Release


class NotFoundError(LookupError):
    pass


class RefusedError(ValueError):
    """422: the request cannot be honoured, for the reason given."""


class ConflictError(ValueError):
    pass


class ExchangeUnavailableError(RuntimeError):
    pass


def utcnow() -> datetime:
    return datetime.now(UTC)


def public(row: DeployedAlgorithm) -> DeploymentPublic:
    return DeploymentPublic.model_validate(row.model_dump())


def paper_hours(session: Session, release_id: uuid.UUID, now: datetime | None = None) -> float:
    now = now or utcnow()
    rows = session.exec(
        select(DeployedAlgorithm).where(
            DeployedAlgorithm.release_id == release_id,
            DeployedAlgorithm.mode == DeploymentMode.PAPER.value,
        )
    ).all()
    best = timedelta(0)
    for row in rows:
        best = max(best, (row.stopped_at or now) - row.deployed_at)
    return best / timedelta(hours=1)


def available(session: Session, user_id: uuid.UUID) -> list[AvailableRelease]:
    """The user's releases of algorithms that are deployable or deployed, newest first."""
    rows = session.exec(
        select(Release, Algorithm)
        .join(Algorithm, col(Algorithm.id) == col(Release.algorithm_id))
        .where(
            col(Release.user_id) == user_id,
            col(Algorithm.status).in_(
                [AlgorithmStatus.DEPLOYABLE.value, AlgorithmStatus.DEPLOYED.value]
            ),
        )
        .order_by(col(Release.created_at).desc())
    ).all()
    return [
        AvailableRelease(
            release_id=release.id,
            algorithm_id=release.algorithm_id,
            algorithm_name=algorithm.name,
            algorithm_version=release.algorithm_version,
            algorithm_type=release.algorithm_type,
            content_hash=release.content_hash,
            parameters=release.parameters,
            costs=release.costs,
            trained_coins=sorted((release.training or {}).get("models", {})) or None,
            paper_hours=round(paper_hours(session, release.id), 3),
            live_allowed_after_hours=settings.FLOOR_LIVE_MIN_PAPER_HOURS,
            created_at=release.created_at,
        )
        for release, algorithm in rows
    ]


def get(session: Session, user_id: uuid.UUID, deployment_id: uuid.UUID) -> DeployedAlgorithm:
    row = session.get(DeployedAlgorithm, deployment_id)
    if row is None or row.user_id != user_id:
        raise NotFoundError(f"no deployment {deployment_id}")
    return row


def listing(
    session: Session,
    user_id: uuid.UUID,
    *,
    status: str | None,
    mode: str | None,
    algorithm_id: uuid.UUID | None,
    release_id: uuid.UUID | None,
    skip: int,
    limit: int,
) -> tuple[list[DeployedAlgorithm], int]:
    conditions: list[Any] = [col(DeployedAlgorithm.user_id) == user_id]
    if status is not None:
        conditions.append(col(DeployedAlgorithm.status) == status)
    if mode is not None:
        conditions.append(col(DeployedAlgorithm.mode) == mode)
    if algorithm_id is not None:
        conditions.append(col(DeployedAlgorithm.algorithm_id) == algorithm_id)
    if release_id is not None:
        conditions.append(col(DeployedAlgorithm.release_id) == release_id)
    count = session.exec(
        select(func.count()).select_from(DeployedAlgorithm).where(*conditions)
    ).one()
    rows = session.exec(
        select(DeployedAlgorithm)
        .where(*conditions)
        .order_by(col(DeployedAlgorithm.deployed_at).desc(), col(DeployedAlgorithm.id))
        .offset(skip)
        .limit(limit)
    ).all()
    return list(rows), count


async def _aud_balance(session: Session, user_id: uuid.UUID) -> Decimal:
    keys = credentials.keys_for_user(session, user_id)
    if keys is None:
        raise RefusedError("live trading needs Coinspot credentials")
    try:
        async with default_client_factory(keys) as client:
            balance = await client.balance("AUD")
    except ExchangeError as error:
        raise ExchangeUnavailableError(
            f"could not read the AUD balance from Coinspot: {error}"
        ) from None
    return Decimal(str(balance.balance))


async def _check_live(session: Session, user_id: uuid.UUID, body: DeployRequest) -> None:
    row = credentials.get_for_user(session, user_id)
    if row is None:
        raise RefusedError(
            "live trading needs Coinspot credentials: add them in Settings and validate them"
        )
    if row.validation_status != ValidationStatus.VALID.value:
        raise RefusedError(
            f"live trading needs validated Coinspot credentials (they are {row.validation_status})"
        )
    if row.permission_level != PermissionLevel.FULL_ACCESS.value:
        raise RefusedError(
            "live trading needs a Coinspot key with trading rights (full access); "
            f"this key is {row.permission_level}"
        )
    needed = settings.FLOOR_LIVE_MIN_PAPER_HOURS
    have = paper_hours(session, body.release_id)
    if have < needed:
        raise RefusedError(
            f"this release has run on paper for {have:.2f} h; live needs at least {needed:g} h"
        )
    if not body.acknowledge_real_money:
        raise RefusedError(
            "acknowledge_real_money: a live deployment trades real money; set it to true to confirm"
        )
    balance = await _aud_balance(session, user_id)
    if body.capital > balance:
        raise RefusedError(
            f"capital {body.capital} AUD is more than the account's AUD balance {balance}"
        )


def _sync_algorithm_status(session: Session, algorithm_id: uuid.UUID) -> tuple[str, str] | None:
    algorithm = session.get(Algorithm, algorithm_id)
    if algorithm is None:
        return None
    running = session.exec(
        select(func.count())
        .select_from(DeployedAlgorithm)
        .where(
            col(DeployedAlgorithm.algorithm_id) == algorithm_id,
            col(DeployedAlgorithm.status).in_(sorted(RUNNING_STATUSES)),
        )
    ).one()
    before = algorithm.status
    if running and before != AlgorithmStatus.DEPLOYED.value:
        algorithm.status = AlgorithmStatus.DEPLOYED.value
    elif not running and before == AlgorithmStatus.DEPLOYED.value:
        algorithm.status = AlgorithmStatus.DEPLOYABLE.value
    if algorithm.status == before:
        return None
    algorithm.updated_at = utcnow()
    session.add(algorithm)
    return before, algorithm.status


async def deploy(
    session: Session, user_id: uuid.UUID, body: DeployRequest, http: Request | None
) -> DeployedAlgorithm:
    release = session.get(Release, body.release_id)
    if release is None or release.user_id != user_id:
        raise NotFoundError(f"no release {body.release_id}")
    algorithm = session.get(Algorithm, release.algorithm_id)
    if algorithm is None or algorithm.status not in (
        AlgorithmStatus.DEPLOYABLE.value,
        AlgorithmStatus.DEPLOYED.value,
    ):
        raise RefusedError("the release's algorithm is not deployable (it was retired)")
    trained = set((release.training or {}).get("models", {}))
    if release.algorithm_type in ("ml", "rl") and not set(body.coins) <= trained:
        missing = ", ".join(sorted(set(body.coins) - trained))
        raise RefusedError(f"coins: this release has no fitted model for {missing}")
    if body.mode == DeploymentMode.LIVE:
        await _check_live(session, user_id, body)
    assert body.allocation is not None
    row = DeployedAlgorithm(
        release_id=release.id,
        algorithm_id=release.algorithm_id,
        user_id=user_id,
        name=body.name or f"{release.algorithm_name} v{release.algorithm_version}",
        mode=body.mode.value,
        status=DeploymentStatus.ACTIVE.value,
        capital=body.capital,
        coins=list(body.coins),
        allocation={coin: str(share) for coin, share in body.allocation.items()},
        schedule_bars=body.schedule_bars,
        execution_style=str(release.costs.get("execution_style", "instant")),
        risk_limits=body.risk_limits.model_dump(mode="json"),
        parameters=dict(release.parameters),
        acknowledged_real_money=body.acknowledge_real_money,
        created_by=user_id,
    )
    session.add(row)
    session.flush()
    moved = _sync_algorithm_status(session, release.algorithm_id)
    audit.record(
        session,
        owner_id=user_id,
        actor_id=user_id,
        action="deployment.create",
        object_type="deployment",
        object_id=row.id,
        after={
            **public(row).model_dump(mode="json"),
            "algorithm_status": {"before": moved[0], "after": moved[1]} if moved else None,
        },
        request=http,
    )
    session.commit()
    session.refresh(row)
    return row


# Status moves a user may make through the registry (the safety layer adds its own).
ALLOWED: dict[str, dict[str, set[str]]] = {
    "pause": {"from": {DeploymentStatus.ACTIVE.value}, "to": {DeploymentStatus.PAUSED.value}},
    # Also the explicit way back from the risk engine's `reducing` and `halted`.
    "resume": {
        "from": {
            DeploymentStatus.PAUSED.value,
            DeploymentStatus.REDUCING.value,
            DeploymentStatus.HALTED.value,
        },
        "to": {DeploymentStatus.ACTIVE.value},
    },
    # The emergency stop (app/floor/emergency.py); resuming is the explicit `resume`.
    "halt": {
        "from": {
            DeploymentStatus.ACTIVE.value,
            DeploymentStatus.PAUSED.value,
            DeploymentStatus.REDUCING.value,
        },
        "to": {DeploymentStatus.HALTED.value},
    },
    "stop": {"from": set(RUNNING_STATUSES), "to": {DeploymentStatus.STOPPED.value}},
}


def change_status(
    session: Session,
    user_id: uuid.UUID,
    deployment_id: uuid.UUID,
    action: str,
    reason: str | None,
    actor_id: uuid.UUID | None,
    http: Request | None,
) -> DeployedAlgorithm:
    row = get(session, user_id, deployment_id)
    rule = ALLOWED[action]
    if row.status not in rule["from"]:
        raise ConflictError(f"a {row.status} deployment cannot {action}")
    before = {"status": row.status, "status_reason": row.status_reason}
    row.status = next(iter(rule["to"]))
    row.status_reason = reason
    row.updated_at = utcnow()
    if row.status == DeploymentStatus.STOPPED.value:
        row.stopped_at = row.updated_at
    session.add(row)
    session.flush()
    if row.status != DeploymentStatus.HALTED.value:  # an explicit action ends a stop's halt
        clear_halt(session.connection(), row.id)
    moved = _sync_algorithm_status(session, row.algorithm_id)
    audit.record(
        session,
        owner_id=row.user_id,
        actor_id=actor_id,
        action=f"deployment.{action}",
        object_type="deployment",
        object_id=row.id,
        before=before,
        after={
            "status": row.status,
            "status_reason": reason,
            "algorithm_status": {"before": moved[0], "after": moved[1]} if moved else None,
        },
        request=http,
    )
    # Live update for the owner's pages (last in the transaction: see app/events).
    publish_deployment_status(
        session,
        row.user_id,
        DeploymentStatusEvent(
            deployment_id=row.id, status=row.status, previous=before["status"], reason=reason
        ),
    )
    session.commit()
    session.refresh(row)
    return row
