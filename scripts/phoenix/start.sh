#!/usr/bin/env bash
# Start a throwaway Arize Phoenix server for tests.
# Usage: start.sh DIR   (state in DIR: work/ (Phoenix's working dir and SQLite
# database), server.log, server.pgid, url)
# Prints the base URL (http://127.0.0.1:PORT) on stdout once GET /readyz answers
# (the database is migrated and reachable).
# Both of its listeners are on 127.0.0.1 only: HTTP (REST API, UI, OTLP/HTTP) by
# PHOENIX_HOST, OTLP/gRPC by loopback/sitecustomize.py, each on a free port.
# Env: VERDICT_PHOENIX_VENV (see install.sh); VERDICT_PHOENIX_ADMIN_SECRET=S
# turns authentication on, with S accepted as a bearer token (PHOENIX_API_KEY=S);
# S must be 32 characters or more, with a digit and a lowercase letter.
# Stop it with stop.sh DIR.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../test_server.sh
. "$HERE/../test_server.sh"
DIR="$(state_dir "$@")"
TIMEOUT=120

VENV="$("$HERE/install.sh")"
refuse_if_running "$DIR"

free_port() {
  "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
PORT="$(free_port)"
GRPC_PORT="$(free_port)"
URL="http://127.0.0.1:$PORT"
mkdir -p "$DIR/work"

AUTH=()
if [ -n "${VERDICT_PHOENIX_ADMIN_SECRET:-}" ]; then
  AUTH=(
    PHOENIX_ENABLE_AUTH=true
    PHOENIX_SECRET="verdict-test-jwt-secret-0123456789abcdef"
    PHOENIX_ADMIN_SECRET="$VERDICT_PHOENIX_ADMIN_SECRET"
  )
fi

# Nothing of the caller's Phoenix client settings reaches the server; its
# working directory (and so any .env.phoenix lookup) is the temporary DIR.
# setsid makes the server the leader of a new process group, so stop.sh can
# kill it and anything it forks at once.
cd "$DIR"
env -u PHOENIX_COLLECTOR_ENDPOINT -u PHOENIX_API_KEY -u PHOENIX_CLIENT_HEADERS \
  -u PHOENIX_PROJECT -u PHOENIX_PROJECT_NAME -u PHOENIX_SQL_DATABASE_URL \
  PYTHONPATH="$HERE/loopback" \
  PHOENIX_WORKING_DIR="$DIR/work" \
  PHOENIX_HOST=127.0.0.1 PHOENIX_PORT="$PORT" PHOENIX_GRPC_PORT="$GRPC_PORT" \
  PHOENIX_TELEMETRY_ENABLED=false \
  "${AUTH[@]}" \
  setsid "$VENV/bin/phoenix" serve </dev/null >"$DIR/server.log" 2>&1 &
PID=$!
record_server "$PID" phoenix "$DIR" "$URL"

ready() {
  http_get "$VENV" "$URL/readyz" >/dev/null
}

wait_until_up ready "$PID" "$DIR" phoenix ready "$TIMEOUT"

echo "$URL"
