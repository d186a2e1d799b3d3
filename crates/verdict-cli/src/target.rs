//! How a destination is named on the command line (`--export`, `--to`):
//! `otlp`, `mlflow`, `phoenix`, `jsonl:PATH` (`jsonl:-` for standard
//! output), and how the commands open one.

use verdict_eval::Interrupt;
use verdict_export::{Destination, ExportTarget, OpenOptions};

/// The destination `value` names.
pub(crate) fn parse(value: &str) -> anyhow::Result<ExportTarget> {
    match value {
        "otlp" => Ok(ExportTarget::Otlp),
        "mlflow" => Ok(ExportTarget::Mlflow),
        "phoenix" => Ok(ExportTarget::Phoenix),
        _ => match value.strip_prefix("jsonl:") {
            Some(path) if !path.is_empty() => Ok(ExportTarget::Jsonl(path.into())),
            _ => anyhow::bail!(
                "{value:?} is not an export target: write otlp, mlflow, phoenix or jsonl:PATH"
            ),
        },
    }
}

/// Opens `target` as the commands do: its retries stop at once when
/// `interrupt` is raised (a run stopped by a signal does not wait out a
/// server's retry budget), and retries that go on are told on standard
/// error.
pub(crate) fn open(target: ExportTarget, interrupt: &Interrupt) -> anyhow::Result<Destination> {
    let interrupt = interrupt.clone();
    let options = OpenOptions::default()
        .stop_retrying_when(move || interrupt.signal().is_some())
        .on_retry_wait(retry_notice());
    Ok(Destination::open_with(target, &options)?)
}

/// Tells a person, on standard error, that a destination keeps retrying,
/// so that a server that keeps failing is seen failing rather than taken
/// for a hang: one line per eighth of the retry budget (every 15 s by
/// default), however many requests retry at once.
fn retry_notice() -> impl Fn(&str, verdict_export::mlflow::Waiting) + Send + Sync + 'static {
    let last: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);
    move |destination, waiting| {
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|at| at.elapsed() < waiting.budget / 8) {
            return;
        }
        *last = Some(std::time::Instant::now());
        eprintln!(
            "{destination}: still retrying a request after {} s ({} attempts; it gives up at {} s, \
             and what is not delivered stays in the local store for `verdict push`)",
            waiting.elapsed.as_secs(),
            waiting.attempts,
            waiting.budget.as_secs()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_named_and_anything_else_is_refused_with_the_grammar() {
        assert_eq!(parse("otlp").unwrap(), ExportTarget::Otlp);
        assert_eq!(parse("mlflow").unwrap(), ExportTarget::Mlflow);
        assert_eq!(parse("phoenix").unwrap(), ExportTarget::Phoenix);
        assert_eq!(parse("jsonl:-").unwrap(), ExportTarget::Jsonl("-".into()));
        assert!(parse("jsonl:-").unwrap().is_stdout());
        assert_eq!(
            parse("jsonl:a:b.jsonl").unwrap(),
            ExportTarget::Jsonl("a:b.jsonl".into())
        );
        for bad in ["ftp", "jsonl:", "", "OTLP", "jsonl"] {
            let message = parse(bad).unwrap_err().to_string();
            assert!(
                message.contains("otlp, mlflow, phoenix or jsonl:PATH"),
                "{bad:?}: {message}"
            );
        }
        // Displayed as it is written.
        assert_eq!(
            parse("jsonl:out.jsonl").unwrap().to_string(),
            "jsonl:out.jsonl"
        );
    }
}
