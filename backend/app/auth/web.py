"""HTTP helpers for authentication: client address, user agent, the refresh-token cookie.

Rules kept here: the refresh token travels only in an HttpOnly, SameSite=Strict cookie
scoped to the login routes (`REFRESH_COOKIE_PATH`), Secure unless REFRESH_COOKIE_SECURE is
off; it never appears in a response body. The client address is the socket peer as
uvicorn reports it (behind a proxy, run uvicorn with --forwarded-allow-ips).
"""

from fastapi import Request, Response

from app.core.config import settings

REFRESH_COOKIE = "omc_refresh"
REFRESH_COOKIE_PATH = f"{settings.API_V1_STR}/login"


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def user_agent(request: Request) -> str | None:
    return request.headers.get("user-agent")


def set_refresh_cookie(response: Response, token: str) -> None:
    response.set_cookie(
        REFRESH_COOKIE,
        token,
        max_age=settings.REFRESH_TOKEN_EXPIRE_DAYS * 86400,
        path=REFRESH_COOKIE_PATH,
        secure=settings.REFRESH_COOKIE_SECURE,
        httponly=True,
        samesite="strict",
    )


def clear_refresh_cookie(response: Response) -> None:
    response.delete_cookie(
        REFRESH_COOKIE,
        path=REFRESH_COOKIE_PATH,
        secure=settings.REFRESH_COOKIE_SECURE,
        httponly=True,
        samesite="strict",
    )
