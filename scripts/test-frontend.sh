#!/usr/bin/env bash
# Frontend checks: type check, unit tests (Vitest), production build, and browser tests
# (Playwright driving Debian's headless chromium) against the real backend on a free port.
#   DATABASE_URL=postgresql://…/scratch_db scripts/test-frontend.sh [playwright args, e.g. e2e/promote.spec.ts]
# scripts/test.sh calls this with a fresh database it drops afterwards.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -n "${DATABASE_URL:-}" ] || die "DATABASE_URL must point at a scratch database for the browser tests"

ensure_backend_deps
ensure_frontend_deps
ensure_chromium

cd "$FRONTEND_DIR"
log "frontend type check (vue-tsc)"
npm run --silent type-check
log "frontend unit tests (vitest)"
npm run --silent test:unit
ensure_frontend_build
log "bundle size (initial JavaScript, gzipped)"
npm run --silent bundle-size

# A backend of our own, on a free port, with throwaway secrets and a known superuser.
VENV_BIN="$BACKEND_DIR/.venv/bin"
E2E_PORT="$("$VENV_BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
E2E_PASSWORD="$("$VENV_BIN/python" -c 'import secrets; print(secrets.token_urlsafe(16))')"
export ENVIRONMENT=local
export E2E_EMAIL="e2e-admin@example.com" E2E_PASSWORD
export FIRST_SUPERUSER="$E2E_EMAIL" FIRST_SUPERUSER_PASSWORD="$E2E_PASSWORD"
export SECRET_KEY="$("$VENV_BIN/python" -c 'import secrets; print(secrets.token_urlsafe(32))')"
export CREDENTIALS_ENCRYPTION_KEYS="$("$VENV_BIN/python" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
export COLLECTOR_ENABLED=false
export COINSPOT_BASE_URL="http://127.0.0.1:9"
# The Floor journeys decide each cycle on purpose (the executor's CLI on a chosen bar), so the
# scheduler stays off; a live deployment needs 18 s on paper here (not 24 h), and an order the
# simulator executes without answering becomes `unknown` after 3 s instead of 30.
export FLOOR_EXECUTOR_ENABLED=false FLOOR_LIVE_MIN_PAPER_HOURS=0.005 COINSPOT_TIMEOUT_SECONDS=3
export E2E_BACKEND_DIR="$BACKEND_DIR"

(cd "$BACKEND_DIR" && "$VENV_BIN/alembic" upgrade head >/dev/null && "$VENV_BIN/python" -m app.initial_data \
  && "$VENV_BIN/python" -m app.collector.cli generate-demo --days 21 --coins 4 --seed 3 >/dev/null)
# The Coinspot simulator on a free port, with one funded account whose keys the credentials
# journey stores and validates (E2E_COINSPOT_KEY / E2E_COINSPOT_SECRET).
SIM_PORT="$("$VENV_BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export E2E_COINSPOT_KEY="e2e-$("$VENV_BIN/python" -c 'import secrets; print(secrets.token_hex(12))')"
export E2E_COINSPOT_SECRET="$("$VENV_BIN/python" -c 'import secrets; print(secrets.token_hex(24))')"
SIM_LOG="$REPO_ROOT/.omc/e2e-simulator.log"
(cd "$BACKEND_DIR" && exec "$VENV_BIN/python" -m app.exchange.simulator --host 127.0.0.1 --port "$SIM_PORT" \
  --coins 4 --account "$E2E_COINSPOT_KEY:$E2E_COINSPOT_SECRET" --fund AUD=2500 --fund BTC=0.05 --log-level warning) >"$SIM_LOG" 2>&1 &
SIM_PID=$!
export COINSPOT_BASE_URL="http://127.0.0.1:$SIM_PORT" E2E_SIMULATOR_URL="http://127.0.0.1:$SIM_PORT"

BACKEND_LOG="$REPO_ROOT/.omc/e2e-backend.log"
(cd "$BACKEND_DIR" && exec "$VENV_BIN/uvicorn" app.main:app --host 127.0.0.1 --port "$E2E_PORT") >"$BACKEND_LOG" 2>&1 &
BACKEND_PID=$!
trap 'kill "$BACKEND_PID" "$SIM_PID" 2>/dev/null || true; wait "$BACKEND_PID" "$SIM_PID" 2>/dev/null || true' EXIT

export E2E_BASE_URL="http://127.0.0.1:$E2E_PORT"
"$VENV_BIN/python" - "$E2E_BASE_URL/api/v1/utils/health-check/" "$BACKEND_PID" <<'PY' || { cat "$BACKEND_LOG" >&2; die "the backend for the browser tests did not start"; }
import os, sys, time, urllib.request
url, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 240  # importing the app is slow on a busy machine
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit("backend exited")
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                sys.exit(0)
    except OSError:
        time.sleep(0.2)  # polling a server that is still starting
sys.exit("backend not ready after 240 s")
PY

"$VENV_BIN/python" - "$COINSPOT_BASE_URL/pubapi/v2/latest" <<'PY' || { cat "$SIM_LOG" >&2; die "the Coinspot simulator did not start"; }
import sys, time, urllib.request
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
            if response.status == 200:
                sys.exit(0)
    except OSError:
        time.sleep(0.2)  # polling a server that is still starting
sys.exit("simulator not ready after 30 s")
PY

log "browser tests (playwright + $(chromium_path))"
CHROMIUM_PATH="$(chromium_path)" npx --no-install playwright test "$@"
