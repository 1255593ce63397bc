"""Small readers for Floor tests."""

import uuid
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from app.core.db import engine
from app.floor.ledger import ExecutionRun, Order, Position, Trade


def orders_of(deployment_id: uuid.UUID) -> list[Order]:
    with Session(engine) as s:
        query = select(Order).where(col(Order.deployment_id) == deployment_id)
        return list(s.exec(query.order_by(col(Order.created_at))).all())


def trades_of(deployment_id: uuid.UUID) -> list[Trade]:
    with Session(engine) as s:
        query = select(Trade).where(col(Trade.deployment_id) == deployment_id)
        return list(s.exec(query.order_by(col(Trade.created_at))).all())


def position_of(deployment_id: uuid.UUID, coin: str = "BTC") -> Position:
    with Session(engine) as s:
        position = s.get(Position, (deployment_id, coin))
        assert position is not None
        return position


def runs_of(deployment_id: uuid.UUID) -> list[ExecutionRun]:
    with Session(engine) as s:
        query = select(ExecutionRun).where(col(ExecutionRun.deployment_id) == deployment_id)
        return list(s.exec(query.order_by(col(ExecutionRun.bar))).all())


def sim_fills(account_view: dict[str, Any]) -> list[dict[str, Any]]:
    fills = account_view["fills"]
    assert isinstance(fills, list)
    return fills


def dec(value: Any) -> Decimal:
    return Decimal(str(value))
