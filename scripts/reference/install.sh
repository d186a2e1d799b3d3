#!/usr/bin/env bash
# Install the Python packages the built-in text scorers are checked against
# (rouge-score, sacrebleu, rapidfuzz) into a cached virtualenv (idempotent)
# and print the venv path.
# Venv location: ${VERDICT_REFERENCE_VENV:-$HOME/.cache/verdict/reference-<versions>}
set -euo pipefail

PACKAGES=(rouge-score==0.1.2 sacrebleu==2.6.0 rapidfuzz==3.14.6)
TAG="$(printf '%s\n' "${PACKAGES[@]}" | sha256sum | cut -c1-12)"
VENV="${VERDICT_REFERENCE_VENV:-$HOME/.cache/verdict/reference-$TAG}"

installed() {
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - "${PACKAGES[@]}" <<'PYTHON' 2>/dev/null
import importlib.metadata as m, sys
for spec in sys.argv[1:]:
    name, version = spec.split("==")
    if m.version(name) != version:
        sys.exit(1)
PYTHON
}

if ! installed; then
  echo "installing ${PACKAGES[*]} into $VENV" >&2
  mkdir -p "$(dirname "$VENV")"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PACKAGES[@]}" >&2
  installed || { echo "${PACKAGES[*]} not usable in $VENV after install" >&2; exit 1; }
fi
echo "$VENV"
