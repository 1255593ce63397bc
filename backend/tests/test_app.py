"""Health, docs, the SPA mount and settings guards."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.core.config import Settings
from app.main import create_app


def test_health_check_true(client: TestClient) -> None:
    r = client.get("/api/v1/utils/health-check/")
    assert r.status_code == 200
    assert r.json() is True


def test_docs_and_openapi(client: TestClient) -> None:
    assert "swagger" in client.get("/docs").text.lower()
    assert client.get("/api/v1/openapi.json").json()["info"]["title"] == "Oh My Coins"


def test_unknown_api_route_is_json_404(client: TestClient) -> None:
    r = client.get("/api/v1/does-not-exist")
    assert r.status_code == 404
    assert r.json() == {"detail": "Not Found"}


def test_spa_fallback_and_assets(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<html>omc-spa</html>")
    (tmp_path / "assets" / "app.js").write_text("console.log(1)")
    (tmp_path.parent / "secret.txt").write_text("nope")
    with TestClient(create_app(spa_dist=tmp_path)) as c:
        assert "omc-spa" in c.get("/").text
        assert "omc-spa" in c.get("/lab/algorithms/42").text
        assert c.get("/assets/app.js").text == "console.log(1)"
        assert "nope" not in c.get("/../secret.txt").text
        assert "nope" not in c.get("/%2e%2e/secret.txt").text


def test_spa_missing_build_gives_clear_404(tmp_path: Path) -> None:
    with TestClient(create_app(spa_dist=tmp_path / "none")) as c:
        r = c.get("/")
        assert r.status_code == 404
        assert "not built" in r.json()["detail"]


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_default_secret_refused_outside_local(environment: str) -> None:
    with pytest.raises(ValidationError, match="changethis"):
        Settings(ENVIRONMENT=environment, SECRET_KEY="changethis", _env_file=None)


def test_production_requires_encryption_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDENTIALS_ENCRYPTION_KEYS", raising=False)
    with pytest.raises(ValidationError, match="CREDENTIALS_ENCRYPTION_KEYS"):
        Settings(
            ENVIRONMENT="production",
            SECRET_KEY="a-real-secret-key-value",
            FIRST_SUPERUSER_PASSWORD="a-real-password",
            _env_file=None,
        )


def test_database_url_is_normalised_to_psycopg() -> None:
    s = Settings(DATABASE_URL="postgresql://u@h:5/d", _env_file=None)
    assert s.SQLALCHEMY_DATABASE_URI == "postgresql+psycopg://u@h:5/d"
    s = Settings(DATABASE_URL=None, POSTGRES_SERVER="db", POSTGRES_DB="x", _env_file=None)
    assert s.SQLALCHEMY_DATABASE_URI.startswith("postgresql+psycopg://postgres@db:5432/x")
