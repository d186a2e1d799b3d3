//! `--workers`: the session whose plans run on `verdict worker`s, and what
//! such a query may not read.

use std::sync::Arc;

use anyhow::anyhow;
use verdict_distributed::{EvalSpec, Layout, RemoteEval, ScorerCall};
use verdict_eval::{Dataset, DatasetOptions, Evaluation, Format};
use verdict_scorer::{Registry, ScorerSpec};
use verdict_sql::datafusion::common::tree_node::TreeNodeRecursion;
use verdict_sql::datafusion::logical_expr::LogicalPlan;
use verdict_sql::datafusion::prelude::SessionContext;

/// The coordinator's session over the workers of `--workers`.
pub(crate) fn coordinator(workers: &str) -> anyhow::Result<SessionContext> {
    let workers =
        verdict_distributed::parse_workers(workers).map_err(|e| anyhow!("--workers {e}"))?;
    verdict_distributed::coordinator(workers).map_err(crate::sql::sql_error)
}

/// `verdict eval --workers`: `evaluation` with its records scored on
/// `workers`, which read `dataset` at its absolute path.
pub(crate) fn score_on_workers(
    workers: &str,
    evaluation: Evaluation,
    dataset: &Dataset,
    options: &DatasetOptions,
    specs: &[ScorerSpec],
    registry: Registry,
) -> anyhow::Result<Evaluation> {
    let workers =
        verdict_distributed::parse_workers(workers).map_err(|e| anyhow!("--workers {e}"))?;
    if dataset.format() != Format::Parquet {
        return Err(anyhow!(
            "--workers: the workers read the row groups of a Parquet file or directory, and {} is not Parquet \
             ({}); write it as Parquet, or run it without --workers",
            dataset.path().display(),
            dataset.format().name()
        ));
    }
    let path = std::fs::canonicalize(dataset.path()).map_err(|e| {
        anyhow!(
            "--workers: the workers read the dataset at its path, and {} has none: {e}",
            dataset.path().display()
        )
    })?;
    let spec = EvalSpec {
        dataset: path,
        map: options.map.pairs(),
        scorers: specs
            .iter()
            .zip(evaluation.scorers())
            .map(|(spec, scorer)| ScorerCall::new(spec, scorer.info()))
            .collect(),
        layout: Layout::of(dataset).map_err(|e| anyhow!("--workers: {e}"))?,
    };
    let remote = RemoteEval::start(workers, spec, Arc::new(registry))
        .map_err(|e| anyhow!("--workers: {e}"))?;
    Ok(evaluation.remote_scoring(Box::new(remote)))
}

/// Refuses a plan that reads the local store's tables: the store is a
/// file on this machine, which no worker reads; the query runs without
/// `--workers`, or over a table exported to a file the workers share.
pub(crate) fn refuse_store_tables(plan: &LogicalPlan) -> anyhow::Result<()> {
    let mut found = None;
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && verdict_sql::STORE_TABLES.contains(&scan.table_name.table())
        {
            found = Some(scan.table_name.table().to_owned());
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .map_err(crate::sql::sql_error)?;
    match found {
        Some(table) => Err(anyhow!(
            "the query reads the local store's table {table}, which stays on this machine: \
             run it without --workers, or write the rows the workers need to a file first \
             (verdict sql \"SELECT … FROM {table}\" --output PATH.parquet) and read that as a \
             --table at the same path on every worker"
        )),
        None => Ok(()),
    }
}
