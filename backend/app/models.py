"""Every table model, imported so that SQLModel.metadata (and Alembic) sees them all."""

from sqlmodel import SQLModel

from app.auth.models import (
    LoginEvent,
    LoginThrottle,
    RecoveryCode,
    SecurityPolicy,
    UserSession,
    UserTotp,
)
from app.collector.models import CollectionRun, PriceData5Min, PriceRollup1h
from app.credentials.models import CoinspotCredential, CredentialAuditLog
from app.lab.algorithms.models import Algorithm, AlgorithmVersion
from app.lab.backtests.models import BacktestRun, ParameterSweep
from app.users.models import User

metadata = SQLModel.metadata

__all__ = [
    "LoginEvent",
    "LoginThrottle",
    "RecoveryCode",
    "SecurityPolicy",
    "UserSession",
    "UserTotp",
    "BacktestRun",
    "ParameterSweep",
    "Algorithm",
    "AlgorithmVersion",
    "CollectionRun",
    "PriceData5Min",
    "PriceRollup1h",
    "CoinspotCredential",
    "CredentialAuditLog",
    "User",
    "metadata",
]
