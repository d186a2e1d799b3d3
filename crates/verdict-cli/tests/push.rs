//! `verdict push` replays a real store file: to a JSONL file, to an
//! in-process OTLP receiver that decodes the real protobuf requests, and
//! to a collector that is not there.

mod common;
mod fixture;

use std::process::Command;

use common::{dead_endpoint, verdict_otlp};
use fixture::{Fixture, json, stdout, usage_error};
use verdict::Assessment;
use verdict_export::testing::{HttpStub, OtlpReceiver};

/// The fixture's trace with its feedback overridden by a person, so that
/// the store holds an invalid assessment and the one overriding it.
fn reviewed_fixture() -> (Fixture, String) {
    let f = Fixture::new();
    let doc = json(&f.verdict(&["override", &f.trace_id(), &f.feedback.to_string(), "true"]));
    let new = doc["assessment_id"].as_str().unwrap().to_owned();
    (f, new)
}

#[test]
fn jsonl_gets_every_span_then_every_assessment_in_the_order_logged() {
    let (f, new) = reviewed_fixture();
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("replay.jsonl");
    let target = format!("jsonl:{}", file.display());
    let summary = stdout(&f.verdict(&["push", "--to", &target]));
    assert!(
        summary.contains("pushed 3 spans and 3 assessments of 1 traces"),
        "{summary}"
    );

    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    let spans = &lines[..3];
    assert!(spans.iter().all(|l| l["type"] == "span"));
    assert_eq!(
        spans
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["handle_request", "retrieve", "generate"]
    );
    // Span lines are the store's spans, field for field.
    let stored = f.store().spans_of(f.trace).unwrap();
    for (line, span) in spans.iter().zip(&stored) {
        assert_eq!(line, &span.to_mlflow_json());
    }
    // Assessment lines are MLflow's JSON, as the store now holds them.
    let assessments: Vec<Assessment> = text
        .lines()
        .skip(3)
        .map(|l| Assessment::from_json(l).unwrap())
        .collect();
    assert_eq!(assessments, f.store().list_by_trace(f.trace).unwrap());
    assert!(!assessments[0].is_valid(), "the overridden feedback");
    assert_eq!(assessments[2].id().to_string(), new);
    assert_eq!(assessments[2].overrides(), Some(f.feedback));
}

#[test]
fn each_destination_is_sent_what_it_has_not_seen_deletes_included() {
    let (f, new) = reviewed_fixture();
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("replay.jsonl");
    let target = format!("jsonl:{}", file.display());
    let lines = || -> Vec<serde_json::Value> {
        std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    stdout(&f.verdict(&["push", "--to", &target]));
    assert_eq!(lines().len(), 6);

    // Nothing changed: nothing is sent.
    let summary = stdout(&f.verdict(&["push", "--to", &target]));
    assert!(summary.contains("nothing new to push"), "{summary}");
    assert_eq!(lines().len(), 6);

    // The override deleted: the delete goes, and only it.
    stdout(&f.verdict(&["delete", &f.trace_id(), &new]));
    let summary = stdout(&f.verdict(&["push", "--to", &target]));
    assert!(
        summary.contains("pushed 0 spans and 0 assessments of 1 traces")
            && summary.contains("with 1 deletes"),
        "{summary}"
    );
    let all = lines();
    assert_eq!(all.len(), 7);
    assert_eq!(all[6]["type"], "delete");
    assert_eq!(all[6]["assessment_id"], new.as_str());
    assert_eq!(all[6]["trace_id"], f.trace_id());

    // A feedback logged and deleted before a push is never sent; one
    // logged since is sent as it now is.
    let gone = json(&f.verdict(&["feedback", &f.trace_id(), "fluent", "true"]));
    stdout(&f.verdict(&[
        "delete",
        &f.trace_id(),
        gone["assessment_id"].as_str().unwrap(),
    ]));
    let kept = json(&f.verdict(&["feedback", &f.trace_id(), "polite", "true"]));
    stdout(&f.verdict(&["push", "--to", &target]));
    let all = lines();
    assert_eq!(all.len(), 8, "{all:?}");
    assert_eq!(all[7]["assessment_id"], kept["assessment_id"]);

    // Another file is another destination: it gets the store as it is.
    let other = out_dir.path().join("other.jsonl");
    let summary = stdout(&f.verdict(&["push", "--to", &format!("jsonl:{}", other.display())]));
    assert!(
        summary.contains("pushed 3 spans and 3 assessments of 1 traces"),
        "{summary}"
    );
    assert_eq!(
        std::fs::read_to_string(&other).unwrap().lines().count(),
        6,
        "3 spans, the feedback (valid again), the expectation, polite"
    );

    // --again sends everything once more.
    let summary = stdout(&f.verdict(&["push", "--again", "--to", &target]));
    assert!(
        summary.contains("pushed 3 spans and 3 assessments"),
        "{summary}"
    );
    assert_eq!(lines().len(), 8 + 6);
}

#[test]
fn what_a_collector_did_not_take_is_sent_by_the_next_push() {
    let f = Fixture::new();
    // The collector is down: nothing is marked delivered.
    let endpoint = dead_endpoint();
    let out = push_otlp(&f, &endpoint);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("`verdict push` sends what was not delivered again"),
        "{stderr}"
    );
    // It is up, at the same address: everything arrives, once.
    let port: u16 = endpoint.rsplit(':').next().unwrap().parse().unwrap();
    let collector = HttpStub::builder()
        .port(port)
        .start(|_| (200, Vec::new()))
        .unwrap();
    let summary = stdout(&push_otlp(&f, &endpoint));
    assert!(
        summary.contains("pushed 3 spans and 2 assessments of 1 traces to otlp"),
        "{summary}"
    );
    let posts = |path: &str| {
        collector
            .requests()
            .iter()
            .filter(|r| r.path == path)
            .count()
    };
    assert_eq!((posts("/v1/traces"), posts("/v1/logs")), (1, 1));
    let summary = stdout(&push_otlp(&f, &endpoint));
    assert!(summary.contains("nothing new to push to otlp"), "{summary}");
    assert_eq!((posts("/v1/traces"), posts("/v1/logs")), (1, 1));
}

