"""Run the app in a separate uvicorn process against the test database (another replica)."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

BACKEND_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def app_process(**env: str) -> Iterator[str]:
    """Start `uvicorn app.main:app` on a free port; yields its base URL (http://...)."""
    port = free_port()
    environ = {
        **os.environ,
        "COLLECTOR_ENABLED": "false",
        "BACKTEST_WORKER_ENABLED": "false",
        "ALERT_SCHEDULER_ENABLED": "false",
        **env,
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "tests.events.replica_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=BACKEND_DIR,
        env=environ,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"app process exited with {proc.returncode}")
            try:
                if httpx.get(f"{base}/api/v1/utils/health-check/", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("app process did not start in 90 s")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
