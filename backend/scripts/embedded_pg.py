"""Start, stop or locate the project's own embedded PostgreSQL (for machines with none).

Used by scripts/run.sh and scripts/test.sh when no DATABASE_URL is given. The server
comes from the `pgserver` wheel (PostgreSQL 16 binaries); as root it runs the server
under a dedicated system user, since PostgreSQL refuses to run as root. Data lives in
`.omc/pgdata` at the repo root (git-ignored) and is reused on the next start.

    python scripts/embedded_pg.py start [--pgdata DIR] [--database NAME]  # prints the URL
    python scripts/embedded_pg.py stop  [--pgdata DIR]
"""

import argparse
import sys
import warnings
from pathlib import Path

import psycopg
from psycopg import sql

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PGDATA = REPO_ROOT / ".omc" / "pgdata"


def _server(pgdata: Path, cleanup_mode: str | None):  # type: ignore[no-untyped-def]
    warnings.simplefilter("ignore")
    import pgserver

    pgdata.mkdir(parents=True, exist_ok=True)
    return pgserver.get_server(pgdata, cleanup_mode=cleanup_mode)  # type: ignore[attr-defined]


def start(pgdata: Path, database: str) -> str:
    server = _server(pgdata, cleanup_mode=None)
    admin_uri = server.get_uri()
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    return str(server.get_uri(database))


def stop(pgdata: Path) -> None:
    if not (pgdata / "PG_VERSION").exists():
        return
    _server(pgdata, cleanup_mode="stop").cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--pgdata", type=Path, default=DEFAULT_PGDATA)
    parser.add_argument("--database", default="omc")
    args = parser.parse_args(argv)
    if args.action == "start":
        sys.stdout.write(start(args.pgdata.resolve(), args.database) + "\n")
    else:
        stop(args.pgdata.resolve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
