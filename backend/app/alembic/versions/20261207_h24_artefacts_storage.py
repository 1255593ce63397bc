"""lab: a run's packed artefacts are stored without PostgreSQL's own compression

The blob is already a deflated .npz (its incompressible per-bar money series stored as they
are), so TOAST's pglz pass found little to gain and took most of a finished run's write:
about 60 ms of 85 ms for a year of one coin. EXTERNAL keeps the value out of line,
uncompressed. Existing rows keep their stored form until rewritten; both read the same.

Revision ID: h24_artefacts_storage
Revises: h21_reconciliation
Create Date: 2026-12-07 21:45:00+00:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "h24_artefacts_storage"
down_revision = "h21_reconciliation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE algorithm_backtest_runs ALTER COLUMN artefacts SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.execute("ALTER TABLE algorithm_backtest_runs ALTER COLUMN artefacts SET STORAGE EXTENDED")
