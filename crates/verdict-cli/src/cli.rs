//! The command line's shape.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Assessments for OpenTelemetry traces: score outputs with heuristic
/// scorers (built in or loaded from plugins), evaluate datasets, review
/// traces in the local store and push them to a server.
#[derive(Debug, Parser)]
#[command(name = "verdict", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List the scorers: built in, from --plugin, and from VERDICT_PLUGIN_PATH.
    Scorers(ScorersArgs),
    /// Score one record and print the result as one JSON object: name,
    /// version, value, passed (a bool value itself, or the scorer's own
    /// verdict beside a number, such as edit_distance:max_distance=2 gives;
    /// null when it has no criterion), rationale, error. Exits 0
    /// when the record was scored, whatever the value; 2 when the scorer
    /// could not score it (the JSON's error says why: a missing
    /// expectation, a scorer that failed or panicked), as for any input or
    /// plugin error.
    Score(ScoreArgs),
    /// Show a trace's spans and assessments from the local store, or list
    /// the most recent traces when no trace is given.
    Show(ShowArgs),
    /// Log a HUMAN feedback on a trace or span (as MLflow's log_feedback).
    Feedback(LogArgs),
    /// Log a HUMAN expectation, the ground truth, on a trace or span (as
    /// MLflow's log_expectation).
    Expectation(LogArgs),
    /// Override a feedback with a new value; the old one becomes invalid (as
    /// MLflow's override_feedback).
    Override(OverrideArgs),
    /// Delete an assessment; the one it overrode becomes valid again (as
    /// MLflow's delete_assessment).
    Delete(DeleteArgs),
    /// Send the local store's spans and assessments to a server or a file.
    /// Exits 1 when some of them could not be delivered.
    Push(PushArgs),
    /// Evaluate a dataset, or traces that already exist (--traces): score
    /// every record, store the run, check the
    /// gates (--fail-under, --gate, --baseline, and those of --config); a
    /// run that fails lists the worst records behind each failed gate, with
    /// the `verdict show` command of each, and with --baseline, the records
    /// that newly fail and newly pass. Exits 0 when every gate passes, 1
    /// when one fails, 2 on a usage or input error (a damaged store
    /// included: its integrity is checked before the run is written), and
    /// 2 when an --export destination did not take everything: the run
    /// still goes to its end and is stored whole in the local store, the
    /// gates are still printed, and what was not delivered is counted per
    /// destination, for `verdict push` to send again. The run is listed by
    /// `verdict runs` from its start. One that stops on an error keeps the
    /// records it stored (written 4,096 at a time, the first 512) and is
    /// listed as STOP; SIGINT (Ctrl-C), SIGTERM and SIGHUP stop it cleanly,
    /// keeping what it scored, list it as INT and exit 128 + the signal (a
    /// second signal ends it at once); neither is ever a baseline, and
    /// `verdict prune --unfinished` removes them. No output (--report,
    /// --json, --junit, --export jsonl:PATH) may be the store or a file
    /// beside it (-wal, -shm, -journal), the dataset, or another output,
    /// through links or not: such a run is refused with exit 2 before
    /// anything is written. Result files are written whole and renamed into
    /// place; a run whose result files cannot be written is stored as
    /// stopped and exits 2.
    Eval(Box<EvalArgs>),
    /// List the stored evaluation runs, or show one run's summary.
    Runs(RunsArgs),
    /// Remove evaluation runs from the local store — their records, their
    /// traces and what was recorded on those traces — and give the space
    /// back to the file system. Choose runs with --keep, --before, --run
    /// and --unfinished (a run is removed when any of them chooses it); a
    /// run still running is never removed, and --keep also keeps, for each
    /// dataset, the latest run that passed (the next --baseline latest).
    /// Nothing is sent to a server: what was pushed stays there.
    Prune(PruneArgs),
    /// Receive traces over OTLP/HTTP (POST /v1/traces, protobuf or JSON,
    /// gzip or not) from services or an OpenTelemetry Collector, and
    /// evaluate them as they come: each trace is held until its root span
    /// arrives (or --idle-timeout passes without a span), sampled by trace
    /// id as MLflow's online monitoring samples (--sample-rate), scored
    /// from its root span's inputs and outputs (mlflow.spanInputs and
    /// mlflow.spanOutputs, OpenInference's input.value and output.value, or
    /// gen_ai.input.messages and gen_ai.output.messages; expectations from
    /// verdict.expectation.NAME attributes), and its spans and feedback go
    /// to the local store and to every --export destination. Every trace
    /// is forwarded, sampled or not. What is held is bounded (--max-traces,
    /// --max-spans, --max-held-mib): past it a request is refused with 429
    /// and Retry-After, and senders retry; a request that does not decode,
    /// or holds a span with invalid ids, is refused with 400. GET /metrics
    /// gives the counters in Prometheus' text format. SIGINT or SIGTERM
    /// stops it: it stops taking requests, scores and forwards every trace
    /// it holds, and prints what each destination did not take (a second
    /// signal ends it at once). Exits 0 when everything taken was
    /// delivered everywhere, 1 when not, 2 on a usage error.
    #[cfg(feature = "serve")]
    Serve(ServeArgs),
    /// Run a SQL query (Apache DataFusion's dialect) over files and the
    /// local store, with every scorer as a function: `exact_match(output,
    /// expected)`, with an optional JSON config as a third argument
    /// (`edit_distance(a, b, '{"max_distance": 2}')`), BOOLEAN, DOUBLE or
    /// VARCHAR as the scorer's values are (NULL where an argument is NULL
    /// or the scorer failed); `assess('name', output, expected)` gives the
    /// value, number, passed, rationale, error_code and error_message of
    /// each row. A scorer whose name SQL already has is `score_NAME`
    /// (`score_length`, `score_contains`). The local store's tables are
    /// `traces`, `spans` and `assessments` (MLflow's columns: trace_id
    /// tr-…, name, kind, value as JSON, source_type, rationale,
    /// error_code, valid…), when the --store file exists. Prints a table, or writes --output. Exits 2 on
    /// a query error, with DataFusion's message.
    #[cfg(feature = "sql")]
    Sql(Box<SqlArgs>),
    /// Serve the parts of queries that `verdict sql --workers` sends, and
    /// the parts of runs that `verdict eval --workers` sends (Arrow Flight
    /// over gRPC, plain HTTP/2: no authentication, no TLS — listen on a
    /// private network only), with every scorer: the built-in ones,
    /// --plugin, and VERDICT_PLUGIN_PATH, plugins isolated as in `verdict
    /// sql`. Prints the address it listens on as one line on standard
    /// output (port 0: any free port). The files a query or run reads must
    /// be at the same path here as on the coordinator. SIGINT or SIGTERM
    /// stops it. Exits 2 when it cannot listen.
    #[cfg(feature = "distributed")]
    Worker(Box<WorkerArgs>),
    /// Serve a plugin for the verdict process that started this one: the
    /// worker process a plugin runs in. Started by verdict itself.
    #[command(hide = true)]
    PluginWorker,
}

