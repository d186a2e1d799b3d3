#!/usr/bin/env bash
# What a one-worker MLflow 3.17.2 server itself costs per request, measured
# with plain HTTP from Python (`requests`, one kept-alive connection, one
# request at a time): the floor under both MLflow's client and Verdict's
# sink, whatever either does on its side.
#
# Usage: benches/mlflow_server_costs.sh [ROUNDS]   (default 40, env ROUNDS)
#
# For each kind of request it prints the median time of ROUNDS requests, then
# what follows from them:
#   - the server's part of `mlflow.log_feedback` (one create request per
#     feedback), next to the client's own calls timed the same way;
#   - creating k assessments inline on a trace the server has already
#     (`POST /api/3.0/mlflow/traces`, the only request that creates several
#     at once there): a fixed cost per request plus a cost per assessment,
#     fitted from k = 1 and k = 100;
#   - the same on a trace the request creates;
#   - reading traces one `GET` each, or 100 at a time (`batchGetInfos`);
#   - the best ratio any client could reach over `mlflow.log_feedback`
#     adding k feedbacks to a trace the server has: log_feedback's time per
#     feedback over the server's inline cost per feedback (fixed cost / k +
#     cost per assessment), reading left out.
# The server is started in a temporary directory and stopped on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${1:-${ROUNDS:-40}}"

. "$ROOT/benches/setup.sh"
bench_mlflow verdict-mlflow-costs
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
bench_mlflow_start

MLFLOW_TRACKING_URI="$URL" "$PY" - "$ROUNDS" <<'PYTHON'
import os, statistics, sys, time, uuid, warnings

import requests

warnings.filterwarnings("ignore")
URL = os.environ["MLFLOW_TRACKING_URI"]
ROUNDS = int(sys.argv[1])
API = f"{URL}/api/3.0/mlflow"
http = requests.Session()


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def feedback(trace_id):
    # What Verdict sends for a feedback, and what log_feedback's request carries.
    return {"assessment_id": "a-" + uuid.uuid4().hex, "assessment_name": "x",
            "trace_id": trace_id, "source": {"source_type": "CODE", "source_id": "bench"},
            "create_time": now(), "last_update_time": now(),
            "feedback": {"value": True}, "rationale": "r", "valid": True}


def info(trace_id, k):
    return {"trace_id": trace_id,
            "trace_location": {"type": "MLFLOW_EXPERIMENT",
                               "mlflow_experiment": {"experiment_id": "0"}},
            "request_time": now(), "execution_duration": "0.001s", "state": "OK",
            "trace_metadata": {"mlflow.trace_schema.version": "3"},
            "tags": {"mlflow.traceName": "bench"},
            "assessments": [feedback(trace_id) for _ in range(k)]}


def ok(response):
    response.raise_for_status()
    return response


def new_trace(k=0):
    trace_id = "tr-" + uuid.uuid4().hex
    ok(http.post(f"{API}/traces", json={"trace": {"trace_info": info(trace_id, k)}}))
    return trace_id


def as_read(trace_id):
    # What Verdict sends back of a trace it read: its info without what the
    # server would merge.
    got = ok(http.get(f"{API}/traces/{trace_id}")).json()["trace"]["trace_info"]
    for field in ("assessments", "tags", "trace_metadata", "request_preview",
                  "response_preview"):
        got.pop(field, None)
    return got


def median_ms(requests_to_time):
    times = []
    for request in requests_to_time:
        start = time.perf_counter()
        request()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


results = {}


def measure(label, make, rounds=ROUNDS):
    """make() prepares one request (untimed) and returns it."""
    prepared = [make() for _ in range(rounds)]
    results[label] = median_ms(prepared)
    print(f"{label:<58} {results[label]:8.2f} ms", flush=True)


for _ in range(20):  # warm-up
    new_trace(1)

measure("new trace, 0 assessments", lambda: lambda: new_trace(0))
for k in (1, 10, 100):
    measure(f"new trace, {k} assessments inline", lambda k=k: lambda: new_trace(k))


def existing_inline(k):
    trace_id = new_trace(0)
    body = as_read(trace_id)
    body["assessments"] = [feedback(trace_id) for _ in range(k)]
    return lambda: ok(http.post(f"{API}/traces", json={"trace": {"trace_info": body}}))


for k in (1, 10, 100):
    measure(f"existing trace, {k} assessments inline", lambda k=k: existing_inline(k))


def single_create():
    trace_id = new_trace(0)
    body = {"assessment": feedback(trace_id)}
    return lambda: ok(http.post(f"{API}/traces/{trace_id}/assessments", json=body))


measure("existing trace, 1 assessment by the create endpoint", single_create)


def one_get():
    trace_id = new_trace(0)
    return lambda: ok(http.get(f"{API}/traces/{trace_id}"))


measure("GET of a trace", one_get)


def batch_read(present):
    ids = [new_trace(0) if present else "tr-" + uuid.uuid4().hex for _ in range(100)]
    return lambda: ok(http.post(f"{API}/traces/batchGetInfos", json={"trace_ids": ids}))


