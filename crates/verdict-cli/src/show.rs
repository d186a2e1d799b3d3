//! `verdict show`: a trace's spans as a tree, each with the assessments that
//! judge it, from the local store; without a trace, the most recent traces.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use verdict::opentelemetry::trace::{SpanId, Status, TraceId};
use verdict::wire::format_time;
use verdict::{Assessment, AssessmentId, AssessmentValue, mlflow_trace_id};
use verdict_export::{
    LocalStore, RecordValue, StoredResult, StoredSpan, StoredValue, TraceSummary,
};

use verdict_eval::report::{visible, visible_lines};

use crate::cli::ShowArgs;
use crate::store::{open_to_read, parse_trace, unknown_trace};

pub(crate) fn run(args: &ShowArgs) -> anyhow::Result<ExitCode> {
    let store = open_to_read(&args.store.path)?;
    let mut out = std::io::stdout().lock();
    match &args.trace {
        Some(trace) => {
            let trace_id = parse_trace(trace)?;
            let spans = store.spans_of(trace_id)?;
            let assessments = store.list_by_trace(trace_id)?;
            if spans.is_empty() && assessments.is_empty() {
                return Err(unknown_trace(&store, trace_id));
            }
            if args.json {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&trace_json(trace_id, &spans, &assessments)?)?
                )?;
            } else {
                write_trace(&mut out, trace_id, &spans, &assessments)?;
            }
        }
        None => match &args.run {
            Some(run) => list_run(&mut out, &store, run, args.limit, args.failed, args.json)?,
            None => list_recent(&mut out, &store, args.limit, args.json)?,
        },
    }
    Ok(ExitCode::SUCCESS)
}

