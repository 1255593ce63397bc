"""FastAPI application: API routers, lifespan hooks and the single-page app."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.middleware.cors import CORSMiddleware

from app.api.errors import install_error_handlers
from app.api.main import api_router
from app.api.openapi import install_openapi
from app.core.config import REPO_ROOT, settings
from app.core.http_security import SecurityMiddleware
from app.core.lifespan import shutdown_hooks, startup_hooks
from app.core.logging import setup_logging

logger = logging.getLogger(__name__)


def custom_generate_unique_id(route: APIRoute) -> str:
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    for hook in startup_hooks:
        await hook(app)
    try:
        yield
    finally:
        for hook in reversed(shutdown_hooks):
            try:
                await hook(app)
            except Exception:
                logger.exception("shutdown hook failed", extra={"hook": hook.__name__})


def _mount_spa(app: FastAPI, dist: Path) -> None:
    """Serve the built SPA at / with a fallback to index.html for client-side routes."""
    index = dist / "index.html"
    dist_resolved = dist.resolve()

    @app.get("/{full_path:path}", include_in_schema=False)
    async def spa(full_path: str) -> Response:
        if full_path.startswith(("api/", "docs", "redoc", "openapi.json")):
            return JSONResponse(status_code=404, content={"detail": "Not Found"})
        candidate = (dist / full_path).resolve()
        if full_path and candidate.is_relative_to(dist_resolved) and candidate.is_file():
            return FileResponse(candidate)
        if not index.is_file():
            return JSONResponse(
                status_code=404,
                content={"detail": "The web app is not built (run scripts/run.sh)"},
            )
        return FileResponse(index, headers={"Cache-Control": "no-cache"})


def create_app(spa_dist: Path | None = None) -> FastAPI:
    setup_logging()
    application = FastAPI(
        title=settings.PROJECT_NAME,
        openapi_url=f"{settings.API_V1_STR}/openapi.json",
        generate_unique_id_function=custom_generate_unique_id,
        lifespan=lifespan,
    )
    if settings.all_cors_origins:
        application.add_middleware(
            CORSMiddleware,
            allow_origins=settings.all_cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
            # Headers the SPA reads from another origin: the step-up prompt and 429 waits.
            expose_headers=["X-Step-Up-Required", "Retry-After"],
        )
    # Added last, so it is outermost: headers land on every answer, CORS and errors included.
    application.add_middleware(
        SecurityMiddleware,
        api_prefix=settings.API_V1_STR,
        max_body_bytes=settings.MAX_REQUEST_BODY_BYTES,
    )

    @application.exception_handler(Exception)
    async def unhandled(request: Request, exc: Exception) -> JSONResponse:
        # Never leak a stack trace to a client; the log keeps it for us.
        logger.exception(
            "unhandled error",
            extra={"path": request.url.path, "method": request.method, "error": type(exc).__name__},
        )
        return JSONResponse(status_code=500, content={"detail": "Internal server error"})

    install_error_handlers(application)
    application.include_router(api_router, prefix=settings.API_V1_STR)
    install_openapi(application)
    _mount_spa(application, spa_dist or REPO_ROOT / "frontend" / "dist")
    return application


app = create_app()
