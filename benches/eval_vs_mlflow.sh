#!/usr/bin/env bash
# `verdict eval` against the peer users would otherwise pick: the same three
# scorers (exact match, regex \d+, edit distance) written as MLflow @scorer
# functions and run by mlflow.genai.evaluate on the same records, against a
# local MLflow 3.17.2 server; then `verdict eval` with its local store on
# those records. Prints both rates and the ratio Verdict/MLflow (issue 5
# asks for at least 10,000x).
#
# Usage: benches/eval_vs_mlflow.sh [MLFLOW_N] [VERDICT_N]
#   MLFLOW_N   records for mlflow.genai.evaluate (default 1000)
#   VERDICT_N  records for verdict eval (default 100000; the first MLFLOW_N
#              are the same records, the generator is seeded). A 1,000-record
#              Verdict run lasts about 0.1 s, mostly start-up, so the rate is
#              taken on the larger run (the median of three, each on a fresh
#              store) and the 1,000-record run is printed too.
#
# The server runs in a temporary directory; it is stopped once MLflow's run
# is over, before Verdict's (which needs none), and on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MLFLOW_N="${1:-1000}"
VERDICT_N="${2:-100000}"

. "$ROOT/benches/setup.sh"
bench_build verdict-cli verdict
bench_mlflow verdict-eval-mlflow

python3 "$ROOT/benches/eval_data.py" "$MLFLOW_N" "$DIR/small.jsonl"
python3 "$ROOT/benches/eval_data.py" "$VERDICT_N" "$DIR/large.jsonl"

bench_mlflow_start

echo "== mlflow.genai.evaluate: $MLFLOW_N records, 3 @scorer functions" >&2
MLFLOW_RATE="$(MLFLOW_TRACKING_URI="$URL" "$PY" - "$DIR/small.jsonl" <<'PYTHON' | tail -n 1
import json, os, re, sys, time, warnings, logging
import mlflow
from mlflow.genai.scorers import scorer

warnings.filterwarnings("ignore")
logging.getLogger("mlflow").setLevel(logging.ERROR)
mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
mlflow.set_experiment("verdict-eval-bench")
records = [json.loads(line) for line in open(sys.argv[1])]


@scorer
def exact_match(outputs, expectations) -> bool:
    return outputs.strip() == expectations["expected_response"].strip()


DIGITS = re.compile(r"\d+")


@scorer
def regex(outputs) -> bool:
    return DIGITS.search(outputs) is not None


def levenshtein(a, b):
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


@scorer
def edit_distance(outputs, expectations) -> float:
    expected = expectations["expected_response"]
    longest = max(len(outputs), len(expected))
    return 1.0 if longest == 0 else 1.0 - levenshtein(outputs, expected) / longest


start = time.perf_counter()
result = mlflow.genai.evaluate(data=records, scorers=[exact_match, regex, edit_distance])
elapsed = time.perf_counter() - start
print(f"   {len(records)} records in {elapsed:.1f} s; metrics: "
      f"{ {k: round(v, 4) for k, v in result.metrics.items() if k.endswith('/mean')} }", file=sys.stderr)
print(len(records) / elapsed)
PYTHON
)"

# Verdict needs no server: MLflow's is stopped first, so that nothing it
# still does competes with the timed runs.
"$ROOT/scripts/mlflow/stop.sh" "$DIR" >&2

# Verdict's rate is over the whole process (start-up and closing the store
# included), MLflow's over mlflow.genai.evaluate alone (not its imports).
# Each run gets a fresh store.
run_verdict() {
  local n="$1" data="$2" store="$3" start end
  start="$(date +%s.%N)"
  "$BIN" eval "$data" --scorer exact_match --scorer 'regex:pattern=\d+' \
    --scorer edit_distance:max_distance=10 --store "$DIR/$store.db" | head -n 1 >&2
  end="$(date +%s.%N)"
  awk -v n="$n" -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", n / (b - a) }'
}
echo "== verdict eval: $MLFLOW_N records" >&2
SMALL_RATE="$(run_verdict "$MLFLOW_N" "$DIR/small.jsonl" small)"
# Three runs, the median counted: a 2-second run moves with whatever else
# the machine does for a moment; MLflow's minutes-long run averages that.
echo "== verdict eval: $VERDICT_N records, 3 runs (load: $(cut -d ' ' -f 1-3 /proc/loadavg))" >&2
RATES=()
for run in 1 2 3; do
  RATES+=("$(run_verdict "$VERDICT_N" "$DIR/large.jsonl" "large-$run")")
done
VERDICT_RATE="$(printf '%s\n' "${RATES[@]}" | sort -n | sed -n 2p)"
echo "   ${RATES[*]} records/s; the median counts" >&2

python3 - "$MLFLOW_RATE" "$VERDICT_RATE" "$SMALL_RATE" <<'PYTHON'
import sys
mlflow, verdict, small = map(float, sys.argv[1:])
print(f"mlflow.genai.evaluate   {mlflow:10.2f} records/s")
print(f"verdict eval (large)    {verdict:10.0f} records/s   ratio {verdict / mlflow:,.0f}x")
print(f"verdict eval (small)    {small:10.0f} records/s   ratio {small / mlflow:,.0f}x")
PYTHON
