//! `verdict eval --workers`: a Parquet dataset's records scored on the
//! workers, where the data is, and each record's results streamed back in
//! line order to the run on the coordinator, which reads, stores, gates
//! and reports exactly as it does when it scores them itself.
//!
//! - The scan is a plan node of our own, [`EvalScanExec`]: each of its
//!   partitions reads some of the file's row groups, one at a time, with
//!   `verdict eval`'s own reader (the same field map, so the same records
//!   at the same lines), scores them with the same scorers, and yields one
//!   row per record: its line, and per scorer the value, verdict,
//!   rationale and error. The node declares its rows ordered by line, so
//!   the coordinator's plan is DataFusion's sort-preserving merge over the
//!   tasks' streams: results come back in order, holding a batch per
//!   stream, whatever the file's size.
//! - datafusion-distributed cuts the node into one task per worker
//!   through its leaf hooks, and sends it through a codec of ours (JSON:
//!   the dataset's path, the field map, the scorers' specs, the row
//!   groups). Row groups are dealt round: row group `g` goes to task `g mod
//!   tasks`, the same way on every run, so that the tasks move through the
//!   file side by side and the ordered merge takes from all of them at
//!   once; halves of the file, one per task, would leave the second task
//!   waiting until the merge reached its first line.
//! - A worker makes each scorer from its spec with its own registry, and
//!   refuses a scorer whose name or version differs from the
//!   coordinator's: a run never mixes results of two versions of a
//!   scorer.
//! - The run matches results to records by line ([`RemoteEval`]): a line
//!   the workers skipped (a record the run read as valid and the workers
//!   not) stops the run; a line the run skipped (a record it refused, such
//!   as the second of two naming the same trace, which a worker reading a
//!   part cannot tell) is passed over.
//!
//! Rejected: `assess()` in a SQL query over the file. A row of a table has
//! no line (DataFusion's scans do not number rows), and `assess` sees an
//! output and one expectation, where a record has inputs, outputs and
//! every expectation its field map gives.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Float64Builder, StringBuilder, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, exec_datafusion_err, internal_err, plan_err};
use datafusion::datasource::TableType;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, col};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr, PhysicalSortExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties as _, Partitioning,
    PlanProperties,
};
use datafusion::prelude::SessionContext;
use datafusion_distributed::{
    DesiredTaskCountEvent, DesiredTaskCountEventResponse, DistributedExt as _, DistributedLeafExec,
    ScaleUpLeafNodeEvent, ScaleUpLeafNodeEventResponse,
};
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use url::Url;
use verdict_eval::{Dataset, DatasetOptions, Entry, FieldMap, Format, RemoteScoring};
use verdict_plugin::{Results, Score, ScoreError, ScoreValueRef};
use verdict_scorer::{Registry, Runner, ScorerInfo, ScorerSpec, Scores, SpecTarget};

/// Records a worker scores at a time, and the most rows of a batch it
/// sends.
const BATCH: usize = 1024;

/// Partitions of the scan before it is cut into tasks; each task's part
/// is cut into as many, read side by side on the worker.
const PARTITIONS: usize = 2;

/// The columns of one scorer's results.
const COLUMNS: [&str; 7] = [
    "bool",
    "number",
    "label",
    "passed",
    "rationale",
    "error_code",
    "error_message",
];

/// What a worker needs to score a dataset's records as the run does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalSpec {
    /// The dataset: a Parquet file or directory, at a path every worker
    /// reads.
    pub dataset: PathBuf,
    /// The field map, (target, field), as [`FieldMap::pairs`] gives it.
    pub map: Vec<(String, String)>,
    /// The scorers, in the run's order.
    pub scorers: Vec<ScorerCall>,
    /// The dataset as the coordinator sees it: a worker that sees another
    /// refuses to score it.
    pub layout: Layout,
}

/// What a dataset is cut into, and its size: what a worker checks that its
/// copy shares with the coordinator's before it scores a part of it. A
/// copy that passes may still differ in its values; one that fails is
/// surely another dataset (another version of a file, a file missing).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// Its size in bytes (a directory's: its Parquet files' together).
    pub bytes: u64,
    /// The rows of each row group, in order.
    pub row_groups: Vec<u64>,
}

impl Layout {
    /// The layout of `dataset`, a Parquet file or directory.
    pub fn of(dataset: &Dataset) -> Result<Layout> {
        Ok(Layout {
            bytes: dataset.len_bytes().unwrap_or(0),
            row_groups: dataset
                .row_groups()
                .map_err(|e| exec_datafusion_err!("{e}"))?,
        })
    }

