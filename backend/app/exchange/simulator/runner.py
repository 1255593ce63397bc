"""Run the simulator in a background thread on a loopback port (tests, benchmarks, demos).

    with run_simulator(SimulatorConfig(seed=7)) as sim:
        client = CoinspotClient(sim.base_url)
        sim.admin.create_account({"AUD": "1000"})

The server is uvicorn on its own event loop in a daemon thread; port 0 picks a free
port. Leaving the block stops the server (in-flight "hang" faults are cut short).
"""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from app.exchange.simulator.admin_client import SimulatorAdmin
from app.exchange.simulator.app import create_simulator_app
from app.exchange.simulator.config import SimulatorConfig
from app.exchange.simulator.state import SimulatorState


@dataclass(frozen=True)
class RunningSimulator:
    base_url: str
    app: FastAPI
    admin: SimulatorAdmin

    @property
    def state(self) -> SimulatorState:
        """Direct access to the in-process state (engine, faults, log) for assertions."""
        state: SimulatorState = self.app.state.simulator
        return state


@contextmanager
def run_simulator(
    config: SimulatorConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout_seconds: float = 10.0,
) -> Iterator[RunningSimulator]:
    app = create_simulator_app(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            timeout_keep_alive=30,
        )
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="coinspot-simulator", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout_seconds
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the Coinspot simulator did not start")
        time.sleep(0.005)
    base_url = f"http://{host}:{bound_port}"
    admin = SimulatorAdmin(base_url)
    try:
        yield RunningSimulator(base_url=base_url, app=app, admin=admin)
    finally:
        admin.close()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
