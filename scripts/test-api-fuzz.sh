#!/usr/bin/env bash
# Property-based fuzzing of the REST API with Schemathesis against the real app and a real,
# freshly migrated database: every operation in the OpenAPI schema (new routes are covered
# automatically), the examples, coverage, fuzzing and stateful phases (stateful sequences
# follow the OpenAPI links from the operations that create objects to those that use them),
# and the checks not_a_server_error, status_code_conformance, content_type_conformance and
# response_schema_conformance. Requests carry a superuser's bearer token.
#   DATABASE_URL=postgresql://…/scratch_db scripts/test-api-fuzz.sh
# scripts/test.sh calls this with a fresh database it drops afterwards.
# Settings: FUZZ_MAX_EXAMPLES (default 25 per operation), FUZZ_SEED (default random; the run
# prints it so a failure can be replayed), FUZZ_WORKERS (default 2).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -n "${DATABASE_URL:-}" ] || die "DATABASE_URL must point at a scratch database for the API fuzzing"

ensure_backend_deps

# Operations the fuzzer must not call, each with the reason. Keep this list short: an
# operation left out here is an operation nobody checks. Format: "METHOD PATH|reason", e.g.
#   "POST /api/v1/floor/emergency-stop|halts every deployment, this run's own included"
# The three below end the session whose bearer token the fuzzer uses: after one of them every
# later request is a 401 and the run checks nothing more (tests/auth covers them).
EXCLUDED=(
  "POST /api/v1/login/logout|ends the fuzzer's own session"
  "POST /api/v1/security/sessions/revoke-all|signs the fuzzer out everywhere"
  "DELETE /api/v1/security/sessions/{session_id}|can end the fuzzer's own session"
)

VENV_BIN="$BACKEND_DIR/.venv/bin"
py() { "$VENV_BIN/python" "$@"; }
FUZZ_PORT="$(py -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export ENVIRONMENT=local
export FIRST_SUPERUSER="fuzz-admin@example.com"
export FIRST_SUPERUSER_PASSWORD="$(py -c 'import secrets; print(secrets.token_urlsafe(16))')"
export SECRET_KEY="$(py -c 'import secrets; print(secrets.token_urlsafe(32))')"
export CREDENTIALS_ENCRYPTION_KEYS="$(py -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
export COLLECTOR_ENABLED=false
export COINSPOT_BASE_URL="http://127.0.0.1:9"
export SANDBOX_WORKERS=1
export COLLECTOR_RETRY_ATTEMPTS=1

(cd "$BACKEND_DIR" && "$VENV_BIN/alembic" upgrade head >/dev/null && py -m app.initial_data \
  && py -m app.collector.cli generate-demo --days 3 --coins 2 --seed 5 >/dev/null)
BACKEND_LOG="$STATE_DIR/fuzz-backend.log"
(cd "$BACKEND_DIR" && exec "$VENV_BIN/uvicorn" app.main:app --host 127.0.0.1 --port "$FUZZ_PORT") >"$BACKEND_LOG" 2>&1 &
BACKEND_PID=$!
trap 'kill "$BACKEND_PID" 2>/dev/null || true; wait "$BACKEND_PID" 2>/dev/null || true' EXIT

BASE_URL="http://127.0.0.1:$FUZZ_PORT"
TOKEN="$(cd "$BACKEND_DIR" && py scripts/api_token.py "$BASE_URL" "$BACKEND_PID")" \
  || { cat "$BACKEND_LOG" >&2; die "the backend for the API fuzzing did not start"; }

exclude_args=()
for entry in "${EXCLUDED[@]}"; do
  operation="${entry%%|*}"
  log "not fuzzed: $operation (${entry#*|})"
  exclude_args+=(--exclude-name "$operation")
done

seed="${FUZZ_SEED:-$(py -c 'import secrets; print(secrets.randbelow(2**31))')}"
log "API fuzzing (schemathesis $("$VENV_BIN/schemathesis" --version | awk '{print $NF}'), seed $seed)"
REPORT_DIR="$STATE_DIR/fuzz-report"
rm -rf "$REPORT_DIR"
status=0
(cd "$BACKEND_DIR" && "$VENV_BIN/schemathesis" run "$BASE_URL/api/v1/openapi.json" \
  --header "Authorization: Bearer $TOKEN" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "${FUZZ_MAX_EXAMPLES:-25}" \
  --seed "$seed" \
  --workers "${FUZZ_WORKERS:-2}" \
  --request-timeout 30 \
  --suppress-health-check too_slow,filter_too_much \
  --report junit --report-dir "$REPORT_DIR" \
  ${exclude_args[@]+"${exclude_args[@]}"}) || status=$?
if [ "$status" -ne 0 ]; then
  log "the backend's log is in $BACKEND_LOG, the report in $REPORT_DIR"
  grep -E "unhandled error|Traceback" -A3 "$BACKEND_LOG" | head -60 >&2 || true
  die "API fuzzing failed (replay with FUZZ_SEED=$seed)"
fi
