"""No response, log record or log output carries the secret or the whole key.

The app runs under a real uvicorn server (so uvicorn's access and error logging is
in play) and every credentials route is exercised, success and error paths, with all
loggers at DEBUG (httpx and httpcore included) while it validates against the simulator.
"""

import http.client
import logging
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from app.core.config import settings
from app.core.logging import KeyValueFormatter
from app.credentials.safe_errors import RedactCredentialsQueryFilter
from app.exchange.simulator import RunningSimulator
from app.main import app
from tests.credentials.helpers import API, Owner, raw_row, set_columns

WATCHED_LOGGERS = ("", "app", "httpx", "httpcore", "uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture(scope="module")
def app_server(client: TestClient) -> Iterator[str]:  # noqa: ARG001
    """The real app under uvicorn. `client` has already run the app's start-up hooks."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, log_level="debug", access_log=True, lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "app server did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture()
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog at DEBUG on every logger, also those that do not propagate (uvicorn's)."""
    for name in WATCHED_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name or None)
    attached = [logging.getLogger(n) for n in WATCHED_LOGGERS if n and n != "app"]
    for logger in attached:
        logger.addHandler(caplog.handler)
    yield caplog
    for logger in attached:
        logger.removeHandler(caplog.handler)


def _query_get(base_url: str, path: str, headers: dict[str, str], query: dict[str, str]) -> str:
    """A GET without httpx, so the test's own client does not log the URL it sends."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request("GET", f"{path}?{urlencode(query)}", headers=headers)
        response = conn.getresponse()
        return f"{response.status} {response.getheaders()} {response.read().decode()}"
    finally:
        conn.close()


def _garbage_request(base_url: str, secret: str) -> bytes:
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=10) as s:
        s.sendall(f"POST {API} HTTP/1.1\r\nHost: x\r\nBad Header {secret}\r\n\r\n".encode())
        return s.recv(4096)


def test_no_secret_in_any_response_or_log(
    app_server: str,
    owner: Owner,
    simulator: RunningSimulator,
    all_logs: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = simulator.admin.create_account({"AUD": "250", "ETH": "3"})
    key, secret = account.api_key, account.api_secret
    wrong_secret = "0badc0de" * 8
    h = owner.headers
    body = {"label": "leak test", "api_key": key, "api_secret": secret}
    seen: list[str] = []

    with httpx.Client(base_url=app_server, timeout=30) as http:

        def call(method: str, url: str, expect: int, **kw: object) -> httpx.Response:
            r = http.request(method, url, **kw)  # type: ignore[arg-type]
            seen.append(f"{r.status_code} {dict(r.headers)} {r.text}")
            assert r.status_code == expect, (method, url, r.text)
            return r

        call("POST", API, 401, json=body)
        call("POST", API, 401, json=body, headers={"Authorization": f"Bearer {secret}"})
        call("POST", API, 422, headers=h, json={**body, "api_secret": secret + "é"})
        call("POST", API, 422, headers=h, json={**body, "api_key": key * 6})
        call("POST", API, 422, headers=h, json={**body, "secret": secret})
        call("POST", API, 422, headers=h, json=[key, secret])
        malformed = f'{{"api_key": "{key}", "api_secret": "{secret}"'
        call("POST", API, 422, headers={**h, "Content-Type": "application/json"}, content=malformed)
        call("POST", API, 201, headers=h, json=body)
        call("POST", API, 409, headers=h, json=body)
        call("GET", API, 200, headers=h)
        seen.append(_query_get(app_server, API, h, {"api_key": key, "api_secret": secret}))
        call("PATCH", API, 405, headers=h, json=body)
        call("PUT", API, 422, headers=h, json={"api_secret": secret + "\u00a0x"})
        call("PUT", API, 200, headers=h, json={"api_key": key, "api_secret": secret})

        assert call("POST", f"{API}/validate", 200, headers=h).json()["valid"] is True
        call("PUT", API, 200, headers=h, json={"api_secret": wrong_secret})
        r = call("POST", f"{API}/validate", 200, headers=h)
        assert r.json()["status"] == "invalid_signature"
        call("PUT", API, 200, headers=h, json={"api_secret": secret})
        simulator.admin.fail_next(1, path="/api/v2/ro/my/balances")
        r = call("POST", f"{API}/validate", 200, headers=h)
        assert r.json()["status"] == "exchange_unavailable"
        monkeypatch.setattr(settings, "CREDENTIALS_VALIDATE_PER_MINUTE", 3)
        call("POST", f"{API}/validate", 429, headers=h)
        call("GET", f"{API}/audit", 200, headers=h)

        row = raw_row(owner.id)
        assert row is not None
        set_columns(owner.id, api_secret_encrypted=str(row["api_key_encrypted"]))
        call("GET", API, 409, headers=h)
        call("PUT", API, 409, headers=h, json={"label": "x"})
        call("DELETE", API, 200, headers=h)
        call("DELETE", API, 404, headers=h)
        call("POST", f"{API}/validate", 404, headers=h)

        seen.append(_garbage_request(app_server, secret).decode(errors="replace"))

    formatter = KeyValueFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    lines = [formatter.format(record) for record in all_logs.records]
    out, err = capfd.readouterr()
    everything = "\n".join([*seen, *lines, out, err])

    # The capture really saw each layer: app, exchange client (httpx), uvicorn.
    names = {record.name for record in all_logs.records}
    assert {"app.credentials.routes", "app.credentials.validation", "httpx"} <= names
    assert any(n.startswith("httpcore") for n in names)
    assert "uvicorn.access" in names and "uvicorn.error" in names
    assert "/api/v2/ro/my/balances" in everything  # the exchange calls were logged
    assert "Invalid HTTP request received" in everything  # uvicorn's own error path
    assert f"{API}?<redacted>" in everything  # the query string was cut from the access log

    for needle in (secret, key, wrong_secret):
        assert needle not in everything
    # Not even a long prefix of the secret.
    assert secret[:24] not in everything


@pytest.mark.usefixtures("client")  # its start-up ran the hooks
def test_access_log_filter_is_installed_at_startup() -> None:
    filters = [
        f
        for f in logging.getLogger("uvicorn.access").filters
        if isinstance(f, RedactCredentialsQueryFilter)
    ]
    assert len(filters) == 1
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4:5", "GET", f"{API}?api_secret=abc", "1.1", 200), None,
    )  # fmt: skip
    filters[-1].filter(record)
    assert "abc" not in record.getMessage() and "<redacted>" in record.getMessage()
    other = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4:5", "GET", "/api/v1/prices?coin=BTC", "1.1", 200), None,
    )  # fmt: skip
    filters[-1].filter(other)
    assert "coin=BTC" in other.getMessage()  # other routes keep their query strings


def test_openapi_marks_secrets_write_only_and_has_no_examples(client: TestClient) -> None:
    spec = client.get(f"{settings.API_V1_STR}/openapi.json").json()
    create = spec["components"]["schemas"]["CredentialCreate"]["properties"]
    for field in ("api_key", "api_secret"):
        assert create[field]["writeOnly"] is True
        assert create[field]["format"] == "password"
    update = spec["components"]["schemas"]["CredentialUpdate"]["properties"]
    assert update["api_secret"]["anyOf"][0]["writeOnly"] is True
    public = spec["components"]["schemas"]["CredentialPublic"]["properties"]
    assert "api_secret" not in public and "api_key" not in public

    def walk(node: object) -> Iterator[str]:
        if isinstance(node, dict):
            for k, v in node.items():
                yield k
                yield from walk(v)
        elif isinstance(node, list):
            for v in node:
                yield from walk(v)

    credential_parts = [p for path, p in spec["paths"].items() if "/credentials" in path] + [
        s for name, s in spec["components"]["schemas"].items() if name.startswith("Credential")
    ]
    assert credential_parts
    assert not {"example", "examples"} & set(walk(credential_parts))