    /// Refuses a worker's copy whose layout, `here`, is not the run's.
    fn check(&self, here: &Layout, path: &std::path::Path) -> Result<()> {
        if here == self {
            return Ok(());
        }
        let rows = |l: &Layout| l.row_groups.iter().sum::<u64>();
        Err(exec_datafusion_err!(
            "the dataset at {} on this worker is not the run's: here it is {} bytes, {} rows in {} \
             row groups; the run's is {} bytes, {} rows in {} row groups. Give every worker the \
             same files at the same path",
            path.display(),
            here.bytes,
            rows(here),
            here.row_groups.len(),
            self.bytes,
            rows(self),
            self.row_groups.len()
        ))
    }
}

/// A scorer as the run made it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScorerCall {
    /// The scorer's name, when it is named.
    pub name: Option<String>,
    /// Its plugin file, when it is given as one.
    pub path: Option<PathBuf>,
    /// Its config.
    pub config: serde_json::Map<String, serde_json::Value>,
    /// The name the run's scorer has.
    pub made: String,
    /// The version the run's scorer has.
    pub version: String,
}

impl ScorerCall {
    /// The call of a scorer made from `spec`, whose info is `info`.
    pub fn new(spec: &ScorerSpec, info: &ScorerInfo) -> Self {
        let (name, path) = match &spec.target {
            SpecTarget::Name(name) => (Some(name.clone()), None),
            SpecTarget::Path(path) => (None, Some(path.clone())),
        };
        ScorerCall {
            name,
            path,
            config: spec.config.clone(),
            made: info.name.clone(),
            version: info.version.clone(),
        }
    }

    fn spec(&self) -> ScorerSpec {
        ScorerSpec {
            target: match (&self.name, &self.path) {
                (_, Some(path)) => SpecTarget::Path(path.clone()),
                (Some(name), None) => SpecTarget::Name(name.clone()),
                (None, None) => SpecTarget::Name(self.made.clone()),
            },
            config: self.config.clone(),
        }
    }
}

impl EvalSpec {
    fn options(&self) -> Result<DatasetOptions> {
        let mut map = FieldMap::default();
        for (target, field) in &self.map {
            map.insert(target, field)
                .map_err(|e| exec_datafusion_err!("the field map: {e}"))?;
        }
        Ok(DatasetOptions {
            format: Some(Format::Parquet),
            map,
        })
    }
}

/// The results' schema: `line`, then per scorer `N/bool`, `N/number`,
/// `N/label`, `N/passed`, `N/rationale`, `N/error_code`,
/// `N/error_message` (N its place in the run).
fn results_schema(scorers: usize) -> SchemaRef {
    let mut fields = vec![Field::new("line", DataType::UInt64, false)];
    for i in 0..scorers {
        for column in COLUMNS {
            let data_type = match column {
                "bool" | "passed" => DataType::Boolean,
                "number" => DataType::Float64,
                _ => DataType::Utf8,
            };
            fields.push(Field::new(format!("{i}/{column}"), data_type, true));
        }
    }
    Arc::new(Schema::new(fields))
}

/// The scan: its partitions each read a range of row groups and score
/// their records.
pub(crate) struct EvalScanExec {
    spec: Arc<EvalSpec>,
    /// Per partition, the row groups it reads, in order.
    parts: Vec<Vec<usize>>,
    /// The row groups of the dataset.
    groups: usize,
    registry: Arc<Registry>,
    properties: Arc<PlanProperties>,
}

impl fmt::Debug for EvalScanExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EvalScanExec")
            .field("spec", &self.spec)
            .field("parts", &self.parts)
            .finish_non_exhaustive()
    }
}

/// What the codec sends of a scan.
#[derive(Serialize, Deserialize)]
struct Encoded {
    spec: EvalSpec,
    parts: Vec<Vec<usize>>,
    groups: usize,
}

