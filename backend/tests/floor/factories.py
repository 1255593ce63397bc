"""Rows for Floor tests: users, releases (of templates or small test algorithms),
deployments, collected prices and stored Coinspot keys, written directly to the database.

Trained releases get their model the way promotion does: fitted inside the sandbox
(`pool.fit`), the bytes stored as a `ReleaseArtefact` by their sha256 and never opened here.
"""

import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import sqlalchemy as sa
from pydantic import SecretStr
from sqlmodel import Session

from app.credentials import service as credentials_service
from app.credentials.models import CredentialCreate
from app.floor.models import DeployedAlgorithm
from app.lab.algorithms.models import Algorithm
from app.lab.releases.models import Release, ReleaseArtefact
from app.lab.sandbox.jobs import FitJob
from app.lab.sandbox.pool import SandboxPool
from app.lab.templates import get_template
from app.lab.validation import validate_code
from app.users.models import User
from tests.utils import create_random_user

BAR = timedelta(minutes=5)

HOLD_CODE = '''
import numpy as np
import pandas as pd

from app.lab.sdk import Algorithm, Float


class Hold(Algorithm):
    """Hold a constant fraction of the sleeve."""

    algorithm_type = "rule"
    fraction = Float(1.0, ge=0.0, le=1.0, description="Fraction to hold")

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.full(len(X), float(self.fraction))
'''


def make_user(db: Session) -> User:
    email, _ = create_random_user(db)
    user = db.exec(sa.select(User).where(User.email == email)).scalar_one()  # type: ignore[call-overload,arg-type]
    assert isinstance(user, User)
    return user


def make_release(
    db: Session,
    user: User,
    code: str,
    *,
    parameters: dict[str, Any] | None = None,
    algorithm_type: str = "rule",
    fee_rate: str = "0.01",
    slippage_bps: str = "0",
    min_order_aud: str = "0",
    warmup_bars: int = 60,
    models: dict[str, bytes] | None = None,
) -> Release:
    checked = validate_code(code)
    assert checked.valid, checked.errors
    assert checked.class_name is not None
    algorithm = Algorithm(
        user_id=user.id,
        name=f"algo-{uuid.uuid4().hex[:8]}",
        type=algorithm_type,
        parameters=parameters or {},
    )
    db.add(algorithm)
    db.flush()
    training = None
    if models is not None:
        digests = {}
        for coin, blob in models.items():
            digest = hashlib.sha256(blob).hexdigest()
            if db.get(ReleaseArtefact, digest) is None:
                db.add(ReleaseArtefact(sha256=digest, data=blob, size=len(blob)))
            digests[coin.upper()] = digest
        training = {"start": None, "end": None, "models": digests}
    code_hash = hashlib.sha256(code.encode()).hexdigest()
    release = Release(
        user_id=user.id,
        algorithm_id=algorithm.id,
        algorithm_version=1,
        algorithm_name=algorithm.name,
        algorithm_type=algorithm_type,
        class_name=checked.class_name,
        code=code,
        code_hash=code_hash,
        parameters=parameters or {},
        parameter_schema=checked.parameter_schema or {},
        costs={
            "execution_style": "instant",
            "fee_rate": fee_rate,
            "slippage_bps": slippage_bps,
            "min_order_aud": min_order_aud,
        },
        warmup_bars=warmup_bars,
        libraries={},
        training=training,
        evidence={},
        checklist=[],
        content_hash=hashlib.sha256(f"{code_hash}{uuid.uuid4()}".encode()).hexdigest(),
    )
    db.add(release)
    db.commit()
    db.refresh(release)
    return release


def template_release(db: Session, user: User, key: str, **options: Any) -> Release:
    template = get_template(key)
    assert template is not None
    return make_release(db, user, template.source, algorithm_type=template.type, **options)


async def fitted_model(
    pool: SandboxPool, code: str, frame: pd.DataFrame, params: dict[str, Any]
) -> bytes:
    result = await pool.fit(FitJob(code=code, frame=frame, params=params))
    return result.model


def make_deployment(
    db: Session,
    release: Release,
    *,
    mode: str = "paper",
    capital: str = "10000",
    coins: Sequence[str] = ("BTC",),
    allocation: dict[str, str] | None = None,
    parameters: dict[str, Any] | None = None,
    status: str = "active",
    schedule_bars: int = 1,
    execution_style: str = "instant",
) -> DeployedAlgorithm:
    share = str(Decimal(1) / len(coins))
    deployment = DeployedAlgorithm(
        release_id=release.id,
        algorithm_id=release.algorithm_id,
        user_id=release.user_id,
        name=f"dep-{uuid.uuid4().hex[:6]}",
        mode=mode,
        status=status,
        capital=Decimal(capital),
        coins=[c.upper() for c in coins],
        allocation=allocation or {c.upper(): share for c in coins},
        schedule_bars=schedule_bars,
        execution_style=execution_style,
        risk_limits={},
        parameters=parameters if parameters is not None else dict(release.parameters),
        acknowledged_real_money=mode == "live",
    )
    db.add(deployment)
    db.commit()
    db.refresh(deployment)
    return deployment


def seed_prices(
    db: Session,
    coin: str,
    end: datetime,
    bars: int,
    *,
    bid: str = "99000",
    ask: str = "100000",
) -> None:
    """`bars` flat 5-minute rows of `coin` ending at `end` (collector-style rows)."""
    rows = [
        {"t": end - i * BAR, "c": coin.upper(), "b": Decimal(bid), "a": Decimal(ask)}
        for i in range(bars)
    ]
    db.execute(
        sa.text(
            "INSERT INTO price_data_5min (timestamp, coin_type, bid, ask, last, source) "
            "VALUES (:t, :c, :b, :a, :a, 'synthetic') ON CONFLICT DO NOTHING"
        ),
        rows,
    )
    db.commit()


def store_keys(db: Session, user: User, api_key: str, api_secret: str) -> None:
    credentials_service.create(
        db,
        user_id=user.id,
        data=CredentialCreate(api_key=SecretStr(api_key), api_secret=SecretStr(api_secret)),
    )
