"""credentials: encrypted Coinspot API keys and their audit log

Revision ID: 0003_credentials
Revises: b929ee622f7e
Create Date: 2026-11-24 19:00:00.000000+00:00

"""

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes


# revision identifiers, used by Alembic.
revision = "0003_credentials"
down_revision = "b929ee622f7e"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coinspot_credentials",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("api_key_encrypted", sa.Text(), nullable=False),
        sa.Column("api_secret_encrypted", sa.Text(), nullable=False),
        sa.Column("key_fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("permission_level", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("validation_status", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("last_validated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_coinspot_credentials_user_id"), "coinspot_credentials", ["user_id"], unique=True
    )
    op.create_table(
        "credential_audit_log",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("key_fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_credential_audit_log_created_at"),
        "credential_audit_log",
        ["created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_credential_audit_log_user_id"), "credential_audit_log", ["user_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_credential_audit_log_user_id"), table_name="credential_audit_log")
    op.drop_index(op.f("ix_credential_audit_log_created_at"), table_name="credential_audit_log")
    op.drop_table("credential_audit_log")
    op.drop_index(op.f("ix_coinspot_credentials_user_id"), table_name="coinspot_credentials")
    op.drop_table("coinspot_credentials")
