"""Hostile user code: every attack is refused by the static check or stopped by the walls
of the sandbox child, with a clear error; the pool replaces the worker and stays usable,
and the API answers while an attack runs."""

import asyncio
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import app
from app.core.config import settings
from app.lab.sandbox import (
    CodeRejectedError,
    Limits,
    PredictJob,
    ResourceLimitError,
    SandboxError,
    SandboxPool,
    UserCodeError,
)

pytestmark = pytest.mark.anyio

HEADER = (
    "import numpy as np\nimport pandas as pd\nfrom app.lab.sdk import Algorithm, to_positions\n\n"
)


def algorithm(body: str, *, module: str = "") -> str:
    """Lab code whose predict runs `body` (indented) and then returns flat positions."""
    lines = "\n".join("        " + line for line in body.strip().splitlines())
    return (
        HEADER
        + module
        + '\n\nclass Attack(Algorithm):\n    algorithm_type = "rule"\n\n'
        + "    def predict(self, X):\n"
        + lines
        + "\n        return pd.Series(0.0, index=X.index)\n"
    )


STATIC_ATTACKS = {
    "socket": ("import socket", "socket"),
    "os": ("import os", "os"),
    "subprocess": ("import subprocess", "subprocess"),
    "ctypes": ("import ctypes", "ctypes"),
    "importlib": ("import importlib", "importlib"),
    "from_os": ("from os import system", "os"),
    "dunder_import": ("__import__('os')", "__import__"),
    "eval": ("eval('1 + 1')", "eval"),
    "exec": ("exec('x = 1')", "exec"),
    "open": ("open('/etc/passwd').read()", "open"),
    "class_bases": ("().__class__.__bases__[0].__subclasses__()", "__class__"),
    "globals": ("self.predict.__globals__", "__globals__"),
    "getattr_dunder": ("getattr(self, '__class__')", "getattr"),
    "fork_loop": ("import os\nwhile True:\n    os.fork()", "os"),
    "multiprocessing": ("import multiprocessing", "multiprocessing"),
    "numpy_ctypes": ("np.ctypeslib.load_library('libc', '/lib')", "ctypeslib"),
    "pandas_os": ("pd.io.common.os.system('id')", "os"),
}


@pytest.mark.parametrize("name", sorted(STATIC_ATTACKS))
async def test_static_check_refuses_the_attack_with_its_line(
    pool: SandboxPool, coin_frame: pd.DataFrame, name: str
) -> None:
    body, word = STATIC_ATTACKS[name]
    code = algorithm(body)
    with pytest.raises(CodeRejectedError) as refused:
        await pool.predict(PredictJob(code=code, frame=coin_frame))
    errors = refused.value.validation.errors
    assert errors, name
    first = body.splitlines()[0].strip()
    attack_line = next(
        i for i, line in enumerate(code.splitlines(), start=1) if line.strip() == first
    )
    assert any(e.line == attack_line for e in errors), (name, [e.model_dump() for e in errors])
    assert any(word.strip("_") in e.message for e in errors), [e.message for e in errors]


def test_the_walls_are_verified_by_the_pools_self_test(pool: SandboxPool) -> None:
    """The forkserver's probe child raised every wall and then tried, for real, to read
    /etc/passwd and the app's files, write outside its directory, open TCP, UDP and Unix
    sockets and fork: each wall reports active only if that attempt failed."""
    status = pool.status()
    assert status["verified"] is True
    assert status["user_code_allowed"] is True
    walls = status["walls"]
    for wall in (
        "separate_process",
        "clean_environment",
        "network_namespace",
        "unprivileged_uid",
        "resource_limits",
        "landlock_filesystem",
        "seccomp",
    ):
        assert walls[wall]["active"], (wall, walls[wall])
    # The code policy is listed apart: it does not hold on its own.
    assert "import_allowlist" not in walls and "static_check" not in walls
    assert set(status["policy"]) == {"static_check", "import_policy"}


async def test_an_infinite_loop_is_stopped_by_the_time_limit_and_the_pool_recovers(
    pool: SandboxPool, coin_frame: pd.DataFrame
) -> None:
    code = algorithm("while True:\n    pass")
    started = time.monotonic()
    with pytest.raises(ResourceLimitError) as stopped:
        await pool.predict(
            PredictJob(code=code, frame=coin_frame, limits=Limits(cpu_seconds=2, wall_seconds=4))
        )
    assert stopped.value.limit in ("cpu", "wall")
    assert time.monotonic() - started < 15
    await _still_works(pool, coin_frame)


async def test_a_job_cannot_loosen_the_configured_limits(
    pool: SandboxPool, coin_frame: pd.DataFrame
) -> None:
    looser = Limits(cpu_seconds=600, wall_seconds=30, memory_mb=2048, max_processes=4)
    with pytest.raises(ValueError, match="exceeds the configured limit"):
        await pool.predict(PredictJob(code=algorithm("pass"), frame=coin_frame, limits=looser))


async def test_burning_cpu_is_reported_as_the_cpu_limit(
    pool: SandboxPool, coin_frame: pd.DataFrame
) -> None:
    code = algorithm("total = 0\nwhile True:\n    total += 1")
    limits = Limits(cpu_seconds=1, wall_seconds=25, memory_mb=2048, max_processes=4)
    with pytest.raises(ResourceLimitError) as stopped:
        await pool.predict(PredictJob(code=code, frame=coin_frame, limits=limits))
    assert stopped.value.limit == "cpu"
    assert "CPU" in str(stopped.value)
    await _still_works(pool, coin_frame)