impl EvalScanExec {
    fn new(
        spec: Arc<EvalSpec>,
        parts: Vec<Vec<usize>>,
        groups: usize,
        registry: Arc<Registry>,
    ) -> Self {
        let schema = results_schema(spec.scorers.len());
        let line: Arc<dyn PhysicalExpr> = Arc::new(Column::new("line", 0));
        let ordering = [PhysicalSortExpr::new_default(line)];
        let properties = PlanProperties::new(
            EquivalenceProperties::new_with_orderings(schema, [ordering]),
            Partitioning::UnknownPartitioning(parts.len().max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        EvalScanExec {
            spec,
            parts,
            groups,
            registry,
            properties: Arc::new(properties),
        }
    }
}

/// Row groups `0..groups` dealt to `tasks` tasks of `partitions`
/// partitions each: row group `g` to task `g mod tasks`, and within it to
/// partition `(g / tasks) mod partitions`. The parts are listed task by
/// task, each task's partitions in order.
fn deal(groups: usize, tasks: usize, partitions: usize) -> Vec<Vec<usize>> {
    let (tasks, partitions) = (tasks.max(1), partitions.max(1));
    let mut parts = vec![Vec::new(); tasks * partitions];
    for g in 0..groups {
        parts[(g % tasks) * partitions + (g / tasks) % partitions].push(g);
    }
    parts
}

impl DisplayAs for EvalScanExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "EvalScanExec: dataset={}, row_groups={:?}, scorers=[{}]",
            self.spec.dataset.display(),
            self.parts,
            self.spec
                .scorers
                .iter()
                .map(|s| s.made.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

impl ExecutionPlan for EvalScanExec {
    fn name(&self) -> &str {
        "EvalScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !children.is_empty() {
            return internal_err!("EvalScanExec has no children");
        }
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let part = self.parts.get(partition).cloned().unwrap_or_default();
        let schema = self.schema();
        let mut builder = RecordBatchReceiverStreamBuilder::new(Arc::clone(&schema), 2);
        let tx = builder.tx();
        let spec = Arc::clone(&self.spec);
        let registry = Arc::clone(&self.registry);
        // The cores are shared by the partitions read side by side.
        let threads =
            std::thread::available_parallelism().map_or(1, |n| n.get()) / self.parts.len().max(1);
        builder.spawn_blocking(move || {
            score_part(&spec, &registry, part, threads.max(1), &schema, |batch| {
                tx.blocking_send(Ok(batch)).is_ok()
            })
        });
        Ok(builder.build())
    }
}

/// Reads row groups `part`, one after the other, scores their records,
/// and hands each batch of results to `send`, which says whether to go on.
fn score_part(
    spec: &EvalSpec,
    registry: &Registry,
    part: Vec<usize>,
    threads: usize,
    schema: &SchemaRef,
    mut send: impl FnMut(RecordBatch) -> bool,
) -> Result<()> {
    if part.is_empty() {
        return Ok(());
    }
    let mut scorers = Vec::with_capacity(spec.scorers.len());
    for call in &spec.scorers {
        let scorer = registry.create(&call.spec()).map_err(|e| {
            exec_datafusion_err!("this worker cannot make the scorer {}: {e}", call.made)
        })?;
        let info = scorer.info();
        if info.name != call.made || info.version != call.version {
            return Err(exec_datafusion_err!(
                "this worker's scorer {} is {} version {}, the run's is {} version {}: give the \
                 workers the same plugins as the run",
                call.made,
                info.name,
                info.version,
                call.made,
                call.version
            ));
        }
        scorers.push(scorer);
    }
    let runner = Runner::new(scorers).threads(threads);
    let dataset = Dataset::open_with(&spec.dataset, &spec.options()?)
        .map_err(|e| exec_datafusion_err!("{e}"))?;
    spec.layout.check(&Layout::of(&dataset)?, &spec.dataset)?;
    // Each row group opened when the one before is read: one file open at
    // a time, whatever the part holds.
    let mut entries = part.into_iter().flat_map(|g| {
        let opened = dataset.entries_of_row_groups(g..g + 1);
        let (entries, failed) = match opened {
            Ok(entries) => (Some(entries), None),
            Err(e) => (None, Some(Err(e))),
        };
        failed.into_iter().chain(entries.into_iter().flatten())
    });
    let mut lines = Vec::with_capacity(BATCH);
    let mut records = Vec::with_capacity(BATCH);
    for entry in entries.by_ref() {
        match entry.map_err(|e| exec_datafusion_err!("{e}"))? {
            Entry::Record(r) => {
                lines.push(r.line as u64);
                records.push(r.record);
            }
            // The run reads it too, and says why it is invalid.
            Entry::Invalid(_) => {}
        }
        if records.len() == BATCH {
            let scores = runner.score(&records);
            if !send(results_batch(schema, &lines, &scores)?) {
                return Ok(());
            }
            lines.clear();
            records.clear();
        }
    }
    if !records.is_empty() {
        let scores = runner.score(&records);
        send(results_batch(schema, &lines, &scores)?);
    }
    Ok(())
}

/// One row per record: its line and each scorer's result.
fn results_batch(schema: &SchemaRef, lines: &[u64], scores: &Scores) -> Result<RecordBatch> {
    let n = lines.len();
    let scorers = (schema.fields().len() - 1) / COLUMNS.len();
    let mut columns: Vec<ArrayRef> = vec![Arc::new(UInt64Array::from(lines.to_vec()))];
    for j in 0..scorers {
        let mut bools = BooleanBuilder::with_capacity(n);
        let mut numbers = Float64Builder::with_capacity(n);
        let mut labels = StringBuilder::new();
        let mut passed = BooleanBuilder::with_capacity(n);
        let mut rationales = StringBuilder::new();
        let mut codes = StringBuilder::new();
        let mut messages = StringBuilder::new();
        for i in 0..n {
            let result = scores.get(i, j);
            let value = result.value();
            bools.append_option(match value {
                Some(ScoreValueRef::Bool(b)) => Some(b),
                _ => None,
            });
            numbers.append_option(match value {
                Some(ScoreValueRef::Number(x)) => Some(x),
                _ => None,
            });
            labels.append_option(match value {
                Some(ScoreValueRef::Label(label)) => Some(label),
                _ => None,
            });
            passed.append_option(result.passed());
            rationales.append_option(result.rationale());
            let error = if value.is_none() {
                Some(result.error().unwrap_or_default())
            } else {
                None
            };
            codes.append_option(error.map(|e| e.0));
            messages.append_option(error.map(|e| e.1));
        }
        columns.push(Arc::new(bools.finish()));
        columns.push(Arc::new(numbers.finish()));
        columns.push(Arc::new(labels.finish()));
        columns.push(Arc::new(passed.finish()));
        columns.push(Arc::new(rationales.finish()));
        columns.push(Arc::new(codes.finish()));
        columns.push(Arc::new(messages.finish()));
    }
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// The outcome the run's scorer `j` gave at `row` of `batch`, as it was.
fn outcome(batch: &RecordBatch, j: usize, row: usize) -> verdict_plugin::Outcome {
    let at = 1 + j * COLUMNS.len();
    let column = |k: usize| batch.column(at + k);
    let text = |k: usize| {
        let array = column(k).as_string::<i32>();
        (!array.is_null(row)).then(|| array.value(row).to_owned())
    };
    let flag = |k: usize| {
        let array = column(k).as_boolean();
        (!array.is_null(row)).then(|| array.value(row))
    };
    let number = {
        let array = column(1).as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        (!array.is_null(row)).then(|| array.value(row))
    };
    let score = match (flag(0), number, text(2)) {
        (Some(b), _, _) => Score::bool(b),
        (None, Some(x), _) => Score::number(x),
        (None, None, Some(label)) => Score::label(label),
        (None, None, None) => {
            return Err(ScoreError::new(
                text(5).unwrap_or_default(),
                text(6).unwrap_or_default(),
            ));
        }
    };
    let score = match text(4) {
        Some(rationale) => score.with_rationale(rationale),
        None => score,
    };
    Ok(match flag(3) {
        Some(passed) => score.with_passed(passed),
        None => score,
    })
}

/// The scan as a table, so that the coordinator's plan orders it by line.
#[derive(Debug)]
struct EvalTable(Arc<EvalScanExec>);

#[async_trait]
impl TableProvider for EvalTable {
    fn schema(&self) -> SchemaRef {
        self.0.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let all = (0..self.0.schema().fields().len()).collect::<Vec<_>>();
        match projection {
            Some(columns) if *columns != all => {
                plan_err!("the results of a run scored on workers are read whole")
            }
            _ => Ok(Arc::clone(&self.0) as _),
        }
    }
}

/// Sends scans to workers and makes them again there, with the worker's
/// registry.
pub(crate) struct EvalCodec {
    registry: Arc<Registry>,
}

impl fmt::Debug for EvalCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EvalCodec").finish_non_exhaustive()
    }
}

impl EvalCodec {
    pub(crate) fn new(registry: Arc<Registry>) -> Self {
        EvalCodec { registry }
    }
}

impl PhysicalExtensionCodec for EvalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        _ctx: &TaskContext,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !inputs.is_empty() {
            return internal_err!("EvalScanExec has no children");
        }
        let encoded: Encoded = serde_json::from_slice(buf)
            .map_err(|e| exec_datafusion_err!("a scan this worker cannot read: {e}"))?;
        Ok(Arc::new(EvalScanExec::new(
            Arc::new(encoded.spec),
            encoded.parts,
            encoded.groups,
            Arc::clone(&self.registry),
        )))
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        let Some(scan) = node.downcast_ref::<EvalScanExec>() else {
            return internal_err!("not a plan node of Verdict's: {}", node.name());
        };
        let encoded = Encoded {
            spec: (*scan.spec).clone(),
            parts: scan.parts.clone(),
            groups: scan.groups,
        };
        serde_json::to_writer(buf, &encoded).map_err(|e| DataFusionError::External(Box::new(e)))
    }
}

