"""A scratch database for benchmarks: created next to OMC_BENCH_ADMIN_URL (default the
PostgreSQL at 127.0.0.1:5432), migrated, with a first superuser; dropped on exit.

Import this module before anything from `app`: it points the settings at the scratch
database through the environment.
"""

import atexit
import os
import secrets
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get("OMC_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = f"omc_bench_{os.getpid()}_{secrets.token_hex(3)}"
EMAIL = "bench@example.com"
PASSWORD = secrets.token_urlsafe(16)
os.environ.update(
    {
        "DATABASE_URL": make_url(ADMIN_URL)
        .set(database=DB_NAME)
        .render_as_string(hide_password=False),
        "SECRET_KEY": secrets.token_urlsafe(32),
        "FIRST_SUPERUSER": EMAIL,
        "FIRST_SUPERUSER_PASSWORD": PASSWORD,
        "COLLECTOR_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
    }
)
_created = False


def create() -> None:
    """Create and migrate the scratch database (once) and add the superuser."""
    global _created
    if _created:
        return
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))
    _created = True
    atexit.register(drop)
    from alembic import command
    from alembic.config import Config

    config = Config(str(Path(__file__).resolve().parents[1] / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", os.environ["DATABASE_URL"].replace("%", "%%"))
    command.upgrade(config, "head")
    from sqlmodel import Session

    from app.core.db import engine, init_db

    with Session(engine) as session:
        init_db(session)


def drop() -> None:
    from app.core.db import engine

    engine.dispose()
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB_NAME))
        )
