#!/usr/bin/env bash
# Regenerate the web app's typed API client from the backend's OpenAPI schema.
# Run after changing any route or schema, then commit frontend/openapi.json and frontend/src/client.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_backend_deps
ensure_frontend_deps
log "dumping the OpenAPI schema"
(cd "$BACKEND_DIR" && uv run --frozen --quiet python -c \
  'import json; from app.main import app; print(json.dumps(app.openapi(), indent=2))') \
  >"$FRONTEND_DIR/openapi.json"
log "generating frontend/src/client"
(cd "$FRONTEND_DIR" && npx --no-install openapi-ts)
