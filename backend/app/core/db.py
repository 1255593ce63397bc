"""Database engine, sessions and first-superuser bootstrap."""

from collections.abc import Iterator

from sqlalchemy import Engine
from sqlmodel import Session, create_engine, select

from app.core.config import settings


def make_engine(url: str | None = None) -> Engine:
    return create_engine(
        url or settings.SQLALCHEMY_DATABASE_URI,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
    )


engine = make_engine()


def get_session() -> Iterator[Session]:
    with Session(engine) as session:
        yield session


def init_db(session: Session) -> None:
    """Create the first superuser when it does not exist yet (tables come from Alembic)."""
    from app.users import service
    from app.users.models import User, UserCreate

    user = session.exec(select(User).where(User.email == settings.FIRST_SUPERUSER)).first()
    if not user:
        service.create_user(
            session=session,
            user_create=UserCreate(
                email=settings.FIRST_SUPERUSER,
                password=settings.FIRST_SUPERUSER_PASSWORD,
                is_superuser=True,
            ),
        )
