//! Starts as a service would: installs its tracing pipeline, then asks
//! Verdict whether it can read the spans made there. Prints what Verdict
//! says and exits 1 when the check fails.

use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::layer::SubscriberExt as _;

fn main() {
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("service"));
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");

    // The service's own spans work: its layer gives them a context.
    let span = tracing::info_span!("request");
    let own = span.in_scope(|| {
        use opentelemetry::trace::TraceContextExt as _;
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        tracing::Span::current()
            .context()
            .span()
            .span_context()
            .is_valid()
    });
    println!("own context valid: {own}");

    match verdict::check_tracing_setup() {
        Ok(()) => println!("verdict: ok"),
        Err(error) => {
            println!("verdict: {error}");
            std::process::exit(1);
        }
    }
}
