"""Operational endpoints."""

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.api.deps import SessionDep

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/utils", tags=["utils"])


@router.get("/health-check/", response_model=bool)
def health_check(session: SessionDep) -> object:
    """True when the database answers; 503 and false when it does not."""
    try:
        session.exec(text("SELECT 1"))  # type: ignore[call-overload]
    except Exception:
        logger.exception("health check: database unreachable")
        return JSONResponse(status_code=503, content=False)
    return True
