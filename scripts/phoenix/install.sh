#!/usr/bin/env bash
# Install Arize Phoenix 20.26.1 into a cached virtualenv (idempotent) and print the venv path.
# Venv location: ${VERDICT_PHOENIX_VENV:-$HOME/.cache/verdict/phoenix-20.26.1}
set -euo pipefail

PHOENIX_VERSION=20.26.1
# shellcheck source=../test_server.sh
. "$(dirname "${BASH_SOURCE[0]}")/../test_server.sh"
install_venv "${VERDICT_PHOENIX_VENV:-$HOME/.cache/verdict/phoenix-$PHOENIX_VERSION}" \
  arize-phoenix "$PHOENIX_VERSION" phoenix
