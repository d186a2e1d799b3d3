//! Quick start: a function instrumented with `tracing`, judged as it runs.
//!
//! Each call to `answer` runs in a `tracing` span that `tracing-opentelemetry`
//! turns into an OpenTelemetry span. Inside it we record the ground truth
//! (an expectation) and a heuristic judgment of the output (a CODE
//! feedback) on that span, then print every assessment as MLflow's JSON
//! and a summary.
//!
//! Run it with `cargo run -p quickstart`.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use verdict::{Assessment, AssessmentSource, MemoryStore, Recorder};

/// The "system under test": a tiny lookup with one deliberate mistake.
#[tracing::instrument]
fn answer(question: &str) -> String {
    match question {
        "What is the capital of France?" => "Paris",
        "What is the capital of Italy?" => "Rome",
        "What is the capital of Australia?" => "Sydney",
        _ => "I don't know",
    }
    .to_owned()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let provider = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("quickstart")));
    let _default = tracing::subscriber::set_default(subscriber);

    let store = MemoryStore::default();
    let recorder = Recorder::builder().sink(store.clone()).build();

    let dataset = [
        ("What is the capital of France?", "Paris"),
        ("What is the capital of Italy?", "Rome"),
        ("What is the capital of Australia?", "Canberra"),
    ];
    let mut traces = Vec::new();
    for (question, expected) in dataset {
        let span = tracing::info_span!("qa", question);
        let _entered = span.enter();
        let output = answer(question);

        let expectation =
            Assessment::expectation("expected_response", expected).on_tracing_span()?;
        traces.push(expectation.trace_id());
        recorder.record(expectation)?;
        let matched = output == expected;
        recorder.record(
            Assessment::feedback("exact_match", matched)
                .rationale(if matched {
                    format!("{output:?} equals the expected answer")
                } else {
                    format!("{output:?} differs from {expected:?}")
                })
                .source(AssessmentSource::code_named("exact_match"))
                .on_tracing_span()?,
        )?;
    }
    recorder.shutdown()?;

    for trace in traces {
        for assessment in store.list_by_trace(trace) {
            println!("{}", assessment.to_json());
        }
    }
    let summary = store.summary("exact_match");
    println!(
        "exact_match: {}/{} passed ({:.0}%)",
        summary.passed,
        summary.bools,
        100.0 * summary.pass_rate().unwrap_or(0.0)
    );
    provider.shutdown()?;
    Ok(())
}
