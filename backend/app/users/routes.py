"""User management: self-service profile and superuser CRUD."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select

from app.api.deps import AuthContextDep, CurrentUser, CurrentUserMayEnrol, SessionDep, SuperUser
from app.api.errors import ResponseSpec, responses
from app.api.openapi import links
from app.api.pagination import Skip, limit_query
from app.auth import sessions as auth_sessions
from app.core.security import get_password_hash, verify_password
from app.users import service
from app.users.models import (
    Message,
    UpdatePassword,
    User,
    UserCreate,
    UserPublic,
    UserRegister,
    UsersPublic,
    UserUpdate,
    UserUpdateMe,
)

router = APIRouter(prefix="/users", tags=["users"])

_USER_LINKS: ResponseSpec = {
    200: {
        "description": "Successful Response",
        "links": links(
            "users-read_user_by_id",
            "users-update_user",
            "users-delete_user",
            user_id="$response.body#/id",
        ),
    }
}


@router.get("/", response_model=UsersPublic)
def read_users(
    session: SessionDep,
    _: SuperUser,
    skip: Skip = 0,
    limit: Annotated[int, limit_query(1000)] = 100,
) -> Any:
    """List users (superusers only), oldest first."""
    count = session.exec(select(func.count()).select_from(User)).one()
    users = session.exec(
        select(User).order_by(col(User.created_at), col(User.email)).offset(skip).limit(limit)
    ).all()
    return UsersPublic(data=[UserPublic.model_validate(u) for u in users], count=count)


@router.post(
    "/", response_model=UserPublic, responses=responses({400: "The e-mail is taken"}) | _USER_LINKS
)
def create_user(session: SessionDep, _: SuperUser, user_in: UserCreate) -> Any:
    """Create a user (superusers only)."""
    if service.get_user_by_email(session=session, email=user_in.email):
        raise HTTPException(status_code=400, detail="A user with this email already exists")
    return _create_once(session, user_in)


def _create_once(session: SessionDep, user_create: UserCreate) -> User:
    """Create the user; a concurrent request that took the e-mail first is the same 400 as a
    taken e-mail found by the check before (the unique index decides the race)."""
    try:
        return service.create_user(session=session, user_create=user_create)
    except IntegrityError:
        session.rollback()
        raise HTTPException(status_code=400, detail="A user with this email already exists")


@router.patch("/me", response_model=UserPublic, responses=responses({409: "The e-mail is taken"}))
def update_user_me(session: SessionDep, user_in: UserUpdateMe, current_user: CurrentUser) -> Any:
    """Update your own profile."""
    if user_in.email:
        existing = service.get_user_by_email(session=session, email=user_in.email)
        if existing and existing.id != current_user.id:
            raise HTTPException(status_code=409, detail="A user with this email already exists")
    current_user.sqlmodel_update(user_in.model_dump(exclude_unset=True))
    session.add(current_user)
    session.commit()
    session.refresh(current_user)
    return current_user


@router.patch(
    "/me/password",
    responses=responses({400: "Wrong current password, or the new one equals it"}),
)
def update_password_me(session: SessionDep, body: UpdatePassword, ctx: AuthContextDep) -> Message:
    """Change your own password; every other session of yours is signed out."""
    current_user = ctx.user
    verified, _ = verify_password(body.current_password, current_user.hashed_password)
    if not verified:
        raise HTTPException(status_code=400, detail="Incorrect password")
    if body.current_password == body.new_password:
        raise HTTPException(
            status_code=400, detail="New password cannot be the same as the current one"
        )
    current_user.hashed_password = get_password_hash(body.new_password)
    session.add(current_user)
    session.commit()
    auth_sessions.revoke_all(session, current_user.id, "password_changed", keep=ctx.session.id)
    return Message(message="Password updated successfully")


@router.get("/me", response_model=UserPublic)
def read_user_me(current_user: CurrentUserMayEnrol) -> Any:
    """Your own user and profile."""
    return current_user


@router.delete("/me", responses=responses({403: "Superusers cannot delete themselves"}))
def delete_user_me(session: SessionDep, current_user: CurrentUser) -> Message:
    """Delete your own account (superusers cannot delete themselves)."""
    if current_user.is_superuser:
        raise HTTPException(
            status_code=403, detail="Super users are not allowed to delete themselves"
        )
    session.delete(current_user)
    session.commit()
    return Message(message="User deleted successfully")


@router.post(
    "/signup",
    response_model=UserPublic,
    responses=responses({400: "The e-mail is taken"}) | _USER_LINKS,
)
def register_user(session: SessionDep, user_in: UserRegister) -> Any:
    """Open sign-up for a normal (non-superuser) account."""
    if service.get_user_by_email(session=session, email=user_in.email):
        raise HTTPException(status_code=400, detail="A user with this email already exists")
    user_create = UserCreate.model_validate(user_in)
    return _create_once(session, user_create)


@router.get(
    "/{user_id}",
    response_model=UserPublic,
    responses=responses({403: "Only superusers read other users"}, {404: "No such user"}),
)
def read_user_by_id(user_id: uuid.UUID, session: SessionDep, current_user: CurrentUser) -> Any:
    """One user: yourself, or anyone for a superuser."""
    if user_id == current_user.id:
        return current_user
    if not current_user.is_superuser:
        raise HTTPException(status_code=403, detail="The user doesn't have enough privileges")
    user = session.get(User, user_id)
    if not user:
        raise HTTPException(status_code=404, detail="User not found")
    return user


@router.patch(
    "/{user_id}",
    response_model=UserPublic,
    responses=responses(
        {403: "Superusers only; a superuser cannot deactivate or demote themselves"},
        {404: "No such user"},
        {409: "The e-mail is taken"},
    ),
)
def update_user(
    session: SessionDep, current_user: SuperUser, user_id: uuid.UUID, user_in: UserUpdate
) -> Any:
    """Update any user (superusers only)."""
    db_user = session.get(User, user_id)
    if not db_user:
        raise HTTPException(status_code=404, detail="User not found")
    if db_user.id == current_user.id and (
        user_in.is_active is False or user_in.is_superuser is False
    ):
        # Nobody could undo it if the last superuser locked themselves out.
        raise HTTPException(
            status_code=403, detail="Super users cannot deactivate or demote themselves"
        )
    if user_in.email:
        existing = service.get_user_by_email(session=session, email=user_in.email)
        if existing and existing.id != user_id:
            raise HTTPException(status_code=409, detail="A user with this email already exists")
    updated = service.update_user(session=session, db_user=db_user, user_in=user_in)
    if user_in.password or user_in.is_active is False:
        auth_sessions.revoke_all(session, user_id, "changed_by_superuser")
    return updated


@router.delete(
    "/{user_id}",
    responses=responses({403: "Superusers only, and not themselves"}, {404: "No such user"}),
)
def delete_user(session: SessionDep, current_user: SuperUser, user_id: uuid.UUID) -> Message:
    """Delete a user (superusers only, not themselves)."""
    user = session.get(User, user_id)
    if not user:
        raise HTTPException(status_code=404, detail="User not found")
    if user.id == current_user.id:
        raise HTTPException(
            status_code=403, detail="Super users are not allowed to delete themselves"
        )
    session.delete(user)
    session.commit()
    return Message(message="User deleted successfully")
