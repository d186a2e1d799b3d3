#!/usr/bin/env bash
# `verdict eval --predict` over a trivial echo process
# (examples/predict-command/echo.py, Python, one line in, one line out):
# records per second over the whole command (start-up, the process's
# start, the store closed), 5 runs each on a fresh store, min/median/max.
# First the default (one process, 10 calls in flight), then the choices
# behind it: one call at a time (lockstep), more in flight, more processes.
#
# Usage: benches/predict_throughput.sh [N]   (records, default 100000)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${1:-100000}"

. "$ROOT/benches/setup.sh"
bench_build verdict-cli verdict
DIR="$(mktemp -d -t verdict-predict-XXXXXX)"
trap 'rm -rf "$DIR"' EXIT
python3 "$ROOT/benches/eval_data.py" "$N" "$DIR/data.jsonl"
ECHO="python3 $ROOT/examples/predict-command/echo.py"

# One run: records/s over the whole command.
run() {
  local store="$DIR/store-$RANDOM$RANDOM.db" start end
  start="$(date +%s.%N)"
  "$BIN" eval "$DIR/data.jsonl" --predict "$ECHO" --scorer exact_match --store "$store" "$@" \
    >/dev/null
  end="$(date +%s.%N)"
  rm -f "$store"*
  awk -v n="$N" -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", n / (b - a) }'
}

# Five runs of one configuration: min, median, max.
five() {
  local label="$1" rates=()
  shift
  for _ in 1 2 3 4 5; do rates+=("$(run "$@")"); done
  printf '%s\n' "${rates[@]}" | sort -n | awk -v label="$label" '
    { r[NR] = $1 }
    END { printf "%-44s min %7d  median %7d  max %7d records/s\n", label, r[1], r[3], r[5] }'
}

echo "== $N records, echo.py; load: $(cut -d ' ' -f 1-3 /proc/loadavg)" >&2
five "default (1 process, 10 in flight)"
five "--predict-calls 1 (lockstep)" --predict-calls 1
five "--predict-calls 64" --predict-calls 64
five "--predict-processes 2 (10 in flight)" --predict-processes 2
five "--predict-processes 2 --predict-calls 64" --predict-processes 2 --predict-calls 64