#[test]
fn jsonl_dash_is_standard_output_and_the_summary_goes_to_stderr() {
    let (f, _) = reviewed_fixture();
    let cwd = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["push", "--to", "jsonl:-", "--store"])
        .arg(&f.path)
        .current_dir(cwd.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("pushed 3 spans and 3 assessments of 1 traces to jsonl:-"),
        "{stderr}"
    );
    // Only JSON lines on stdout, so that it can be piped.
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    assert!(lines[..3].iter().all(|l| l["type"] == "span"));
    assert_eq!(lines[5]["overrides"], f.feedback.to_string());
    // Not a file named `-`.
    assert_eq!(std::fs::read_dir(cwd.path()).unwrap().count(), 0);
}

#[test]
fn a_reader_that_stops_reading_is_not_a_failure() {
    // `verdict push --to jsonl:- | head -1`: the pipe closes under it.
    let (f, _) = reviewed_fixture();
    // The read end is closed before the binary starts. (Closed just after
    // the spawn, it could live on a moment longer in a process another
    // test was forking, and a fast binary then wrote into the pipe.)
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["push", "--to", "jsonl:-", "--store"])
        .arg(&f.path)
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("stopped pushing to jsonl:- when its reader stopped reading"),
        "{stderr}"
    );
    assert!(!stderr.contains("error"), "{stderr}");
}