/// A task per row group, and at least two (a stage of one task runs on
/// the coordinator); the planner gives it no more tasks than there are
/// workers.
fn desired_tasks(ev: DesiredTaskCountEvent<'_>) -> Option<Result<DesiredTaskCountEventResponse>> {
    let scan = ev.plan.downcast_ref::<EvalScanExec>()?;
    Some(Ok(DesiredTaskCountEventResponse::desired(
        scan.groups.max(2),
    )))
}

/// The scan cut into its tasks, the row groups dealt round ([`deal`]).
fn scale_up(ev: ScaleUpLeafNodeEvent<'_>) -> Option<Result<ScaleUpLeafNodeEventResponse>> {
    let scan = ev.plan.downcast_ref::<EvalScanExec>()?;
    let partitions = ev.plan.output_partitioning().partition_count();
    let tasks = ev.task_count.max(1);
    let parts = deal(scan.groups, tasks, partitions);
    let variants = parts.chunks(partitions).map(|parts| {
        Arc::new(EvalScanExec::new(
            Arc::clone(&scan.spec),
            parts.to_vec(),
            scan.groups,
            Arc::clone(&scan.registry),
        )) as Arc<dyn ExecutionPlan>
    });
    Some(
        DistributedLeafExec::try_new(Arc::clone(ev.plan), variants).map(|leaf| {
            ScaleUpLeafNodeEventResponse::new(Arc::new(leaf) as Arc<dyn ExecutionPlan>)
        }),
    )
}

