"""Alembic migrations must produce exactly the SQLModel metadata, and reverse cleanly."""

import secrets
from collections.abc import Iterator

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from psycopg import sql
from sqlalchemy import create_engine, inspect

from app.models import metadata
from tests.conftest import ADMIN_URL, _database_url, alembic_config


@pytest.fixture()
def empty_database_url() -> Iterator[str]:
    name = f"omc_migr_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _database_url(name)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def test_upgrade_head_matches_models_and_downgrade_base_empties(empty_database_url: str) -> None:
    cfg = alembic_config(empty_database_url)
    command.upgrade(cfg, "heads")

    engine = create_engine(empty_database_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            diff = compare_metadata(ctx, metadata)
        assert diff == [], f"migrations differ from the models: {diff}"

        command.downgrade(cfg, "base")
        tables = set(inspect(engine).get_table_names())
        assert tables <= {"alembic_version"}, f"left behind after downgrade: {tables}"

        command.upgrade(cfg, "heads")
        assert set(metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_single_migration_head() -> None:
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"several migration heads: {heads}"


def test_rollup_migration_fills_the_rollup_from_stored_prices(empty_database_url: str) -> None:
    cfg = alembic_config(empty_database_url)
    command.upgrade(cfg, "0006_backtests")
    url = empty_database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            'INSERT INTO price_data_5min ("timestamp", coin_type, bid, ask, "last", source) VALUES '
            "('2026-01-01 10:10+00', 'BTC', 9, 11, 10, 'x'), "
            "('2026-01-01 10:55+00', 'BTC', 19, 21, 20, 'x'), "
            "('2026-01-01 10:30+00', 'BTC', 4, 6, 5, 'x'), "
            "('2026-01-01 11:00+00', 'BTC', 29, 31, 30, 'x')"
        )
    command.upgrade(cfg, "heads")
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT to_char(bucket AT TIME ZONE 'UTC', 'HH24:MI'), open, high, low, close, "
            "bid, ask, bars FROM price_rollup_1h ORDER BY bucket"
        ).fetchall()
    assert [(b, *map(float, v), n) for b, *v, n in rows] == [
        ("10:00", 10, 20, 5, 20, 19, 21, 3),
        ("11:00", 30, 30, 30, 30, 29, 31, 1),
    ]
