//! Logs N feedbacks to a real MLflow server through a `verdict::Recorder`
//! with the `MlflowSink`, and prints how long delivery took as one JSON
//! line. `benches/mlflow_vs_python.sh` runs it next to MLflow's Python
//! client against the same server.
//!
//! ```text
//! MLFLOW_TRACKING_URI=http://127.0.0.1:5000 MLFLOW_EXPERIMENT_ID=0 \
//!     cargo run --release -p verdict-bench-mlflow -- 2000 [TRACES]
//! ```
//!
//! It first exports TRACES traces (default 1) of one span each through
//! `MlflowSink::export_spans`, untimed; then, timed, records N feedbacks
//! spread over those traces (with `Overflow::Block`), flushes, and checks
//! that every one was delivered. By default each trace's feedbacks are
//! recorded one after another, as an evaluation scores a trace with
//! several scorers; with `VERDICT_ORDER=round-robin` consecutive feedbacks
//! go to different traces (the worst case for grouping by trace).
//!
//! With `VERDICT_MODE=together` the spans are not exported first: the
//! traces and their feedbacks are shipped together, timed, with
//! `MlflowSink::export_traces` (each trace created with its feedbacks, its
//! spans posted after), and every feedback is then counted on the server.
//!
//! With `VERDICT_MODE=assembled` it goes the way an application does:
//! a real `SdkTracerProvider` and `Recorder` wired through
//! `verdict_export::TraceAssembler`. Timed: each trace's root span is
//! started, its feedbacks recorded inside it (`on_current_span`), the span
//! ended; then the tracer provider and the recorder are flushed. The
//! assembler ships each trace with the feedbacks recorded while it was
//! open. Every feedback is then counted on the server, untimed.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use verdict::{Assessment, Overflow, Recorder, Target};

fn main() -> ExitCode {
    match run() {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("verdict-bench-mlflow: {message}");
            ExitCode::FAILURE
        }
    }
}

fn arg(position: usize, default: usize) -> Result<usize, String> {
    match std::env::args().nth(position) {
        None => Ok(default),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("argument {position} must be a positive integer, not {text:?}")),
    }
}

