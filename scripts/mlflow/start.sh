#!/usr/bin/env bash
# Start a throwaway MLflow 3.17.2 tracking server for tests.
# Usage: start.sh DIR   (state in DIR: mlflow.db, artifacts/, server.log, server.pgid, url)
# Prints the base URL (http://127.0.0.1:PORT) on stdout once GET /health answers OK
# and every worker has started (with several workers, /health answers as soon as
# the first one is up, while the others are still importing MLflow).
# Env: VERDICT_MLFLOW_VENV (see install.sh), VERDICT_MLFLOW_WORKERS (default 1;
# `mlflow server` itself defaults to 4), VERDICT_MLFLOW_TCP_NODELAY=1 (with several
# workers: work around uvicorn's missing TCP_NODELAY, see tcp_nodelay/sitecustomize.py).
# Stop it with stop.sh DIR.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../test_server.sh
. "$HERE/../test_server.sh"
DIR="$(state_dir "$@")"
WORKERS="${VERDICT_MLFLOW_WORKERS:-1}"
TIMEOUT=120

VENV="$("$HERE/install.sh")"
refuse_if_running "$DIR"

PORT="$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
URL="http://127.0.0.1:$PORT"
mkdir -p "$DIR/artifacts"

PY_PATH="${PYTHONPATH:-}"
if [ "${VERDICT_MLFLOW_TCP_NODELAY:-0}" = 1 ]; then
  PY_PATH="$HERE/tcp_nodelay${PY_PATH:+:$PY_PATH}"
fi

# setsid makes the server the leader of a new process group, so stop.sh can kill
# the server and every worker it forks at once.
PYTHONPATH="$PY_PATH" MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false setsid "$VENV/bin/mlflow" server \
  --backend-store-uri "sqlite:///$DIR/mlflow.db" \
  --default-artifact-root "$DIR/artifacts" \
  --host 127.0.0.1 --port "$PORT" --workers "$WORKERS" \
  </dev/null >"$DIR/server.log" 2>&1 &
PID=$!
record_server "$PID" mlflow "$DIR" "$URL"

health() {
  [ "$(http_get "$VENV" "$URL/health" || true)" = "OK" ]
}

# Each uvicorn worker logs this line once it serves requests.
started() {
  [ "$(grep -c 'Application startup complete' "$DIR/server.log" 2>/dev/null || true)" -ge "$WORKERS" ]
}

up() { health && started; }

wait_until_up up "$PID" "$DIR" mlflow healthy "$TIMEOUT"

echo "$URL"
