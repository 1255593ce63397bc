"""emergency stop: stop records and per-deployment halt markers

Revision ID: h23_emergency
Revises: h22_order_book
Create Date: 2026-12-01 22:45:00+00:00

"""

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "h23_emergency"
down_revision = "h22_order_book"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "emergency_stops",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("scope", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("flatten", sa.Boolean(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("deployment_ids", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("report", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["actor_id"], ["user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_emergency_stops_actor_id"), "emergency_stops", ["actor_id"], unique=False
    )
    op.create_table(
        "deployment_halts",
        sa.Column("deployment_id", sa.Uuid(), nullable=False),
        sa.Column("stop_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"], ["deployed_algorithms.id"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["stop_id"], ["emergency_stops.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("deployment_id"),
    )


def downgrade() -> None:
    op.drop_table("deployment_halts")
    op.drop_index(op.f("ix_emergency_stops_actor_id"), table_name="emergency_stops")
    op.drop_table("emergency_stops")
