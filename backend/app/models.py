"""Every table model, imported so that SQLModel.metadata (and Alembic) sees them all."""

from sqlmodel import SQLModel

from app.credentials.models import CoinspotCredential, CredentialAuditLog
from app.users.models import User

metadata = SQLModel.metadata

__all__ = ["CoinspotCredential", "CredentialAuditLog", "User", "metadata"]
