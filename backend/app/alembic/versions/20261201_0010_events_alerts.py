"""events (live updates) and alerts

Revision ID: 0010_events_alerts
Revises: 0008_floor_registry
Create Date: 2026-12-01 19:50:00+00:00

"""

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0010_events_alerts"
down_revision = "0008_floor_registry"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_events_created_at", "events", ["created_at"], unique=False)
    op.create_index("ix_events_user_seq", "events", ["user_id", "seq"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_events_user_seq", table_name="events")
    op.drop_index("ix_events_created_at", table_name="events")
    op.drop_table("events")
