#!/usr/bin/env bash
# Run every check and test: lint, type checks, frontend checks and browser tests, fuzzing of
# the REST API (Schemathesis), backend tests with coverage. Uses the PostgreSQL at
# 127.0.0.1:5432 when it answers, else DATABASE_URL's server, else an embedded one; every run
# works in fresh databases that it drops afterwards.
#   scripts/test.sh [extra pytest args]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_backend_deps
trap stop_embedded_pg EXIT

ADMIN_URL="${OMC_TEST_ADMIN_URL:-}"
if [ -z "$ADMIN_URL" ]; then
  if pg_reachable "postgresql://postgres@127.0.0.1:5432/postgres"; then
    ADMIN_URL="postgresql://postgres@127.0.0.1:5432/postgres"
  elif [ -n "${DATABASE_URL:-}" ] && pg_reachable "$DATABASE_URL"; then
    ADMIN_URL="${DATABASE_URL%/*}/postgres"
  else
    log "no PostgreSQL answers at 127.0.0.1:5432: starting an embedded one"
    start_embedded_pg "$STATE_DIR/pgdata-test" postgres
    ADMIN_URL="$EMBEDDED_PG_URL"
  fi
fi
export OMC_TEST_ADMIN_URL="$ADMIN_URL"
log "test database server: ${ADMIN_URL%%\?*}"

"$REPO_ROOT/scripts/lint.sh"

log "static security checks: bandit (backend)"
(cd "$BACKEND_DIR" && uv run --frozen bandit -q -c pyproject.toml -r app) || die "bandit found issues"
log "static security checks: npm audit of frontend/package-lock.json"
audit_out="$(cd "$FRONTEND_DIR" && npm audit --package-lock-only --audit-level=high 2>&1)" && audit_rc=0 || audit_rc=$?
if [ "$audit_rc" -eq 0 ]; then
  printf '%s\n' "$audit_out" | tail -n 3
elif printf '%s' "$audit_out" | grep -qiE "audit endpoint returned an error|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|network"; then
  # Offline, or a registry mirror without the advisory service: report, do not fail.
  log "npm audit: the advisory database cannot be reached; lockfile not audited"
else
  printf '%s\n' "$audit_out"
  die "npm audit found high or critical advisories"
fi

testdb() { (cd "$BACKEND_DIR" && uv run --frozen --quiet python scripts/testdb.py "$@"); }

if [ -x "$REPO_ROOT/scripts/test-frontend.sh" ]; then
  E2E_DB="omc_e2e_$$_$RANDOM"
  e2e_url="$(testdb create "$ADMIN_URL" "$E2E_DB")"
  frontend_status=0
  DATABASE_URL="$e2e_url" "$REPO_ROOT/scripts/test-frontend.sh" || frontend_status=$?
  testdb drop "$ADMIN_URL" "$E2E_DB" || true
  [ "$frontend_status" -eq 0 ] || die "frontend checks failed"
fi

if [ -x "$REPO_ROOT/scripts/test-api-fuzz.sh" ]; then
  FUZZ_DB="omc_fuzz_$$_$RANDOM"
  fuzz_url="$(testdb create "$ADMIN_URL" "$FUZZ_DB")"
  fuzz_status=0
  DATABASE_URL="$fuzz_url" "$REPO_ROOT/scripts/test-api-fuzz.sh" || fuzz_status=$?
  testdb drop "$ADMIN_URL" "$FUZZ_DB" || true
  [ "$fuzz_status" -eq 0 ] || die "API fuzzing failed"
fi

log "backend tests (pytest, coverage >= 80%)"
cd "$BACKEND_DIR"
uv run --frozen pytest --cov=app --cov-report=term --cov-fail-under=80 "$@"
