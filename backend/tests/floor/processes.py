"""Run Floor commands (`python -m app.floor.cli`) in real subprocesses against the test
database and the simulator, and kill them the way a crash would."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from app.core.db import engine

BACKEND_DIR = Path(__file__).resolve().parents[2]


def floor_env(base_url: str, app_name: str, uid_base: int) -> dict[str, str]:
    url = make_url(os.environ["DATABASE_URL"]).update_query_dict({"application_name": app_name})
    return {
        **os.environ,
        "DATABASE_URL": url.render_as_string(hide_password=False),
        "COINSPOT_BASE_URL": base_url,
        "COINSPOT_TIMEOUT_SECONDS": "120",
        "SANDBOX_WORKERS": "1",
        "SANDBOX_UID_BASE": str(uid_base),
        "FLOOR_EXECUTOR_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
    }


def start_cli(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "app.floor.cli", *args],
        cwd=BACKEND_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the sandbox children die with it
    )


def wait_for(
    condition: Callable[[], bool],
    what: str,
    proc: subprocess.Popen[bytes] | None = None,
    timeout: float = 300.0,
) -> None:
    """Poll until `condition` holds (the subprocess reached a state), or fail; a subprocess
    that exited meanwhile fails at once with its output."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the process exited first: {out!r} {err.decode()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def crash(proc: subprocess.Popen[bytes], app_name: str) -> None:
    """SIGKILL the process group, then end its database sessions as PostgreSQL does when it
    notices the client is gone (a backend blocked on a lock only notices later). Only this
    test database's sessions: another xdist worker or test run may use the same name."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    with engine.connect() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = :n AND datname = current_database()"
            ),
            {"n": app_name},
        )
        conn.commit()

    def gone() -> bool:
        with engine.connect() as c:
            return not c.execute(
                sa.text(
                    "SELECT 1 FROM pg_stat_activity"
                    " WHERE application_name = :n AND datname = current_database()"
                ),
                {"n": app_name},
            ).first()

    wait_for(gone, "the killed process's database sessions to end")
