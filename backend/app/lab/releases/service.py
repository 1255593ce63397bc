"""Promotion and releases for the routes: check, promote, list, read, download, delete.

Rules:
- Promotion runs the gate; when every required criterion passes it stores the release (and
  its model artefacts) and moves the algorithm lab/draft → deployable, in one transaction
  with the audit row. A release with the same content hash as one the user already has is
  that release (idempotent), not a copy.
- Releases are never updated (a database trigger refuses UPDATE). Deleting one is refused
  while any deployment (running or stopped) refers to it.
- An archived (retired) algorithm is not promoted; a deployed one may get a new release.
- The Lab does not import the Floor: deployments are read by table and column name.
"""

import uuid
from typing import Any

import sqlalchemy as sa
from fastapi import Request
from sqlmodel import Session, col, func, select

from app.audit import service as audit
from app.lab.algorithms.models import Algorithm, AlgorithmStatus, AlgorithmVersion
from app.lab.backtests.algorithms import AlgorithmNotFoundError, load_version
from app.lab.releases import bundle
from app.lab.releases.gate import Assessment, assess
from app.lab.releases.models import Release
from app.lab.releases.policy import get_policy
from app.lab.releases.schemas import PromoteRequest, PromotionCheck, ReleaseSummary
from app.lab.releases.store import PostgresArtefactStore
from app.lab.sandbox.pool import SandboxPool
from app.lab.validation import check_parameters

_USES = sa.text("SELECT count(*) FROM deployed_algorithms WHERE release_id = :release_id")
_USED_IDS = sa.text(
    "SELECT DISTINCT release_id FROM deployed_algorithms WHERE release_id = ANY(:ids)"
)


class NotFoundError(LookupError):
    pass


class ConflictError(ValueError):
    pass


class InvalidError(ValueError):
    pass


def _algorithm(session: Session, user_id: uuid.UUID, algorithm_id: uuid.UUID) -> Algorithm:
    algorithm = session.get(Algorithm, algorithm_id)
    if algorithm is None or algorithm.user_id != user_id:
        raise NotFoundError(f"no algorithm {algorithm_id}")
    return algorithm


async def check(
    session: Session,
    pool: SandboxPool,
    user_id: uuid.UUID,
    algorithm_id: uuid.UUID,
    request: PromoteRequest,
) -> tuple[Assessment, Algorithm, str, str]:
    algorithm = _algorithm(session, user_id, algorithm_id)
    if algorithm.status == AlgorithmStatus.ARCHIVED.value:
        raise ConflictError("the algorithm is archived (retired): move it back to draft first")
    try:
        version = load_version(session, algorithm_id, request.version, user_id)
    except AlgorithmNotFoundError:
        raise InvalidError(f"version: the algorithm has no version {request.version}") from None
    row = session.exec(
        select(AlgorithmVersion).where(
            AlgorithmVersion.algorithm_id == algorithm_id,
            AlgorithmVersion.version == version.version,
        )
    ).one()
    if request.parameters is not None:
        try:
            resolved = check_parameters(
                version.parameter_schema, {**version.parameters, **request.parameters}
            )
        except ValueError as error:
            raise InvalidError(f"parameters: {error}") from None
        request = request.model_copy(update={"parameters": resolved})
    policy = get_policy(session, user_id)
    assessment = await assess(
        session,
        pool,
        user_id=user_id,
        version=version,
        policy=policy,
        request=request,
    )
    return assessment, algorithm, row.class_name, row.code_hash


def _in_use(session: Session, release_id: uuid.UUID) -> bool:
    return bool(session.connection().execute(_USES, {"release_id": release_id}).scalar_one())


