"""Login (password, then TOTP when enabled), refresh, logout and password recovery.

Rules kept here:
- A wrong e-mail and a wrong password answer the same 400 in the same time.
- Every attempt passes the PostgreSQL throttle first (429 + Retry-After while locked) and
  is written to the login audit log; the owner gets an e-mail when their account first
  reaches the failure limit in a window.
- A user with TOTP gets no token for the password alone: a 5-minute `mfa_token` that only
  POST /login/two-factor accepts, with a code (or a recovery code).
- Tokens: a short access token in the body, the rotating refresh token in an HttpOnly
  cookie (see app/auth/web.py). A password reset ends every session.
"""

import logging
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Cookie, Depends, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm
from sqlmodel import Session

from app.api.deps import CurrentUserMayEnrol, SessionDep
from app.api.errors import responses
from app.auth import audit, sessions, throttle, totp
from app.auth.models import AccessToken, LoginResponse, LoginResult, TwoFactorLogin
from app.auth.web import (
    REFRESH_COOKIE,
    clear_refresh_cookie,
    client_address,
    set_refresh_cookie,
    user_agent,
)
from app.core import security
from app.core.config import settings
from app.users import service
from app.users.emails import send_email, send_reset_password_email
from app.users.models import Message, NewPassword, User, UserPublic

logger = logging.getLogger(__name__)

router = APIRouter(tags=["login"])

MFA_PURPOSE = "login-2fa"
BAD_LOGIN_DETAIL = "Incorrect email or password"
BAD_CODE_DETAIL = "Invalid or already used authentication code"
_THROTTLED = responses(
    {400: "Incorrect e-mail or password, or an inactive account"},
    {429: "Too many failed attempts; see Retry-After"},
)


class _Attempt:
    """One login attempt's context: who it names, from where, and its throttle keys."""

    def __init__(self, session: Session, request: Request, email: str) -> None:
        self.session = session
        self.email = email.strip()
        self.ip = client_address(request)
        self.ua = user_agent(request)
        self.keys = [throttle.account_key(self.email), throttle.address_key(self.ip)]

    def log(self, result: LoginResult, user_id: object = None) -> None:
        audit.record(
            self.session,
            email=self.email,
            result=result,
            user_id=user_id,  # type: ignore[arg-type]
            ip_address=self.ip,
            user_agent=self.ua,
        )

    def refuse_if_throttled(self, user: User | None = None) -> None:
        wait = throttle.retry_after(self.session, self.keys)
        if wait is not None:
            self.log(LoginResult.THROTTLED, user.id if user else None)
            logger.warning("login throttled", extra={"ip": self.ip, "retry_after": wait})
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"Too many failed sign-in attempts; try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )

    def fail(self, result: LoginResult, user: User | None, detail: str) -> HTTPException:
        self.log(result, user.id if user else None)
        for key in self.keys:
            outcome = throttle.record_failure(self.session, key)
            if outcome.notify and user is not None:
                _notify_owner(user, outcome.failures, self.ip)
        return HTTPException(status.HTTP_400_BAD_REQUEST, detail)

    def succeed(self, response: Response, user: User, *, second_factor: bool) -> AccessToken:
        throttle.clear(self.session, self.keys[0])
        issued = sessions.start(
            self.session,
            user_id=user.id,
            ip_address=self.ip,
            user_agent=self.ua,
            second_factor=second_factor,
        )
        self.log(LoginResult.SUCCESS, user.id)
        set_refresh_cookie(response, issued.refresh_token)
        response.headers["Cache-Control"] = "no-store"
        return AccessToken(access_token=issued.access_token, expires_in=issued.expires_in)


def _notify_owner(user: User, failures: int, ip: str | None) -> None:
    try:
        send_email(
            to=user.email,
            subject=f"{settings.PROJECT_NAME} - failed sign-in attempts",
            body=(
                f"There were {failures} failed attempts to sign in to your account, the last "
                f"from {ip or 'an unknown address'}. Sign-ins are slowed down for a while.\n"
                "If it was not you, change your password and enable two-factor authentication."
            ),
        )
    except Exception:  # the login answer must not depend on the mail server
        logger.exception("failed-login notification not sent", extra={"user_id": str(user.id)})


