"""collector: a change version on every hourly rollup row, for exact Lab price caches

Every INSERT or UPDATE of a `price_rollup_1h` row (by the statement triggers of
`price_data_5min` or by the bulk loader's merge) stamps it with the next value of
`price_rollup_1h_version_seq`. Rollup writers hold the rollup advisory lock until they
commit, so versions are handed out in commit order: a day of a coin whose rows changed in
any way has a larger max(version) (rows added or changed) or fewer rollup rows (hours
emptied) than before. `app.lab.engine.price_cache` relies on this.

Revision ID: h18_price_rollup_version
Revises: 0011_pnl
Create Date: 2026-12-01 19:30:00.000000+00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "h18_price_rollup_version"
down_revision = "0011_pnl"
branch_labels = None
depends_on = None

STAMP_FUNCTION = """
CREATE FUNCTION price_rollup_1h_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := nextval('price_rollup_1h_version_seq');
    RETURN NEW;
END
$$
"""


def upgrade() -> None:
    op.execute("CREATE SEQUENCE price_rollup_1h_version_seq AS bigint")
    op.add_column(
        "price_rollup_1h",
        sa.Column(
            "version",
            sa.BigInteger(),
            server_default=sa.text("nextval('price_rollup_1h_version_seq'::regclass)"),
            nullable=False,
        ),
    )
    op.execute("ALTER SEQUENCE price_rollup_1h_version_seq OWNED BY price_rollup_1h.version")
    # The default only numbered the existing rows; from now on the trigger stamps every row.
    op.alter_column("price_rollup_1h", "version", server_default=None)
    op.execute(STAMP_FUNCTION)
    op.execute(
        "CREATE TRIGGER price_rollup_1h_stamp BEFORE INSERT OR UPDATE ON price_rollup_1h "
        "FOR EACH ROW EXECUTE FUNCTION price_rollup_1h_stamp()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER price_rollup_1h_stamp ON price_rollup_1h")
    op.execute("DROP FUNCTION price_rollup_1h_stamp()")
    op.drop_column("price_rollup_1h", "version")  # drops the sequence it owns
