"""Create or drop a scratch database next to an admin URL (used by scripts/test.sh).

python scripts/testdb.py create ADMIN_URL NAME   # prints the new database's URL
python scripts/testdb.py drop ADMIN_URL NAME
"""

import sys

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in {"create", "drop"}:
        sys.stderr.write(__doc__ or "")
        return 2
    action, admin_url, name = argv
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if action == "create":
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
            sys.stdout.write(url + "\n")
        else:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
