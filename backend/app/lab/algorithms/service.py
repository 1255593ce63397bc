"""Algorithm rules: validation before saving, immutable versions, owner-only access and
status changes."""

import hashlib
import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from app.lab.algorithms.models import (
    Algorithm,
    AlgorithmCreate,
    AlgorithmStatus,
    AlgorithmUpdate,
    AlgorithmVersion,
    utcnow,
)
from app.lab.templates import get_template
from app.lab.validation import ValidationResult, check_parameters, validate_code


class AlgorithmError(Exception):
    """A refused request; `status_code` says how (404, 409, 422)."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


# Who may move an algorithm where through the Lab. `deployable` is set only by the
# promotion gate (a release passed its checklist) and `deployed` only by the Floor while a
# deployment of it runs; never by editing the algorithm here. `archived` = retired by hand.
ALLOWED_MOVES: dict[str, set[str]] = {
    AlgorithmStatus.DRAFT: {AlgorithmStatus.LAB, AlgorithmStatus.ARCHIVED},
    AlgorithmStatus.LAB: {AlgorithmStatus.DRAFT, AlgorithmStatus.ARCHIVED},
    AlgorithmStatus.DEPLOYABLE: {
        AlgorithmStatus.LAB,
        AlgorithmStatus.DRAFT,
        AlgorithmStatus.ARCHIVED,
    },
    AlgorithmStatus.DEPLOYED: set(),
    AlgorithmStatus.ARCHIVED: {AlgorithmStatus.DRAFT},
}


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def describe_errors(result: ValidationResult) -> str:
    parts = [f"line {e.line}: {e.message}" for e in result.errors[:10]]
    more = len(result.errors) - 10
    return "the code is not valid: " + "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _checked_code(code: str) -> ValidationResult:
    result = validate_code(code)
    if not result.valid:
        raise AlgorithmError(422, describe_errors(result))
    return result


def _checked_parameters(schema: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    try:
        return check_parameters(schema, values)
    except ValueError as error:
        raise AlgorithmError(422, f"invalid parameters: {error}") from None


def _name_taken(
    session: Session, user_id: uuid.UUID, name: str, except_id: uuid.UUID | None = None
) -> bool:
    statement = select(Algorithm.id).where(
        Algorithm.user_id == user_id, func.lower(Algorithm.name) == name.lower()
    )
    if except_id is not None:
        statement = statement.where(Algorithm.id != except_id)
    return session.exec(statement).first() is not None


def create(
    session: Session, user_id: uuid.UUID, body: AlgorithmCreate
) -> tuple[Algorithm, AlgorithmVersion]:
    if body.template is not None:
        try:
            code = get_template(body.template).source
        except KeyError:
            raise AlgorithmError(422, f"unknown template {body.template!r}") from None
    else:
        assert body.code is not None
        code = body.code
    if body.status not in (AlgorithmStatus.DRAFT, AlgorithmStatus.LAB):
        raise AlgorithmError(422, "a new algorithm starts as draft or lab")
    result = _checked_code(code)
    schema = result.parameter_schema or {"type": "object", "properties": {}}
    parameters = _checked_parameters(schema, body.parameters or {})
    if _name_taken(session, user_id, body.name):
        raise AlgorithmError(409, f"you already have an algorithm named {body.name!r}")
    algorithm = Algorithm(
        user_id=user_id,
        name=body.name,
        description=body.description,
        type=result.algorithm_type or "rule",
        parameters=parameters,
        status=body.status.value,
        latest_version=1,
    )
    version = AlgorithmVersion(
        algorithm_id=algorithm.id,
        version=1,
        code=code,
        class_name=result.class_name or "",
        parameter_schema=schema,
        code_hash=code_hash(code),
    )
    session.add(algorithm)
    session.add(version)
    session.commit()
    session.refresh(algorithm)
    session.refresh(version)
    return algorithm, version


def get_owned(session: Session, user_id: uuid.UUID, algorithm_id: uuid.UUID) -> Algorithm:
    algorithm = session.get(Algorithm, algorithm_id)
    if algorithm is None or algorithm.user_id != user_id:
        raise AlgorithmError(404, "algorithm not found")
    return algorithm


def get_version(
    session: Session, algorithm: Algorithm, version: int | None = None
) -> AlgorithmVersion:
    number = version if version is not None else algorithm.latest_version
    found = session.exec(
        select(AlgorithmVersion).where(
            AlgorithmVersion.algorithm_id == algorithm.id, AlgorithmVersion.version == number
        )
    ).first()
    if found is None:
        raise AlgorithmError(404, f"the algorithm has no version {number}")
    return found


def update(
    session: Session, algorithm: Algorithm, body: AlgorithmUpdate
) -> tuple[Algorithm, AlgorithmVersion]:
    latest = get_version(session, algorithm)
    deployed = algorithm.status == AlgorithmStatus.DEPLOYED
    if deployed and (
        body.code is not None or body.parameters is not None or body.status is not None
    ):
        raise AlgorithmError(
            409,
            "the algorithm is deployed: stop it on the Floor before changing its code, parameters or status",
        )
    if body.name is not None and body.name != algorithm.name:
        if _name_taken(session, algorithm.user_id, body.name, except_id=algorithm.id):
            raise AlgorithmError(409, f"you already have an algorithm named {body.name!r}")
        algorithm.name = body.name
    if body.description is not None:
        algorithm.description = body.description
    version = latest
    if body.code is not None and code_hash(body.code) != latest.code_hash:
        result = _checked_code(body.code)
        schema = result.parameter_schema or {"type": "object", "properties": {}}
        if body.parameters is None:
            # Keep the values the new code still declares; the rest fall back to defaults.
            kept = {
                k: v for k, v in algorithm.parameters.items() if k in schema.get("properties", {})
            }
            algorithm.parameters = _checked_parameters(schema, kept)
        version = AlgorithmVersion(
            algorithm_id=algorithm.id,
            version=latest.version + 1,
            code=body.code,
            class_name=result.class_name or "",
            parameter_schema=schema,
            code_hash=code_hash(body.code),
        )
        session.add(version)
        algorithm.latest_version = version.version
        algorithm.type = result.algorithm_type or algorithm.type
    if body.parameters is not None:
        algorithm.parameters = _checked_parameters(version.parameter_schema, body.parameters)
    if body.status is not None and body.status.value != algorithm.status:
        if body.status.value not in ALLOWED_MOVES[algorithm.status]:
            raise AlgorithmError(
                422,
                f"an algorithm cannot go from {algorithm.status} to {body.status.value} in the Lab",
            )
        algorithm.status = body.status.value
    algorithm.updated_at = utcnow()
    session.add(algorithm)
    session.commit()
    session.refresh(algorithm)
    session.refresh(version)
    return algorithm, version


def delete(session: Session, algorithm: Algorithm) -> None:
    if algorithm.status == AlgorithmStatus.DEPLOYED:
        raise AlgorithmError(
            409, "the algorithm is deployed: stop it on the Floor before deleting it"
        )
    session.delete(algorithm)
    session.commit()


def list_owned(
    session: Session,
    user_id: uuid.UUID,
    *,
    status: AlgorithmStatus | None,
    type_: str | None,
    search: str | None,
    skip: int,
    limit: int,
) -> tuple[list[Algorithm], int]:
    conditions: list[Any] = [Algorithm.user_id == user_id]
    if status is not None:
        conditions.append(Algorithm.status == status.value)
    if type_ is not None:
        conditions.append(Algorithm.type == type_)
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(col(Algorithm.name).ilike(f"%{escaped}%", escape="\\"))
    count = session.exec(select(func.count()).select_from(Algorithm).where(*conditions)).one()
    rows = session.exec(
        select(Algorithm)
        .where(*conditions)
        .order_by(col(Algorithm.updated_at).desc(), col(Algorithm.id))
        .offset(skip)
        .limit(limit)
    ).all()
    return list(rows), int(count)


_LAST_RUNS = sa.text(
    """
    SELECT DISTINCT ON (algorithm_id) algorithm_id, id, status, created_at,
           (results_json -> 'metrics' ->> 'total_return')::float8 AS total_return,
           (results_json -> 'metrics' ->> 'sharpe')::float8 AS sharpe,
           (results_json -> 'metrics' ->> 'max_drawdown')::float8 AS max_drawdown
    FROM algorithm_backtest_runs
    WHERE algorithm_id = ANY(:ids)
    ORDER BY algorithm_id, created_at DESC
    """
)


def last_backtests(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """The newest backtest of each algorithm, with its headline metrics."""
    if not ids:
        return {}
    rows = session.connection().execute(_LAST_RUNS, {"ids": ids})
    return {row.algorithm_id: dict(row._mapping) for row in rows}


def list_versions(
    session: Session, algorithm: Algorithm, *, skip: int, limit: int
) -> tuple[list[AlgorithmVersion], int]:
    condition = AlgorithmVersion.algorithm_id == algorithm.id
    count = session.exec(select(func.count()).select_from(AlgorithmVersion).where(condition)).one()
    rows = session.exec(
        select(AlgorithmVersion)
        .where(condition)
        .order_by(col(AlgorithmVersion.version).desc())
        .offset(skip)
        .limit(limit)
    ).all()
    return list(rows), int(count)
