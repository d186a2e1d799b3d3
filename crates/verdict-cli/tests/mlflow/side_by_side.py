"""The same record, logged by MLflow's own client and read back by it.

    side_by_side.py log EXPERIMENT_ID DATASET   # mlflow.genai.evaluate; prints the run id
    side_by_side.py read EXPERIMENT_ID RUN_ID   # what a user sees of the run, as JSON
    side_by_side.py runs EXPERIMENT_ID          # mlflow.search_runs, as JSON

The tracking server is MLFLOW_TRACKING_URI. `log` evaluates the records of
DATASET (JSON lines: inputs, outputs, expectations) with a scorer that does
what Verdict's `exact_match` does, in a run of MLflow's own making. `read`
reads a run back as a user would: `MlflowClient.get_run`,
`mlflow.search_traces(run_id=...)`, `mlflow.get_trace`, and the searches
the UI's filters make (`trace.name`, `metadata.mlflow.sourceRun`,
`feedback.NAME`). `runs` lists the experiment's runs as
`mlflow.search_runs` finds them.
"""

import json
import sys

import mlflow
from mlflow import MlflowClient
from mlflow.entities import AssessmentSource, Feedback
from mlflow.genai.scorers import scorer


@scorer
def exact_match(outputs, expectations):
    same = outputs == expectations["expected_response"]
    # The source MLflow gives a code scorer's value (CODE, the scorer's name).
    return Feedback(
        value=same,
        rationale="matches expectation" if same else "differs from expectation",
        source=AssessmentSource(source_type="CODE", source_id="exact_match"),
    )


def log(experiment_id, dataset):
    mlflow.set_experiment(experiment_id=experiment_id)
    with open(dataset) as f:
        data = [json.loads(line) for line in f if line.strip()]
    result = mlflow.genai.evaluate(data=data, scorers=[exact_match])
    print(result.run_id)


def assessment_view(a):
    d = a.to_dictionary()
    return {
        "name": a.name,
        "kind": "feedback" if a.feedback is not None else "expectation",
        "value": a.feedback.value if a.feedback is not None else a.expectation.value,
        "source_type": a.source.source_type,
        "source_id": a.source.source_id,
        "rationale": a.rationale,
        "metadata": a.metadata or {},
        "on_span": a.span_id is not None,
        "run_id": a.run_id,
        "valid": d.get("valid"),
    }


def span_view(span, root_id):
    return {
        "name": span.name,
        "span_type": span.span_type,
        "status": span.status.status_code.value,
        "inputs": span.inputs,
        "outputs": span.outputs,
        "attributes": {k: v for k, v in span.attributes.items()},
        "lasts": (span.end_time_ns or 0) - (span.start_time_ns or 0),
        "is_root": span.span_id == root_id,
    }


def trace_view(trace):
    info = trace.info
    root = trace.data._get_root_span()
    return {
        "name": info.tags.get("mlflow.traceName"),
        "state": info.state.value,
        "metadata": dict(info.trace_metadata),
        "tags": dict(info.tags),
        "request_preview": info.request_preview,
        "response_preview": info.response_preview,
        "execution_duration_ms": info.execution_duration,
        "request_time": info.request_time,
        "assessments": sorted(
            (assessment_view(a) for a in info.assessments), key=lambda a: a["name"]
        ),
        "spans": [span_view(s, root.span_id if root else None) for s in trace.data.spans],
        "root_lasts": (root.end_time_ns - root.start_time_ns) if root else None,
    }


def read(experiment_id, run_id):
    client = MlflowClient()
    run = client.get_run(run_id)
    traces = mlflow.search_traces(
        locations=[experiment_id], run_id=run_id, return_type="list"
    )
    views = [trace_view(mlflow.get_trace(t.info.trace_id)) for t in traces]

    def found(filter_string):
        return len(
            mlflow.search_traces(
                locations=[experiment_id], filter_string=filter_string, return_type="list"
            )
        )

    searches = {}
    if views:
        name = views[0]["name"]
        searches["trace.name"] = found(f"trace.name = '{name}'") if name else 0
        searches["metadata.mlflow.sourceRun"] = found(
            f"metadata.`mlflow.sourceRun` = '{run_id}'"
        )
        for a in views[0]["assessments"]:
            if a["kind"] == "feedback":
                value = str(a["value"]).lower()
                searches[f"feedback.{a['name']}"] = found(
                    f"feedback.{a['name']} = '{value}'"
                )
    print(
        json.dumps(
            {
                "run": {
                    "name": run.info.run_name,
                    "status": run.info.status,
                    "user_id": run.info.user_id,
                    "ended": run.info.end_time is not None,
                    "params": run.data.params,
                    "metrics": run.data.metrics,
                    "tags": run.data.tags,
                    "datasets": [d.dataset.name for d in run.inputs.dataset_inputs],
                },
                "traces": views,
                "searches": searches,
            },
            default=str,
        )
    )


def runs(experiment_id):
    found = mlflow.search_runs(experiment_ids=[experiment_id], output_format="list")
    print(
        json.dumps(
            [
                {
                    "run_id": r.info.run_id,
                    "name": r.info.run_name,
                    "status": r.info.status,
                    "params": r.data.params,
                    "metrics": r.data.metrics,
                    "tags": r.data.tags,
                }
                for r in found
            ]
        )
    )


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"log": log, "read": read, "runs": runs}[command](*args)