/// A run's records scored on `workers`: what
/// [`Evaluation::remote_scoring`](verdict_eval::Evaluation::remote_scoring)
/// takes.
pub struct RemoteEval {
    runtime: tokio::runtime::Runtime,
    stream: SendableRecordBatchStream,
    batch: Option<RecordBatch>,
    /// The next row of `batch`.
    row: usize,
    scorers: usize,
}

impl RemoteEval {
    /// Plans the scoring of `spec`'s dataset on `workers`, with `registry`
    /// for a part the coordinator scores itself; the workers are first
    /// sent work when the run asks for its first results.
    pub fn start(workers: Vec<Url>, spec: EvalSpec, registry: Arc<Registry>) -> Result<Self> {
        let groups = spec.layout.row_groups.len();
        let scorers = spec.scorers.len();
        let spec = Arc::new(spec);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| exec_datafusion_err!("starting the coordinator's threads: {e}"))?;
        let codec = EvalCodec::new(Arc::clone(&registry));
        let scan = EvalScanExec::new(
            Arc::clone(&spec),
            deal(groups, 1, PARTITIONS),
            groups,
            registry,
        );
        let stream = runtime.block_on(async {
            let state = crate::coordinator::state(workers)?
                .with_distributed_user_codec(codec)
                .with_distributed_desired_task_count_handler(desired_tasks)
                .with_distributed_scale_up_leaf_node_handler(scale_up)
                .build();
            let ctx = SessionContext::from(state);
            let plan = ctx
                .read_table(Arc::new(EvalTable(Arc::new(scan))))?
                .sort(vec![col("line").sort(true, false)])?
                .create_physical_plan()
                .await?;
            datafusion::physical_plan::execute_stream(plan, ctx.task_ctx())
        })?;
        Ok(RemoteEval {
            runtime,
            stream,
            batch: None,
            row: 0,
            scorers,
        })
    }

    /// Reads the next batch when the last is used up; `false` at the end
    /// of the results.
    fn fill(&mut self) -> std::result::Result<bool, String> {
        while self.batch.as_ref().is_none_or(|b| self.row >= b.num_rows()) {
            match self.runtime.block_on(self.stream.next()) {
                None => {
                    self.batch = None;
                    return Ok(false);
                }
                Some(Err(e)) => return Err(e.to_string()),
                Some(Ok(batch)) => {
                    self.batch = Some(batch);
                    self.row = 0;
                }
            }
        }
        Ok(true)
    }
}

