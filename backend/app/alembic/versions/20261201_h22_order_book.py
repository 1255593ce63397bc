"""order-book orders: the order a reprice replaces, and when a resting order times out

Revision ID: h22_order_book
Revises: h19_account_security
Create Date: 2026-12-01 22:45:00.000000+00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "h22_order_book"
down_revision = "h19_account_security"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("replaces_id", sa.Uuid(), nullable=True))
    op.add_column("orders", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.create_foreign_key(
        "orders_replaces_id_fkey", "orders", "orders", ["replaces_id"], ["id"], ondelete="SET NULL"
    )


def downgrade() -> None:
    op.drop_constraint("orders_replaces_id_fkey", "orders", type_="foreignkey")
    op.drop_column("orders", "expires_at")
    op.drop_column("orders", "replaces_id")
