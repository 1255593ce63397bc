"""What a run needs to know about an algorithm version, read by column name.

The algorithms tables belong to `app.lab.algorithms`; reading the few columns a run needs by
name keeps this package independent of that one's Python classes.
"""

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

_VERSION_QUERY = sa.text(
    """
    SELECT a.id, a.user_id, a.name, a.type, a.status, a.parameters, v.version, v.code,
           v.parameter_schema
    FROM algorithms a
    JOIN algorithm_versions v ON v.algorithm_id = a.id
    WHERE a.id = :algorithm_id
      AND (CAST(:version AS integer) IS NOT NULL AND v.version = :version
           OR CAST(:version AS integer) IS NULL
              AND v.version = (SELECT max(version) FROM algorithm_versions
                               WHERE algorithm_id = a.id))
    """
)
_NAMES_QUERY = sa.text("SELECT id, name FROM algorithms WHERE id = ANY(:ids)")
_EXISTS_QUERY = sa.text("SELECT user_id FROM algorithms WHERE id = :algorithm_id")


@dataclass(frozen=True)
class AlgorithmVersion:
    algorithm_id: uuid.UUID
    user_id: uuid.UUID
    name: str
    type: str
    status: str
    parameters: dict[str, Any]
    version: int
    code: str
    parameter_schema: dict[str, Any]


class AlgorithmNotFoundError(LookupError):
    pass


def owned_algorithm_exists(session: Session, algorithm_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    row = session.connection().execute(_EXISTS_QUERY, {"algorithm_id": algorithm_id}).first()
    return row is not None and row.user_id == user_id


def load_version(
    session: Session, algorithm_id: uuid.UUID, version: int | None, user_id: uuid.UUID | None = None
) -> AlgorithmVersion:
    """The version (latest when None); AlgorithmNotFoundError when it does not exist or, with
    `user_id`, belongs to someone else (both look the same to the caller: 404)."""
    row = (
        session.connection()
        .execute(_VERSION_QUERY, {"algorithm_id": algorithm_id, "version": version})
        .first()
    )
    if row is None or (user_id is not None and row.user_id != user_id):
        if (
            version is not None
            and row is None
            and (user_id is None or owned_algorithm_exists(session, algorithm_id, user_id))
        ):
            raise AlgorithmNotFoundError(f"the algorithm has no version {version}")
        raise AlgorithmNotFoundError("algorithm not found")
    return AlgorithmVersion(
        algorithm_id=row.id,
        user_id=row.user_id,
        name=row.name,
        type=str(row.type),
        status=str(row.status),
        parameters=dict(row.parameters or {}),
        version=int(row.version),
        code=row.code,
        parameter_schema=dict(row.parameter_schema or {}),
    )


def algorithm_names(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    return {row.id: row.name for row in session.connection().execute(_NAMES_QUERY, {"ids": ids})}
