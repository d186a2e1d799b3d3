//! `verdict sql`: a SQL query over files and the local store, with every
//! scorer as a function (`verdict-sql` on DataFusion), printed as a table
//! or written to a Parquet, CSV or JSON-lines file.

use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use futures::StreamExt;
use verdict_eval::{OutputFile, Outputs, PluginSettings};
use verdict_sql::datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use verdict_sql::datafusion::arrow::datatypes::{DataType, Field, Schema};
use verdict_sql::datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use verdict_sql::datafusion::arrow::util::pretty::pretty_format_batches;
use verdict_sql::datafusion::common::tree_node::TreeNodeRecursion;
use verdict_sql::datafusion::error::DataFusionError;
use verdict_sql::datafusion::execution::SendableRecordBatchStream;
use verdict_sql::datafusion::logical_expr::LogicalPlan;
use verdict_sql::datafusion::prelude::SessionContext;
use verdict_sql::{Format, TableSpec};

use crate::cli::SqlArgs;

pub(crate) fn run(args: &SqlArgs) -> anyhow::Result<ExitCode> {
    let tables = args
        .tables
        .iter()
        .map(|t| t.parse::<TableSpec>().map_err(|e| anyhow!("--table {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let output = match &args.output {
        Some(path) => {
            let format = Format::of_path(path).ok_or_else(|| {
                anyhow!(
                    "--output {}: name a file .parquet, .csv or .jsonl (.json), whose \
                     extension says how it is written",
                    path.display()
                )
            })?;
            Some((path, format))
        }
        None => None,
    };
    // Nothing written may be what the query reads.
    let mut outputs = Outputs::new().store(&args.store.path);
    for table in &tables {
        outputs = outputs.input("--table", &table.path);
    }
    for plugin in args.plugins.plugins.iter().chain(&args.plugins.trusted) {
        outputs = outputs.input("--plugin", plugin);
    }
    if let Some((path, _)) = output {
        outputs = outputs.output("--output", path);
    }
    outputs.check()?;

    let registry = crate::plugins::registry(&args.plugins, &PluginSettings::default())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the query's threads")?;
    runtime.block_on(async {
        let ctx = session(args)?;
        verdict_sql::register_scorers(&ctx, registry).map_err(sql_error)?;
        if args.store.path.is_file() {
            verdict_sql::register_store(&ctx, &args.store.path).map_err(|e| {
                anyhow!(
                    "the local store {} cannot be read: {e}",
                    args.store.path.display()
                )
            })?;
        }
        for table in &tables {
            verdict_sql::register_file(&ctx, table)
                .await
                .map_err(sql_error)?;
        }
        let plan = ctx
            .state()
            .create_logical_plan(&args.query)
            .await
            .map_err(sql_error)?;
        refuse_writes(&plan)?;
        let frame = ctx.execute_logical_plan(plan).await.map_err(sql_error)?;
        #[cfg(feature = "distributed")]
        if args.workers.is_some() {
            crate::distributed::refuse_store_tables(frame.logical_plan())?;
        }
        let stream = frame.execute_stream().await.map_err(sql_error)?;
        match output {
            Some((path, format)) => write_file(stream, path, format).await,
            None => print_table(stream).await,
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The session the query runs in: this process's, or one whose plans
/// run on `--workers`.
fn session(args: &SqlArgs) -> anyhow::Result<SessionContext> {
    #[cfg(feature = "distributed")]
    if let Some(workers) = &args.workers {
        return crate::distributed::coordinator(workers);
    }
    let _ = args;
    Ok(SessionContext::new())
}

/// A query's error as DataFusion says it.
/// Refuses a statement that writes or changes the session: `COPY … TO`,
/// `INSERT`, `CREATE`, `DROP`, `SET`. A query's rows are written with
/// `--output`, whose path is checked against the store, the tables and
/// the plugins; a `COPY` to any path, the store's among them, would
/// overwrite it whole.
fn refuse_writes(plan: &LogicalPlan) -> anyhow::Result<()> {
    let mut found = None;
    plan.apply_with_subqueries(|node| {
        let what = match node {
            LogicalPlan::Copy(_) => Some("COPY".to_owned()),
            LogicalPlan::Dml(dml) => Some(dml.op.to_string()),
            LogicalPlan::Ddl(ddl) => Some(ddl.name().to_owned()),
            LogicalPlan::Statement(statement) => Some(statement.name().to_owned()),
            _ => None,
        };
        if what.is_some() {
            found = what;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .map_err(sql_error)?;
    match found {
        Some(what) => Err(anyhow!(
            "verdict sql runs queries (SELECT, WITH, VALUES, EXPLAIN), and this one is {what}, \
             which writes or changes tables: write a query's rows with --output PATH"
        )),
        None => Ok(()),
    }
}

pub(crate) fn sql_error(e: DataFusionError) -> anyhow::Error {
    anyhow!("{}", e.strip_backtrace())
}

/// Rows of a row group of a Parquet file written with `--output`: an
/// eighth of the Arrow writer's default, so that `--workers`, which
/// splits a file by row group, can share a file of a million rows among
/// eight workers.
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Writes the rows into `path`, whole: into a file beside it, renamed
/// over it once every batch is written.
async fn write_file(
    mut stream: SendableRecordBatchStream,
    path: &std::path::Path,
    format: Format,
) -> anyhow::Result<()> {
    use verdict_sql::datafusion::arrow::{csv, json};
    use verdict_sql::datafusion::parquet::arrow::ArrowWriter;
    use verdict_sql::datafusion::parquet::file::properties::WriterProperties;

    let file = BufWriter::new(OutputFile::create(path)?);
    let schema = stream.schema();
    let written = |e: &dyn std::fmt::Display| anyhow!("writing {}: {e}", path.display());
    let file = match format {
        Format::Parquet => {
            let properties = WriterProperties::builder()
                .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
                .build();
            let mut writer =
                ArrowWriter::try_new(file, schema, Some(properties)).map_err(|e| written(&e))?;
            while let Some(batch) = stream.next().await {
                writer
                    .write(&batch.map_err(sql_error)?)
                    .map_err(|e| written(&e))?;
            }
            writer.into_inner().map_err(|e| written(&e))?
        }
        Format::Csv => {
            let mut writer = csv::Writer::new(file);
            while let Some(batch) = stream.next().await {
                writer
                    .write(&batch.map_err(sql_error)?)
                    .map_err(|e| written(&e))?;
            }
            writer.into_inner()
        }
        Format::Json => {
            let mut writer = json::LineDelimitedWriter::new(file);
            while let Some(batch) = stream.next().await {
                writer
                    .write(&batch.map_err(sql_error)?)
                    .map_err(|e| written(&e))?;
            }
            writer.finish().map_err(|e| written(&e))?;
            writer.into_inner()
        }
    };
    OutputFile::commit_buffered(file)?;
    Ok(())
}

/// Prints the rows as a table, every cell made visible first: a value
/// from a file or a plugin never reaches the terminal raw.
async fn print_table(mut stream: SendableRecordBatchStream) -> anyhow::Result<()> {
    let schema = stream.schema();
    let mut batches = Vec::new();
    while let Some(batch) = stream.next().await {
        batches.push(visible_batch(&batch.map_err(sql_error)?)?);
    }
    if batches.is_empty() {
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| Field::new(visible(f.name()), DataType::Utf8, true))
            .collect();
        batches.push(RecordBatch::new_empty(Arc::new(Schema::new(fields))));
    }
    let table = pretty_format_batches(&batches).map_err(|e| anyhow!("{e}"))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{table}")?;
    out.flush()?;
    Ok(())
}

fn visible(text: &str) -> String {
    verdict_eval::report::visible(text).into_owned()
}

/// The batch with every column as its text, escaped for a terminal.
fn visible_batch(batch: &RecordBatch) -> anyhow::Result<RecordBatch> {
    let options = FormatOptions::default().with_null("NULL");
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
        let cells: StringArray = (0..column.len())
            .map(|i| Some(visible(&formatter.value(i).to_string())))
            .collect();
        fields.push(Field::new(visible(field.name()), DataType::Utf8, false));
        columns.push(Arc::new(cells));
    }
    if fields.is_empty() {
        bail!("the query returns no columns");
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}