/// A value given on the command line: JSON when it parses (`true`, `0.8`,
/// `"text"`, `[..]`, `{..}`), else the text itself.
pub(crate) fn json_or_text(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_owned()))
}

/// Which local store a command reads or writes.
#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    /// The local store's file.
    #[arg(long = "store", value_name = "PATH", default_value = verdict_export::DEFAULT_PATH)]
    pub(crate) path: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The trace: 32 hex digits or MLflow's tr-<32 hex>. Without it, the
    /// evaluation runs are listed, then the most recent traces outside
    /// them (with --json, those traces only).
    #[arg(value_name = "TRACE", conflicts_with = "run")]
    pub(crate) trace: Option<String>,
    /// List a run's records instead (its id, a unique prefix, or
    /// `latest`): line, trace, what each scorer said, the output.
    #[arg(long, value_name = "RUN")]
    pub(crate) run: Option<String>,
    /// With --run: only the records a scorer failed, by the criteria the
    /// run judged them with.
    #[arg(long, requires = "run")]
    pub(crate) failed: bool,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    /// How many traces (or, with --run, records) to list.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub(crate) limit: usize,
}

/// Who a human assessment comes from, and why.
#[derive(Debug, Args)]
pub(crate) struct ReviewArgs {
    /// Why: the reviewer's explanation.
    #[arg(long, value_name = "TEXT")]
    pub(crate) rationale: Option<String>,
    /// Who is reviewing [default: $USER, else "default"].
    #[arg(long, value_name = "WHO")]
    pub(crate) source_id: Option<String>,
    /// A metadata entry, as KEY=VALUE; repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    pub(crate) metadata: Vec<String>,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
}

