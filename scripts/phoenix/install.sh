#!/usr/bin/env bash
# Install Arize Phoenix 20.26.1 into a cached virtualenv (idempotent) and print the venv path.
# Venv location: ${VERDICT_PHOENIX_VENV:-$HOME/.cache/verdict/phoenix-20.26.1}
set -euo pipefail

PHOENIX_VERSION=20.26.1
VENV="${VERDICT_PHOENIX_VENV:-$HOME/.cache/verdict/phoenix-$PHOENIX_VERSION}"

have_phoenix() {
  [ -x "$VENV/bin/python" ] && [ -x "$VENV/bin/phoenix" ] &&
    [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("arize-phoenix"))' 2>/dev/null || true)" = "$PHOENIX_VERSION" ]
}

if ! have_phoenix; then
  echo "installing arize-phoenix==$PHOENIX_VERSION into $VENV" >&2
  mkdir -p "$(dirname "$VENV")"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "arize-phoenix==$PHOENIX_VERSION" >&2
  have_phoenix || { echo "arize-phoenix $PHOENIX_VERSION not usable in $VENV after install" >&2; exit 1; }
fi

echo "$VENV"
