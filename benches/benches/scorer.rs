//! The cost of the plugin boundary, and how the runner scales.
//!
//! - `plugin_boundary`: exact match (default config) over the same records,
//!   256 at a time: the Rust type called directly into a `Vec<Outcome>`
//!   (`rust_type`, the baseline); the plugin library cargo built, loaded
//!   and called through the host's `Scorer::score_batch` (the batch entry)
//!   into the host's result storage (`plugin_batch`); and the very code
//!   `rust_type` calls, through the same interface and storage
//!   (`static_host`).
//! - `plugin_boundary_runner`: compiled in and loaded, through the runner
//!   on one thread.
//! - `runner_threads`: records per second of the runner with exact match,
//!   regex and edit distance, on 1 and on 2 threads.
//! - `trace_scorer`: the same records, each with a trace of 10 spans (an
//!   agent, model calls with token usage, tool calls): exact match through
//!   the host, which lays out no trace (`exact_match`, the baseline); the
//!   trace views laid out (`trace_views`); `token_budget` and `tool_calls`
//!   compiled in, and `tool_calls` loaded, through the host's traced batch
//!   entry with views laid out once; and the runner with exact match and
//!   `tool_calls` on one thread (`runner_exact_match`,
//!   `runner_with_tool_calls`), views and all.
//!
//! The two plugin-boundary groups measure the CPU time of the benchmark's
//! thread ([`ThreadCpuTime`]), not wall time: the machine is shared, and
//! wall time also counts the time the thread waits for a core, which
//! varies by more than the difference measured here. Everything they time
//! runs on that one thread. `runner_threads` measures wall time, since it
//! compares thread counts.

use std::hint::black_box;

mod common;
use common::{ThreadCpuTime, plugin_file, records};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use verdict_exact_match::ExactMatch;
use verdict_plugin::Outcome;
use verdict_scorer::{
    OwnedSpan, OwnedTrace, Plugin, Registry, Results, Runner, Scorer, StaticScorer, TraceViews,
    expectation_views, record_views,
};

fn plugin_boundary(c: &mut Criterion<ThreadCpuTime>) {
    const BATCH: usize = 256;
    let records = records(1024);
    let named = expectation_views(&records);
    let views = record_views(&records, &named);
    // The very code `rust_type` calls (this crate's copy of the type),
    // behind the host's interface.
    let compiled_in: Box<dyn Scorer> =
        Box::new(StaticScorer::<ExactMatch>::from_json("{}").unwrap());
    let plugin = Plugin::load(&plugin_file("verdict_exact_match")).expect("build the plugin first");
    let loaded: Box<dyn Scorer> = Box::new(plugin.instantiate("{}").unwrap());

    let rust_type = <ExactMatch as verdict_plugin::Scorer>::from_json("{}").unwrap();

    let mut group = c.benchmark_group("plugin_boundary");
    group.throughput(Throughput::Elements(views.len() as u64));
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(BATCH);
    group.bench_function("rust_type", |b| {
        b.iter(|| {
            for chunk in views.chunks(BATCH) {
                outcomes.clear();
                <ExactMatch as verdict_plugin::Scorer>::score_batch(
                    &rust_type,
                    black_box(chunk),
                    &mut outcomes,
                );
                black_box(&outcomes);
            }
        })
    });
    let mut results = Results::with_capacity(BATCH);
    for (name, scorer) in [("plugin_batch", &loaded), ("static_host", &compiled_in)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                for chunk in views.chunks(BATCH) {
                    results.clear();
                    scorer.score_batch(black_box(chunk), &mut results);
                    black_box(&results);
                }
            })
        });
    }
    group.finish();

    // The same comparison one level up: the runner lays out record views,
    // hands chunks to the scorer and collects outcomes, on one thread.
    let mut group = c.benchmark_group("plugin_boundary_runner");
    group.throughput(Throughput::Elements(records.len() as u64));
    let runners = [
        (
            "rust_type",
            Runner::new(vec![Box::new(
                StaticScorer::<ExactMatch>::from_json("{}").unwrap(),
            )]),
        ),
        (
            "plugin_batch",
            Runner::new(vec![Box::new(plugin.instantiate("{}").unwrap())]),
        ),
    ];
    for (name, runner) in runners {
        let runner = runner.threads(1);
        group.bench_function(name, |b| {
            b.iter_with_large_drop(|| runner.score(black_box(&records)))
        });
    }
    group.finish();
}

