#!/usr/bin/env bash
# Install MLflow 3.17.2 into a cached virtualenv (idempotent) and print the venv path.
# Venv location: ${VERDICT_MLFLOW_VENV:-$HOME/.cache/verdict/mlflow-3.17.2}
set -euo pipefail

MLFLOW_VERSION=3.17.2
VENV="${VERDICT_MLFLOW_VENV:-$HOME/.cache/verdict/mlflow-$MLFLOW_VERSION}"

have_mlflow() {
  [ -x "$VENV/bin/python" ] && [ -x "$VENV/bin/mlflow" ] &&
    [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("mlflow"))' 2>/dev/null || true)" = "$MLFLOW_VERSION" ]
}

if ! have_mlflow; then
  echo "installing mlflow==$MLFLOW_VERSION into $VENV" >&2
  mkdir -p "$(dirname "$VENV")"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "mlflow==$MLFLOW_VERSION" >&2
  have_mlflow || { echo "mlflow $MLFLOW_VERSION not usable in $VENV after install" >&2; exit 1; }
fi

echo "$VENV"