#[derive(Debug, Args)]
pub(crate) struct LogArgs {
    /// The trace: 32 hex digits or MLflow's tr-<32 hex>.
    #[arg(value_name = "TRACE")]
    pub(crate) trace: String,
    /// The assessment's name (no '.', at most 250 characters).
    #[arg(value_name = "NAME")]
    pub(crate) name: String,
    /// The value: JSON when it parses (true, 0.8, "text", [..], {..}), else
    /// the text itself as a label.
    #[arg(value_name = "VALUE")]
    pub(crate) value: String,
    /// The span it judges (16 hex digits); without it, the whole trace.
    #[arg(long, value_name = "ID")]
    pub(crate) span: Option<String>,
    #[command(flatten)]
    pub(crate) review: ReviewArgs,
}

#[derive(Debug, Args)]
pub(crate) struct OverrideArgs {
    /// The trace: 32 hex digits or MLflow's tr-<32 hex>.
    #[arg(value_name = "TRACE")]
    pub(crate) trace: String,
    /// The feedback to override: a-<32 hex>.
    #[arg(value_name = "ASSESSMENT_ID")]
    pub(crate) assessment_id: String,
    /// The new value, read as for `verdict feedback`.
    #[arg(value_name = "VALUE")]
    pub(crate) value: String,
    #[command(flatten)]
    pub(crate) review: ReviewArgs,
}

#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// The trace: 32 hex digits or MLflow's tr-<32 hex>.
    #[arg(value_name = "TRACE")]
    pub(crate) trace: String,
    /// The assessment to delete: a-<32 hex>.
    #[arg(value_name = "ASSESSMENT_ID")]
    pub(crate) assessment_id: String,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
}

#[derive(Debug, Args)]
pub(crate) struct PushArgs {
    /// Where to: `mlflow` (MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_ID),
    /// `otlp` (OTEL_EXPORTER_OTLP_*), `phoenix` (PHOENIX_COLLECTOR_ENDPOINT,
    /// PHOENIX_API_KEY, PHOENIX_PROJECT_NAME), or `jsonl:PATH` (appended to; never
    /// the store or a file beside it, nor another --to); repeatable.
    #[arg(long, value_name = "TARGET", required = true)]
    pub(crate) to: Vec<String>,
    /// Push only this trace's changes the destination has not seen (all
    /// of them with --again); repeatable.
    #[arg(long = "trace", value_name = "TRACE")]
    pub(crate) traces: Vec<String>,
    /// Push only this run: its records, and what was logged on their
    /// traces since.
    #[arg(long, value_name = "RUN")]
    pub(crate) run: Option<String>,
    /// Send everything again, not only what each destination has not
    /// seen: to a server that lost what it had.
    #[arg(long)]
    pub(crate) again: bool,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
}

