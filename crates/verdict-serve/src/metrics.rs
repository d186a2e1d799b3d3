//! The counters a service operator reads, on `GET /metrics` in
//! Prometheus' text format, and in the summary a shutdown prints.
//!
//! Every count is of something that happened, never inferred: a span is
//! received when its request was taken (answered 200), forwarded to a
//! destination when that destination said it was delivered.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::hold::Completion;

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 20] = [
    0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0,
    2.0, 5.0, 10.0, 30.0, 60.0,
];

/// What a destination was sent and took.
#[derive(Debug, Default, Clone)]
pub struct Delivery {
    /// The destination, as named on the command line (`store` for the
    /// local store).
    pub destination: String,
    /// Spans it said it delivered.
    pub spans: u64,
    /// Assessments it said it delivered.
    pub assessments: u64,
    /// Spans it did not deliver (failed, or only kept to send later).
    pub spans_undelivered: u64,
    /// Assessments it did not deliver.
    pub assessments_undelivered: u64,
    /// Its last flush (at shutdown) failed: what it buffered may not have
    /// arrived, in numbers it cannot say.
    pub flush_failed: bool,
    /// The last reason it gave for what it did not deliver.
    pub last_error: Option<String>,
}

/// The server's counters.
#[derive(Debug, Default)]
pub struct Counters {
    pub(crate) requests_accepted: AtomicU64,
    pub(crate) requests_refused_full: AtomicU64,
    pub(crate) requests_refused_closing: AtomicU64,
    pub(crate) requests_refused_invalid: AtomicU64,
    pub(crate) requests_refused_too_large: AtomicU64,
    pub(crate) spans_received: AtomicU64,
    pub(crate) spans_refused: AtomicU64,
    pub(crate) traces_by_root: AtomicU64,
    pub(crate) traces_by_idle: AtomicU64,
    pub(crate) traces_by_shutdown: AtomicU64,
    pub(crate) traces_sampled: AtomicU64,
    pub(crate) traces_scored: AtomicU64,
    pub(crate) traces_unscorable: AtomicU64,
    pub(crate) assessments: AtomicU64,
    pub(crate) deliveries: Mutex<Vec<Delivery>>,
    last_unscorable: Mutex<Option<String>>,
    latency: Mutex<Histogram>,
}

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// A copy of the counters at one time.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Snapshot {
    /// Spans of requests taken.
    pub spans_received: u64,
    /// Spans of requests refused (full, closing, too large; those of a
    /// request that did not decode are not known).
    pub spans_refused: u64,
    /// Requests refused because the server was full (429).
    pub requests_refused_full: u64,
    /// Requests refused because they did not decode or held an invalid
    /// span (400).
    pub requests_refused_invalid: u64,
    /// Traces complete (by root, idle time or shutdown).
    pub traces_complete: u64,
    /// Traces that became complete because of the shutdown.
    pub traces_by_shutdown: u64,
    /// Traces at least one scorer was sampled for.
    pub traces_sampled: u64,
    /// Sampled traces scored.
    pub traces_scored: u64,
    /// Sampled traces that could not be scored: no root span, or a root
    /// span with no inputs or outputs.
    pub traces_unscorable: u64,
    /// Feedback made.
    pub assessments: u64,
    /// Why the last unscorable trace could not be scored.
    pub last_unscorable: Option<String>,
    /// Per destination, what it took and did not.
    pub deliveries: Vec<Delivery>,
}

impl Snapshot {
    /// Whether every destination delivered everything it was sent.
    pub fn all_delivered(&self) -> bool {
        self.deliveries
            .iter()
            .all(|d| d.spans_undelivered == 0 && d.assessments_undelivered == 0 && !d.flush_failed)
    }
}

fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

