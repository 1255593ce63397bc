"""Login, token test and password recovery."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.security import OAuth2PasswordRequestForm

from app.api.deps import CurrentUser, SessionDep
from app.api.errors import responses
from app.core import security
from app.core.config import settings
from app.users import service
from app.users.emails import send_reset_password_email
from app.users.models import Message, NewPassword, Token, UserPublic

router = APIRouter(tags=["login"])


@router.post(
    "/login/access-token",
    responses=responses({400: "Incorrect e-mail or password, or an inactive account"}),
)
def login_access_token(
    session: SessionDep, form_data: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> Token:
    """OAuth2 password login: returns a bearer token for later requests."""
    user = service.authenticate(
        session=session, email=form_data.username, password=form_data.password
    )
    if not user:
        raise HTTPException(status_code=400, detail="Incorrect email or password")
    if not user.is_active:
        raise HTTPException(status_code=400, detail="Inactive user")
    expires = timedelta(minutes=settings.ACCESS_TOKEN_EXPIRE_MINUTES)
    return Token(access_token=security.create_access_token(user.id, expires_delta=expires))


@router.post("/login/test-token", response_model=UserPublic)
def test_token(current_user: CurrentUser) -> object:
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
    """Set a new password with the token from the recovery e-mail."""
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
    return Message(message="Password updated successfully")