/// Where plugins come from, and how they run.
#[derive(Debug, Args)]
pub(crate) struct PluginArgs {
    /// Load a scorer plugin (a dynamic library); repeatable. The plugins of
    /// the directories of VERDICT_PLUGIN_PATH are read when a scorer name
    /// is looked up, and one that cannot be read stops nothing that does
    /// not use it (`verdict scorers` lists it, with why). A plugin runs in
    /// worker processes: a crash, an exit, a hang or running out of memory
    /// in it gives the records of its batch an error feedback
    /// (SCORER_CRASHED, SCORER_TIMEOUT, SCORER_OOM) and the run goes on.
    #[arg(long = "plugin", value_name = "PATH")]
    pub(crate) plugins: Vec<PathBuf>,
    /// Load a plugin as --plugin does, and run it in the verdict process
    /// itself, at native speed, without isolation: a crash or a hang in it
    /// is verdict's, and it can end the process (an exit() call is turned
    /// into exit status 2; _exit() and fatal signals cannot be caught);
    /// repeatable. `trusted` in verdict.toml's [plugins] trusts plugins
    /// found any way.
    #[arg(long = "trusted-plugin", value_name = "PATH")]
    pub(crate) trusted: Vec<PathBuf>,
    /// How long a plugin's worker may take over one batch of records (up
    /// to 256) before it is killed and the batch recorded as
    /// SCORER_TIMEOUT, such as 30s or 2m [default: 60s, or `timeout` in
    /// verdict.toml's [plugins]].
    #[arg(long, value_name = "DURATION")]
    pub(crate) plugin_timeout: Option<humantime::Duration>,
    /// The address space a plugin's worker may map, in MiB; a worker that
    /// dies at its limit has its batch recorded as SCORER_OOM; 0 for no
    /// limit [default: 4096, or `memory_mib` in verdict.toml's [plugins]].
    #[arg(long, value_name = "MIB")]
    pub(crate) plugin_memory: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct ScorersArgs {
    #[command(flatten)]
    pub(crate) plugins: PluginArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ScoreArgs {
    #[command(flatten)]
    pub(crate) plugins: PluginArgs,
    /// The scorer: NAME, NAME:key=value,key=value, NAME:{json}, or a plugin
    /// file PATH[:config].
    #[arg(long, value_name = "SPEC")]
    pub(crate) scorer: String,
    /// The output to score.
    #[arg(long, value_name = "TEXT")]
    pub(crate) output: String,
    /// The expected response (the expectation `expected_response`); give it
    /// several times for a list of acceptable answers.
    #[arg(long, value_name = "TEXT")]
    pub(crate) expected: Vec<String>,
    /// Another expectation, as NAME=VALUE (VALUE is read as JSON when it
    /// parses, else as text); repeatable.
    #[arg(long, value_name = "NAME=VALUE")]
    pub(crate) expectation: Vec<String>,
    /// The input the output answers.
    #[arg(long, value_name = "TEXT")]
    pub(crate) input: Option<String>,
}

/// Where `verdict eval --traces` reads traces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum TraceSource {
    /// The local store's traces.
    Store,
    /// An MLflow experiment's traces.
    Mlflow,
}

#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    /// The dataset, read once as a stream (a file, a pipe, a FIFO, <(...),
    /// or - for standard input): JSON lines, one JSON array of records, CSV
    /// or TSV with a header row (a cell holding a JSON object or array is
    /// that JSON, any other cell text), OTLP JSON traces, or (built with
    /// the `parquet` feature) Parquet or Arrow IPC / Feather v2, read a
    /// record batch at a time, its columns the fields; a directory is its
    /// .parquet files (subdirectories included, names starting with . or _
    /// left out) read in the order of their paths, numbers compared as
    /// numbers. Records are
    /// read as MLflow's evaluation shape (inputs, outputs, expectations,
    /// trace_id, span_id), MLflow's request/response shape (request,
    /// response, expected_response, expected_facts, guidelines) or
    /// input/output/expected, told by the first record; anything else needs
    /// --map. Two records naming the same trace (and span) are refused, as
    /// are records of one trace giving it different expectations.
    #[arg(value_name = "DATA", required_unless_present = "traces")]
    pub(crate) data: Option<PathBuf>,
    /// Score traces that already exist instead of a dataset: `store`, the
    /// --store file's traces (those outside evaluation runs), or `mlflow`,
    /// the traces of the experiment MLFLOW_TRACKING_URI and
    /// MLFLOW_EXPERIMENT_ID name, read into the store first. Each trace is
    /// a record: inputs and outputs from its root span, expectations from
    /// the valid expectations on the trace. The feedback goes to the store
    /// and, for mlflow, back to the experiment. A trace every scorer has
    /// judged already at its current version is skipped (see --rescore).
    #[arg(long, value_name = "SOURCE", conflicts_with_all = ["data", "format", "map"])]
    pub(crate) traces: Option<TraceSource>,
    /// With --traces mlflow: only the traces MLflow's search filter picks,
    /// such as "trace.name = 'answer'" or "trace.status = 'OK'".
    #[arg(long, value_name = "EXPR", requires = "traces")]
    pub(crate) filter: Option<String>,
    /// With --traces: only the traces that started at WHEN or later: a
    /// date (2026-11-30), a time (2026-11-30T12:00:00Z), or how long ago
    /// (30min, 12h, 2days).
    #[arg(long, value_name = "WHEN", requires = "traces")]
    pub(crate) since: Option<String>,
    /// With --traces: only the traces that started before WHEN.
    #[arg(long, value_name = "WHEN", requires = "traces")]
    pub(crate) until: Option<String>,
    /// With --traces: at most N traces, the newest first.
    #[arg(long, value_name = "N", requires = "traces")]
    pub(crate) limit: Option<usize>,
    /// With --traces: score the traces the scorers have judged already.
    #[arg(long, requires = "traces")]
    pub(crate) rescore: bool,
    /// How DATA is written: jsonl, json (one array of records), csv, tsv,
    /// otlp, parquet or arrow [default: from its extension, else from its
    /// first bytes].
    #[arg(long, value_name = "FORMAT")]
    pub(crate) format: Option<String>,
    /// Which field (JSON key, CSV column) gives what, for records in no
    /// shape read by default: TARGET=FIELD, TARGET one of inputs, outputs,
    /// inputs.KEY and outputs.KEY (several fields into one object),
    /// expectations.NAME, expectations (a field holding an object of them),
    /// trace_id, span_id; repeatable, and over [dataset.map] in --config.
    /// A map reads the fields it names and ignores the others; null or an
    /// empty cell is no expectation.
    #[arg(long = "map", value_name = "TARGET=FIELD")]
    pub(crate) map: Vec<String>,
    /// A scorer: NAME, NAME:key=value,..., NAME:{json}, or a plugin file
    /// PATH[:config]; repeatable. With --config, it is added to the
    /// config's scorers; one that names a scorer of the config replaces
    /// that scorer's spec and keeps its criteria, weight and gate. No
    /// scorer or gate of the config is dropped.
    #[arg(long = "scorer", value_name = "SPEC")]
    pub(crate) scorers: Vec<String>,
    /// The suite's verdict.toml: scorers, pass criteria, weights, gates.
    #[arg(long, value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) plugins: PluginArgs,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Also send spans and assessments to otlp (OTEL_EXPORTER_OTLP_*),
    /// mlflow (MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_ID), phoenix
    /// (PHOENIX_COLLECTOR_ENDPOINT, PHOENIX_API_KEY, PHOENIX_PROJECT_NAME;
    /// assessments as annotations) or jsonl:PATH
    /// (jsonl:- for standard output, the summary then goes to stderr;
    /// refused when standard output is redirected to the dataset or the
    /// store);
    /// repeatable. A destination that fails does not stop the run; after
    /// a chunk of records (4,096; the first, 512) it took none of, it is
    /// sent nothing more.
    #[arg(long = "export", value_name = "TARGET")]
    pub(crate) exports: Vec<String>,
    /// Write JUnit XML that fails exactly when the run does: in the suite
    /// `gates`, a test case per gate (a failure when the gate fails, with
    /// what was measured and the worst records behind it), one for the run
    /// (an error when it stopped before its verdict) and one per --export
    /// destination that did not take everything (an error). Each scorer
    /// has a test case that passes and lists, in its system-out, the
    /// records it judged false or could not score (the first 1,000): a
    /// record judged false fails the run only through a gate. A scorer's
    /// time is its records' share of the scoring time.
    #[arg(long, value_name = "PATH")]
    pub(crate) junit: Option<PathBuf>,
    /// Write a report: Markdown, or HTML when PATH ends in .html. Like
    /// --json and --junit, written to a temporary file beside PATH and
    /// renamed over it when complete (a FIFO or /dev/stdout is written in
    /// place); a run that fails leaves no result file at PATH.
    #[arg(long, value_name = "PATH")]
    pub(crate) report: Option<PathBuf>,
    /// Write every result and the summary as JSON.
    #[arg(long, value_name = "PATH")]
    pub(crate) json: Option<PathBuf>,
    /// Write every record's results as Parquet (PATH must end in
    /// .parquet; needs the `parquet` feature), one row per record in the
    /// shape of MLflow's evaluation results: trace_id, SCORER/value,
    /// SCORER/rationale, SCORER/error_code, SCORER/error_message,
    /// SCORER/passed, request, response, expectations, state, and line,
    /// run_id, error_code, error_message. Written like --json.
    #[arg(long, value_name = "PATH")]
    pub(crate) results: Option<PathBuf>,
    /// Compare with a stored run (its id, a unique prefix, or `latest`:
    /// the latest run of the same dataset file that passed its gates; a
    /// run that failed or stopped is never picked, so a regression cannot
    /// become the baseline by being run twice): a pass rate lower than the
    /// baseline's by more than gates.baseline_tolerance fails, and so does
    /// a baseline that has no pass rate for any scorer of this run. A run
    /// that failed its gates may be named by id; the gates then say so.
    #[arg(long, value_name = "RUN")]
    pub(crate) baseline: Option<String>,
    /// Score the outputs a stored run (its id, a unique prefix, or
    /// `latest`) gave each record, instead of the dataset's: the system is
    /// not called again, and the dataset needs no outputs. Records are
    /// matched as --baseline matches them (a record naming its trace by
    /// the trace, any other by its inputs and which record with those
    /// inputs it is); a record the stored run lacks, or whose call failed
    /// there, is an error (PREDICT_FAILED) for every scorer, never a pass.
    #[arg(long = "reuse-outputs", value_name = "RUN")]
    pub(crate) reuse_outputs: Option<String>,
    /// Score the records on these `verdict worker`s (host:port or
    /// http://host:port, comma-separated) instead of here: DATA is a
    /// Parquet file or directory every worker reads at the same path (a
    /// worker whose copy differs in size or row groups refuses it); its row groups
    /// are dealt round the workers, each scores its own and sends back
    /// each record's results, merged in order, and this machine reads
    /// the records, stores, gates and reports as it does without workers.
    /// A worker that cannot be reached, fails or has another version of a
    /// scorer stops the run. Not with --predict, --reuse-outputs, --traces
    /// or scorers that read traces.
    #[cfg(feature = "distributed")]
    #[arg(long, value_name = "URL,URL")]
    pub(crate) workers: Option<String>,
    /// Gate: the scorer's pass rate must be at least RATE (0 to 1);
    /// repeatable, overrides fail_under in --config.
    #[arg(long = "fail-under", value_name = "SCORER=RATE")]
    pub(crate) fail_under: Vec<String>,
    /// Gate in MLflow's quality_criteria language (mlflow.genai.evaluate,
    /// 3.18): conditions joined by AND, each a metric, >= or <=, and a
    /// number, such as "exact_match >= 0.9 AND `edit_distance/p90` <= 3".
    /// A scorer's name checks its mean; `name/STAT` in backticks checks
    /// another statistic: min, max, mean, median, variance, p90, or
    /// Verdict's pass_rate, p50 and errors (a count). Those of the values
    /// (all but pass_rate and errors) leave out the records the scorer
    /// could not score, as in MLflow; unlike MLflow, a gate on one then
    /// fails, unless the gate also bounds the scorer's errors, as in
    /// "exact_match >= 0.9 AND `exact_match/errors` <= 5" (or in another
    /// --gate). A pass_rate counts errors as failures. Each condition is a gate; every one must hold (OR is not
    /// part of the language), and one that cannot be measured fails. Past
    /// 4,096 distinct values, values are counted to 3 significant digits
    /// and median, p50 and p90 are known within an interval: a gate on one
    /// passes only when the whole interval does.
    /// Repeatable; a condition replaces the one on the same metric in the
    /// gate of --config.
    #[arg(long = "gate", value_name = "EXPR")]
    pub(crate) gates: Vec<String>,
    /// Count malformed records as errors and go on, instead of stopping.
    /// Without it, the run stops at the first one; the records stored
    /// before its chunk (4,096 records; the first, 512) stay, under a run
    /// stored as stopped.
    #[arg(long)]
    pub(crate) skip_invalid: bool,
    #[command(flatten)]
    pub(crate) predict: PredictArgs,
}

