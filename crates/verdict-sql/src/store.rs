//! The local store as three tables, `traces`, `spans` and `assessments`,
//! read through `verdict-store`'s API a few traces at a time.
//!
//! The columns are MLflow's: a trace id is `tr-` and 32 hex digits, span
//! ids are 16 hex digits, an assessment has its name, kind, value (JSON),
//! source, rationale, error and validity as MLflow's REST JSON does, so
//! that a query reads like one over MLflow's tables. Each scan opens the
//! store read-only, lists its traces, and reads the spans or assessments
//! of as many traces at a time as fill a batch: memory is bounded by the
//! batch and the list of trace ids, not by the store. The reads are
//! SQLite's, blocking, on the thread that polls the stream, as DataFusion
//! runs any computation; the alternative, a thread per scan feeding a
//! channel, would add a thread and a copy for a file a local disk serves.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Int64Builder, RecordBatch, StringBuilder, TimestampNanosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use verdict::{Assessment, AssessmentValue, mlflow_trace_id};
use verdict_store::{LocalStore, StoredSpan, TraceSummary};

/// The tables, by name.
pub const STORE_TABLES: [&str; 3] = ["traces", "spans", "assessments"];

/// Which of the store's tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Table {
    Traces,
    Spans,
    Assessments,
}

fn time() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

fn text(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

impl Table {
    fn schema(self) -> SchemaRef {
        let fields = match self {
            Table::Traces => vec![
                text("trace_id", false),
                Field::new("span_count", DataType::Int64, false),
                Field::new("assessment_count", DataType::Int64, false),
                Field::new("start_time", time(), true),
                Field::new("end_time", time(), true),
            ],
            Table::Spans => vec![
                text("trace_id", false),
                text("span_id", false),
                text("parent_span_id", true),
                text("name", false),
                text("kind", false),
                Field::new("start_time", time(), false),
                Field::new("end_time", time(), false),
                text("status_code", false),
                text("status_message", true),
                text("attributes", false),
                text("events", false),
                text("scope_name", false),
            ],
            Table::Assessments => vec![
                text("assessment_id", false),
                text("trace_id", false),
                text("span_id", true),
                text("name", false),
                text("kind", false),
                text("value", true),
                text("source_type", false),
                text("source_id", false),
                text("rationale", true),
                text("error_code", true),
                text("error_message", true),
                Field::new("valid", DataType::Boolean, false),
                text("overrides", true),
                text("run_id", true),
                Field::new("create_time", time(), false),
                Field::new("last_update_time", time(), false),
                text("metadata", false),
            ],
        };
        Arc::new(Schema::new(fields))
    }
}

/// Registers the store at `path` as the tables [`STORE_TABLES`] of `ctx`.
/// The file is opened read-only now, so that a missing or damaged store
/// is refused before any query; each scan opens it again.
pub fn register_store(ctx: &SessionContext, path: impl Into<PathBuf>) -> Result<()> {
    let path = path.into();
    LocalStore::open_read_only(&path).map_err(external)?;
    for (name, table) in STORE_TABLES
        .iter()
        .zip([Table::Traces, Table::Spans, Table::Assessments])
    {
        let partition = Arc::new(StorePartition {
            path: path.clone(),
            table,
            schema: table.schema(),
        });
        let provider = StreamingTable::try_new(table.schema(), vec![partition])?;
        ctx.register_table(*name, Arc::new(provider))?;
    }
    Ok(())
}

fn external(e: verdict_store::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

#[derive(Debug)]
struct StorePartition {
    path: PathBuf,
    table: Table,
    schema: SchemaRef,
}

impl PartitionStream for StorePartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let batch_size = ctx.session_config().batch_size().max(1);
        let reader = Reader::open(&self.path, self.table, Arc::clone(&self.schema), batch_size);
        let batches = match reader {
            Ok(reader) => futures::stream::iter(reader).boxed(),
            Err(e) => futures::stream::iter([Err(e)]).boxed(),
        };
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            batches,
        ))
    }
}

/// Reads a table's rows a batch at a time.
struct Reader {
    store: LocalStore,
    table: Table,
    schema: SchemaRef,
    traces: std::vec::IntoIter<TraceSummary>,
    batch_size: usize,
}

impl Reader {
    fn open(
        path: &std::path::Path,
        table: Table,
        schema: SchemaRef,
        batch_size: usize,
    ) -> Result<Self> {
        let store = LocalStore::open_read_only(path).map_err(external)?;
        let traces = store.list_traces().map_err(external)?.into_iter();
        Ok(Reader {
            store,
            table,
            schema,
            traces,
            batch_size,
        })
    }

    /// The next batch: the rows of traces until it holds `batch_size`
    /// rows or the traces run out.
    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let mut rows = Rows::new(self.table, self.batch_size);
        while rows.len < self.batch_size {
            let Some(trace) = self.traces.next() else {
                break;
            };
            match self.table {
                Table::Traces => rows.trace(&trace),
                Table::Spans => {
                    for span in self.store.spans_of(trace.trace_id).map_err(external)? {
                        rows.span(&span);
                    }
                }
                Table::Assessments => {
                    for a in self.store.list_by_trace(trace.trace_id).map_err(external)? {
                        rows.assessment(&a);
                    }
                }
            }
        }
        if rows.len == 0 {
            return Ok(None);
        }
        Ok(Some(RecordBatch::try_new(
            Arc::clone(&self.schema),
            rows.finish(),
        )?))
    }
}

