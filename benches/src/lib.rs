//! Benchmarks of Verdict's recording path; the crate itself is empty.
//!
//! `benches/record.rs` measures, in one criterion group `record`, the cost
//! to the caller of recording one assessment on the current OpenTelemetry
//! span, against a baseline of emitting one OpenTelemetry log record:
//!
//! - `otel_log_record`: one `gen_ai.evaluation.result` log record through
//!   an `SdkLoggerProvider` with a `BatchLogProcessor` over an exporter that
//!   does nothing;
//! - `verdict_record_current_span`: `Assessment::feedback(..)` attached to
//!   the current span, then `Recorder::record` into a recorder whose only
//!   sink does nothing;
//! - `verdict_record_global`: the same through `verdict::global::record`;
//! - `verdict_build_only`: building the assessment on the current span,
//!   without recording it.
//!
//! Run them with:
//!
//! ```text
//! cargo bench -p verdict-benches --bench record -- --warm-up-time 2 --measurement-time 5
//! ```