pub(crate) fn add(counter: &AtomicU64, n: usize) {
    counter.fetch_add(n as u64, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn new(destinations: impl IntoIterator<Item = String>) -> Self {
        Counters {
            deliveries: Mutex::new(
                destinations
                    .into_iter()
                    .map(|destination| Delivery {
                        destination,
                        ..Delivery::default()
                    })
                    .collect(),
            ),
            ..Counters::default()
        }
    }

    pub(crate) fn completed(&self, completion: Completion) {
        add(
            match completion {
                Completion::Root => &self.traces_by_root,
                Completion::Idle => &self.traces_by_idle,
                Completion::Shutdown => &self.traces_by_shutdown,
            },
            1,
        );
    }

    pub(crate) fn delivered(&self, index: usize, update: impl FnOnce(&mut Delivery)) {
        let mut deliveries = self
            .deliveries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(delivery) = deliveries.get_mut(index) {
            update(delivery);
        }
    }

    /// Why the last unscorable trace could not be scored.
    pub(crate) fn unscorable(&self, why: String) {
        *self
            .last_unscorable
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(why);
    }

    pub(crate) fn latency(&self, latency: Duration) {
        let seconds = latency.as_secs_f64();
        let mut h = self
            .latency
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    /// The counters now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            spans_received: get(&self.spans_received),
            spans_refused: get(&self.spans_refused),
            requests_refused_full: get(&self.requests_refused_full),
            requests_refused_invalid: get(&self.requests_refused_invalid),
            traces_complete: get(&self.traces_by_root)
                + get(&self.traces_by_idle)
                + get(&self.traces_by_shutdown),
            traces_by_shutdown: get(&self.traces_by_shutdown),
            traces_sampled: get(&self.traces_sampled),
            traces_scored: get(&self.traces_scored),
            traces_unscorable: get(&self.traces_unscorable),
            assessments: get(&self.assessments),
            last_unscorable: self
                .last_unscorable
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
            deliveries: self
                .deliveries
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        }
    }

    /// The counters in Prometheus' text exposition format, with the
    /// traces, spans and bytes held now.
    pub(crate) fn prometheus(&self, held: (usize, usize, usize)) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, series: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, value) in series {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        counter(
            "verdict_serve_requests_total",
            "OTLP requests, by answer.",
            &[
                ("{result=\"accepted\"}", get(&self.requests_accepted)),
                ("{result=\"full\"}", get(&self.requests_refused_full)),
                ("{result=\"closing\"}", get(&self.requests_refused_closing)),
                ("{result=\"invalid\"}", get(&self.requests_refused_invalid)),
                (
                    "{result=\"too_large\"}",
                    get(&self.requests_refused_too_large),
                ),
            ],
        );
        counter(
            "verdict_serve_spans_received_total",
            "Spans of requests taken.",
            &[("", get(&self.spans_received))],
        );
        counter(
            "verdict_serve_spans_rejected_total",
            "Spans of requests refused (full, closing or too large).",
            &[("", get(&self.spans_refused))],
        );
        counter(
            "verdict_serve_traces_complete_total",
            "Traces complete, by what completed them.",
            &[
                ("{by=\"root\"}", get(&self.traces_by_root)),
                ("{by=\"idle\"}", get(&self.traces_by_idle)),
                ("{by=\"shutdown\"}", get(&self.traces_by_shutdown)),
            ],
        );
        counter(
            "verdict_serve_traces_sampled_total",
            "Traces at least one scorer was sampled for.",
            &[("", get(&self.traces_sampled))],
        );
        counter(
            "verdict_serve_traces_scored_total",
            "Sampled traces scored.",
            &[("", get(&self.traces_scored))],
        );
        counter(
            "verdict_serve_traces_unscorable_total",
            "Sampled traces with no root span, or whose root span has no inputs or outputs.",
            &[("", get(&self.traces_unscorable))],
        );
        counter(
            "verdict_serve_assessments_total",
            "Feedback made by the scorers.",
            &[("", get(&self.assessments))],
        );
        let deliveries = self.snapshot().deliveries;
        let per = |value: fn(&Delivery) -> u64| -> Vec<(String, u64)> {
            deliveries
                .iter()
                .map(|d| {
                    (
                        format!("{{destination=\"{}\"}}", label(&d.destination)),
                        value(d),
                    )
                })
                .collect()
        };
        for (name, help, value) in [
            (
                "verdict_serve_forwarded_spans_total",
                "Spans a destination said it delivered.",
                (|d: &Delivery| d.spans) as fn(&Delivery) -> u64,
            ),
            (
                "verdict_serve_forwarded_assessments_total",
                "Assessments a destination said it delivered.",
                |d: &Delivery| d.assessments,
            ),
            (
                "verdict_serve_undelivered_spans_total",
                "Spans a destination did not deliver.",
                |d: &Delivery| d.spans_undelivered,
            ),
            (
                "verdict_serve_undelivered_assessments_total",
                "Assessments a destination did not deliver.",
                |d: &Delivery| d.assessments_undelivered,
            ),
        ] {
            let series = per(value);
            let borrowed: Vec<(&str, u64)> = series.iter().map(|(l, v)| (l.as_str(), *v)).collect();
            counter(name, help, &borrowed);
        }
        let (traces, spans, bytes) = held;
        for (name, help, value) in [
            ("verdict_serve_held_traces", "Traces held now.", traces),
            ("verdict_serve_held_spans", "Spans held now.", spans),
            (
                "verdict_serve_held_bytes",
                "Bytes of spans held now.",
                bytes,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        let h = self
            .latency
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let name = "verdict_serve_forward_latency_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} From a trace's completion (its root span received) to its spans and \
             assessments delivered to every destination.\n# TYPE {name} histogram"
        );
        for (bound, count) in BUCKETS.iter().zip(h.counts) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "{name}_sum {}", h.sum);
        let _ = writeln!(out, "{name}_count {}", h.count);
        out
    }
}

/// A label value, escaped as the text format wants.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
