#!/usr/bin/env python3
"""Capture MLflow assessment JSON fixtures from a real MLflow 3.17.2 server.

Usage (with the venv from install.sh, against a server from start.sh):
    URL=$(scripts/mlflow/start.sh /tmp/mlflow-fixtures)
    "$(scripts/mlflow/install.sh)/bin/python" scripts/mlflow/capture_fixtures.py \
        "$URL" crates/verdict/tests/fixtures/mlflow
    scripts/mlflow/stop.sh /tmp/mlflow-fixtures

The trace (a root span and a child span) is made with the mlflow SDK; every
assessment call goes over the raw REST API (urllib) so the files hold the wire
form. Each <case>.json is the verbatim body of GET .../assessments/{id},
re-indented. capture.json records the ids and the request bodies sent;
probes.json records status code and body of edge-case calls.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid

os.environ.setdefault("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")

import mlflow  # noqa: E402

if len(sys.argv) != 3:
    sys.exit("usage: capture_fixtures.py SERVER_URL OUTPUT_DIR")
URL = sys.argv[1].rstrip("/")
OUT = sys.argv[2]
os.makedirs(OUT, exist_ok=True)


def call(method, path, body=None):
    """One raw HTTP call; returns (status, parsed JSON body or raw text)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(URL + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    text = raw.decode("utf-8", "replace")
    try:
        return status, json.loads(text) if text else None
    except ValueError:
        return status, text


def ok(method, path, body=None):
    status, answer = call(method, path, body)
    if status != 200:
        sys.exit(f"{method} {path} -> {status}: {answer}\nrequest: {json.dumps(body)}")
    return answer


def save(name, obj):
    with open(os.path.join(OUT, name + ".json"), "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


# --- the trace: root span + child span, through the SDK -----------------------
mlflow.set_tracking_uri(URL)
mlflow.set_experiment(experiment_id="0")
with mlflow.start_span(name="answer_question", span_type="CHAIN") as root:
    root.set_inputs({"question": "What is the capital of France?"})
    with mlflow.start_span(name="llm_call", span_type="LLM") as child:
        child.set_inputs({"prompt": "What is the capital of France?"})
        child.set_outputs({"text": "Paris"})
    root.set_outputs({"answer": "Paris"})
try:
    mlflow.flush_trace_async_logging()
except Exception:  # noqa: BLE001 - older/newer SDKs may lack or refuse it
    pass

TRACE = root.trace_id
ROOT_SPAN, CHILD_SPAN = root.span_id, child.span_id
for _ in range(60):
    if call("GET", f"/api/3.0/mlflow/traces/{TRACE}")[0] == 200:
        break
    time.sleep(0.5)
else:
    sys.exit(f"trace {TRACE} never became visible on the server")

# a real run, for the sourceRunId metadata
RUN = ok("POST", "/api/2.0/mlflow/runs/create",
         {"experiment_id": "0", "run_name": "capture_fixtures",
          "start_time": int(time.time() * 1000)})["run"]["info"]["run_id"]

A = f"/api/3.0/mlflow/traces/{TRACE}/assessments"
CODE = {"source_type": "CODE", "source_id": "capture_fixtures"}
JUDGE = {"source_type": "LLM_JUDGE", "source_id": "openai:/gpt-4o-mini"}
HUMAN = {"source_type": "HUMAN", "source_id": "alice@example.com"}
ERROR = {"error_code": "RATE_LIMIT_EXCEEDED",
         "error_message": "judge rate-limited after 3 retries",
         "stack_trace": "Traceback (most recent call last):\n  File \"judge.py\", line 1\nRateLimitError"}
CLIENT_ID = "a-" + uuid.uuid4().hex


def fb(name, feedback, source=CODE, **extra):
    return {"assessment_name": name, "trace_id": TRACE, "span_id": ROOT_SPAN,
            "source": source, "feedback": feedback, **extra}


def ex(name, expectation, **extra):
    return {"assessment_name": name, "trace_id": TRACE, "span_id": ROOT_SPAN,
            "source": HUMAN, "expectation": expectation, **extra}


cases = {
    "feedback_bool": fb("correctness", {"value": True}, span_id=CHILD_SPAN,
                        rationale="The answer names Paris.",
                        metadata={"scorer.version": "1"}),
    "feedback_number": fb("relevance", {"value": 0.75}),
    "feedback_int": fb("exact_match", {"value": 1}),
    "feedback_string": fb("tone", {"value": "good"}),
    "feedback_list": fb("tags", {"value": [1, "a", True]}),
    "feedback_object": fb("details", {"value": {"k": "v", "n": 2}}),
    "feedback_error": fb("groundedness", {"value": None, "error": ERROR}, source=JUDGE),
    "feedback_value_and_error": fb("safety", {"value": 0.3, "error": ERROR}, source=JUDGE),
    "feedback_run_id": fb("faithfulness", {"value": 0.9},
                          metadata={"mlflow.assessment.sourceRunId": RUN}),
    "feedback_trace_level": {"assessment_name": "overall", "trace_id": TRACE,
                             "source": CODE, "feedback": {"value": "pass"}},
    "feedback_client_id": fb("client_id", {"value": True}, assessment_id=CLIENT_ID),
    "expectation_string": ex("expected_response", {"value": "Paris"}),
    "expectation_number": ex("expected_count", {"value": 42}),
    "expectation_bool": ex("expected_refusal", {"value": False}),
    "expectation_list": ex("expected_ids", {"value": [1, 2]}),
    "expectation_object": ex("expected_facts", {"serialized_value": {
        "serialization_format": "JSON_FORMAT", "value": json.dumps({"answer": "Paris"})}}),
}

record = {
    "mlflow_version": mlflow.__version__,
    "trace_id": TRACE, "root_span_id": ROOT_SPAN, "child_span_id": CHILD_SPAN,
    "run_id": RUN, "cases": {},
}
ids = {}
for name, assessment in cases.items():
    body = {"assessment": assessment}
    created = ok("POST", A, body)
    aid = created["assessment"]["assessment_id"]
    ids[name] = aid
    record["cases"][name] = {"request": body, "create_response": created,
                             "assessment_id": aid}
    save(name, ok("GET", f"{A}/{aid}"))
record["client_id_sent"] = CLIENT_ID
record["client_id_kept"] = ids["feedback_client_id"] == CLIENT_ID

# --- override --------------------------------------------------------------
body = {"assessment": fb("correctness", {"value": False}, span_id=CHILD_SPAN,
                         source=HUMAN, rationale="Reviewer disagrees.",
                         overrides=ids["feedback_bool"])}
created = ok("POST", A, body)
override_id = created["assessment"]["assessment_id"]
record["cases"]["override"] = {"request": body, "create_response": created,
                               "assessment_id": override_id}
save("override", ok("GET", f"{A}/{override_id}"))
save("overridden_after", ok("GET", f"{A}/{ids['feedback_bool']}"))

# --- update (PATCH) --------------------------------------------------------
body = {"assessment": {"feedback": {"value": 0.5},
                       "rationale": "Re-scored after review.",
                       "metadata": {"reviewed": "yes"}},
        "update_mask": "feedback,rationale,metadata"}
record["cases"]["update"] = {"request": body, "assessment_id": ids["feedback_number"]}
save("update_response", ok("PATCH", f"{A}/{ids['feedback_number']}", body))
save("update_after", ok("GET", f"{A}/{ids['feedback_number']}"))

# --- delete the override: is the original valid again? ----------------------
record["cases"]["after_delete"] = {
    "delete_response": ok("DELETE", f"{A}/{override_id}"),
    "assessment_id": ids["feedback_bool"]}
save("after_delete", ok("GET", f"{A}/{ids['feedback_bool']}"))

save("trace", ok("GET", f"/api/3.0/mlflow/traces/{TRACE}"))

# --- probes ------------------------------------------------------------------
probes = {}


def probe(name, method, path, body=None):
    status, answer = call(method, path, body)
    probes[name] = {"request": {"method": method, "path": path.replace(TRACE, "{trace_id}"),
                                "body": body},
                    "status": status, "body": answer}
    return status, answer


leftovers = []


def throwaway(name):
    tid = ok("POST", A, {"assessment": fb(name, {"value": 1.0})})["assessment"]["assessment_id"]
    leftovers.append(tid)
    return tid


probe("expectation_value_null", "POST", A,
      {"assessment": ex("expected_nothing", {"value": None})})
probe("feedback_no_value_no_error", "POST", A,
      {"assessment": fb("empty_feedback", {})})
probe("duplicate_client_assessment_id", "POST", A,
      {"assessment": fb("client_id_again", {"value": False}, assessment_id=CLIENT_ID)})
probe("override_missing_id", "POST", A,
      {"assessment": fb("correctness", {"value": False},
                        overrides="a-" + "0" * 32)})
probe("get_missing_id", "GET", f"{A}/a-{'0' * 32}")
tid = throwaway("to_delete")
probe("delete_first", "DELETE", f"{A}/{tid}")
probe("delete_second", "DELETE", f"{A}/{tid}")
tid = throwaway("patch_valid")
probe("patch_update_mask_valid", "PATCH", f"{A}/{tid}",
      {"assessment": {"valid": False}, "update_mask": "valid"})
probe("patch_update_mask_valid_then_get", "GET", f"{A}/{tid}")
tid = throwaway("patch_object_mask")
probe("patch_update_mask_object_form", "PATCH", f"{A}/{tid}",
      {"assessment": {"rationale": "set via object mask"},
       "update_mask": {"paths": ["rationale"]}})
probe("create_empty_name", "POST", A, {"assessment": fb("", {"value": True})})
probe("create_source_type_bogus", "POST", A,
      {"assessment": fb("bogus_source", {"value": True},
                        source={"source_type": "BOGUS", "source_id": "x"})})
probe("feedback_value_null_no_error", "POST", A,
      {"assessment": fb("null_feedback", {"value": None})})
probe("neither_feedback_nor_expectation", "POST", A,
      {"assessment": {"assessment_name": "bare", "trace_id": TRACE, "source": CODE}})
probe("create_span_id_empty_string", "POST", A,
      {"assessment": fb("empty_span", {"value": True}, span_id="")})
# clean up what the probes created, so the trace keeps only the captured cases
for result in probes.values():
    answer = result["body"]
    if (result["request"]["method"] == "POST" and result["status"] == 200
            and isinstance(answer, dict) and "assessment" in answer):
        call("DELETE", f"{A}/{answer['assessment']['assessment_id']}")
for tid in leftovers:
    call("DELETE", f"{A}/{tid}")

save("probes", probes)
save("capture", record)
print(f"captured {len(os.listdir(OUT))} files for trace {TRACE} into {OUT}")
