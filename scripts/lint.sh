#!/usr/bin/env bash
# Static checks of the backend: ruff (lint + format check) and mypy (strict).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_backend_deps
cd "$BACKEND_DIR"
log "ruff check"
uv run --frozen ruff check app tests bench scripts
log "ruff format --check"
uv run --frozen ruff format --check app tests bench scripts
log "mypy"
uv run --frozen mypy app scripts bench tests
