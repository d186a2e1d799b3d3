#!/usr/bin/env bash
# Feedbacks per second logged to one real MLflow 3.17.2 server, through
# MLflow's Python client (`mlflow.log_feedback` in a loop) and through
# Verdict (a `Recorder` with the `MlflowSink`, benches/mlflow_throughput),
# and the ratio Verdict/MLflow. Issue 12 asks for at least 25x for new traces
# (VERDICT_MODE together or assembled) and 20x adding feedback to traces
# already on the server (the default mode).
#
# Usage: benches/mlflow_vs_python.sh [PY_N] [VERDICT_N]
#   PY_N       feedbacks through the Python client   (default 500, env PY_N)
#   VERDICT_N  feedbacks through Verdict              (default 2000, env VERDICT_N)
#   VERDICT_TRACES  traces the Verdict feedbacks are spread over (default 1)
#   VERDICT_ORDER   by-trace (default) or round-robin, see benches/mlflow_throughput
#   VERDICT_BATCH   the recorder's max batch (default 512, the recorder's default)
#   VERDICT_MLFLOW_CONCURRENCY  the sink's max_concurrency (default: the sink's)
#   VERDICT_MODE    unset: feedbacks on traces already on the server;
#                   together: MlflowSink::export_traces ships traces and feedbacks;
#                   assembled: a SdkTracerProvider and Recorder wired through
#                   TraceAssembler, feedbacks recorded inside their open spans
#   VERDICT_MLFLOW_WORKERS  server workers (default 1, see scripts/mlflow/start.sh;
#                   `mlflow server` itself starts 4)
#   VERDICT_MLFLOW_TCP_NODELAY=1  with several workers, work around uvicorn's
#                   missing TCP_NODELAY (+~40 ms per kept-alive request, which
#                   costs MLflow's client, one request at a time, about 6x),
#                   see scripts/mlflow/tcp_nodelay/sitecustomize.py
#   PY_WARMUP       untimed mlflow.log_feedback calls before each timed loop (default 20)
#   VERDICT_BENCH_BIN      run this verdict-bench-mlflow binary instead of building one
#   VERDICT_COMPARE_BIN    another build's binary (say, of main), run the same way right
#                   after this one, against the same server, between the two Python
#                   runs: its rate and ratio are printed too, so that two builds are
#                   compared against the same baseline
#
# Both sides are warmed up untimed first: the script waits until every server
# worker has started, runs Verdict once on a few traces (VERDICT_WARMUP_N
# feedbacks, default 400), and each Python run logs PY_WARMUP feedbacks before
# its timed loop (on the same trace, then counted out).
#
# Both sides create their traces first, untimed, then time only the feedbacks
# (for Verdict: record all, flush, every one delivered). The Python client
# runs twice, PY_N feedbacks before Verdict and PY_N after, on a trace of its
# own each time, and its rate is the mean of the two: the machine's load
# changes during a run, and this way both sides see the same. The server is
# started in a temporary directory and stopped on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY_N="${1:-${PY_N:-500}}"
VERDICT_N="${2:-${VERDICT_N:-2000}}"
VERDICT_TRACES="${VERDICT_TRACES:-1}"

. "$ROOT/benches/setup.sh"
bench_build verdict-bench-mlflow verdict-bench-mlflow
bench_mlflow verdict-mlflow-bench

WORKERS="${VERDICT_MLFLOW_WORKERS:-1}"
NODELAY="$([ "${VERDICT_MLFLOW_TCP_NODELAY:-0}" = 1 ] && echo on || echo off)"
echo "== starting mlflow server ($WORKERS worker(s), TCP_NODELAY workaround $NODELAY; load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
URL="$("$ROOT/scripts/mlflow/start.sh" "$DIR" | tail -n 1)"
echo "   $URL" >&2

