#!/usr/bin/env bash
# Stop the test server (MLflow or Phoenix) started by start.sh DIR: TERM its
# whole process group, then KILL whatever is left after a few seconds.
# Idempotent. scripts/mlflow/stop.sh and scripts/phoenix/stop.sh are this.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
# shellcheck source=test_server.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/test_server.sh"
stop_server "$1"