async def test_a_sleeping_job_is_stopped_by_the_wall_clock(
    pool: SandboxPool, coin_frame: pd.DataFrame
) -> None:
    code = algorithm("import time\ntime.sleep(60)")
    try:
        await pool.predict(
            PredictJob(code=code, frame=coin_frame, limits=Limits(cpu_seconds=5, wall_seconds=2))
        )
    except CodeRejectedError:
        return  # `time` not being importable is an acceptable refusal too
    except ResourceLimitError as stopped:
        assert stopped.limit == "wall"
    else:
        raise AssertionError("a 60 s sleep finished inside a 2 s wall limit")
    await _still_works(pool, coin_frame)


async def test_allocating_8_gib_is_stopped_by_the_memory_limit(
    pool: SandboxPool, coin_frame: pd.DataFrame
) -> None:
    code = algorithm("big = np.ones(8 * 1024**3 // 8)\nbig[::4096] = 2")
    with pytest.raises((ResourceLimitError, UserCodeError)) as stopped:
        limits = Limits(cpu_seconds=10, wall_seconds=20, memory_mb=1024, max_processes=4)
        await pool.predict(PredictJob(code=code, frame=coin_frame, limits=limits))
    error = stopped.value
    assert (
        isinstance(error, ResourceLimitError) and error.limit == "memory"
    ) or "MemoryError" in str(error)
    await _still_works(pool, coin_frame)


APP_DIR = Path(app.__file__).resolve().parent
RUNTIME_ATTACKS = {
    # Each passes the static check (only allowed modules and names) and must be stopped by a
    # wall at run time: the file system, the network or the process limits.
    "read_passwd_via_pandas": "pd.read_csv('/etc/passwd', sep=':', header=None)",
    "read_app_settings_via_numpy": f"np.loadtxt('{APP_DIR / 'core' / 'config.py'}', dtype=str, delimiter='|')",
    "read_env_file": f"pd.read_csv('{APP_DIR.parents[1] / '.env.example'}')",
    "write_outside_tmp": "pd.DataFrame({'a': [1]}).to_csv('/tmp/omc-escape.csv')",
    "read_proc_environ": "pd.read_csv('/proc/1/environ', header=None)",
}


@pytest.mark.parametrize("name", sorted(RUNTIME_ATTACKS))
async def test_file_access_through_allowed_libraries_is_stopped_at_run_time(
    pool: SandboxPool, coin_frame: pd.DataFrame, name: str
) -> None:
    code = algorithm(RUNTIME_ATTACKS[name])
    with pytest.raises(SandboxError) as stopped:
        await pool.predict(PredictJob(code=code, frame=coin_frame))
    message = str(stopped.value)
    assert any(
        word in message
        for word in ("Permission", "denied", "not allowed", "rejected", "No such file")
    ), message
    await _still_works(pool, coin_frame)


async def test_user_exceptions_come_back_with_a_traceback_of_the_users_code(
    pool: SandboxPool, coin_frame: pd.DataFrame
) -> None:
    code = algorithm("x = 1\nraise ValueError('bad window')")
    with pytest.raises(UserCodeError) as failed:
        await pool.predict(PredictJob(code=code, frame=coin_frame))
    error = failed.value
    assert error.error_type == "ValueError" and "bad window" in error.message
    raise_line = next(
        i for i, line in enumerate(code.splitlines(), start=1) if "raise ValueError" in line
    )
    assert error.line == raise_line
    assert "bad window" in error.traceback
    assert "app/lab/sandbox" not in error.traceback  # trimmed to the user's frames


async def test_positions_outside_0_1_or_nan_are_a_clear_error(
    pool: SandboxPool, coin_frame: pd.DataFrame
) -> None:
    bad = HEADER + (
        'class Bad(Algorithm):\n    algorithm_type = "rule"\n\n'
        "    def predict(self, X):\n        return pd.Series(np.nan, index=X.index)\n"
    )
    with pytest.raises(UserCodeError) as failed:
        await pool.predict(PredictJob(code=bad, frame=coin_frame))
    assert failed.value.kind == "positions"


def test_the_api_answers_within_a_second_during_an_attack(
    client: TestClient, pool: SandboxPool, coin_frame: pd.DataFrame
) -> None:
    attack = algorithm("while True:\n    x = np.ones(10_000).sum()")
    outcome: list[BaseException | None] = []

    def run_attack() -> None:
        try:
            asyncio.run(
                pool.predict(
                    PredictJob(
                        code=attack, frame=coin_frame, limits=Limits(cpu_seconds=4, wall_seconds=6)
                    )
                )
            )
            outcome.append(None)
        except BaseException as error:
            outcome.append(error)

    attacker = threading.Thread(target=run_attack)
    attacker.start()
    latencies: list[float] = []
    try:
        while attacker.is_alive() and len(latencies) < 20:
            started = time.monotonic()
            response = client.get(f"{settings.API_V1_STR}/utils/health-check/")
            latencies.append(time.monotonic() - started)
            assert response.status_code == 200
    finally:
        attacker.join(timeout=30)
    assert latencies, "the attack ended before any request was made"
    assert max(latencies) < 1.0, latencies
    assert outcome and isinstance(outcome[0], ResourceLimitError)


async def _still_works(pool: SandboxPool, frame: pd.DataFrame) -> None:
    ok = HEADER + (
        'class Flat(Algorithm):\n    algorithm_type = "rule"\n\n'
        "    def predict(self, X):\n        return pd.Series(0.5, index=X.index)\n"
    )
    result = await pool.predict(PredictJob(code=ok, frame=frame))
    assert result.positions.shape == (len(frame),)
    assert float(result.positions.mean()) == 0.5