python_client() {
  MLFLOW_TRACKING_URI="$URL" "$PY" - "$PY_N" "${PY_WARMUP:-20}" <<'PYTHON' | tail -n 1
import json, os, sys, time, warnings
import mlflow

warnings.filterwarnings("ignore")
n = int(sys.argv[1])
warmup = int(sys.argv[2])
mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
experiment_id = mlflow.set_experiment("verdict-bench-mlflow").experiment_id

with mlflow.start_span(name="bench request") as span:
    span.set_inputs({"q": "?"})
    trace_id = span.trace_id
flush = getattr(mlflow, "flush_trace_async_logging", None)
if flush is not None:
    flush()
deadline = time.monotonic() + 30
while mlflow.get_trace(trace_id) is None:
    if time.monotonic() > deadline:
        sys.exit(f"trace {trace_id} never reached the server")
    time.sleep(0.1)

for _ in range(warmup):
    mlflow.log_feedback(trace_id=trace_id, name="warmup", value=True, rationale="r")

start = time.perf_counter()
for _ in range(n):
    mlflow.log_feedback(trace_id=trace_id, name="x", value=True, rationale="r")
seconds = time.perf_counter() - start

stored = len(mlflow.get_trace(trace_id).info.assessments) - warmup
if stored != n:
    sys.exit(f"expected {n} assessments on {trace_id}, the server has {stored}")
print(json.dumps({"client": "mlflow", "n": n, "seconds": round(seconds, 3),
                  "per_second": round(n / seconds, 1), "experiment_id": experiment_id,
                  "stored": stored}))
PYTHON
}

echo "== warm-up: Verdict, ${VERDICT_WARMUP_N:-400} feedbacks on 4 traces (untimed)" >&2
MLFLOW_TRACKING_URI="$URL" MLFLOW_EXPERIMENT_ID=0 "$BIN" "${VERDICT_WARMUP_N:-400}" 4 >/dev/null

echo "== MLflow Python client: $PY_N x mlflow.log_feedback (before)" >&2
PY_LINE="$(python_client)"
echo "$PY_LINE"
field() { "$PY" -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
EXPERIMENT_ID="$(field "$PY_LINE" experiment_id)"

echo "== Verdict: $VERDICT_N feedbacks through Recorder + MlflowSink" >&2
VERDICT_LINE="$(MLFLOW_TRACKING_URI="$URL" MLFLOW_EXPERIMENT_ID="$EXPERIMENT_ID" \
  "$BIN" "$VERDICT_N" "$VERDICT_TRACES")"
echo "$VERDICT_LINE"

COMPARE_LINE='{}'
if [ -n "${VERDICT_COMPARE_BIN:-}" ]; then
  echo "== Verdict, the build to compare ($VERDICT_COMPARE_BIN)" >&2
  COMPARE_LINE="$(MLFLOW_TRACKING_URI="$URL" MLFLOW_EXPERIMENT_ID="$EXPERIMENT_ID" \
    "$VERDICT_COMPARE_BIN" "$VERDICT_N" "$VERDICT_TRACES")"
  echo "$COMPARE_LINE"
fi

echo "== MLflow Python client: $PY_N x mlflow.log_feedback (after)" >&2
PY_AFTER="$(python_client)"
echo "$PY_AFTER"

"$PY" - "$PY_LINE" "$VERDICT_LINE" "$PY_AFTER" "$COMPARE_LINE" <<'PYTHON'
import json, sys
before, rs, after, compare = (json.loads(a) for a in sys.argv[1:5])
py = {"n": before["n"] + after["n"], "seconds": before["seconds"] + after["seconds"]}
py["per_second"] = (before["per_second"] + after["per_second"]) / 2
ratio = rs["per_second"] / py["per_second"]
print(f"mlflow python client: {py['per_second']:.1f} feedbacks/s (mean of {before['per_second']:.1f} before and {after['per_second']:.1f} after)")
print(f"verdict mlflow sink:  {rs['per_second']:.1f} feedbacks/s ({rs['n']} in {rs['seconds']:.2f} s)")
# Issue 12: 25x for new traces (together, assembled), 20x adding feedback
# to traces already on the server (the default mode).
target = 25 if rs.get("mode") in ("together", "assembled") else 20
print(f"ratio verdict/mlflow: {ratio:.2f}x (issue 12 target: {target}x) -> {'PASS' if ratio >= target else 'FAIL'}")
if compare:
    print(f"build compared:       {compare['per_second']:.1f} feedbacks/s ({compare['n']} in "
          f"{compare['seconds']:.2f} s), ratio {compare['per_second'] / py['per_second']:.2f}x; "
          f"this build / that one: {rs['per_second'] / compare['per_second']:.2f}x")
PYTHON
echo "server: $WORKERS worker(s), TCP_NODELAY workaround: $NODELAY; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