/// A trace of 10 spans: an agent, five model calls reporting token usage,
/// four tool calls (OpenTelemetry GenAI attributes), `i` varying the
/// numbers.
fn agent_trace(i: u64) -> OwnedTrace {
    let span = |n: u8, name: &str| OwnedSpan {
        trace_id: [7; 16],
        span_id: [n; 8],
        parent_span_id: (n > 1).then_some([1; 8]),
        name: name.into(),
        start_time_unix_nano: u64::from(n) * 1_000_000,
        end_time_unix_nano: u64::from(n) * 1_000_000 + 900_000 + i,
        ..OwnedSpan::default()
    };
    let mut spans = vec![
        span(1, "invoke_agent travel").with_attribute("gen_ai.operation.name", "invoke_agent"),
    ];
    for n in 2..=6 {
        spans.push(
            span(n, "chat gpt-4o-mini")
                .with_attribute("gen_ai.operation.name", "chat")
                .with_attribute("gen_ai.usage.input_tokens", serde_json::json!(100 + i % 7))
                .with_attribute("gen_ai.usage.output_tokens", serde_json::json!(20 + i % 5)),
        );
    }
    for (n, tool) in (7..=10).zip(["search", "get_weather", "search", "book"]) {
        spans.push(
            span(n, &format!("execute_tool {tool}"))
                .with_attribute("gen_ai.operation.name", "execute_tool")
                .with_attribute("gen_ai.tool.name", tool)
                .with_attribute("gen_ai.tool.call.arguments", r#"{"q": "Paris"}"#),
        );
    }
    OwnedTrace { spans }
}

fn trace_scorer(c: &mut Criterion<ThreadCpuTime>) {
    const BATCH: usize = 256;
    let records: Vec<_> = records(1024)
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            r.with_trace(agent_trace(i as u64)).with_expectation(
                "expected_tool_calls",
                serde_json::json!(["search", "get_weather"]),
            )
        })
        .collect();
    let named = expectation_views(&records);
    let views = record_views(&records, &named);
    let traces = TraceViews::of(&records);
    let traces = traces.traces();
    let exact: Box<dyn Scorer> = Box::new(StaticScorer::<ExactMatch>::from_json("{}").unwrap());
    let budget: Box<dyn Scorer> = Box::new(
        StaticScorer::<verdict_token_budget::TokenBudget>::from_json(r#"{"max_total": 1000}"#)
            .unwrap(),
    );
    let calls_config = r#"{"match": "in_order"}"#;
    let calls: Box<dyn Scorer> =
        Box::new(StaticScorer::<verdict_tool_calls::ToolCalls>::from_json(calls_config).unwrap());
    let plugin = Plugin::load(&plugin_file("verdict_tool_calls")).expect("build the plugin first");
    let loaded: Box<dyn Scorer> = Box::new(plugin.instantiate(calls_config).unwrap());
    // Every record passes both trace scorers: the bench measures scoring,
    // not error paths.
    let mut check = Results::new();
    calls.score_batch_traced(&views, traces, &mut check);
    budget.score_batch_traced(&views, traces, &mut check);
    let passes = |r: verdict_scorer::ScoreRef<'_>| {
        r.passed() == Some(true) || r.value() == Some(verdict_scorer::ScoreValueRef::Bool(true))
    };
    assert!(
        check.iter().all(passes),
        "{:?}",
        check.get(0).map(|r| r.outcome())
    );

    let mut group = c.benchmark_group("trace_scorer");
    group.throughput(Throughput::Elements(views.len() as u64));
    let mut results = Results::with_capacity(BATCH);
    group.bench_function("exact_match", |b| {
        b.iter(|| {
            for chunk in views.chunks(BATCH) {
                results.clear();
                exact.score_batch(black_box(chunk), &mut results);
                black_box(&results);
            }
        })
    });
    group.bench_function("trace_views", |b| {
        b.iter_with_large_drop(|| TraceViews::of(black_box(&records)))
    });
    for (name, scorer) in [
        ("token_budget", &budget),
        ("tool_calls", &calls),
        ("tool_calls_plugin", &loaded),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                for (chunk, traces) in views.chunks(BATCH).zip(traces.chunks(BATCH)) {
                    results.clear();
                    scorer.score_batch_traced(black_box(chunk), black_box(traces), &mut results);
                    black_box(&results);
                }
            })
        });
    }
    let registry = Registry::with_builtins();
    let runners = [
        ("runner_exact_match", vec!["exact_match"]),
        (
            "runner_with_tool_calls",
            vec!["exact_match", "tool_calls:match=in_order"],
        ),
    ];
    for (name, specs) in runners {
        let scorers = specs
            .iter()
            .map(|s| registry.create(&s.parse().unwrap()).unwrap())
            .collect();
        let runner = Runner::new(scorers).threads(1);
        group.bench_function(name, |b| {
            b.iter_with_large_drop(|| runner.score(black_box(&records)))
        });
    }
    group.finish();
}

fn runner_threads(c: &mut Criterion) {
    let records = records(20_000);
    let registry = Registry::with_builtins();
    let specs = [
        "exact_match",
        "regex:pattern=\\d+",
        "edit_distance:max_distance=10",
    ];
    let mut group = c.benchmark_group("runner_threads");
    group.throughput(Throughput::Elements(records.len() as u64));
    group.sample_size(20);
    for threads in [1, 2] {
        let scorers = specs
            .iter()
            .map(|s| registry.create(&s.parse().unwrap()).unwrap())
            .collect();
        let runner = Runner::new(scorers).threads(threads);
        group.bench_with_input(
            BenchmarkId::from_parameter(threads),
            &records,
            |b, records| b.iter_with_large_drop(|| runner.score(black_box(records))),
        );
    }
    group.finish();
}

criterion_group! {
    name = boundary;
    config = Criterion::default().with_measurement(ThreadCpuTime::default());
    targets = plugin_boundary, trace_scorer
}
criterion_group!(scaling, runner_threads);
criterion_main!(boundary, scaling);