/// Running the system under test on each record (docs/predict.md).
#[derive(Debug, Args)]
pub(crate) struct PredictArgs {
    /// Run the system under test on each record: CMD, run by `sh -c`, is
    /// started once and answers one JSON line per record over its standard
    /// input and output (`{"id", "line", "traceparent", "otlp_endpoint",
    /// "inputs"}` in, `{"id", "outputs"}` or `{"id", "error"}` out, after
    /// a first `{"ready": true}`); its outputs replace the dataset's, which
    /// may have none. It is told a local OTLP endpoint in
    /// OTEL_EXPORTER_OTLP_ENDPOINT, and the spans it sends there in the
    /// record's trace are stored with the record for trace scorers. A
    /// record it fails, crashes on or does not answer in time gets an
    /// error feedback (PREDICT_FAILED, PREDICT_CRASHED, PREDICT_TIMEOUT)
    /// and the process is killed and started again; one that cannot start
    /// stops the run before any record. Its standard error is passed
    /// through.
    #[arg(
        long,
        value_name = "CMD",
        conflicts_with_all = ["predict_url", "traces", "reuse_outputs"]
    )]
    pub(crate) predict: Option<String>,
    /// Run the system under test on each record by POSTing the record's
    /// inputs as JSON to URL with a W3C `traceparent` header; the JSON body
    /// of a 2xx answer is the record's outputs. Another status, a body
    /// that is not JSON or a refused connection is a PREDICT_FAILED error
    /// feedback, no answer in time PREDICT_TIMEOUT. Spans the service
    /// sends to --predict-otlp in the record's trace are stored with it.
    #[arg(long, value_name = "URL", conflicts_with_all = ["traces", "reuse_outputs"])]
    pub(crate) predict_url: Option<String>,
    /// Calls of the system under test in flight at once [default: 10].
    #[arg(long, value_name = "N")]
    pub(crate) predict_calls: Option<usize>,
    /// How long one call may take [default: 60s]; a record past it gets
    /// PREDICT_TIMEOUT (and a --predict process is started again).
    #[arg(long, value_name = "DURATION")]
    pub(crate) predict_time_limit: Option<humantime::Duration>,
    /// With --predict: how many processes to start, taking calls in turn.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "predict")]
    pub(crate) predict_processes: usize,
    /// Where the OTLP/HTTP endpoint for the system's spans listens: a
    /// fixed port for a --predict-url service started beforehand with
    /// OTEL_EXPORTER_OTLP_ENDPOINT=http://ADDR [default: a free port on
    /// 127.0.0.1].
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub(crate) predict_otlp: std::net::SocketAddr,
}