#[test]
fn otlp_receives_the_spans_and_the_assessment_events() {
    let (f, _) = reviewed_fixture();
    let receiver = OtlpReceiver::start().unwrap();
    let out = push_otlp(&f, &receiver.endpoint());
    let summary = stdout(&out);
    assert!(
        summary.contains("pushed 3 spans and 3 assessments"),
        "{summary}"
    );

    let spans = receiver.spans();
    assert_eq!(spans.len(), 3);
    let trace_bytes = f.trace.to_bytes().to_vec();
    assert!(spans.iter().all(|s| s.trace_id == trace_bytes));
    let generate = spans.iter().find(|s| s.name == "generate").unwrap();
    assert_eq!(generate.span_id, f.generate.to_bytes().to_vec());
    assert_eq!(generate.parent_span_id, f.root.to_bytes().to_vec());
    assert_eq!(generate.status.as_ref().unwrap().message, "model timed out");

    let events = receiver.log_records();
    assert_eq!(events.len(), 3);
    // Each event's name and the attribute naming what it judged.
    let named: Vec<(String, String)> = events
        .iter()
        .map(|r| {
            let attribute = |key: &str| {
                r.attributes
                    .iter()
                    .find(|kv| kv.key == key)
                    .and_then(|kv| kv.value.as_ref())
                    .map(|v| format!("{:?}", v.value))
            };
            let name = attribute("gen_ai.evaluation.name")
                .map(|n| format!("evaluation {n}"))
                .or_else(|| attribute("verdict.assessment.name").map(|n| format!("verdict {n}")))
                .unwrap_or_default();
            (r.event_name.clone(), name)
        })
        .collect();
    // Feedback as evaluation results; the expectation, ground truth, as an
    // event of its own.
    assert_eq!(named[0].0, "gen_ai.evaluation.result", "{named:?}");
    assert_eq!(named[2].0, "gen_ai.evaluation.result", "{named:?}");
    assert!(named[0].1.starts_with("evaluation") && named[0].1.contains("exact_match"));
    assert!(named[2].1.starts_with("evaluation") && named[2].1.contains("exact_match"));
    assert_eq!(named[1].0, "verdict.expectation", "{named:?}");
    assert!(
        named[1].1.starts_with("verdict") && named[1].1.contains("expected_response"),
        "{named:?}"
    );
    // Each event is on the span it judges; the expectation, of the whole
    // trace, on the trace's root span, which the push sent first.
    assert_eq!(events[0].span_id, f.generate.to_bytes().to_vec());
    assert_eq!(events[1].span_id, f.root.to_bytes().to_vec());
    assert!(events.iter().all(|r| r.trace_id == trace_bytes));

    // Spans and events say who sent them: `verdict`, when the environment
    // names no service.
    let service = |resource: &Option<_>| service_name(resource);
    for request in receiver.trace_requests() {
        for spans in &request.resource_spans {
            assert_eq!(service(&spans.resource).as_deref(), Some("verdict"));
        }
    }
    for request in receiver.log_requests() {
        for logs in &request.resource_logs {
            assert_eq!(service(&logs.resource).as_deref(), Some("verdict"));
        }
    }
}

/// The `service.name` of an OTLP resource.
fn service_name(
    resource: &Option<verdict_export::testing::proto::tonic::resource::v1::Resource>,
) -> Option<String> {
    use verdict_export::testing::proto::tonic::common::v1::any_value::Value;
    resource
        .iter()
        .flat_map(|r| &r.attributes)
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
}

/// The OpenTelemetry environment is honoured: the service's name and
/// attributes, JSON bodies, gzip; a value that is not supported stops the
/// push before anything is sent, with the variable named.
#[test]
fn otlp_honours_the_service_protocol_and_compression_of_the_environment() {
    let (f, _) = reviewed_fixture();
    let receiver = OtlpReceiver::start().unwrap();
    let store = f.path.to_str().unwrap();
    let out = verdict_otlp(
        f.path.parent().unwrap(),
        &receiver.endpoint(),
        &["push", "--to", "otlp", "--store", store],
    )
    .env("OTEL_SERVICE_NAME", "shop")
    .env("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=ci")
    .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    .env("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!((receiver.span_count(), receiver.log_record_count()), (3, 3));
    for request in receiver.requests() {
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(request.header("content-encoding"), Some("gzip"));
    }
    let resource = receiver.trace_requests()[0].resource_spans[0]
        .resource
        .clone();
    assert_eq!(service_name(&resource).as_deref(), Some("shop"));
    assert!(
        resource
            .unwrap()
            .attributes
            .iter()
            .any(|kv| kv.key == "deployment.environment")
    );

    let refused = OtlpReceiver::start().unwrap();
    let out = verdict_otlp(
        f.path.parent().unwrap(),
        &refused.endpoint(),
        &["push", "--to", "otlp", "--store", store],
    )
    .env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=\"grpc\"")
            && stderr.contains("gRPC is not supported"),
        "{stderr}"
    );
    assert!(refused.requests().is_empty());
}

