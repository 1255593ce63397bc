"""Account security API under /api/v1/security: two-factor, step-up, sessions, login log,
and the platform's 2FA policy.

Rules kept here:
- Enrolment: `setup` stores an unconfirmed secret and shows it (QR + manual key) once;
  `confirm` with a code enables it and returns ten recovery codes, shown once.
- Disabling needs the password and a code; regenerating recovery codes needs a code.
- `step-up` turns a current code into a grant for this session for STEP_UP_TTL_SECONDS; the
  dependency `RequireFreshSecondFactor` (app/api/deps.py) checks it.
- Code checks are throttled like logins (same keys, same limits) and logged.
- "Sign out everywhere" ends every session including this one; the other routes act only on
  the caller's own sessions (another user's session id is a 404).
"""

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from app.api import errors
from app.api.deps import AuthContextDep, CurrentUserMayEnrol, SessionDep, SuperUser
from app.api.pagination import Skip
from app.auth import audit, sessions, throttle, totp
from app.auth.models import (
    CodeBody,
    DisableTwoFactor,
    LoginEventPublic,
    LoginEventsPublic,
    LoginResult,
    PolicyPublic,
    PolicyUpdate,
    RecoveryCodes,
    SessionPublic,
    SessionsPublic,
    StepUpGrant,
    TwoFactorSetup,
    TwoFactorStatus,
    UserSession,
)
from app.auth.web import clear_refresh_cookie, client_address, user_agent
from app.core.crypto import DecryptionError, EncryptionNotConfiguredError, InvalidEncryptionKeyError
from app.core.security import verify_password
from app.users.models import Message, User

router = APIRouter(prefix="/security", tags=["security"])

_ENCRYPTION_DETAIL = "two-factor secrets cannot be stored: credential encryption is not configured"
BAD_CODE_DETAIL = "Invalid or already used authentication code"


def _check_code(
    session: SessionDep, request: Request, user: User, code: str, failure: LoginResult
) -> str:
    """Verify a TOTP or recovery code under the login throttle; 400/429 when refused."""
    keys = [throttle.account_key(user.email), throttle.address_key(client_address(request))]

    def log(result: LoginResult) -> None:
        audit.record(
            session,
            email=user.email,
            result=result,
            user_id=user.id,
            ip_address=client_address(request),
            user_agent=user_agent(request),
        )

    wait = throttle.retry_after(session, keys)
    if wait is not None:
        log(LoginResult.THROTTLED)
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"Too many failed attempts; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    try:
        method = totp.check_second_factor(session, user.id, code)
    except (DecryptionError, EncryptionNotConfiguredError, InvalidEncryptionKeyError):
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, _ENCRYPTION_DETAIL)
    if method is None:
        log(failure)
        for key in keys:
            throttle.record_failure(session, key)
        raise HTTPException(status.HTTP_400_BAD_REQUEST, BAD_CODE_DETAIL)
    if method == "recovery_code":
        log(LoginResult.RECOVERY_CODE_USED)
    return method


@router.get("/two-factor")
def two_factor_status(session: SessionDep, user: CurrentUserMayEnrol) -> TwoFactorStatus:
    """Whether 2FA is on, a setup is pending, how many recovery codes are left."""
    row = totp.get(session, user.id)
    return TwoFactorStatus(
        enabled=bool(row and row.confirmed_at),
        pending_setup=bool(row and row.confirmed_at is None),
        recovery_codes_left=totp.recovery_codes_left(session, user.id),
        required_by_policy=audit.two_factor_required(session),
    )


@router.post(
    "/two-factor/setup",
    responses=errors.responses(
        {409: "Already enabled"}, {503: "Encryption keys are not configured"}
    ),
)
def two_factor_setup(
    session: SessionDep, user: CurrentUserMayEnrol, response: Response
) -> TwoFactorSetup:
    """Start enrolment: a new secret as a QR code and as a key to type. Not active until
    confirmed with a code."""
    if totp.is_enabled(session, user.id):
        raise HTTPException(status.HTTP_409_CONFLICT, "Two-factor authentication is already on")
    try:
        secret, uri, qr = totp.begin_setup(session, user_id=user.id, email=user.email)
    except (EncryptionNotConfiguredError, InvalidEncryptionKeyError):
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, _ENCRYPTION_DETAIL)
    response.headers["Cache-Control"] = "no-store"
    return TwoFactorSetup(secret=secret, otpauth_uri=uri, qr_svg_data_uri=qr)


@router.post("/two-factor/confirm", responses=errors.responses(400, 409, 503))
def two_factor_confirm(
    session: SessionDep,
    ctx: AuthContextDep,
    body: CodeBody,
    request: Request,
    response: Response,
) -> RecoveryCodes:
    """Finish enrolment with a code from the app; returns ten single-use recovery codes
    (shown only now). The code also counts as a fresh second factor for this session."""
    user = ctx.user
    row = totp.get(session, user.id)
    if row is None or row.confirmed_at is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, "No two-factor setup is pending")
    keys = [throttle.account_key(user.email), throttle.address_key(client_address(request))]
    try:
        ok = totp.verify_totp(session, row, body.code)
    except DecryptionError:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, _ENCRYPTION_DETAIL)
    if not ok:
        for key in keys:
            throttle.record_failure(session, key)
        raise HTTPException(status.HTTP_400_BAD_REQUEST, BAD_CODE_DETAIL)
    codes = totp.confirm(session, row)
    sessions.mark_stepped_up(session, ctx.session)
    response.headers["Cache-Control"] = "no-store"
    return RecoveryCodes(recovery_codes=codes)