#[derive(Debug, Args)]
pub(crate) struct RunsArgs {
    /// A run (its id, a unique prefix, or `latest`) to show in full.
    #[arg(value_name = "RUN")]
    pub(crate) run: Option<String>,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PruneArgs {
    /// Keep the N most recent runs (and, for each dataset, the latest run
    /// that passed); remove the others.
    #[arg(long, value_name = "N")]
    pub(crate) keep: Option<usize>,
    /// Remove the runs started before WHEN: a date (2026-11-30), a time
    /// (2026-11-30T12:00:00Z), or how long ago (30days, 2weeks, 12h).
    #[arg(long, value_name = "WHEN")]
    pub(crate) before: Option<String>,
    /// Remove this run (its id, or a unique prefix); repeatable.
    #[arg(long = "run", value_name = "RUN")]
    pub(crate) runs: Vec<String>,
    /// Remove the runs that never reached their verdict: interrupted
    /// (a signal, a killed process) or stopped on an error.
    #[arg(long, visible_alias = "interrupted")]
    pub(crate) unfinished: bool,
    /// Say what would be removed, and remove nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
}

#[cfg(feature = "sql")]
#[derive(Debug, Args)]
pub(crate) struct SqlArgs {
    /// The query, such as "SELECT exact_match(output, expected) FROM qa":
    /// SELECT, WITH, VALUES or EXPLAIN. Statements that write or change
    /// tables (COPY, INSERT, CREATE, DROP, SET) are refused: --output
    /// writes the rows.
    pub(crate) query: String,
    /// A file as a table: NAME=PATH, read as Parquet, CSV (with a header)
    /// or JSON lines by its extension (.parquet, .csv, .json, .jsonl), or
    /// NAME=PATH:FORMAT (parquet, csv, json); a directory of .parquet files
    /// is one table (NAME=DIR:parquet); repeatable.
    #[arg(long = "table", value_name = "NAME=PATH[:FORMAT]")]
    pub(crate) tables: Vec<String>,
    /// Write the rows to this file instead of printing them: Parquet (in
    /// row groups of 131,072 rows, which --workers can share out), CSV or
    /// JSON lines by its extension, written whole (never a --table, the
    /// store or a file beside it).
    #[arg(long, value_name = "PATH")]
    pub(crate) output: Option<PathBuf>,
    /// Run the query on these `verdict worker`s (host:port or
    /// http://host:port, comma-separated): each reads its share of the
    /// --table files (split by file and row group) at the same path as
    /// here, and scores it. Refused for a query that reads the store's
    /// tables, which stay on this machine.
    #[cfg(feature = "distributed")]
    #[arg(long, value_name = "URL,URL")]
    pub(crate) workers: Option<String>,
    #[command(flatten)]
    pub(crate) plugins: PluginArgs,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
}

#[cfg(feature = "distributed")]
#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    /// The address to listen on, such as 127.0.0.1:50051 (port 0: any
    /// free port). Nothing else is bound.
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: std::net::SocketAddr,
    #[command(flatten)]
    pub(crate) plugins: PluginArgs,
}