#[test]
fn only_the_named_traces_are_pushed() {
    let f = Fixture::new();
    let other = "tr-0fb07256509eb9d22d07f42f7eb9f24d";
    f.store()
        .log(
            &Assessment::feedback("ok", true)
                .on_trace(other, None)
                .unwrap(),
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("one.jsonl");
    let target = format!("jsonl:{}", file.display());
    let summary = stdout(&f.verdict(&["push", "--to", &target, "--trace", other]));
    assert!(
        summary.contains("pushed 0 spans and 1 assessments of 1 traces"),
        "{summary}"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), 1);
    assert!(text.contains(other));

    let message = usage_error(&f.verdict(&[
        "push",
        "--to",
        &target,
        "--trace",
        "tr-00000000000000000000000000000001",
    ]));
    assert!(message.contains("has no trace"), "{message}");
    let message = usage_error(&f.verdict(&["push", "--to", "zipkin"]));
    assert!(message.contains("not an export target"), "{message}");
    // MLflow without a server to send to: said before anything is sent.
    let out = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["push", "--to", "mlflow", "--store"])
        .arg(&f.path)
        .env_remove("MLFLOW_TRACKING_URI")
        .output()
        .unwrap();
    let message = usage_error(&out);
    assert!(
        message.contains("MLFLOW_TRACKING_URI is not set"),
        "{message}"
    );
}

#[test]
fn what_cannot_be_delivered_is_reported_with_exit_code_1() {
    let f = Fixture::new();
    let out = push_otlp(&f, &dead_endpoint());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("pushed 0 spans and 0 assessments"));
    // OTLP counts what it could not deliver: the numbers are exact (the
    // assessments were held back when their spans failed), the trace is
    // named, and nothing is "counted by chunk".
    assert!(
        stderr.contains("error: 3 spans and 2 assessments of 1 trace were not delivered to otlp:"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("  not delivered: {}", f.trace_id())),
        "{stderr}"
    );
    assert!(!stderr.contains("may have arrived"), "{stderr}");
}

/// `verdict push --to otlp` from the fixture's store, OTLP pointed at
/// `endpoint`.
fn push_otlp(f: &Fixture, endpoint: &str) -> std::process::Output {
    let store = f.path.to_str().unwrap();
    verdict_otlp(
        f.path.parent().unwrap(),
        endpoint,
        &["push", "--to", "otlp", "--store", store],
    )
    .output()
    .unwrap()
}

