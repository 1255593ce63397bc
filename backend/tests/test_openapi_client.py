"""The web app's generated client must describe the API the backend actually serves."""

import json
from pathlib import Path

from app.main import app

SCHEMA = Path(__file__).resolve().parents[2] / "frontend" / "openapi.json"


def test_committed_openapi_schema_matches_the_app() -> None:
    committed = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert committed == app.openapi(), (
        "frontend/openapi.json is stale: run scripts/generate-client.sh and commit the result"
    )


def test_generated_client_covers_every_operation() -> None:
    sdk = (SCHEMA.parent / "src" / "client" / "sdk.gen.ts").read_text(encoding="utf-8")
    paths = app.openapi()["paths"]
    for path in paths:
        assert f"url: '{path}'" in sdk, f"{path} missing from the generated client"
