#!/usr/bin/env bash
# Prepare the database before the app starts: apply every migration, then create the first
# superuser (both are idempotent, so running this on every start is safe).
#   Docker: the `prestart` service of docker-compose.yml runs it before `backend` starts.
#   By hand: cd backend && uv run bash scripts/prestart.sh   (or with the venv active)
# The database comes from DATABASE_URL or POSTGRES_* (see .env.example).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

alembic upgrade head
python -m app.initial_data
