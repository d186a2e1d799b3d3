//! The OpenTelemetry crates this build speaks to, and a start-up check
//! that an application's `tracing` setup reaches them.
//!
//! Two versions of `opentelemetry` (or of `tracing-opentelemetry`) in one
//! build compile without a warning: each has its own context and its own
//! span extensions, and Verdict, built against one, sees nothing the
//! other records. The versions are stated here so that messages can name
//! them, and [`check_tracing_setup`] finds the mismatch at start-up
//! instead of at the first assessment.

/// The `opentelemetry` (and `opentelemetry_sdk`) minor version Verdict is
/// built against; an application's spans must come from the same one.
#[macro_export]
#[doc(hidden)]
macro_rules! __opentelemetry_version {
    () => {
        "0.33"
    };
}

/// The `tracing-opentelemetry` minor version the `tracing` feature is
/// built against.
#[macro_export]
#[doc(hidden)]
macro_rules! __tracing_opentelemetry_version {
    () => {
        "0.34"
    };
}

/// The `opentelemetry` minor version Verdict is built against: an
/// application's tracer provider must come from the same one.
pub const OPENTELEMETRY_VERSION: &str = __opentelemetry_version!();

/// The `tracing-opentelemetry` minor version the `tracing` feature is built
/// against: the application's `OpenTelemetryLayer` must come from it.
pub const TRACING_OPENTELEMETRY_VERSION: &str = __tracing_opentelemetry_version!();

/// What to check when a span made by the application has no context
/// Verdict can read (a literal, for `concat!`).
macro_rules! mismatch_hint {
    () => {
        concat!(
            "if a tracer is set up, it may come from another version of the OpenTelemetry \
             crates than Verdict's (opentelemetry ",
            $crate::__opentelemetry_version!(),
            ", tracing-opentelemetry ",
            $crate::__tracing_opentelemetry_version!(),
            "); `cargo tree -d -i opentelemetry` lists a second copy"
        )
    };
}
pub(crate) use mismatch_hint;

/// Checks, once at start-up, that a `tracing` span made here carries an
/// OpenTelemetry span context Verdict can read, so that
/// [`Target::current_tracing_span`](crate::Target::current_tracing_span)
/// will work: a subscriber is installed, it has an `OpenTelemetryLayer`
/// with a tracer, and both are the versions Verdict is built with
/// ([`OPENTELEMETRY_VERSION`], [`TRACING_OPENTELEMETRY_VERSION`]). The
/// error names what to fix. It makes one span, at ERROR level so that no
/// level filter hides it.
///
/// ```
/// use opentelemetry::trace::TracerProvider as _;
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use tracing_subscriber::layer::SubscriberExt as _;
///
/// let provider = SdkTracerProvider::builder().build();
/// let subscriber = tracing_subscriber::registry()
///     .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("app")));
/// tracing::subscriber::with_default(subscriber, || verdict::check_tracing_setup())?;
///
/// // Without the layer, it says what is missing.
/// let bare = tracing_subscriber::registry();
/// let error = tracing::subscriber::with_default(bare, || verdict::check_tracing_setup());
/// assert!(error.unwrap_err().to_string().contains("tracing-opentelemetry 0.34"));
/// # Ok::<(), verdict::Error>(())
/// ```
#[cfg(feature = "tracing")]
pub fn check_tracing_setup() -> crate::Result<()> {
    let span = tracing::error_span!("verdict.check_tracing_setup");
    if span.is_disabled() {
        return Err(crate::Error::NoActiveSpan {
            hint: "no `tracing` subscriber is installed here (or it takes no span): install one \
                   with `tracing_opentelemetry::layer()` before recording on `tracing` spans",
        });
    }
    span.in_scope(crate::Target::current_tracing_span).map(drop)
}
