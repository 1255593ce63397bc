"""Where release artefacts (fitted models) live: a small content-addressed store.

Rules: `put` is idempotent (the key is the sha256 of the bytes); `get` returns exactly what
was put or raises KeyError. The bytes are opaque to the app: it stores and returns them and
hands them to the sandbox, and never unpickles them. PostgreSQL is the default store; another
backend (a bucket, a directory) implements the same two methods.
"""

from typing import Protocol

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session

from app.lab.releases.bundle import sha256
from app.lab.releases.models import ReleaseArtefact, utcnow


class ArtefactStore(Protocol):
    def put(self, data: bytes) -> str: ...

    def get(self, key: str) -> bytes: ...


class PostgresArtefactStore:
    """Artefacts in the `release_artefacts` table, written in the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def put(self, data: bytes) -> str:
        key = sha256(data)
        statement = (
            insert(ReleaseArtefact)
            .values(sha256=key, data=data, size=len(data), created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["sha256"])
        )
        self.session.execute(statement)
        return key

    def get(self, key: str) -> bytes:
        row = self.session.get(ReleaseArtefact, key)
        if row is None:
            raise KeyError(key)
        if sha256(row.data) != key:
            raise KeyError(f"{key}: stored bytes do not match their hash")
        return bytes(row.data)