#[cfg(feature = "serve")]
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on (port 0: any free port, printed at start).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4318")]
    pub(crate) listen: std::net::SocketAddr,
    /// A scorer, as for `verdict eval`; repeatable, added to --config's.
    #[arg(long = "scorer", value_name = "SPEC")]
    pub(crate) scorers: Vec<String>,
    /// A verdict.toml: its scorers and [plugins] (its gates do not apply).
    #[arg(long, value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) plugins: PluginArgs,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Also forward spans and feedback to otlp, mlflow, phoenix or
    /// jsonl:PATH, as `verdict eval --export`; repeatable.
    #[arg(long = "export", value_name = "TARGET")]
    pub(crate) exports: Vec<String>,
    /// Forward to the --export destinations only, not to the local store
    /// (refused without an --export: the traces would go nowhere).
    #[arg(long, conflicts_with = "path")]
    pub(crate) no_store: bool,
    /// The share of traces scored, RATE (0 to 1) for every scorer or
    /// NAME=RATE for one; repeatable. Traces are chosen by trace id as
    /// MLflow's online monitoring chooses them, so the same traces are
    /// scored at the same rates [default: 1].
    #[arg(long = "sample-rate", value_name = "[NAME=]RATE")]
    pub(crate) sample_rates: Vec<String>,
    /// A trace whose root span has not arrived is scored and forwarded
    /// after this long without a new span.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub(crate) idle_timeout: humantime::Duration,
    /// Traces held at once (open, or complete and not yet forwarded).
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    pub(crate) max_traces: usize,
    /// Spans held at once.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub(crate) max_spans: usize,
    /// MiB of spans held at once, as OTLP protobuf encodes them.
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    pub(crate) max_held_mib: usize,
    /// The largest request body taken, in MiB (413 past it).
    #[arg(long, value_name = "MIB", default_value_t = 16)]
    pub(crate) max_request_mib: usize,
}
