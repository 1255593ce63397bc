"""Test session setup: a fresh PostgreSQL database per test process, migrated with Alembic.

The admin connection comes from OMC_TEST_ADMIN_URL (default: the local server at
127.0.0.1:5432). The database is created before `app` is imported, because the engine
is built from settings at import time, and dropped when the process's session ends.

Under pytest-xdist (`-n 2`) every worker is its own process with its own database, named
after the worker (omc_test_gw0_<pid>_<hex>), its own simulator and sandbox pool: workers
share nothing but the PostgreSQL server, so a test must not look at other databases'
sessions or locks (filter pg_stat_activity / pg_locks by the current database).
"""

import os
import secrets
from collections.abc import Iterator

import psycopg
import pytest
from cryptography.fernet import Fernet
from psycopg import sql

ADMIN_URL = os.environ.get("OMC_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1"… under xdist
TEST_DB_NAME = "_".join(
    part for part in ("omc_test", XDIST_WORKER, str(os.getpid()), secrets.token_hex(3)) if part
)
SUPERUSER_EMAIL = "admin@example.com"
SUPERUSER_PASSWORD = "test-superuser-" + secrets.token_hex(6)


def _database_url(name: str) -> str:
    """The admin URL pointed at another database (works for TCP and Unix-socket URLs)."""
    from sqlalchemy.engine import make_url

    url = make_url(ADMIN_URL).set(database=name, drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def _create_database() -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEST_DB_NAME)))


def _drop_database() -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(TEST_DB_NAME))
        )


_create_database()
TEST_DATABASE_URL = _database_url(TEST_DB_NAME)
os.environ.update(
    {
        "DATABASE_URL": TEST_DATABASE_URL,
        "ENVIRONMENT": "local",
        "SECRET_KEY": secrets.token_urlsafe(32),
        "FIRST_SUPERUSER": SUPERUSER_EMAIL,
        "FIRST_SUPERUSER_PASSWORD": SUPERUSER_PASSWORD,
        "COLLECTOR_ENABLED": "false",
        "FLOOR_EXECUTOR_ENABLED": "false",
        "COINSPOT_BASE_URL": "http://127.0.0.1:9",
        "CREDENTIALS_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    }
)
os.environ.pop("POSTGRES_SERVER", None)

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlmodel import Session  # noqa: E402

from app.core.db import engine, init_db  # noqa: E402
from app.main import app  # noqa: E402
from tests.utils import user_token_headers  # noqa: E402

BACKEND_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def alembic_config(url: str = TEST_DATABASE_URL) -> Config:
    cfg = Config(os.path.join(BACKEND_DIR, "alembic.ini"))
    cfg.set_main_option("script_location", os.path.join(BACKEND_DIR, "app", "alembic"))
    cfg.attributes["configure_logger"] = False
    cfg.cmd_opts = None
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # configparser escaping
    return cfg


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:  # noqa: ARG001
    engine.dispose()
    _drop_database()


@pytest.fixture(scope="session", autouse=True)
def migrated_database() -> Iterator[None]:
    command.upgrade(alembic_config(), "heads")
    with Session(engine) as session:
        init_db(session)
    yield


@pytest.fixture(scope="session")
def db() -> Iterator[Session]:
    with Session(engine) as session:
        yield session


@pytest.fixture(scope="session", autouse=True)
def shared_sandbox_pool() -> Iterator[None]:
    """The app's sandbox pool outlives each module's app: its forkserver takes seconds to
    start (it preloads numpy, pandas and scikit-learn and self-tests every wall) and keeps no
    state between jobs (each job is a fresh child), so every module's app reuses the pool the
    first one started instead of starting its own. It stops when the session ends."""
    import asyncio

    from app.lab import lifecycle
    from app.lab.sandbox import service

    async def keep_running() -> None:
        return None

    setattr(lifecycle, "stop_default_pool", keep_running)  # noqa: B010 - not re-exported
    yield
    setattr(lifecycle, "stop_default_pool", service.stop_default_pool)  # noqa: B010
    asyncio.run(service.stop_default_pool())


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def superuser_token_headers(client: TestClient) -> dict[str, str]:
    return user_token_headers(client, SUPERUSER_EMAIL, SUPERUSER_PASSWORD)


@pytest.fixture(scope="module")
def normal_user_token_headers(client: TestClient, db: Session) -> dict[str, str]:
    from tests.utils import create_random_user

    email, password = create_random_user(db)
    return user_token_headers(client, email, password)