measure("batchGetInfos of 100 traces it has", lambda: batch_read(True), max(ROUNDS // 4, 5))
measure("batchGetInfos of 100 traces it lacks", lambda: batch_read(False), max(ROUNDS // 4, 5))



def in_flight(label, k, threads, traces):
    """k assessments inline on each of `traces` existing traces, `threads`
    requests at a time (each its own connection): the server's time per
    assessment when it is kept busy, overlapping what it waits on."""
    from concurrent.futures import ThreadPoolExecutor

    bodies = []
    for _ in range(traces):
        trace_id = new_trace(0)
        body = as_read(trace_id)
        body["assessments"] = [feedback(trace_id) for _ in range(k)]
        bodies.append(body)
    sessions = [requests.Session() for _ in range(threads)]

    def post(i):
        ok(sessions[i % threads].post(f"{API}/traces",
                                      json={"trace": {"trace_info": bodies[i]}}))

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(post, range(traces)))
    results[label] = (time.perf_counter() - start) * 1000 / (k * traces)
    print(f"{label:<58} {results[label]:8.2f} ms an assessment", flush=True)




def spans_request(trace_ids):
    """One OTLP/HTTP protobuf request carrying a root span for each trace."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest)

    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    now_ns = time.time_ns()
    for trace_id in trace_ids:
        span = scope.spans.add()
        span.trace_id = bytes.fromhex(trace_id[3:])
        span.span_id = os.urandom(8)
        span.name = "bench"
        span.start_time_unix_nano = now_ns - 1_000_000
        span.end_time_unix_nano = now_ns
    body = request.SerializeToString()
    headers = {"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": "0"}
    return lambda: ok(http.post(f"{URL}/v1/traces", data=body, headers=headers))


SPAN_TRACES = 50
measure(f"spans of {SPAN_TRACES} traces it has (made with 100 inline), one OTLP request",
        lambda: spans_request([new_trace(100) for _ in range(SPAN_TRACES)]),
        max(ROUNDS // 8, 3))
measure(f"spans of {SPAN_TRACES} traces it lacks, one OTLP request",
        lambda: spans_request(["tr-" + uuid.uuid4().hex for _ in range(SPAN_TRACES)]),
        max(ROUNDS // 8, 3))

for threads in (1, 2, 4):
    in_flight(f"existing traces, 100 inline each, {threads} in flight", 100, threads,
              max(ROUNDS // 2, 10))

import mlflow  # noqa: E402

mlflow.set_tracking_uri(URL)
trace_id = new_trace(0)
for _ in range(20):
    mlflow.log_feedback(trace_id=trace_id, name="warmup", value=True, rationale="r")
measure("mlflow.log_feedback (the client, one feedback)",
        lambda: lambda: mlflow.log_feedback(trace_id=trace_id, name="x", value=True,
                                            rationale="r"),
        ROUNDS * 5)

r = results
per_existing = (r["existing trace, 100 assessments inline"]
                - r["existing trace, 1 assessments inline"]) / 99
fixed_existing = r["existing trace, 1 assessments inline"] - per_existing
per_new = (r["new trace, 100 assessments inline"] - r["new trace, 1 assessments inline"]) / 99
fixed_new = r["new trace, 1 assessments inline"] - per_new
client = r["mlflow.log_feedback (the client, one feedback)"]
print()
print(f"inline on an existing trace: {fixed_existing:.1f} ms a request + {per_existing:.2f} ms an assessment")
print(f"inline on a new trace:       {fixed_new:.1f} ms a request + {per_new:.2f} ms an assessment")
print(f"create endpoint (log_feedback's request): "
      f"{r['existing trace, 1 assessment by the create endpoint']:.1f} ms; "
      f"log_feedback through the client: {client:.1f} ms")
print(f"reading: GET {r['GET of a trace']:.1f} ms a trace; batchGetInfos "
      f"{r['batchGetInfos of 100 traces it has'] / 100:.2f} ms a trace it has, "
      f"{r['batchGetInfos of 100 traces it lacks'] / 100:.2f} ms a trace it lacks")
busiest = min(r[f"existing traces, 100 inline each, {t} in flight"] for t in (1, 2, 4))
print(f"existing traces, 100 inline each, the server kept busy: {busiest:.2f} ms an assessment "
      f"-> at most {client / busiest:.1f}x log_feedback")
for k in (10, 100, 1000):
    floor = fixed_existing / k + per_existing
    print(f"best ratio over log_feedback, {k} feedbacks a trace the server has: "
          f"{client / floor:.1f}x (server floor {floor:.2f} ms a feedback)")
spans_has = r[f"spans of {SPAN_TRACES} traces it has (made with 100 inline), one OTLP request"] / SPAN_TRACES
spans_lacks = r[f"spans of {SPAN_TRACES} traces it lacks, one OTLP request"] / SPAN_TRACES
print(f"spans over OTLP: {spans_has:.1f} ms a trace it has, {spans_lacks:.1f} ms a trace it lacks")
new_floor = (fixed_new + spans_has) / 100 + per_new
print(f"best ratio over log_feedback, new traces of 100 (created inline, then their spans): "
      f"{client / new_floor:.1f}x (server floor {new_floor:.2f} ms a feedback)")
PYTHON
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
