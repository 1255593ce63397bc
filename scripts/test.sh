#!/usr/bin/env bash
# Run every check and test: lint, type checks, frontend checks and browser tests, fuzzing of
# the REST API (Schemathesis), backend tests with coverage. Uses the PostgreSQL at
# 127.0.0.1:5432 when it answers, else DATABASE_URL's server, else an embedded one; every run
# works in fresh databases that it drops afterwards.
#   scripts/test.sh [extra pytest args]
# The frontend checks and the API fuzzing run side by side (each with its own backend, port and
# database; their output is printed when each ends); the backend tests run on PYTEST_WORKERS
# pytest-xdist workers (default: the number of cores, at most 4; 0 = one process). Every phase's
# wall time is logged, and a summary table ends the run (pass or fail).
# TEST_SIDE_BY_SIDE=0 runs the frontend checks and the fuzzing one after the other instead.
#   PYTEST_WORKERS=0 scripts/test.sh tests/floor/test_parity.py   # one test file, serially
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUN_STARTED=$SECONDS
PHASE_TIMES=()
phase_done() {  # $1 = phase name, $2 = its start ($SECONDS), $3 = outcome, $4 = seconds taken
  local took="${4:-}"
  [ -n "$took" ] || took=$((SECONDS - $2))
  PHASE_TIMES+=("$(printf '%-34s %6ss  %s' "$1" "$took" "${3:-ok}")")
  log "phase '$1': ${3:-ok} in ${took}s"
}
phase_summary() {
  [ "${#PHASE_TIMES[@]}" -gt 0 ] || return 0
  log "phase timings (wall clock; side-by-side phases overlap):"
  printf '  %s\n' "${PHASE_TIMES[@]}" >&2
  log "total: $((SECONDS - RUN_STARTED))s"
}
on_exit() {
  local status=$?
  for pid in ${BACKGROUND_PIDS:-}; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  phase_summary
  stop_embedded_pg
  return "$status"
}
BACKGROUND_PIDS=""
trap on_exit EXIT

t=$SECONDS
ensure_backend_deps
phase_done "backend dependencies (uv sync)" "$t"

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

t=$SECONDS
"$REPO_ROOT/scripts/lint.sh" || { phase_done "lint (ruff, mypy)" "$t" FAILED; die "lint failed"; }
phase_done "lint (ruff, mypy)" "$t"

t=$SECONDS
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

phase_done "bandit + npm audit" "$t"

testdb() { (cd "$BACKEND_DIR" && uv run --frozen --quiet python scripts/testdb.py "$@"); }

# Run a script against a fresh scratch database in the background; its output goes to a log
# printed when it ends. $1 = label, $2 = database prefix, $3 = script.
start_side_phase() {
  local label="$1" prefix="$2" script="$3" logfile="$STATE_DIR/test-$2.log"
  set -m  # its own process group, so that an early exit can stop it with all its children
  (
    started="$(date +%s)"
    db="omc_${prefix}_$$_$RANDOM"
    url="$(testdb create "$ADMIN_URL" "$db")" || exit 1
    status=0
    DATABASE_URL="$url" "$script" || status=$?
    testdb drop "$ADMIN_URL" "$db" || true
    echo "$(($(date +%s) - started))" >"$logfile.took"
    exit "$status"
  ) >"$logfile" 2>&1 &
  set +m
  BACKGROUND_PIDS="$BACKGROUND_PIDS $!"
  SIDE_PHASES+=("$label|$logfile|$!")
  log "started in the background: $label (log: ${logfile#"$REPO_ROOT"/})"
  [ "${TEST_SIDE_BY_SIDE:-1}" != 0 ] || wait_side_phases
}

# Wait for the background phases, print each one's output, record its time; fail if any failed.
wait_side_phases() {
  local entry label logfile pid status took failed=""
  for entry in ${SIDE_PHASES[@]+"${SIDE_PHASES[@]}"}; do
    IFS='|' read -r label logfile pid <<<"$entry"
    status=0
    wait "$pid" || status=$?
    log "----- $label: output -----"
    cat "$logfile" >&2
    took="$(cat "$logfile.took" 2>/dev/null || echo "")"
    rm -f "$logfile.took"
    if [ "$status" -eq 0 ]; then
      phase_done "$label" "$t_side" ok "$took"
    else
      phase_done "$label" "$t_side" "FAILED (exit $status)" "$took"
      failed="$failed; $label"
    fi
  done
  SIDE_PHASES=()
  BACKGROUND_PIDS=""
  [ -z "$failed" ] || die "failed:${failed#;}"
}

SIDE_PHASES=()
t_side=$SECONDS
[ -x "$REPO_ROOT/scripts/test-frontend.sh" ] \
  && start_side_phase "frontend (tsc, vitest, build, e2e)" e2e "$REPO_ROOT/scripts/test-frontend.sh"
[ -x "$REPO_ROOT/scripts/test-api-fuzz.sh" ] \
  && start_side_phase "API fuzzing (schemathesis)" fuzz "$REPO_ROOT/scripts/test-api-fuzz.sh"

wait_side_phases
phase_done "frontend + fuzzing (wall clock)" "$t_side"

# Backend tests: pytest-xdist workers, each with its own database, simulator and sandbox pool
# (tests/conftest.py). Coverage is combined across workers by pytest-cov.
cores="$(nproc 2>/dev/null || echo 2)"
workers="${PYTEST_WORKERS:-$((cores < 4 ? cores : 4))}"
xdist_args=()
if [ "$workers" -gt 0 ]; then xdist_args=(-n "$workers" --dist worksteal); fi
log "backend tests (pytest on ${workers} xdist workers, coverage >= 80%)"
t=$SECONDS
cd "$BACKEND_DIR"
pytest_status=0
uv run --frozen pytest ${xdist_args[@]+"${xdist_args[@]}"} --durations=15 \
  --cov=app --cov-report=term --cov-fail-under=80 "$@" || pytest_status=$?
if [ "$pytest_status" -eq 0 ]; then
  phase_done "backend tests (pytest, coverage)" "$t"
else
  phase_done "backend tests (pytest, coverage)" "$t" "FAILED (exit $pytest_status)"
  exit "$pytest_status"
fi