/// `VERDICT_MODE=together`: the traces and their feedbacks shipped
/// together with `MlflowSink::export_traces`, timed from making the
/// feedbacks to the last request answered (the spans' export included);
/// then, untimed, every trace is read back and its feedbacks counted.
fn together(
    sink: &verdict_export::MlflowSink,
    spans: &[SpanData],
    n: usize,
) -> Result<String, String> {
    let per_trace = n.div_ceil(spans.len());
    let start = Instant::now();
    let assessments = (0..n)
        .map(|i| {
            let span = &spans[i / per_trace];
            Assessment::feedback("x", true)
                .rationale("r")
                .on(Target::span(
                    span.span_context.trace_id(),
                    span.span_context.span_id(),
                )?)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    sink.export_traces(spans, &assessments)
        .map_err(|e| e.to_string())?;
    let elapsed = start.elapsed();

    let trace_ids: Vec<_> = spans.iter().map(|s| s.span_context.trace_id()).collect();
    let stored = count_on_server(sink.config().tracking_uri(), &trace_ids)?;
    if stored != n {
        return Err(format!(
            "expected {n} feedbacks on the server, found {stored}"
        ));
    }
    let seconds = elapsed.as_secs_f64();
    let concurrency = sink.concurrency();
    Ok(format!(
        "{{\"client\":\"verdict\",\"mode\":\"together\",\"n\":{n},\"traces\":{},\
         \"seconds\":{seconds:.3},\"per_second\":{:.1},\"stored\":{stored},\
         \"concurrency\":{},\"lowest_concurrency\":{},\"concurrency_cuts\":{}}}",
        spans.len(),
        n as f64 / seconds,
        concurrency.limit,
        concurrency.lowest,
        concurrency.cuts,
    ))
}

/// `VERDICT_MODE=assembled`: see the crate docs.
fn assembled(
    config: verdict_export::MlflowConfig,
    n: usize,
    trace_count: usize,
    max_batch: usize,
) -> Result<String, String> {
    let sink = config.build().map_err(|e| e.to_string())?;
    let uri = sink.config().tracking_uri().to_owned();
    let (span_side, assessment_side) = verdict_export::TraceAssembler::builder(sink)
        .span_batch(
            opentelemetry_sdk::trace::BatchConfigBuilder::default()
                .with_scheduled_delay(std::time::Duration::from_millis(100))
                .build(),
        )
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(span_side)
        .build();
    let recorder = Recorder::builder()
        .processor(assessment_side)
        .overflow(Overflow::Block)
        .max_batch(max_batch)
        .build();
    let tracer = provider.tracer("verdict-bench-mlflow");
    let per_trace = n.div_ceil(trace_count);
    let mut trace_ids = Vec::with_capacity(trace_count);
    let start = Instant::now();
    let mut left = n;
    for _ in 0..trace_count {
        let count = per_trace.min(left);
        left -= count;
        let trace_id = tracer.in_span("bench request", |cx| {
            cx.span()
                .set_attribute(opentelemetry::KeyValue::new("mlflow.spanType", "CHAIN"));
            for _ in 0..count {
                let feedback = Assessment::feedback("x", true)
                    .rationale("r")
                    .on_current_span()
                    .map_err(|e| e.to_string())?;
                recorder.record(feedback).map_err(|e| e.to_string())?;
            }
            Ok::<_, String>(cx.span().span_context().trace_id())
        })?;
        trace_ids.push(trace_id);
    }
    provider.force_flush().map_err(|e| e.to_string())?;
    recorder.flush().map_err(|e| e.to_string())?;
    let elapsed = start.elapsed();
    let counters = recorder.counters();
    recorder.shutdown().map_err(|e| e.to_string())?;
    provider.shutdown().map_err(|e| e.to_string())?;
    if counters.delivered != n as u64 || counters.failed != 0 || counters.held != 0 {
        return Err(format!("not every feedback was delivered: {counters:?}"));
    }
    let stored = count_on_server(&uri, &trace_ids)?;
    if stored != n {
        return Err(format!(
            "expected {n} feedbacks on the server, found {stored}"
        ));
    }
    let seconds = elapsed.as_secs_f64();
    Ok(format!(
        "{{\"client\":\"verdict\",\"mode\":\"assembled\",\"n\":{n},\"traces\":{trace_count},\
         \"seconds\":{seconds:.3},\"per_second\":{:.1},\"stored\":{stored},\"batch\":{max_batch}}}",
        n as f64 / seconds,
    ))
}

/// Reads every trace back from the server and counts its assessments.
fn count_on_server(
    tracking_uri: &str,
    trace_ids: &[opentelemetry::trace::TraceId],
) -> Result<usize, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut stored = 0;
    for trace_id in trace_ids {
        let url = format!(
            "{tracking_uri}/api/3.0/mlflow/traces/{}",
            verdict::mlflow_trace_id(*trace_id)
        );
        let body = agent
            .get(&url)
            .call()
            .and_then(|mut r| r.body_mut().read_to_string())
            .map_err(|e| format!("reading back {url}: {e}"))?;
        let json: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        stored += json["trace"]["trace_info"]["assessments"]
            .as_array()
            .map_or(0, Vec::len);
    }
    Ok(stored)
}

/// A positive number from the environment variable `name`, if set.
fn env_number(name: &str) -> Result<Option<usize>, String> {
    match std::env::var(name) {
        Err(_) => Ok(None),
        Ok(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| format!("{name} must be a positive integer, not {text:?}")),
    }
}

/// `count` finished traces of one span each.
fn spans(count: usize) -> Result<Vec<SpanData>, String> {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("verdict-bench-mlflow");
    for _ in 0..count {
        tracer.in_span("bench request", |cx| {
            cx.span()
                .set_attribute(opentelemetry::KeyValue::new("mlflow.spanType", "CHAIN"));
        });
    }
    provider.force_flush().map_err(|e| e.to_string())?;
    exporter.get_finished_spans().map_err(|e| e.to_string())
}

fn run() -> Result<String, String> {
    let n = arg(1, 2000)?;
    let trace_count = arg(2, 1)?;
    let mut config = verdict_export::MlflowConfig::from_env().map_err(|e| e.to_string())?;
    if let Some(requests) = env_number("VERDICT_MLFLOW_CONCURRENCY")? {
        config = config.max_concurrency(requests);
    }
    let max_batch = env_number("VERDICT_BATCH")?.unwrap_or(512);
    if std::env::var("VERDICT_MODE").as_deref() == Ok("assembled") {
        return assembled(config, n, trace_count, max_batch);
    }
    let sink = Arc::new(config.build().map_err(|e| e.to_string())?);

    let spans = spans(trace_count)?;
    if std::env::var("VERDICT_MODE").as_deref() == Ok("together") {
        return together(&sink, &spans, n);
    }
    let setup = Instant::now();
    sink.export_spans(&spans).map_err(|e| e.to_string())?;
    let setup = setup.elapsed();
    let targets = spans
        .iter()
        .map(|s| Target::span(s.span_context.trace_id(), s.span_context.span_id()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;

    let recorder = Recorder::builder()
        .sink(Arc::clone(&sink))
        .overflow(Overflow::Block)
        .max_batch(max_batch)
        .build();
    let round_robin = match std::env::var("VERDICT_ORDER").as_deref() {
        Ok("round-robin") => true,
        Ok("by-trace") | Err(_) => false,
        Ok(other) => {
            return Err(format!(
                "VERDICT_ORDER must be by-trace or round-robin, not {other:?}"
            ));
        }
    };
    let per_trace = n.div_ceil(targets.len());
    let start = Instant::now();
    for i in 0..n {
        let target = if round_robin {
            targets[i % targets.len()]
        } else {
            targets[i / per_trace]
        };
        let feedback = Assessment::feedback("x", true)
            .rationale("r")
            .on(target)
            .map_err(|e| e.to_string())?;
        recorder.record(feedback).map_err(|e| e.to_string())?;
    }
    recorder.flush().map_err(|e| e.to_string())?;
    let elapsed = start.elapsed();
    let counters = recorder.counters();
    recorder.shutdown().map_err(|e| e.to_string())?;
    let concurrency = sink.concurrency();

    let all_delivered = counters.recorded == n as u64
        && counters.delivered == n as u64
        && counters.failed == 0
        && counters.dropped == 0
        && counters.rejected == 0;
    if !all_delivered {
        return Err(format!("not every feedback was delivered: {counters:?}"));
    }
    let seconds = elapsed.as_secs_f64();
    Ok(format!(
        "{{\"client\":\"verdict\",\"n\":{n},\"traces\":{trace_count},\"seconds\":{seconds:.3},\
         \"per_second\":{:.1},\"span_export_seconds\":{:.3},\"delivered\":{},\"failed\":{},\
         \"order\":\"{}\",\"batch\":{max_batch},\"concurrency\":{},\"lowest_concurrency\":{},\"concurrency_cuts\":{}}}",
        n as f64 / seconds,
        setup.as_secs_f64(),
        counters.delivered,
        counters.failed,
        if round_robin {
            "round-robin"
        } else {
            "by-trace"
        },
        concurrency.limit,
        concurrency.lowest,
        concurrency.cuts,
    ))
}