@router.post("/login/access-token", responses=_THROTTLED)
def login_access_token(
    request: Request,
    response: Response,
    session: SessionDep,
    form_data: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> LoginResponse:
    """OAuth2 password login. Without 2FA: an access token (and the refresh cookie). With
    2FA: `two_factor_required` and an `mfa_token` for POST /login/two-factor."""
    attempt = _Attempt(session, request, form_data.username)
    attempt.refuse_if_throttled(service.get_user_by_email(session=session, email=attempt.email))
    user = service.authenticate(
        session=session, email=form_data.username, password=form_data.password
    )
    if not user:
        known = service.get_user_by_email(session=session, email=attempt.email)
        raise attempt.fail(LoginResult.BAD_CREDENTIALS, known, BAD_LOGIN_DETAIL)
    if not user.is_active:
        attempt.log(LoginResult.INACTIVE, user.id)
        raise HTTPException(status_code=400, detail="Inactive user")
    if totp.is_enabled(session, user.id):
        attempt.log(LoginResult.TWO_FACTOR_PENDING, user.id)
        token = security.create_purpose_token(str(user.id), MFA_PURPOSE, timedelta(minutes=5))
        return LoginResponse(two_factor_required=True, mfa_token=token)
    granted = attempt.succeed(response, user, second_factor=False)
    return LoginResponse(access_token=granted.access_token, expires_in=granted.expires_in)


@router.post("/login/two-factor", responses=_THROTTLED)
def login_two_factor(
    request: Request, response: Response, session: SessionDep, body: TwoFactorLogin
) -> AccessToken:
    """Second login step: the `mfa_token` from the password step and an authenticator code
    (or one of the recovery codes, which is then used up)."""
    subject = security.verify_purpose_token(body.mfa_token, MFA_PURPOSE)
    user = session.get(User, security.parse_user_id(subject)) if subject else None
    if user is None or not user.is_active:
        raise HTTPException(400, "The sign-in step expired; enter your password again")
    attempt = _Attempt(session, request, user.email)
    attempt.refuse_if_throttled(user)
    method = totp.check_second_factor(session, user.id, body.code)
    if method is None:
        raise attempt.fail(LoginResult.TWO_FACTOR_FAILED, user, BAD_CODE_DETAIL)
    if method == "recovery_code":
        attempt.log(LoginResult.RECOVERY_CODE_USED, user.id)
    return attempt.succeed(response, user, second_factor=True)


def _session_ended(detail: str = "Session has ended; sign in again") -> JSONResponse:
    ended = JSONResponse(status_code=status.HTTP_401_UNAUTHORIZED, content={"detail": detail})
    clear_refresh_cookie(ended)
    return ended


@router.post(
    "/login/refresh",
    response_model=AccessToken,
    responses={401: {"description": "No valid refresh cookie"}},
)
def refresh_access_token(
    request: Request,
    response: Response,
    session: SessionDep,
    omc_refresh: Annotated[str | None, Cookie(alias=REFRESH_COOKIE)] = None,
) -> Any:
    """A new access token for the refresh cookie, which is rotated. Presenting an already
    rotated token ends that whole session (it was copied)."""
    if not omc_refresh:
        return _session_ended("Not signed in")
    try:
        issued = sessions.rotate(
            session, omc_refresh, ip_address=client_address(request), user_agent=user_agent(request)
        )
    except sessions.RefreshError as exc:
        if exc.reason == "reused" and exc.user_id is not None:
            owner = session.get(User, exc.user_id)
            audit.record(
                session,
                email=owner.email if owner else "",
                result=LoginResult.REFRESH_REUSE,
                user_id=exc.user_id,
                ip_address=client_address(request),
                user_agent=user_agent(request),
            )
            logger.warning(
                "refresh token reuse: session revoked", extra={"user_id": str(exc.user_id)}
            )
        return _session_ended()
    user = session.get(User, issued.session.user_id)
    if user is None or not user.is_active:
        sessions.revoke(session, issued.session, "inactive")
        return _session_ended()
    set_refresh_cookie(response, issued.refresh_token)
    response.headers["Cache-Control"] = "no-store"
    return AccessToken(access_token=issued.access_token, expires_in=issued.expires_in)


@router.post("/login/logout")
def logout(
    response: Response,
    session: SessionDep,
    omc_refresh: Annotated[str | None, Cookie(alias=REFRESH_COOKIE)] = None,
) -> Message:
    """End this browser's session (the refresh cookie's) and clear the cookie."""
    if omc_refresh:
        row = sessions.session_from_refresh(session, omc_refresh)
        if row is not None:
            sessions.revoke(session, row, "logout")
    clear_refresh_cookie(response)
    return Message(message="Signed out")


@router.post("/login/test-token", response_model=UserPublic)
def test_token(current_user: CurrentUserMayEnrol) -> object:
    """Check a token and return its user."""
    return current_user


@router.post("/password-recovery/{email}")
def recover_password(email: str, session: SessionDep) -> Message:
    """Send a reset link. Answers the same whether or not the address is known."""
    user = service.get_user_by_email(session=session, email=email)
    if user and user.is_active:
        token = security.create_password_reset_token(email=email)
        send_reset_password_email(email=email, token=token)
    return Message(message="If that address has an account, a recovery e-mail was sent")


@router.post(
    "/reset-password/",
    responses=responses({400: "Invalid or expired token, or an inactive account"}),
)
def reset_password(session: SessionDep, body: NewPassword) -> Message:
    """Set a new password with the token from the recovery e-mail; ends every session and
    lifts the account's login throttle."""
    email = security.verify_password_reset_token(token=body.token)
    if not email:
        raise HTTPException(status_code=400, detail="Invalid or expired token")
    user = service.get_user_by_email(session=session, email=email)
    if not user:
        raise HTTPException(status_code=400, detail="Invalid or expired token")
    if not user.is_active:
        raise HTTPException(status_code=400, detail="Inactive user")
    user.hashed_password = security.get_password_hash(body.new_password)
    session.add(user)
    session.commit()
    sessions.revoke_all(session, user.id, "password_reset")
    throttle.clear(session, throttle.account_key(user.email))
    return Message(message="Password updated successfully")
