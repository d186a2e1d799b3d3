//! `verdict eval --predict CMD` and `--predict-url URL`: the system under
//! test, started (or reached) before the first record and stopped after
//! the last, with the OTLP endpoint its spans come to.

#[cfg(feature = "predict")]
use std::sync::Arc;
#[cfg(feature = "predict")]
use std::time::Duration;

use verdict_eval::Evaluation;

use crate::cli::PredictArgs;

/// How long a call waits, after its answer, for the system's top-level
/// span (once the system has sent any span).
#[cfg(feature = "predict")]
const SPAN_GRACE: Duration = Duration::from_millis(200);

/// The system under test, for the run's length.
pub(crate) struct System {
    #[cfg(feature = "predict")]
    endpoint: Arc<verdict_predict::SpanEndpoint>,
    #[cfg(feature = "predict")]
    command: Option<Arc<verdict_predict::CommandPredictor>>,
}

/// Sets the run's predictor from the flags: starts the command (an error
/// here, before any record, if it cannot start) or checks the URL.
#[cfg(feature = "predict")]
pub(crate) fn start(
    args: &PredictArgs,
    evaluation: Evaluation,
) -> anyhow::Result<(Evaluation, Option<System>)> {
    use verdict_eval::predict::Predictor;
    use verdict_predict::{CommandOptions, CommandPredictor, SpanEndpoint, UrlPredictor};

    if args.predict.is_none() && args.predict_url.is_none() {
        return Ok((evaluation, None));
    }
    let endpoint = Arc::new(SpanEndpoint::start(args.predict_otlp).map_err(|e| {
        anyhow::anyhow!(
            "--predict-otlp {}: the endpoint for the system's spans could not listen: {e}",
            args.predict_otlp
        )
    })?);
    let (predictor, command): (Arc<dyn Predictor>, _) = match (&args.predict, &args.predict_url) {
        (Some(command), _) => {
            let options = CommandOptions {
                processes: args.predict_processes.max(1),
                span_grace: SPAN_GRACE,
                ..CommandOptions::default()
            };
            let predictor = Arc::new(CommandPredictor::start(
                command,
                Arc::clone(&endpoint),
                options,
            )?);
            (predictor.clone(), Some(predictor))
        }
        (None, Some(url)) => (
            Arc::new(UrlPredictor::new(url, Arc::clone(&endpoint), SPAN_GRACE)?),
            None,
        ),
        (None, None) => unreachable!("one of them, checked above"),
    };
    let mut evaluation = evaluation.predict(predictor);
    if let Some(calls) = args.predict_calls {
        evaluation = evaluation.predict_calls(calls);
    }
    if let Some(limit) = args.predict_time_limit {
        evaluation = evaluation.predict_time_limit(limit.into());
    }
    Ok((evaluation, Some(System { endpoint, command })))
}

#[cfg(not(feature = "predict"))]
pub(crate) fn start(
    args: &PredictArgs,
    evaluation: Evaluation,
) -> anyhow::Result<(Evaluation, Option<System>)> {
    if args.predict.is_some() || args.predict_url.is_some() {
        anyhow::bail!("this verdict was built without the `predict` feature");
    }
    Ok((evaluation, None))
}

impl System {
    /// Stops the command's processes (calls a run abandoned included) and
    /// says how many spans came too late, or for no record, to be stored.
    pub(crate) fn finish(self) {
        #[cfg(feature = "predict")]
        {
            if let Some(command) = &self.command {
                command.stop();
            }
            let unclaimed = self.endpoint.unclaimed();
            if unclaimed > 0 {
                eprintln!(
                    "warning: {unclaimed} span(s) sent to the run's OTLP endpoint were not stored: \
                     they came after their record's call had ended (flush before answering), or \
                     were in no record's trace (use the traceparent given)"
                );
            }
        }
    }
}
