"""Every table model, imported so that SQLModel.metadata (and Alembic) sees them all."""

from sqlmodel import SQLModel

from app.alerts.models import Alert, AlertRulesRow
from app.audit.models import AuditLog
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
from app.events.models import Event
from app.floor.halts import DeploymentHalt, EmergencyStop
from app.floor.ledger import ExecutionRun, Order, Position, Trade
from app.floor.models import DeployedAlgorithm
from app.floor.pnl.models import EquitySnapshot, PnlClosedLot, PnlOpenLot, PnlTotal
from app.floor.reconciliation.models import (
    ReconciliationAccount,
    ReconciliationBreak,
    ReconciliationRun,
)
from app.floor.risk.state import FloorAccount
from app.lab.algorithms.models import Algorithm, AlgorithmVersion
from app.lab.backtests.models import BacktestRun, ParameterSweep
from app.lab.releases.models import PromotionPolicyRow, Release, ReleaseArtefact
from app.users.models import User

metadata = SQLModel.metadata

__all__ = [
    "Alert",
    "AlertRulesRow",
    "AuditLog",
    "DeployedAlgorithm",
    "DeploymentHalt",
    "EmergencyStop",
    "EquitySnapshot",
    "FloorAccount",
    "PnlClosedLot",
    "PnlOpenLot",
    "PnlTotal",
    "ReconciliationAccount",
    "ReconciliationBreak",
    "ReconciliationRun",
    "ExecutionRun",
    "Order",
    "Position",
    "Trade",
    "Event",
    "PromotionPolicyRow",
    "Release",
    "ReleaseArtefact",
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
