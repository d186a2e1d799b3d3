#!/usr/bin/env bash
# Install MLflow 3.17.2 into a cached virtualenv (idempotent) and print the venv path.
# Venv location: ${VERDICT_MLFLOW_VENV:-$HOME/.cache/verdict/mlflow-3.17.2}
set -euo pipefail

MLFLOW_VERSION=3.17.2
# shellcheck source=../test_server.sh
. "$(dirname "${BASH_SOURCE[0]}")/../test_server.sh"
install_venv "${VERDICT_MLFLOW_VENV:-$HOME/.cache/verdict/mlflow-$MLFLOW_VERSION}" \
  mlflow "$MLFLOW_VERSION" mlflow
