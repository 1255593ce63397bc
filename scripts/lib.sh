# Shared helpers for scripts/run.sh and scripts/test.sh (sourced, not run).
# shellcheck shell=bash

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BACKEND_DIR="$REPO_ROOT/backend"
FRONTEND_DIR="$REPO_ROOT/frontend"
STATE_DIR="$REPO_ROOT/.omc"
mkdir -p "$STATE_DIR"

log() { printf '\033[1;34m[omc]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[omc] error:\033[0m %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else return 1; fi
}

# uv manages the Python toolchain and the locked backend environment.
ensure_uv() {
  if command -v uv >/dev/null 2>&1; then return; fi
  export PATH="$HOME/.local/bin:$PATH"
  if command -v uv >/dev/null 2>&1; then return; fi
  log "installing uv (Python package manager)"
  local py
  py="$(command -v python3 || true)"
  [ -n "$py" ] || die "python3 is required"
  "$py" -m pip install --quiet --user uv 2>/dev/null || "$py" -m pip install --quiet uv \
    || "$py" -m pip install --quiet --break-system-packages uv || die "could not install uv"
  hash -r
  command -v uv >/dev/null 2>&1 || export PATH="$("$py" -m site --user-base)/bin:$PATH"
  command -v uv >/dev/null 2>&1 || die "uv installed but not on PATH"
}

# `uv sync --frozen` is a no-op when the lock and the venv already agree.
ensure_backend_deps() {
  ensure_uv
  (cd "$BACKEND_DIR" && uv sync --frozen --quiet "$@") || die "backend dependencies failed to install"
}

ensure_node() {
  if command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1; then return; fi
  log "installing Node.js and npm (Debian packages)"
  as_root apt-get update -qq && as_root apt-get install -y -qq nodejs npm >/dev/null \
    || die "Node.js is required for the web app; install node >= 20 and npm"
}

# Browser tests drive Debian's chromium: test tools cannot download their own browser here.
chromium_path() {
  local candidate
  for candidate in "${CHROMIUM_PATH:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
  done
  return 1
}

ensure_chromium() {
  chromium_path >/dev/null && return
  log "installing chromium (Debian package) for the browser tests"
  { as_root apt-get update -qq && as_root apt-get install -y -qq chromium >/dev/null; } \
    || die "chromium is required for the browser tests; install Debian's chromium package"
  chromium_path >/dev/null || die "chromium installed but not found"
}

# Reinstall node_modules only when package-lock.json changed.
ensure_frontend_deps() {
  ensure_node
  local stamp="$FRONTEND_DIR/node_modules/.omc-lock-hash" want
  want="$(sha256sum "$FRONTEND_DIR/package-lock.json" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "installing frontend dependencies (npm ci)"
    (cd "$FRONTEND_DIR" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"
    echo "$want" >"$stamp"
  fi
}

# Rebuild the SPA only when its sources or lock changed since the last build.
ensure_frontend_build() {
  [ -f "$FRONTEND_DIR/package.json" ] || { log "no frontend found; serving the API only"; return; }
  local stamp="$FRONTEND_DIR/dist/.omc-src-hash" want
  want="$(cd "$FRONTEND_DIR" && find src public index.html package-lock.json vite.config.* tsconfig*.json \
    -type f 2>/dev/null | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
  ensure_frontend_deps
  log "building the web app"
  (cd "$FRONTEND_DIR" && npm run build --silent) || die "frontend build failed"
  echo "$want" >"$stamp"
}

# Load the repo-root .env (if any) so the scripts see the same settings as the app.
load_env() {
  if [ -f "$REPO_ROOT/.env" ]; then
    set -a
    # shellcheck disable=SC1091
    . "$REPO_ROOT/.env"
    set +a
  fi
}

# Is a PostgreSQL server answering at this URL?
pg_reachable() {
  (cd "$BACKEND_DIR" && uv run --frozen --quiet python - "$1" <<'PY' >/dev/null 2>&1
import sys, psycopg
psycopg.connect(sys.argv[1], connect_timeout=3).close()
PY
  )
}

EMBEDDED_PG_STARTED=""
EMBEDDED_PG_URL=""
start_embedded_pg() {  # $1 = pgdata dir, $2 = database; sets EMBEDDED_PG_URL
  EMBEDDED_PG_STARTED="$1"
  EMBEDDED_PG_URL="$(cd "$BACKEND_DIR" && uv run --frozen --quiet python scripts/embedded_pg.py \
    start --pgdata "$1" --database "$2")" || die "could not start the embedded PostgreSQL"
}

stop_embedded_pg() {
  if [ -n "$EMBEDDED_PG_STARTED" ]; then
    log "stopping the embedded PostgreSQL"
    (cd "$BACKEND_DIR" && uv run --frozen --quiet python scripts/embedded_pg.py stop \
      --pgdata "$EMBEDDED_PG_STARTED") || true
    EMBEDDED_PG_STARTED=""
  fi
}
