"""The risk engine: the one check every order passes before it is handed to a broker.

Rules:
- `check_order` is the single extension point: the executor calls it for every order and
  sends nothing it refuses. The Floor safety issue adds its limits here.
- Today's checks, in order: the deployment's status allows the order (`active`: buys and
  sells; `reducing`: sells only; `paused`, `halted`, `stopped`: nothing); the sleeve has
  the cash (buys, fee included) or the holdings (sells); for live orders the exchange
  account has them too (available AUD or coin as the exchange reports them).
- Below-minimum orders never get here: sizing skips them and records the skip.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from app.floor.brokers import OrderRequest
from app.floor.ledger import Position
from app.floor.models import DeployedAlgorithm, DeploymentStatus


@dataclass(frozen=True)
class RiskDecision:
    allowed: bool
    reason: str = ""


ALLOWED = RiskDecision(True)


def check_order(
    deployment: DeployedAlgorithm,
    position: Position,
    request: OrderRequest,
    exchange_balances: Mapping[str, Decimal] | None = None,
) -> RiskDecision:
    """Whether `request` may be sent for `deployment` (see the module rules)."""
    status = deployment.status
    if status == DeploymentStatus.REDUCING and request.side == "buy":
        return RiskDecision(False, "deployment is reducing: sells only")
    if status not in (DeploymentStatus.ACTIVE, DeploymentStatus.REDUCING):
        return RiskDecision(False, f"deployment is {status}: no new orders")
    if request.side == "buy":
        needed = request.notional + request.fee
        if needed > position.cash:
            return RiskDecision(
                False, f"insufficient cash: need {needed}, sleeve has {position.cash}"
            )
        if exchange_balances is not None and needed > exchange_balances.get("AUD", Decimal(0)):
            return RiskDecision(False, "insufficient AUD at the exchange")
    else:
        if request.quantity > position.quantity:
            return RiskDecision(
                False, f"insufficient holdings: sell {request.quantity}, hold {position.quantity}"
            )
        held = (
            None if exchange_balances is None else exchange_balances.get(request.coin, Decimal(0))
        )
        if held is not None and request.quantity > held:
            return RiskDecision(False, f"insufficient {request.coin} at the exchange")
    return ALLOWED
