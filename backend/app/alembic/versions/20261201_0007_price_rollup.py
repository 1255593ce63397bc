"""collector: hourly price rollup kept by statement triggers; time reads via the rollup

Revision ID: 0007_price_rollup
Revises: 0006_backtests
Create Date: 2026-12-01 14:30:00.000000+00:00

"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

# revision identifiers, used by Alembic.
revision = "0007_price_rollup"
down_revision = "0006_backtests"
branch_labels = None
depends_on = None

PRICE = sa.Numeric(precision=30, scale=16)

# Recompute the rollup of every (coin, hour) that the changed rows touch, from the rows stored
# now: hours left without rows disappear. The bulk loader merges its own rollup rows and says
# so through the setting, so its COPY does not pay for this.
# One hour's rollup columns from its rows `p` (no quotes: it is spliced into a literal below).
AGGREGATES = (
    '(array_agg(p."last" ORDER BY p."timestamp"))[1], max(p."last"), min(p."last"), '
    '(array_agg(p."last" ORDER BY p."timestamp" DESC))[1], '
    '(array_agg(p.bid ORDER BY p."timestamp" DESC))[1], '
    '(array_agg(p.ask ORDER BY p."timestamp" DESC))[1], '
    'count(*), min(p."timestamp"), max(p."timestamp")'
)

REFRESH_FUNCTION = r"""
CREATE FUNCTION price_rollup_1h_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    touched text := 'SELECT DISTINCT coin_type, date_trunc(''hour'', "timestamp" AT TIME ZONE '
                    '''UTC'') AT TIME ZONE ''UTC'' AS bucket FROM changed_rows';
BEGIN
    -- One writer of the rollup at a time (app.collector.rollup.ROLLUP_LOCK_KEY).
    PERFORM pg_advisory_xact_lock(201396391);
    IF current_setting('omc.price_rollup_by_caller', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        touched := touched || ' UNION ' || replace(touched, 'changed_rows', 'changed_rows_after');
    END IF;
    EXECUTE 'DELETE FROM price_rollup_1h r USING (' || touched || ') t '
            'WHERE r.coin_type = t.coin_type AND r.bucket = t.bucket';
    EXECUTE 'INSERT INTO price_rollup_1h (coin_type, bucket, open, high, low, close, bid, ask, '
            'bars, first_at, last_at) '
            'SELECT t.coin_type, t.bucket, {AGGREGATES} '
            'FROM (' || touched || ') t JOIN price_data_5min p ON p.coin_type = t.coin_type '
            'AND p."timestamp" >= t.bucket AND p."timestamp" < t.bucket + interval ''1 hour'' '
            'GROUP BY t.coin_type, t.bucket';
    RETURN NULL;
END
$$
""".replace("{AGGREGATES}", AGGREGATES)

TRUNCATE_FUNCTION = """
CREATE FUNCTION price_rollup_1h_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE price_rollup_1h;
    RETURN NULL;
END
$$
"""

TRIGGERS = (
    "CREATE TRIGGER price_rollup_1h_after_insert AFTER INSERT ON price_data_5min "
    "REFERENCING NEW TABLE AS changed_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION price_rollup_1h_refresh()",
    "CREATE TRIGGER price_rollup_1h_after_update AFTER UPDATE ON price_data_5min "
    "REFERENCING OLD TABLE AS changed_rows NEW TABLE AS changed_rows_after "
    "FOR EACH STATEMENT EXECUTE FUNCTION price_rollup_1h_refresh()",
    "CREATE TRIGGER price_rollup_1h_after_delete AFTER DELETE ON price_data_5min "
    "REFERENCING OLD TABLE AS changed_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION price_rollup_1h_refresh()",
    "CREATE TRIGGER price_rollup_1h_after_truncate AFTER TRUNCATE ON price_data_5min "
    "FOR EACH STATEMENT EXECUTE FUNCTION price_rollup_1h_truncate()",
)

BACKFILL = f"""
INSERT INTO price_rollup_1h (coin_type, bucket, open, high, low, close, bid, ask, bars,
                             first_at, last_at)
SELECT coin_type, date_trunc('hour', "timestamp" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
       {AGGREGATES}
FROM price_data_5min p
GROUP BY 1, 2
"""


def upgrade() -> None:
    op.create_table(
        "price_rollup_1h",
        sa.Column("coin_type", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("open", PRICE, nullable=False),
        sa.Column("high", PRICE, nullable=False),
        sa.Column("low", PRICE, nullable=False),
        sa.Column("close", PRICE, nullable=False),
        sa.Column("bid", PRICE, nullable=False),
        sa.Column("ask", PRICE, nullable=False),
        sa.Column("bars", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("coin_type", "bucket"),
    )
    op.create_index("ix_price_rollup_1h_bucket", "price_rollup_1h", ["bucket"], unique=False)
    # Reads by time across coins now use the rollup: the prices table keeps one index fewer.
    op.drop_index("ix_price_data_5min_timestamp", table_name="price_data_5min")
    op.execute(REFRESH_FUNCTION)
    op.execute(TRUNCATE_FUNCTION)
    for trigger in TRIGGERS:
        op.execute(trigger)
    op.execute(BACKFILL)


def downgrade() -> None:
    for name in ("insert", "update", "delete", "truncate"):
        op.execute(f"DROP TRIGGER price_rollup_1h_after_{name} ON price_data_5min")
    op.execute("DROP FUNCTION price_rollup_1h_truncate()")
    op.execute("DROP FUNCTION price_rollup_1h_refresh()")
    op.create_index(
        "ix_price_data_5min_timestamp", "price_data_5min", ["timestamp"], unique=False
    )
    op.drop_index("ix_price_rollup_1h_bucket", table_name="price_rollup_1h")
    op.drop_table("price_rollup_1h")