fn trace_json(
    trace_id: TraceId,
    spans: &[StoredSpan],
    assessments: &[Assessment],
) -> anyhow::Result<Value> {
    let assessments = assessments
        .iter()
        .map(|a| serde_json::from_str::<Value>(&a.to_json()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({
        "trace_id": mlflow_trace_id(trace_id),
        "spans": spans.iter().map(StoredSpan::to_json).collect::<Vec<_>>(),
        "assessments": assessments,
    }))
}

/// The runs, newest first, then the most recent traces outside them, with
/// their root span's name: a run's thousands of traces are one line, and
/// `--run` lists them.
fn list_recent(
    out: &mut impl Write,
    store: &LocalStore,
    limit: usize,
    json: bool,
) -> anyhow::Result<()> {
    let traces = store.list_traces_outside_runs()?;
    let recent: Vec<&TraceSummary> = traces.iter().rev().take(limit).collect();
    let mut rows = Vec::with_capacity(recent.len());
    for trace in &recent {
        let spans = store.spans_of(trace.trace_id)?;
        let root = roots(&spans).first().map(|s| s.name.clone());
        // With what runs' records added to the traces they name.
        let assessments = store.list_by_trace(trace.trace_id)?.len();
        rows.push((trace, root, assessments));
    }
    if json {
        let list: Vec<Value> = rows
            .iter()
            .map(|(t, root, assessments)| {
                json!({
                    "trace_id": mlflow_trace_id(t.trace_id),
                    "root_span": root,
                    "start_time": t.start_time.map(format_time),
                    "duration_ms": duration(t.start_time, t.end_time)
                        .map(|d| d.as_secs_f64() * 1000.0),
                    "spans": t.span_count,
                    "assessments": assessments,
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        return Ok(());
    }
    let path = visible(&store.path().display().to_string()).into_owned();
    let runs = store.runs()?;
    if runs.is_empty() && rows.is_empty() {
        writeln!(out, "{path} holds no traces yet")?;
        return Ok(());
    }
    if !runs.is_empty() {
        writeln!(
            out,
            "{} in {path}, newest first (`verdict show --run RUN` lists a run's records):",
            verdict_eval::report::count(runs.len() as u64, "evaluation run")
        )?;
        for run in &runs {
            writeln!(
                out,
                "  {}  {}  {:<11}  {:>8} records  {}",
                run.run_id,
                humantime::format_rfc3339_seconds(run.started),
                run.status.as_str(),
                run.records,
                visible(&run.dataset)
            )?;
        }
        writeln!(out)?;
    }
    if rows.is_empty() {
        writeln!(out, "no traces outside runs")?;
        return Ok(());
    }
    writeln!(
        out,
        "{} most recent of {} traces outside runs:",
        rows.len(),
        traces.len(),
    )?;
    for (t, root, assessments) in rows {
        writeln!(
            out,
            "{}  {:<24}  {:>10}  {:>3} spans  {:>3} assessments  {}",
            mlflow_trace_id(t.trace_id),
            t.start_time.map_or_else(
                || "-".to_owned(),
                |t| humantime::format_rfc3339_seconds(t).to_string()
            ),
            duration(t.start_time, t.end_time).map_or_else(|| "-".to_owned(), human_duration),
            t.span_count,
            assessments,
            visible(root.as_deref().unwrap_or("(no spans)"))
        )?;
    }
    Ok(())
}

/// A run's records: line, trace, what each scorer said, and the output;
/// the first `limit` of them (with `failed`, of those a scorer failed).
fn list_run(
    out: &mut impl Write,
    store: &LocalStore,
    spec: &str,
    limit: usize,
    failed: bool,
    json: bool,
) -> anyhow::Result<()> {
    let run = verdict_eval::find_run(store, spec)?;
    let mut listed = Vec::new();
    let mut total = 0u64;
    store.each_run_record(&run.run_id, |record| {
        if failed && !record.results.iter().any(fails) {
            return Ok(());
        }
        total += 1;
        if listed.len() < limit {
            listed.push(record);
        }
        Ok(())
    })?;
    if json {
        let list: Vec<Value> = listed
            .iter()
            .map(|r| {
                json!({
                    "line": r.line,
                    "trace_id": mlflow_trace_id(r.trace_id),
                    "inputs": value_json(&r.inputs),
                    "outputs": value_json(&r.outputs),
                    "expectations": r.expectations.iter()
                        .map(|(k, v)| (k.clone(), value_json(v)))
                        .collect::<serde_json::Map<_, _>>(),
                    "results": r.results.iter().map(|x| json!({
                        "scorer": x.scorer,
                        "value": said(x),
                        "rationale": x.rationale,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "run {} of {} ({}): {}{}",
        run.run_id,
        visible(&run.dataset),
        run.status,
        verdict_eval::report::count(total, "record"),
        if failed { " a scorer failed" } else { "" },
    )?;
    for r in &listed {
        let results: Vec<String> = r
            .results
            .iter()
            .map(|x| format!("{}={}", visible(&x.scorer), visible(&said(x))))
            .collect();
        writeln!(
            out,
            "  line {:<6} {}  {}  output: {}",
            r.line,
            mlflow_trace_id(r.trace_id),
            results.join(" "),
            visible(&verdict_eval::report::excerpt(&value_text(&r.outputs), 60))
        )?;
    }
    if total > listed.len() as u64 {
        writeln!(
            out,
            "  … and {} more (--limit N lists more)",
            total - listed.len() as u64
        )?;
    }
    Ok(())
}

/// Whether a scorer failed a record, by the criterion the run judged it
/// with (`verdict.toml`'s threshold, max or labels, or the default).
fn fails(result: &StoredResult) -> bool {
    result.judged == Some(false)
}

/// What a scorer said, in a word.
fn said(result: &StoredResult) -> String {
    match &result.value {
        StoredValue::Bool(b) => b.to_string(),
        StoredValue::Number(n) => verdict_eval::report::format_number(*n),
        StoredValue::Label(l) => l.clone(),
        StoredValue::Error { code, .. } => format!("error {code}"),
    }
}

fn value_text(value: &RecordValue) -> String {
    match value {
        RecordValue::Null => String::new(),
        RecordValue::Text(t) | RecordValue::Json(t) => t.clone(),
    }
}

fn value_json(value: &RecordValue) -> Value {
    match value {
        RecordValue::Null => Value::Null,
        RecordValue::Text(t) => Value::String(t.clone()),
        RecordValue::Json(t) => {
            serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.clone()))
        }
    }
}

/// The spans whose parent is not among the stored ones, by start time.
fn roots(spans: &[StoredSpan]) -> Vec<&StoredSpan> {
    let ids: HashSet<SpanId> = spans.iter().map(|s| s.span_id).collect();
    spans
        .iter()
        .filter(|s| s.parent_span_id.is_none_or(|p| !ids.contains(&p)))
        .collect()
}

fn write_trace(
    out: &mut impl Write,
    trace_id: TraceId,
    spans: &[StoredSpan],
    assessments: &[Assessment],
) -> anyhow::Result<()> {
    let start = spans.iter().map(|s| s.start_time).min();
    let end = spans.iter().map(|s| s.end_time).max();
    let total = duration(start, end);
    write!(
        out,
        "trace {}: {} spans, {} assessments",
        mlflow_trace_id(trace_id),
        spans.len(),
        assessments.len()
    )?;
    if let (Some(start), Some(total)) = (start, total) {
        write!(
            out,
            ", started {}, took {}",
            humantime::format_rfc3339_seconds(start),
            human_duration(total)
        )?;
    }
    writeln!(out)?;
    // What the traced call was given and answered, from its root span as
    // MLflow, OpenInference or the GenAI conventions write them; and the
    // run and line it came from.
    if let Some(root) = roots(spans).first() {
        for (label, keys) in [
            (
                "inputs",
                ["mlflow.spanInputs", "input.value", "gen_ai.input.messages"],
            ),
            (
                "outputs",
                [
                    "mlflow.spanOutputs",
                    "output.value",
                    "gen_ai.output.messages",
                ],
            ),
        ] {
            if let Some(value) = keys.iter().find_map(|k| root.attributes.get(*k)) {
                let text = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                writeln!(out, "{label}: {}", indented(&visible_lines(&text), ""))?;
            }
        }
        if let Some(Value::String(run)) = root.attributes.get(verdict_eval::RUN_ID_ATTRIBUTE) {
            let line = root
                .attributes
                .get(verdict_eval::LINE_ATTRIBUTE)
                .map_or_else(String::new, |l| format!(", line {l}"));
            writeln!(out, "from evaluation run {}{line}", visible(run))?;
        }
    }

    let overridden_by: HashMap<AssessmentId, AssessmentId> = assessments
        .iter()
        .filter_map(|a| a.overrides().map(|old| (old, a.id())))
        .collect();
    let span_ids: HashSet<SpanId> = spans.iter().map(|s| s.span_id).collect();
    let view = View {
        spans,
        assessments,
        overridden_by,
    };

    // Assessments of the whole trace, and of spans that are not stored
    // (spans exported elsewhere): shown first, never left out.
    let loose: Vec<&Assessment> = assessments
        .iter()
        .filter(|a| a.span_id().is_none_or(|s| !span_ids.contains(&s)))
        .collect();
    if !loose.is_empty() {
        writeln!(out, "\non the trace:")?;
        for a in loose {
            view.write_assessment(out, a, 1)?;
        }
    }
    if !spans.is_empty() {
        writeln!(out, "\nspans:")?;
        let mut drawn = HashSet::new();
        for root in roots(spans) {
            view.write_span(out, root, 1, &mut drawn)?;
        }
        // Spans whose parents form a loop (a damaged store) have no root:
        // drawn at the top rather than left out.
        for span in spans {
            view.write_span(out, span, 1, &mut drawn)?;
        }
    }
    Ok(())
}

/// What the tree is drawn from.
struct View<'a> {
    spans: &'a [StoredSpan],
    assessments: &'a [Assessment],
    overridden_by: HashMap<AssessmentId, AssessmentId>,
}

impl View<'_> {
    fn write_span(
        &self,
        out: &mut impl Write,
        span: &StoredSpan,
        depth: usize,
        drawn: &mut HashSet<SpanId>,
    ) -> anyhow::Result<()> {
        if !drawn.insert(span.span_id) {
            return Ok(());
        }
        let indent = "  ".repeat(depth);
        let took = span
            .end_time
            .duration_since(span.start_time)
            .unwrap_or_default();
        let status = match &span.status {
            Status::Unset => String::new(),
            Status::Ok => "  ok".to_owned(),
            Status::Error { description } if description.is_empty() => "  ERROR".to_owned(),
            Status::Error { description } => format!("  ERROR: {}", visible(description)),
        };
        writeln!(
            out,
            "{indent}{}  {}{status}  [span {:016x}]",
            visible(&span.name),
            human_duration(took),
            span.span_id
        )?;
        for a in self
            .assessments
            .iter()
            .filter(|a| a.span_id() == Some(span.span_id))
        {
            self.write_assessment(out, a, depth + 1)?;
        }
        for child in self
            .spans
            .iter()
            .filter(|c| c.parent_span_id == Some(span.span_id))
        {
            self.write_span(out, child, depth + 1, drawn)?;
        }
        Ok(())
    }

    fn write_assessment(
        &self,
        out: &mut impl Write,
        a: &Assessment,
        depth: usize,
    ) -> anyhow::Result<()> {
        let indent = "  ".repeat(depth);
        let (kind, value) = match a.value() {
            AssessmentValue::Feedback { value, .. } => (
                "feedback",
                value
                    .as_ref()
                    .map_or_else(|| "(no value)".to_owned(), |v| v.to_json().to_string()),
            ),
            AssessmentValue::Expectation(value) => ("expectation", value.to_string()),
        };
        let state = if a.is_valid() {
            String::new()
        } else {
            match self.overridden_by.get(&a.id()) {
                Some(by) => format!("  [overridden by {by}]"),
                None => "  [invalid]".to_owned(),
            }
        };
        let source = a.source();
        writeln!(
            out,
            "{indent}• {kind} {} = {}  ({} {}){state}  {}",
            visible(a.name().as_str()),
            visible(&value),
            source.source_type(),
            visible(source.source_id()),
            a.id()
        )?;
        let more = format!("{indent}    ");
        if let Some(on) = a
            .span_id()
            .filter(|s| !self.spans.iter().any(|x| x.span_id == *s))
        {
            writeln!(out, "{more}on span {on:016x} (not in the store)")?;
        }
        if let Some(error) = a.error() {
            write!(out, "{more}error {}", visible(&error.error_code))?;
            if let Some(message) = &error.error_message {
                write!(out, ": {}", indented(message, &more))?;
            }
            writeln!(out)?;
        }
        if let Some(rationale) = a.rationale() {
            writeln!(out, "{more}rationale: {}", indented(rationale, &more))?;
        }
        if let Some(old) = a.overrides() {
            writeln!(out, "{more}overrides {old}")?;
        }
        // `verdict runs RUN` shows the evaluation that logged it.
        if let Some(run) = a.run_id() {
            writeln!(out, "{more}run {}", visible(run))?;
        }
        if !a.metadata().is_empty() {
            let entries: Vec<String> = a
                .metadata()
                .iter()
                .map(|(k, v)| format!("{}={}", visible(k), visible(v)))
                .collect();
            writeln!(out, "{more}metadata: {}", entries.join(", "))?;
        }
        Ok(())
    }
}

/// Text that may span lines (a judge's rationale often does), its later
/// lines indented under the first so that the tree stays readable, and
/// every other control character shown, never acted on.
fn indented(text: &str, indent: &str) -> String {
    visible_lines(text.trim_end()).replace('\n', &format!("\n{indent}  "))
}

fn duration(start: Option<SystemTime>, end: Option<SystemTime>) -> Option<Duration> {
    end?.duration_since(start?).ok()
}

/// A duration as a person reads it: µs, ms with one decimal, or seconds.
fn human_duration(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{} µs", d.as_micros())
    } else if d < Duration::from_secs(1) {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}
