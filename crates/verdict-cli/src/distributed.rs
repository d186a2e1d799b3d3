//! `--workers`: the session whose plans run on `verdict worker`s, and what
//! such a query may not read.

use anyhow::anyhow;
use verdict_sql::datafusion::common::tree_node::TreeNodeRecursion;
use verdict_sql::datafusion::logical_expr::LogicalPlan;
use verdict_sql::datafusion::prelude::SessionContext;

/// The coordinator's session over the workers of `--workers`.
pub(crate) fn coordinator(workers: &str) -> anyhow::Result<SessionContext> {
    let workers =
        verdict_distributed::parse_workers(workers).map_err(|e| anyhow!("--workers {e}"))?;
    verdict_distributed::coordinator(workers).map_err(crate::sql::sql_error)
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