impl RemoteScoring for RemoteEval {
    fn score(&mut self, lines: &[usize]) -> std::result::Result<Vec<Results>, String> {
        let mut columns: Vec<Results> = (0..self.scorers)
            .map(|_| Results::with_capacity(lines.len()))
            .collect();
        for &line in lines {
            loop {
                if !self.fill()? {
                    return Err(format!(
                        "the workers' results ended before the record at line {line}"
                    ));
                }
                let row = self.row;
                let batch = self.batch.as_ref().expect("filled");
                let at = batch.column(0).as_primitive::<UInt64Type>().value(row) as usize;
                if at > line {
                    return Err(format!(
                        "the workers read no record at line {line}, which the run read as one: \
                         do they read the same file?"
                    ));
                }
                let found = at == line;
                if found {
                    for (j, column) in columns.iter_mut().enumerate() {
                        column.push(&outcome(batch, j, row));
                    }
                }
                self.row += 1;
                if found {
                    break;
                }
            }
        }
        Ok(columns)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
    use datafusion::parquet::arrow::ArrowWriter;
    use verdict_eval::Dataset;
    use verdict_scorer::Registry;

    use super::{EvalSpec, Layout, ScorerCall, deal, results_schema, score_part};

    /// A worker whose copy of the dataset is cut or sized otherwise than
    /// the coordinator's refuses to score it, saying how it differs.
    #[test]
    fn a_worker_refuses_a_dataset_that_is_not_the_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qa.parquet");
        let column = |v: &[&str]| -> ArrayRef { Arc::new(StringArray::from(v.to_vec())) };
        let batch = RecordBatch::try_from_iter([
            ("input", column(&["a", "b"])),
            ("output", column(&["x", "y"])),
            ("expected", column(&["x", "z"])),
        ])
        .unwrap();
        let mut writer =
            ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), batch.schema(), None)
                .unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let registry = Registry::with_builtins();
        let spec = "exact_match".parse().unwrap();
        let scorer = registry.create(&spec).unwrap();
        let layout = Layout::of(&Dataset::open(&path).unwrap()).unwrap();
        assert_eq!(layout.row_groups, vec![2]);
        let run = |layout: Layout| {
            let spec = EvalSpec {
                dataset: path.clone(),
                map: Vec::new(),
                scorers: vec![ScorerCall::new(&spec, scorer.info())],
                layout,
            };
            let mut rows = 0;
            score_part(&spec, &registry, vec![0], 1, &results_schema(1), |b| {
                rows += b.num_rows();
                true
            })
            .map(|()| rows)
        };
        assert_eq!(run(layout.clone()).unwrap(), 2);
        for other in [
            Layout {
                bytes: layout.bytes + 1,
                ..layout.clone()
            },
            Layout {
                row_groups: vec![1, 1],
                ..layout.clone()
            },
        ] {
            let refused = run(other).unwrap_err().to_string();
            assert!(refused.contains("is not the run's"), "{refused}");
            assert!(refused.contains("2 rows in 1 row groups"), "{refused}");
        }
    }

    #[test]
    fn row_groups_are_dealt_round_to_tasks_then_partitions() {
        // Two tasks of two partitions: the tasks alternate, and so do a
        // task's partitions.
        assert_eq!(
            deal(8, 2, 2),
            vec![vec![0, 4], vec![2, 6], vec![1, 5], vec![3, 7]]
        );
        assert_eq!(deal(3, 2, 2), vec![vec![0], vec![2], vec![1], vec![]]);
        assert_eq!(deal(0, 2, 1), vec![Vec::<usize>::new(), vec![]]);
        // Every row group is in exactly one part, in order within it.
        for (tasks, partitions) in [(1, 1), (1, 2), (3, 2), (4, 3)] {
            let parts = deal(11, tasks, partitions);
            assert_eq!(parts.len(), tasks * partitions);
            let mut all: Vec<usize> = parts.iter().flatten().copied().collect();
            assert!(parts.iter().all(|p| p.windows(2).all(|w| w[0] < w[1])));
            all.sort_unstable();
            assert_eq!(all, (0..11).collect::<Vec<_>>());
        }
    }
}
