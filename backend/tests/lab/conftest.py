"""Lab fixtures: one sandbox pool for the test session (its forkserver takes seconds to
start; every job still gets a fresh walled child) and small price frames."""

from collections.abc import Iterator

import pandas as pd
import pytest

from app.lab.engine.synthetic import synthetic_price_frame
from app.lab.sandbox import Limits, SandboxPool


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def pool() -> Iterator[SandboxPool]:
    sandbox = SandboxPool(
        workers=2,
        limits=Limits(cpu_seconds=20, wall_seconds=30, memory_mb=2048, max_processes=4),
        uid_base=61000,
    )
    sandbox.start()
    yield sandbox
    sandbox.close()


@pytest.fixture(scope="session")
def coin_frame() -> pd.DataFrame:
    """Two weeks of one coin's 5-minute bars: columns bid/ask/last."""
    frame = synthetic_price_frame(["BTC"], bars=4032, seed=11)
    single = frame.xs("BTC", axis=1, level=0)
    assert isinstance(single, pd.DataFrame)
    return single
