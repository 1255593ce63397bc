"""User persistence and authentication."""

from typing import Any

from sqlmodel import Session, select

from app.core.security import get_password_hash, verify_password
from app.users.models import User, UserCreate, UserUpdate

# A real hash of a throwaway value: verifying against it when the user is unknown keeps
# login time the same for known and unknown emails (no user enumeration by timing).
_DUMMY_HASH = get_password_hash("dummy-password-for-timing")


def create_user(*, session: Session, user_create: UserCreate) -> User:
    db_obj = User.model_validate(
        user_create, update={"hashed_password": get_password_hash(user_create.password)}
    )
    session.add(db_obj)
    session.commit()
    session.refresh(db_obj)
    return db_obj


def update_user(*, session: Session, db_user: User, user_in: UserUpdate) -> User:
    user_data = user_in.model_dump(exclude_unset=True)
    extra: dict[str, Any] = {}
    if "password" in user_data:
        password = user_data.pop("password")
        if password:
            extra["hashed_password"] = get_password_hash(password)
    db_user.sqlmodel_update(user_data, update=extra)
    session.add(db_user)
    session.commit()
    session.refresh(db_user)
    return db_user


def get_user_by_email(*, session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == email)).first()


def authenticate(*, session: Session, email: str, password: str) -> User | None:
    db_user = get_user_by_email(session=session, email=email)
    if not db_user:
        verify_password(password, _DUMMY_HASH)
        return None
    verified, updated_hash = verify_password(password, db_user.hashed_password)
    if not verified:
        return None
    if updated_hash:
        db_user.hashed_password = updated_hash
        session.add(db_user)
        session.commit()
        session.refresh(db_user)
    return db_user
