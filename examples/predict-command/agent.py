"""A predictor that does what a small agent does, and says so in spans:
for each question it calls a `lookup` tool, then answers. Each call sends
two spans over OTLP/HTTP (JSON) to the endpoint verdict gives it in
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `agent`, child of the record's root span
(from the request's W3C traceparent), and `lookup` under it, a tool call as
OpenTelemetry's GenAI conventions write one. Standard library only; with
the OpenTelemetry SDK installed, its OTLP exporter and TraceContext
propagator do the same (flush the provider before answering).

    verdict eval examples/predict-command/capitals.jsonl \
      --predict 'python3 examples/predict-command/agent.py' \
      --config examples/predict-command/verdict.toml
"""
import json
import os
import random
import sys
import time
import urllib.request

CAPITALS = {"france": "Paris", "italy": "Rome", "japan": "Tokyo", "peru": "Lima"}
ENDPOINT = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def send(spans):
    """Posts spans and returns once the endpoint has them: a span posted
    after the answer may come too late to be the record's."""
    if not ENDPOINT:
        return
    body = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "capitals-agent"}}]},
        "scopeSpans": [{"scope": {"name": "agent.py"}, "spans": spans}],
    }]}
    request = urllib.request.Request(ENDPOINT, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).read()


def span(trace_id, parent, name, start, end, attributes, error=None):
    return {
        "traceId": trace_id, "spanId": "%016x" % random.getrandbits(64), "parentSpanId": parent,
        "name": name, "kind": 1, "startTimeUnixNano": str(start), "endTimeUnixNano": str(end),
        "status": {"code": 2, "message": error} if error else {"code": 1},
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()],
    }


print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    _, trace_id, parent, _ = request["traceparent"].split("-")
    country = str(request["inputs"].get("country", "")).strip().lower()
    start = time.time_ns()
    capital = CAPITALS.get(country)
    looked_up = time.time_ns()
    agent = span(trace_id, parent, "agent", start, 0, {"gen_ai.operation.name": "invoke_agent"})
    tool = span(trace_id, agent["spanId"], "execute_tool lookup", start, looked_up, {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "lookup",
        "gen_ai.tool.call.arguments": json.dumps({"country": country}),
    }, error=None if capital else "unknown country")
    agent["endTimeUnixNano"] = str(time.time_ns())
    send([tool, agent])
    # An answer it does not know is still an answer (its failed lookup is in
    # the trace); {"id": ..., "error": "..."} is for a call that gave none.
    print(json.dumps({"id": request["id"], "outputs": capital or "I do not know"}), flush=True)