@router.post("/two-factor/disable", responses=errors.responses(400, 409, 429, 503))
def two_factor_disable(
    session: SessionDep, user: CurrentUserMayEnrol, body: DisableTwoFactor, request: Request
) -> Message:
    """Turn 2FA off: needs your password and a current code (or a recovery code)."""
    if not totp.is_enabled(session, user.id):
        raise HTTPException(status.HTTP_409_CONFLICT, "Two-factor authentication is not on")
    verified, _ = verify_password(body.password, user.hashed_password)
    if not verified:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "Incorrect password")
    _check_code(session, request, user, body.code, LoginResult.TWO_FACTOR_FAILED)
    totp.disable(session, user.id)
    return Message(message="Two-factor authentication is off")


@router.post("/two-factor/recovery-codes", responses=errors.responses(400, 409, 429, 503))
def regenerate_recovery_codes(
    session: SessionDep, user: CurrentUserMayEnrol, body: CodeBody, request: Request
) -> RecoveryCodes:
    """Replace all recovery codes (needs a current code); the old ones stop working."""
    if not totp.is_enabled(session, user.id):
        raise HTTPException(status.HTTP_409_CONFLICT, "Two-factor authentication is not on")
    _check_code(session, request, user, body.code, LoginResult.TWO_FACTOR_FAILED)
    return RecoveryCodes(recovery_codes=totp.replace_recovery_codes(session, user.id))


@router.post(
    "/step-up",
    responses=errors.responses(400, 409, {429: "Too many failed codes"}, 503),
)
def step_up(
    session: SessionDep, ctx: AuthContextDep, body: CodeBody, request: Request
) -> StepUpGrant:
    """Confirm a current code to unlock sensitive actions (live trading, raising limits,
    changing Coinspot keys, resuming after an emergency stop) in this session for a few
    minutes. Then retry the action with the same access token."""
    if not totp.is_enabled(session, ctx.user.id):
        raise HTTPException(status.HTTP_409_CONFLICT, "Enable two-factor authentication first")
    _check_code(session, request, ctx.user, body.code, LoginResult.STEP_UP_FAILED)
    valid_until = sessions.mark_stepped_up(session, ctx.session)
    audit.record(
        session,
        email=ctx.user.email,
        result=LoginResult.STEP_UP,
        user_id=ctx.user.id,
        ip_address=client_address(request),
        user_agent=user_agent(request),
    )
    return StepUpGrant(valid_until=valid_until)


def _public(row: UserSession, current: uuid.UUID) -> SessionPublic:
    return SessionPublic(
        id=row.id,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=row.expires_at,
        ip_address=row.ip_address,
        user_agent=row.user_agent,
        current=row.id == current,
    )


@router.get("/sessions")
def list_sessions(session: SessionDep, ctx: AuthContextDep) -> SessionsPublic:
    """Your signed-in sessions (devices), most recently used first."""
    rows = sessions.live_sessions(session, ctx.user.id)
    return SessionsPublic(data=[_public(r, ctx.session.id) for r in rows], count=len(rows))


@router.delete("/sessions/{session_id}", responses={404: {"description": "No such session"}})
def revoke_session(
    session_id: uuid.UUID, session: SessionDep, ctx: AuthContextDep, response: Response
) -> Message:
    """Sign one of your sessions out (its tokens stop working at once)."""
    row = session.get(UserSession, session_id)
    if row is None or row.user_id != ctx.user.id or not sessions.is_live(row):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Session not found")
    sessions.revoke(session, row, "signed_out")
    if row.id == ctx.session.id:
        clear_refresh_cookie(response)
    return Message(message="Session signed out")


@router.post("/sessions/revoke-all")
def revoke_all_sessions(session: SessionDep, ctx: AuthContextDep, response: Response) -> Message:
    """Sign out everywhere, this browser included."""
    count = sessions.revoke_all(session, ctx.user.id, "signed_out_everywhere")
    clear_refresh_cookie(response)
    return Message(message=f"Signed out of {count} session(s)")


@router.get("/login-events")
def list_login_events(
    session: SessionDep,
    user: CurrentUserMayEnrol,
    skip: Skip = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> LoginEventsPublic:
    """Your sign-in history, newest first: time, address, browser, result."""
    rows, count = audit.events_for_user(session, user.id, skip=skip, limit=limit)
    data = [LoginEventPublic.model_validate(r, from_attributes=True) for r in rows]
    return LoginEventsPublic(data=data, count=count)


@router.get("/policy")
def read_policy(session: SessionDep, _: CurrentUserMayEnrol) -> PolicyPublic:
    """The platform's security policy."""
    return PolicyPublic(require_two_factor=audit.two_factor_required(session))


@router.put("/policy", responses=errors.responses(409))
def update_policy(session: SessionDep, admin: SuperUser, body: PolicyUpdate) -> PolicyPublic:
    """Require (or stop requiring) two-factor authentication for every user (superusers;
    enable it on your own account first)."""
    if body.require_two_factor and not totp.is_enabled(session, admin.id):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "Enable two-factor authentication on your own account before requiring it",
        )
    audit.set_two_factor_required(session, body.require_two_factor)
    return PolicyPublic(require_two_factor=body.require_two_factor)