#[test]
fn an_evaluation_exported_whole_is_not_pushed_again_and_push_run_sends_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = String::new();
    for i in 0..600 {
        data += &format!(
            r#"{{"inputs": "question {i}", "outputs": "a", "expectations": {{"expected_response": "a"}}}}"#
        );
        data.push('\n');
    }
    std::fs::write(dir.path().join("qa.jsonl"), data).unwrap();
    let exported = dir.path().join("exported.jsonl");
    let target = format!("jsonl:{}", exported.display());
    let run = |args: &[&str]| {
        let (code, out, err) = common::verdict_in(dir.path(), args);
        assert!(code == 0, "{args:?}: {err}");
        out
    };
    let eval = |export: &[&str]| {
        let mut args = vec![
            "eval",
            "qa.jsonl",
            "--scorer",
            "exact_match",
            "--store",
            "s.db",
        ];
        args.extend(export);
        let out = run(&args);
        out.lines()
            .last()
            .and_then(|l| l.split_whitespace().find(|w| w.starts_with("run-")))
            .unwrap()
            .to_owned()
    };
    let first = eval(&["--export", &target]);
    let exported_lines = std::fs::read_to_string(&exported).unwrap().lines().count();
    assert!(
        exported_lines >= 1200,
        "600 root spans and their feedback and expectations"
    );

    // The file has the run: nothing new.
    let summary = run(&["push", "--to", &target, "--store", "s.db"]);
    assert!(summary.contains("nothing new to push"), "{summary}");
    assert_eq!(
        std::fs::read_to_string(&exported).unwrap().lines().count(),
        exported_lines
    );

    // A second run, not exported: push --run sends it alone, once.
    let second = eval(&[]);
    assert_ne!(first, second);
    let only = dir.path().join("only.jsonl");
    let only_target = format!("jsonl:{}", only.display());
    let push_second = || {
        run(&[
            "push",
            "--run",
            &second,
            "--to",
            &only_target,
            "--store",
            "s.db",
        ])
    };
    let summary = push_second();
    assert!(
        summary.contains("pushed 600 spans and 1200 assessments of 600 traces"),
        "{summary}"
    );
    let summary = push_second();
    assert!(summary.contains("nothing new to push"), "{summary}");
    // The rest of the store is still unseen there: the first run.
    let summary = run(&["push", "--to", &only_target, "--store", "s.db"]);
    assert!(
        summary.contains("pushed 600 spans and 1200 assessments of 600 traces"),
        "{summary}"
    );
    // And the exported file has not seen the second run.
    let summary = run(&["push", "--to", &target, "--store", "s.db"]);
    assert!(summary.contains("of 600 traces"), "{summary}");

    let (code, _, err) = common::verdict_in(
        dir.path(),
        &[
            "push",
            "--run",
            "run-000000000000",
            "--to",
            &only_target,
            "--store",
            "s.db",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no run run-000000000000"), "{err}");
}

/// The spans of an OTLP-JSON dataset keep the resource they came under
/// when `verdict eval` sends them on and when `verdict push` replays them
/// from the store; the evaluation events are Verdict's own.
#[test]
fn an_otlp_datasets_resource_is_kept_on_re_export() {
    let dir = tempfile::tempdir().unwrap();
    let trace = "5b8efff798038103d269b633813fc60c";
    let request = format!(
        r#"{{"resourceSpans": [{{"resource": {{"attributes": [
            {{"key": "service.name", "value": {{"stringValue": "shop-agent"}}}},
            {{"key": "deployment.environment", "value": {{"stringValue": "prod"}}}}]}},
          "scopeSpans": [{{"scope": {{"name": "app"}}, "spans": [
            {{"traceId": "{trace}", "spanId": "eee19b7ec3c1b174", "name": "answer", "kind": 1,
              "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000001000000000",
              "attributes": [
                {{"key": "mlflow.spanInputs", "value": {{"stringValue": "\"Capital of France?\""}}}},
                {{"key": "mlflow.spanOutputs", "value": {{"stringValue": "\"Paris\""}}}},
                {{"key": "verdict.expectation.expected_response", "value": {{"stringValue": "\"Paris\""}}}}]}}]}}]}}]}}"#
    )
    .replace('\n', " ");
    std::fs::write(dir.path().join("traces.json"), format!("{request}\n")).unwrap();
    let resource_of_spans = |receiver: &OtlpReceiver| {
        let requests = receiver.trace_requests();
        let resources: Vec<_> = requests
            .iter()
            .flat_map(|r| &r.resource_spans)
            .filter(|r| r.scope_spans.iter().any(|s| !s.spans.is_empty()))
            .map(|r| r.resource.clone())
            .collect();
        assert_eq!(resources.len(), 1, "{requests:?}");
        resources[0].clone()
    };
    let environment = |resource: &Option<_>| -> Option<String> {
        use verdict_export::testing::proto::tonic::common::v1::any_value::Value;
        let resource: &Option<verdict_export::testing::proto::tonic::resource::v1::Resource> =
            resource;
        resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "deployment.environment")
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                Value::StringValue(s) => Some(s.clone()),
                _ => None,
            })
    };

    let receiver = OtlpReceiver::start().unwrap();
    let out = verdict_otlp(
        dir.path(),
        &receiver.endpoint(),
        &[
            "eval",
            "traces.json",
            "--scorer",
            "exact_match",
            "--export",
            "otlp",
            "--store",
            "s.db",
        ],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(receiver.span_count(), 1);
    let resource = resource_of_spans(&receiver);
    assert_eq!(service_name(&resource).as_deref(), Some("shop-agent"));
    assert_eq!(environment(&resource).as_deref(), Some("prod"));
    // The evaluation's events say who evaluated: Verdict.
    for request in receiver.log_requests() {
        for logs in &request.resource_logs {
            assert_eq!(service_name(&logs.resource).as_deref(), Some("verdict"));
        }
    }

    let again = OtlpReceiver::start().unwrap();
    let out = verdict_otlp(
        dir.path(),
        &again.endpoint(),
        &["push", "--to", "otlp", "--store", "s.db"],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(again.span_count(), 1);
    let resource = resource_of_spans(&again);
    assert_eq!(service_name(&resource).as_deref(), Some("shop-agent"));
    assert_eq!(environment(&resource).as_deref(), Some("prod"));
}
