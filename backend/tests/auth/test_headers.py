"""Security headers on the SPA and the API, HSTS only over TLS, body size limit, CORS."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.core.config import settings
from app.main import create_app

COMMON = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


@pytest.fixture(scope="module")
def spa_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    dist: Path = tmp_path_factory.mktemp("dist")
    (dist / "index.html").write_text("<!doctype html><div id=app></div>")
    with TestClient(create_app(spa_dist=dist)) as c:
        yield c


def test_spa_headers(spa_client: TestClient) -> None:
    for path in ("/", "/settings/security"):
        r = spa_client.get(path)
        assert r.status_code == 200
        for name, value in COMMON.items():
            assert r.headers[name] == value
        csp = dict(
            part.strip().split(" ", 1) for part in r.headers["content-security-policy"].split(";")
        )
        assert csp["script-src"] == "'self'", "no inline script, no eval"
        assert csp["frame-ancestors"] == "'none'"
        assert csp["object-src"] == "'none'"
        assert "strict-transport-security" not in r.headers, "no HSTS over plain HTTP"


def test_api_headers_and_hsts_over_tls(client: TestClient) -> None:
    r = client.get(f"{settings.API_V1_STR}/utils/health-check/")
    assert r.status_code == 200
    for name, value in COMMON.items():
        assert r.headers[name] == value
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
    r = client.get(f"{settings.API_V1_STR}/users/me")  # errors carry them too
    assert r.status_code == 401 and r.headers["x-frame-options"] == "DENY"
    with TestClient(client.app, base_url="https://testserver") as tls:
        r = tls.get(f"{settings.API_V1_STR}/utils/health-check/")
        assert r.headers["strict-transport-security"].startswith("max-age=31536000")


def test_body_size_limit(client: TestClient) -> None:
    big = "x" * (settings.MAX_REQUEST_BODY_BYTES + 1)
    r = client.post(
        f"{settings.API_V1_STR}/login/access-token", data={"username": big, "password": "p"}
    )
    assert r.status_code == 413
    assert "too large" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:
        for _ in range(settings.MAX_REQUEST_BODY_BYTES // 65536 + 2):
            yield b"y" * 65536

    r = client.post(
        f"{settings.API_V1_STR}/users/signup",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413, "a chunked body without Content-Length is counted too"


def test_cors_only_for_configured_origins(client: TestClient) -> None:
    url = f"{settings.API_V1_STR}/utils/health-check/"
    r = client.get(url, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    allowed = settings.all_cors_origins[0]
    r = client.get(url, headers={"Origin": allowed})
    assert r.headers["access-control-allow-origin"] == allowed
