//! Running the system under test outside the process: the
//! [`Predictor`](verdict_eval::predict::Predictor)s of `verdict eval --predict CMD`
//! ([`CommandPredictor`]) and `--predict-url URL` ([`UrlPredictor`]), and
//! the run's OTLP/HTTP endpoint ([`SpanEndpoint`]) where the system sends
//! the spans of each call, so that trace scorers judge what it did.
//!
//! - [`SpanEndpoint`] listens on loopback for the run; each call watches
//!   its record's trace and takes the spans that arrived in it.
//! - [`CommandPredictor`] runs `sh -c CMD`, long-lived, and exchanges one
//!   JSON line per record over its standard input and output.
//! - [`UrlPredictor`] posts each record's inputs to a URL.
//!
//! The decision that shapes it: **the system is told its record's trace
//! context and sends its spans itself, over OTLP**, the way any
//! OpenTelemetry SDK already exports: `traceparent` in the request, the
//! endpoint in `OTEL_EXPORTER_OTLP_ENDPOINT`. The alternative, spans
//! carried back in each answer, would make every predictor serialize its
//! own spans in a format of ours and would not work for a service whose
//! spans an SDK exports.
//!
//! The command runs under `sh -c`, not split into arguments by us: a
//! command line means what it means in a shell (quoting, variables,
//! `cd dir && …`), with no second set of splitting rules to learn. Its
//! standard error is passed through to `verdict`'s, so its logs and
//! tracebacks show where the user is looking; capturing it was rejected,
//! as it would need a bound and a place to show it for no gain.
//!
//! Unix only: process groups and signals are what make a hung or broken
//! process, and everything it started, go away.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

#[cfg(unix)]
mod child;
#[cfg(unix)]
mod command;
mod endpoint;
pub mod protocol;
mod url;

#[cfg(unix)]
pub use command::{CommandOptions, CommandPredictor, StartError};
pub use endpoint::{SpanEndpoint, Watch};
pub use url::{UrlError, UrlPredictor};