impl Iterator for Reader {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_batch().transpose()
    }
}

fn nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The columns of a batch being filled.
struct Rows {
    len: usize,
    texts: Vec<StringBuilder>,
    ints: Vec<Int64Builder>,
    times: Vec<TimestampNanosecondBuilder>,
    bools: Vec<BooleanBuilder>,
    table: Table,
}

impl Rows {
    fn new(table: Table, capacity: usize) -> Self {
        let (texts, ints, times, bools) = match table {
            Table::Traces => (1, 2, 2, 0),
            Table::Spans => (10, 0, 2, 0),
            Table::Assessments => (14, 0, 2, 1),
        };
        Rows {
            len: 0,
            texts: (0..texts)
                .map(|_| StringBuilder::with_capacity(capacity, 0))
                .collect(),
            ints: (0..ints)
                .map(|_| Int64Builder::with_capacity(capacity))
                .collect(),
            times: (0..times)
                .map(|_| TimestampNanosecondBuilder::with_capacity(capacity).with_timezone("UTC"))
                .collect(),
            bools: (0..bools)
                .map(|_| BooleanBuilder::with_capacity(capacity))
                .collect(),
            table,
        }
    }

    fn trace(&mut self, trace: &TraceSummary) {
        self.texts[0].append_value(mlflow_trace_id(trace.trace_id));
        self.ints[0].append_value(i64::try_from(trace.span_count).unwrap_or(i64::MAX));
        self.ints[1].append_value(i64::try_from(trace.assessment_count).unwrap_or(i64::MAX));
        self.times[0].append_option(trace.start_time.map(nanos));
        self.times[1].append_option(trace.end_time.map(nanos));
        self.len += 1;
    }

    fn span(&mut self, span: &StoredSpan) {
        let (code, message) = match &span.status {
            opentelemetry::trace::Status::Unset => ("UNSET", None),
            opentelemetry::trace::Status::Ok => ("OK", None),
            opentelemetry::trace::Status::Error { description } => {
                ("ERROR", Some(description.to_string()))
            }
        };
        let kind = match span.kind {
            opentelemetry::trace::SpanKind::Client => "CLIENT",
            opentelemetry::trace::SpanKind::Server => "SERVER",
            opentelemetry::trace::SpanKind::Producer => "PRODUCER",
            opentelemetry::trace::SpanKind::Consumer => "CONSUMER",
            opentelemetry::trace::SpanKind::Internal => "INTERNAL",
        };
        let t = &mut self.texts;
        t[0].append_value(mlflow_trace_id(span.trace_id));
        t[1].append_value(span.span_id.to_string());
        t[2].append_option(span.parent_span_id.map(|p| p.to_string()));
        t[3].append_value(&span.name);
        t[4].append_value(kind);
        t[5].append_value(code);
        t[6].append_option(message);
        t[7].append_value(serde_json::Value::Object(span.attributes.clone()).to_string());
        t[8].append_value(serde_json::Value::Array(span.events.clone()).to_string());
        t[9].append_value(&span.scope_name);
        self.times[0].append_value(nanos(span.start_time));
        self.times[1].append_value(nanos(span.end_time));
        self.len += 1;
    }

    fn assessment(&mut self, a: &Assessment) {
        let value = match a.value() {
            AssessmentValue::Feedback { value, .. } => {
                value.as_ref().map(|v| v.to_json().to_string())
            }
            AssessmentValue::Expectation(v) => Some(v.to_string()),
        };
        let error = a.error();
        let t = &mut self.texts;
        t[0].append_value(a.id().to_string());
        t[1].append_value(mlflow_trace_id(a.trace_id()));
        t[2].append_option(a.span_id().map(|s| s.to_string()));
        t[3].append_value(a.name().as_str());
        t[4].append_value(a.kind().as_str());
        t[5].append_option(value);
        t[6].append_value(a.source().source_type().as_str());
        t[7].append_value(a.source().source_id());
        t[8].append_option(a.rationale());
        t[9].append_option(error.map(|e| e.error_code.as_str()));
        t[10].append_option(error.and_then(|e| e.error_message.as_deref()));
        t[11].append_option(a.overrides().map(|o| o.to_string()));
        t[12].append_option(a.run_id());
        t[13].append_value(
            serde_json::to_string(a.metadata()).expect("string metadata always serializes"),
        );
        self.bools[0].append_value(a.is_valid());
        self.times[0].append_value(nanos(a.create_time()));
        self.times[1].append_value(nanos(a.last_update_time()));
        self.len += 1;
    }

    /// The columns, in the schema's order.
    fn finish(mut self) -> Vec<ArrayRef> {
        let mut text = self
            .texts
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef);
        let mut int = self
            .ints
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef);
        let mut time = self
            .times
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef);
        let mut bool = self
            .bools
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef);
        // Each table's columns by builder: t(ext), i(nt), T(ime), b(ool).
        let order = match self.table {
            Table::Traces => "tiiTT",
            Table::Spans => "tttttTTttttt",
            Table::Assessments => "tttttttttttbttTTt",
        };
        order
            .chars()
            .map(|c| {
                let next = match c {
                    't' => text.next(),
                    'i' => int.next(),
                    'T' => time.next(),
                    _ => bool.next(),
                };
                next.expect("one builder per column")
            })
            .collect()
    }
}
