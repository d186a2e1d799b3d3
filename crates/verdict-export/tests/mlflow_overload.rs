//! Overload: a real MLflow 3.17.2 server with one worker and its SQLite
//! store, pushed by two sinks at full concurrency (64 requests in flight
//! against a pool of 15 database connections), runs out of connections and
//! refuses requests ("QueuePool limit of size 5 overflow 10 reached", a
//! 400, after 30 s of waiting). The sinks must back off, lower their
//! concurrency and still deliver every trace and assessment: counted back
//! through MLflow's REST API.
//!
//! It takes about a minute: the server only refuses a request after it
//! waited 30 s for a connection.

#[path = "common/mlflow_server.rs"]
mod mlflow_server;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlflow_server::MlflowServer;
use opentelemetry::trace::{Tracer, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use verdict::{Assessment, Overflow, Recorder, Target, mlflow_trace_id};
use verdict_export::{MlflowSink, RetryPolicy, WithHttpSettings as _};

const SINKS: usize = 2;
const TRACES_PER_SINK: usize = 32;
const PER_TRACE: usize = 300;
const CONCURRENCY: usize = 64;

fn traces(count: usize) -> Vec<SpanData> {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("verdict-overload-test");
    for _ in 0..count {
        tracer.in_span("request", |_| {});
    }
    provider.force_flush().unwrap();
    exporter.get_finished_spans().unwrap()
}

#[test]
fn an_overloaded_single_worker_server_gets_everything() {
    let server = MlflowServer::start();
    eprintln!("mlflow server up at {} in {:?}", server.url, server.startup);
    let start = Instant::now();
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..SINKS)
            .map(|_| {
                scope.spawn(|| {
                    let sink = Arc::new(
                        MlflowSink::builder(&server.url)
                            .max_concurrency(CONCURRENCY)
                            // Longer than the server's 30 s wait for a
                            // connection: its refusal arrives, not a timeout.
                            .timeout(Duration::from_secs(90))
                            .retry(RetryPolicy::default().budget(Duration::from_secs(240)))
                            .build()
                            .unwrap(),
                    );
                    let spans = traces(TRACES_PER_SINK);
                    sink.export_spans(&spans).unwrap();
                    let recorder = Recorder::builder()
                        .sink(sink.clone())
                        .overflow(Overflow::Block)
                        .max_batch(TRACES_PER_SINK * PER_TRACE)
                        .capacity(TRACES_PER_SINK * PER_TRACE)
                        .build();
                    let mut sent = Vec::new();
                    for span in &spans {
                        let target = Target::trace(span.span_context.trace_id()).unwrap();
                        for i in 0..PER_TRACE {
                            let a = Assessment::feedback("load", i as f64).on(target).unwrap();
                            sent.push(a.id().to_string());
                            recorder.record(a).unwrap();
                        }
                    }
                    recorder.flush().unwrap();
                    let counters = recorder.counters();
                    recorder.shutdown().unwrap();
                    (spans, sent, counters, sink.concurrency())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    eprintln!("delivered in {:?}", start.elapsed());

    let log = std::fs::read_to_string(server.dir().join("server.log")).unwrap_or_default();
    let refusals = log
        .lines()
        .filter(|l| l.contains("400 Bad Request"))
        .count()
        + log
            .lines()
            .filter(|l| l.contains(" 500 ") || l.contains(" 503 "))
            .count();
    eprintln!("the server refused {refusals} requests");
    let mut cuts = 0;
    for (spans, sent, counters, concurrency) in results {
        eprintln!("{counters:?} {concurrency:?}");
        assert_eq!(counters.delivered, sent.len() as u64, "{counters:?}");
        assert_eq!(counters.failed, 0, "{counters:?}");
        cuts += concurrency.cuts;
        let sent: HashSet<String> = sent.into_iter().collect();
        let mut on_server = Vec::new();
        for span in &spans {
            let (status, body) = server.get(&format!(
                "/api/3.0/mlflow/traces/{}",
                mlflow_trace_id(span.span_context.trace_id())
            ));
            assert_eq!(status, 200, "every trace is there: {body}");
            let list = body["trace"]["trace_info"]["assessments"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert_eq!(list.len(), PER_TRACE, "assessments on the trace");
            on_server.extend(
                list.iter()
                    .map(|a| a["assessment_id"].as_str().unwrap().to_owned()),
            );
        }
        assert_eq!(on_server.len(), sent.len());
        assert_eq!(on_server.into_iter().collect::<HashSet<_>>(), sent);
    }
    // On this machine the server refused 19-29 requests per run. On a much
    // faster one it may keep up (it refuses only after 30 s of waiting);
    // then everything must still arrive, but there was nothing to adapt to.
    if refusals > 0 {
        assert!(
            cuts > 0,
            "the server refused {refusals} requests; the sinks backed off"
        );
    } else {
        eprintln!("the server kept up this time: no refusal to adapt to");
    }
}