def used_ids(session: Session, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    if not ids:
        return set()
    rows = session.connection().execute(_USED_IDS, {"ids": ids}).all()
    return {r[0] for r in rows}


async def promote(
    session: Session,
    pool: SandboxPool,
    user_id: uuid.UUID,
    algorithm_id: uuid.UUID,
    request: PromoteRequest,
    http: Request | None,
    create: bool,
) -> PromotionCheck:
    assessment, algorithm, class_name, code_hash = await check(
        session, pool, user_id, algorithm_id, request
    )
    answer = PromotionCheck(passed=assessment.passed, checklist=assessment.checklist)
    if not create or not assessment.passed:
        return answer
    version = load_version(session, algorithm_id, request.version, user_id)
    store = PostgresArtefactStore(session)
    model_keys = {coin: store.put(data) for coin, data in assessment.models.items()}
    libraries = bundle.library_versions()
    training = (
        {**assessment.training, "models": model_keys} if assessment.training is not None else None
    )
    manifest = bundle.manifest(
        code=version.code,
        code_hash=code_hash,
        class_name=class_name,
        algorithm_type=version.type,
        parameters=assessment.parameters,
        parameter_schema=version.parameter_schema,
        models=model_keys,
        libraries=libraries,
        costs=assessment.costs,
        warmup_bars=request.warmup_bars,
        training=training,
        evidence=assessment.evidence,
    )
    digest = bundle.content_hash(manifest)
    existing = session.exec(
        select(Release).where(Release.user_id == user_id, Release.content_hash == digest)
    ).first()
    if existing is not None:
        session.rollback()
        answer.release_id = existing.id
        return answer
    release = Release(
        user_id=user_id,
        algorithm_id=algorithm_id,
        algorithm_version=version.version,
        algorithm_name=algorithm.name,
        algorithm_type=version.type,
        class_name=class_name,
        code=version.code,
        code_hash=code_hash,
        parameters=assessment.parameters,
        parameter_schema=version.parameter_schema,
        costs=assessment.costs,
        warmup_bars=request.warmup_bars,
        libraries=libraries,
        training=training,
        evidence=assessment.evidence,
        checklist=[item.model_dump() for item in assessment.checklist],
        content_hash=digest,
    )
    session.add(release)
    before = algorithm.status
    if algorithm.status in (AlgorithmStatus.DRAFT.value, AlgorithmStatus.LAB.value):
        algorithm.status = AlgorithmStatus.DEPLOYABLE.value
        session.add(algorithm)
    session.flush()
    audit.record(
        session,
        owner_id=user_id,
        actor_id=user_id,
        action="release.create",
        object_type="release",
        object_id=release.id,
        after={
            "algorithm_id": algorithm_id,
            "version": version.version,
            "content_hash": digest,
            "algorithm_status": {"before": before, "after": algorithm.status},
        },
        request=http,
    )
    session.commit()
    answer.release_id = release.id
    return answer


def get_release(session: Session, user_id: uuid.UUID, release_id: uuid.UUID) -> Release:
    release = session.get(Release, release_id)
    if release is None or release.user_id != user_id:
        raise NotFoundError(f"no release {release_id}")
    return release


def summary(release: Release, in_use: bool) -> ReleaseSummary:
    return ReleaseSummary(**release.model_dump(), in_use=in_use)


def list_releases(
    session: Session,
    user_id: uuid.UUID,
    algorithm_id: uuid.UUID | None,
    skip: int,
    limit: int,
) -> tuple[list[Release], int]:
    conditions: list[Any] = [col(Release.user_id) == user_id]
    if algorithm_id is not None:
        conditions.append(col(Release.algorithm_id) == algorithm_id)
    count = session.exec(select(func.count()).select_from(Release).where(*conditions)).one()
    rows = session.exec(
        select(Release)
        .where(*conditions)
        .order_by(col(Release.created_at).desc(), col(Release.id))
        .offset(skip)
        .limit(limit)
    ).all()
    return list(rows), count


def models_of(session: Session, release: Release) -> dict[str, bytes]:
    keys: dict[str, str] = (release.training or {}).get("models", {})
    store = PostgresArtefactStore(session)
    return {coin: store.get(key) for coin, key in keys.items()}


def bundle_file(session: Session, release: Release) -> bytes:
    models = models_of(session, release)
    manifest = bundle.manifest(
        code=release.code,
        code_hash=release.code_hash,
        class_name=release.class_name,
        algorithm_type=release.algorithm_type,
        parameters=release.parameters,
        parameter_schema=release.parameter_schema,
        models=(release.training or {}).get("models", {}),
        libraries=release.libraries,
        costs=release.costs,
        warmup_bars=release.warmup_bars,
        training=release.training,
        evidence=release.evidence,
    )
    return bundle.archive(manifest, release.content_hash, models)


def delete_release(
    session: Session, user_id: uuid.UUID, release_id: uuid.UUID, http: Request | None
) -> None:
    release = get_release(session, user_id, release_id)
    if _in_use(session, release_id):
        raise ConflictError("a deployment uses this release: it cannot be deleted")
    audit.record(
        session,
        owner_id=user_id,
        actor_id=user_id,
        action="release.delete",
        object_type="release",
        object_id=release_id,
        before={"content_hash": release.content_hash, "algorithm_id": release.algorithm_id},
        request=http,
    )
    session.delete(release)
    session.commit()
