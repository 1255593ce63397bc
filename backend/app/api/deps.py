"""Shared FastAPI dependencies: database session, the authenticated user, step-up.

- `CurrentUser`: a valid access token whose session is live; when a superuser requires
  two-factor authentication for everyone, users without it get 403 except on the routes
  that let them enrol (those use `CurrentUserMayEnrol`).
- `RequireFreshSecondFactor` / `FreshSecondFactorUser`: for actions that can move money or
  expose exchange access. The user must have TOTP enabled and must have given a code in
  this session within STEP_UP_TTL_SECONDS (at login, or with POST /api/v1/security/step-up).
  Otherwise 403 with the header `X-Step-Up-Required: totp` and a detail saying what to do.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, status
from fastapi.security import OAuth2PasswordBearer
from jwt.exceptions import InvalidTokenError
from sqlmodel import Session

from app.api.errors import raises
from app.auth import audit as auth_audit
from app.auth import sessions as auth_sessions
from app.auth import totp
from app.auth.models import UserSession
from app.core import security
from app.core.config import settings
from app.core.db import engine
from app.users.models import User

reusable_oauth2 = OAuth2PasswordBearer(tokenUrl=f"{settings.API_V1_STR}/login/access-token")


def get_db() -> Iterator[Session]:
    with Session(engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_db)]
TokenDep = Annotated[str, Depends(reusable_oauth2)]

_CREDENTIALS_ERROR = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="Could not validate credentials",
    headers={"WWW-Authenticate": "Bearer"},
)
TWO_FACTOR_POLICY_DETAIL = (
    "Two-factor authentication is required for every account: enable it in Settings › Security"
)
STEP_UP_NOT_ENROLLED_DETAIL = (
    "This action needs two-factor authentication: enable it in Settings › Security first"
)
STEP_UP_REQUIRED_DETAIL = (
    "This action needs a fresh second factor: confirm a current authenticator code "
    "(POST /api/v1/security/step-up) and retry"
)
STEP_UP_HEADER = "X-Step-Up-Required"


@dataclass(frozen=True)
class AuthContext:
    user: User
    session: UserSession


@raises(401, {403: "The account is inactive"})
def get_auth_context(session: SessionDep, token: TokenDep) -> AuthContext:
    try:
        payload = jwt.decode(token, settings.SECRET_KEY, algorithms=[security.ALGORITHM])
    except jwt.ExpiredSignatureError:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Token has expired",
            headers={"WWW-Authenticate": "Bearer"},
        )
    except InvalidTokenError:
        raise _CREDENTIALS_ERROR
    sub, sid = payload.get("sub"), payload.get("sid")
    if payload.get("type") != "access" or not isinstance(sub, str) or not isinstance(sid, str):
        raise _CREDENTIALS_ERROR
    try:
        user_id, session_id = security.parse_user_id(sub), security.parse_user_id(sid)
    except ValueError:
        raise _CREDENTIALS_ERROR
    row = session.get(UserSession, session_id)
    if row is None or row.user_id != user_id or not auth_sessions.is_live(row):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Session has ended; sign in again",
            headers={"WWW-Authenticate": "Bearer"},
        )
    user = session.get(User, user_id)
    if not user:  # deleted since the token was issued
        raise _CREDENTIALS_ERROR
    if not user.is_active:
        raise HTTPException(status_code=403, detail="Inactive user")
    return AuthContext(user=user, session=row)


AuthContextDep = Annotated[AuthContext, Depends(get_auth_context)]


def get_current_user_may_enrol(ctx: AuthContextDep) -> User:
    return ctx.user


CurrentUserMayEnrol = Annotated[User, Depends(get_current_user_may_enrol)]


@raises({403: "Two-factor authentication is required for every account"})
def get_current_user(session: SessionDep, ctx: AuthContextDep) -> User:
    if auth_audit.two_factor_required(session) and not totp.is_enabled(session, ctx.user.id):
        raise HTTPException(status_code=403, detail=TWO_FACTOR_POLICY_DETAIL)
    return ctx.user


CurrentUser = Annotated[User, Depends(get_current_user)]


@raises({403: "Superusers only"})
def get_current_active_superuser(current_user: CurrentUser) -> User:
    if not current_user.is_superuser:
        raise HTTPException(status_code=403, detail="The user doesn't have enough privileges")
    return current_user


SuperUser = Annotated[User, Depends(get_current_active_superuser)]


@raises({403: "A fresh second factor is needed (header X-Step-Up-Required says how)"})
def require_fresh_second_factor(
    session: SessionDep, ctx: AuthContextDep, user: CurrentUser
) -> User:
    """Step-up guard for money-moving and key-exposing actions (see the module docstring)."""
    if not totp.is_enabled(session, user.id):
        raise HTTPException(
            status_code=403, detail=STEP_UP_NOT_ENROLLED_DETAIL, headers={STEP_UP_HEADER: "enrol"}
        )
    if auth_sessions.step_up_valid_until(ctx.session) is None:
        raise HTTPException(
            status_code=403, detail=STEP_UP_REQUIRED_DETAIL, headers={STEP_UP_HEADER: "totp"}
        )
    return user


RequireFreshSecondFactor = Depends(require_fresh_second_factor)
FreshSecondFactorUser = Annotated[User, RequireFreshSecondFactor]
