"""Operational endpoints."""

import logging
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from app.api.deps import CurrentUser, SessionDep
from app.lab.sandbox.service import sandbox_status

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/utils", tags=["utils"])


@router.get(
    "/health-check/",
    response_model=bool,
    responses={503: {"description": "The database does not answer", "model": bool}},
)
def health_check(session: SessionDep) -> object:
    """True when the database answers; 503 and false when it does not."""
    try:
        session.exec(text("SELECT 1"))  # type: ignore[call-overload]
    except Exception:
        logger.exception("health check: database unreachable")
        return JSONResponse(status_code=503, content=False)
    return True


class SandboxWall(BaseModel):
    active: bool
    detail: str


class SandboxLimits(BaseModel):
    cpu_seconds: float
    wall_seconds: float
    memory_mb: int
    max_processes: int
    max_output_bytes: int


class SandboxStatus(BaseModel):
    user_code_allowed: bool
    verified: bool
    running: bool
    workers: int | None
    walls: dict[str, SandboxWall]
    policy: dict[str, SandboxWall]
    limits: SandboxLimits


@router.get("/sandbox-status/", response_model=SandboxStatus)
def read_sandbox_status(_: CurrentUser) -> Any:
    """Which walls confine Lab user code on this host. `verified` means the running pool's
    self-test child tried each forbidden thing and was stopped; user code is refused unless
    the file-system and network walls are active. `walls` lists only walls that hold on
    their own; `policy` the code policy's layers (readable errors, not walls); `limits` the
    limits every job runs under."""
    return sandbox_status()
