# Set-up shared by the benchmark scripts; sourced, with ROOT set to the
# repository. Each function sets variables for the script that calls it.
#
#   bench_build PACKAGE BINARY  builds PACKAGE (release) and sets BIN to its
#                               binary BINARY, wherever cargo's target is;
#                               with VERDICT_BENCH_BIN set, uses that binary
#                               instead (one built from another commit, to
#                               compare two builds against the same baseline)
#   bench_mlflow PREFIX         installs MLflow's cached virtualenv (sets VENV
#                               and PY, its python) and makes DIR, a temporary
#                               directory named PREFIX-…, for a server that
#                               scripts/mlflow/start.sh starts there: on exit
#                               the server is stopped and DIR removed
#   bench_mlflow_start          starts that server in DIR and sets URL
#   bench_rapidfuzz             installs Python's rapidfuzz 3.14.6 and numpy
#                               into a cached virtualenv (idempotent) and sets
#                               RF_PY, its python

bench_build() {
  if [ -n "${VERDICT_BENCH_BIN:-}" ]; then
    echo "== using $VERDICT_BENCH_BIN (VERDICT_BENCH_BIN), not building $1" >&2
    BIN="$VERDICT_BENCH_BIN"
    return
  fi
  echo "== building $1 (release)" >&2
  cargo build --release --quiet -p "$1" --manifest-path "$ROOT/Cargo.toml"
  local target
  target="$(cargo metadata --format-version 1 --no-deps --manifest-path "$ROOT/Cargo.toml" |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
  BIN="${target:-$ROOT/target}/release/$2"
}

bench_mlflow() {
  VENV="$("$ROOT/scripts/mlflow/install.sh")"
  PY="$VENV/bin/python"
  DIR="$(mktemp -d -t "$1-XXXXXX")"
  trap bench_mlflow_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_mlflow_cleanup() {
  "$ROOT/scripts/mlflow/stop.sh" "$DIR" >&2 || true
  rm -rf "$DIR"
}

bench_mlflow_start() {
  echo "== starting mlflow server" >&2
  URL="$("$ROOT/scripts/mlflow/start.sh" "$DIR" | tail -n 1)"
  echo "   $URL" >&2
}

bench_rapidfuzz() {
  local venv="${VERDICT_RAPIDFUZZ_VENV:-$HOME/.cache/verdict/rapidfuzz-3.14.6}"
  RF_PY="$venv/bin/python"
  if ! "$RF_PY" -c 'import sys, numpy, rapidfuzz; sys.exit(rapidfuzz.__version__ != "3.14.6")' 2>/dev/null; then
    echo "== installing rapidfuzz 3.14.6 and numpy into $venv" >&2
    [ -x "$RF_PY" ] || python3 -m venv "$venv"
    "$RF_PY" -m pip install --quiet --disable-pip-version-check rapidfuzz==3.14.6 numpy==2.4.6 >&2
  fi
}
