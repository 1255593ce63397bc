#!/usr/bin/env bash
# Run Oh My Coins: installs what is missing, brings up PostgreSQL, migrates, serves API + SPA.
#   scripts/run.sh            collect from the real Coinspot
#   scripts/run.sh --demo     start the Coinspot simulator beside the app and load demo history
# Settings come from the environment and the repo-root .env (see .env.example).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DEMO=0
for arg in "$@"; do
  case "$arg" in
    --demo) DEMO=1 ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) die "unknown option: $arg (try --help)" ;;
  esac
done

load_env
ensure_backend_deps
ensure_frontend_build

# Secrets that must survive restarts (tokens, encrypted credentials) are generated once
# into .omc/secrets.env (git-ignored) unless the environment or .env provides them.
SECRETS_FILE="$STATE_DIR/secrets.env"
if [ ! -f "$SECRETS_FILE" ]; then
  (umask 077 && cd "$BACKEND_DIR" && uv run --frozen --quiet python - >"$SECRETS_FILE" <<'PY'
import secrets
from cryptography.fernet import Fernet
print(f"OMC_GEN_SECRET_KEY={secrets.token_urlsafe(32)}")
print(f"OMC_GEN_SUPERUSER_PASSWORD={secrets.token_urlsafe(12)}")
print(f"OMC_GEN_ENCRYPTION_KEY={Fernet.generate_key().decode()}")
PY
  )
fi
. "$SECRETS_FILE"
export SECRET_KEY="${SECRET_KEY:-$OMC_GEN_SECRET_KEY}"
export FIRST_SUPERUSER="${FIRST_SUPERUSER:-admin@example.com}"
export FIRST_SUPERUSER_PASSWORD="${FIRST_SUPERUSER_PASSWORD:-$OMC_GEN_SUPERUSER_PASSWORD}"
export CREDENTIALS_ENCRYPTION_KEYS="${CREDENTIALS_ENCRYPTION_KEYS:-$OMC_GEN_ENCRYPTION_KEY}"
PORT="${PORT:-8000}"

CHILD_PIDS=()
cleanup() {
  for pid in "${CHILD_PIDS[@]:-}"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  stop_embedded_pg
}
trap cleanup EXIT
trap 'exit 130' INT TERM
VENV_BIN="$BACKEND_DIR/.venv/bin"

if [ -z "${DATABASE_URL:-}" ] && [ -z "${POSTGRES_SERVER:-}" ]; then
  log "no DATABASE_URL given: starting the embedded PostgreSQL in .omc/pgdata"
  start_embedded_pg "$STATE_DIR/pgdata" omc
  export DATABASE_URL="$EMBEDDED_PG_URL"
fi

if [ "$DEMO" = 1 ]; then
  SIM_PORT="${SIMULATOR_PORT:-8900}"
  log "demo mode: starting the Coinspot simulator on port $SIM_PORT"
  (cd "$BACKEND_DIR" && exec "$VENV_BIN/python" -m app.exchange.simulator \
    --host 127.0.0.1 --port "$SIM_PORT") &
  CHILD_PIDS+=("$!")
  export COINSPOT_BASE_URL="http://127.0.0.1:$SIM_PORT"
fi

cd "$BACKEND_DIR"
log "applying database migrations"
uv run --frozen --quiet alembic upgrade head
uv run --frozen --quiet python -m app.initial_data

if [ "$DEMO" = 1 ] && uv run --frozen --quiet python -c "import app.collector.cli" 2>/dev/null; then
  uv run --frozen --quiet python -m app.collector.cli generate-demo --if-empty
fi

cat >&2 <<MSG

  Oh My Coins is starting
  ─────────────────────────────────────────────
  App:      http://localhost:$PORT
  Swagger:  http://localhost:$PORT/docs
  Login:    $FIRST_SUPERUSER / $FIRST_SUPERUSER_PASSWORD
  Exchange: ${COINSPOT_BASE_URL:-https://www.coinspot.com.au}
  Stop with Ctrl-C.

MSG
"$VENV_BIN/uvicorn" app.main:app --host "${HOST:-0.0.0.0}" --port "$PORT" &
SERVER_PID=$!
CHILD_PIDS+=("$SERVER_PID")
# Ctrl-C or TERM: let uvicorn shut down gracefully, then the EXIT trap stops the rest.
trap 'kill -TERM "$SERVER_PID" 2>/dev/null || true' INT TERM
while kill -0 "$SERVER_PID" 2>/dev/null; do wait "$SERVER_PID" || true; done
