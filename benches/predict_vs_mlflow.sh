#!/usr/bin/env bash
# `verdict eval --predict` against MLflow's way of running the system under
# test, `mlflow.genai.evaluate(data, predict_fn=...)`, with the same trivial
# function (answer with the inputs) and the same scorer (exact match) on
# the same records, against a local MLflow 3.17.2 server. Verdict's system
# is examples/predict-command/echo.py, a separate Python process; MLflow's
# is a Python function in its own process, each call traced. Prints both
# rates and the ratio (issue 15 asks for at least 1,000x).
#
# Usage: benches/predict_vs_mlflow.sh [MLFLOW_N] [VERDICT_N]
#   MLFLOW_N   records for mlflow.genai.evaluate (default 500)
#   VERDICT_N  records for verdict eval (default 100000; the first MLFLOW_N
#              are the same records, the generator is seeded), 3 runs, the
#              median counted
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MLFLOW_N="${1:-500}"
VERDICT_N="${2:-100000}"

. "$ROOT/benches/setup.sh"
bench_build verdict-cli verdict
bench_mlflow verdict-predict-mlflow

python3 "$ROOT/benches/eval_data.py" "$MLFLOW_N" "$DIR/small.jsonl"
python3 "$ROOT/benches/eval_data.py" "$VERDICT_N" "$DIR/large.jsonl"

bench_mlflow_start

echo "== mlflow.genai.evaluate(predict_fn=echo): $MLFLOW_N records" >&2
MLFLOW_RATE="$(MLFLOW_TRACKING_URI="$URL" "$PY" - "$DIR/small.jsonl" <<'PYTHON' | tail -n 1
import json, os, sys, time, warnings, logging
import mlflow
from mlflow.genai.scorers import scorer

warnings.filterwarnings("ignore")
logging.getLogger("mlflow").setLevel(logging.ERROR)
mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
mlflow.set_experiment("verdict-predict-bench")
# The outputs come from the function: the dataset's are left out.
records = [
    {"inputs": r["inputs"], "expectations": r["expectations"]}
    for r in map(json.loads, open(sys.argv[1]))
]


def echo(question):
    return {"question": question}


@scorer
def exact_match(outputs, expectations) -> bool:
    return outputs == expectations["expected_response"]


start = time.perf_counter()
mlflow.genai.evaluate(data=records, predict_fn=echo, scorers=[exact_match])
elapsed = time.perf_counter() - start
print(f"   {len(records)} records in {elapsed:.1f} s", file=sys.stderr)
print(len(records) / elapsed)
PYTHON
)"

"$ROOT/scripts/mlflow/stop.sh" "$DIR" >&2

# Verdict's rate is over the whole command (start-up, the echo process's
# start, closing the store), MLflow's over mlflow.genai.evaluate alone.
run_verdict() {
  local start end
  start="$(date +%s.%N)"
  "$BIN" eval "$DIR/large.jsonl" --predict "python3 $ROOT/examples/predict-command/echo.py" \
    --scorer exact_match --store "$DIR/$1.db" | head -n 1 >&2
  end="$(date +%s.%N)"
  awk -v n="$VERDICT_N" -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", n / (b - a) }'
}
echo "== verdict eval --predict echo.py: $VERDICT_N records, 3 runs (load: $(cut -d ' ' -f 1-3 /proc/loadavg))" >&2
RATES=()
for run in 1 2 3; do
  RATES+=("$(run_verdict "large-$run")")
done
VERDICT_RATE="$(printf '%s\n' "${RATES[@]}" | sort -n | sed -n 2p)"
echo "   ${RATES[*]} records/s; the median counts" >&2

python3 - "$MLFLOW_RATE" "$VERDICT_RATE" <<'PYTHON'
import sys
mlflow, verdict = map(float, sys.argv[1:])
print(f"mlflow.genai.evaluate(predict_fn)  {mlflow:10.2f} records/s")
print(f"verdict eval --predict             {verdict:10.0f} records/s   ratio {verdict / mlflow:,.0f}x")
PYTHON
