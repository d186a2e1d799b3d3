//! Verdict's scorers as SQL functions, and the local store as tables, on
//! Apache DataFusion: what `verdict sql` runs.
//!
//! - [`register_scorers`] makes every scorer of a [`Registry`] — built in,
//!   plugin, isolated plugin — a scalar function of a [`SessionContext`]:
//!   `exact_match(output, expected)`, with an optional third argument, a
//!   literal JSON object of the keys `verdict eval --scorer
//!   name:{json}` takes (`edit_distance(a, b, '{"max_distance": 2}')`).
//!   A scorer whose name a DataFusion function already has (`length`,
//!   `contains`) is `score_length`, `score_contains`: SQL's own functions
//!   keep their meaning.
//! - `assess(scorer, output, expected[, config])` returns everything the
//!   scorer said of a row, as a struct shaped like MLflow's feedback:
//!   `value` (JSON), `number`, `passed`, `rationale`, `error_code`,
//!   `error_message` ([`assessment_fields`]).
//! - [`register_store`] makes the local store's `traces`, `spans` and
//!   `assessments` tables, MLflow-shaped ([`STORE_TABLES`]).
//! - [`register_file`] makes a Parquet, CSV or JSON-lines file a table
//!   ([`TableSpec`]).
//!
//! Decisions:
//!
//! - **A function works on whole arrays, through the scorer's batch
//!   path.** Each batch's rows become borrowed records whose texts are
//!   slices of the Arrow buffers (`Utf8`, `LargeUtf8` and `Utf8View`
//!   alike; a dictionary is cast first), and the scorer is called with
//!   256 of them at a time, as `verdict eval`'s runner calls it, so a
//!   plugin's call and an isolated plugin's round trip are paid per 256
//!   rows, never per row. The argument is the record's output;
//!   the second, its `expected_response` expectation, as `verdict eval`
//!   maps a dataset's `expected` column.
//! - **SQL's NULL in, NULL out.** A row whose output or expected is NULL
//!   is not scored, and its value is NULL, as with SQL's own functions;
//!   the alternative, scoring it as a record with a missing value, would
//!   turn every NULL into an error.
//! - **A scorer's error is NULL in its value, and said in `assess`.** The
//!   value column holds values only; `assess` scores once and carries the
//!   error code and message beside the value, so a query sees which rows
//!   failed and why (`WHERE a.error_code IS NOT NULL`). The alternative, a
//!   companion `name_error()` per scorer, would score every row twice for
//!   a query that wants both. An isolated plugin that crashes gives each
//!   row of that call (at most 256) its `SCORER_CRASHED` error, and the
//!   query goes on.
//! - **A value's SQL type is learned once, when the query is planned.**
//!   A scorer's kind (pass/fail, number, label) is known only per record:
//!   nothing in a plugin declares it. The function scores a few fixed
//!   texts and takes the kind of the first value: BOOLEAN, DOUBLE or
//!   VARCHAR; a scorer that fails on all of them is VARCHAR. A row of
//!   another kind is converted where nothing is lost (a bool as 1 or 0 in
//!   DOUBLE, any value as its text in VARCHAR), and is NULL otherwise;
//!   `assess` always has the value as it was.
//! - **Refused when planned, with the signature**: a wrong number of
//!   arguments, arguments that are not text (bytes name `CAST(… AS
//!   VARCHAR)`), a config that is not a literal JSON object or that the
//!   scorer rejects, and a scorer that reads traces, which a row does not
//!   carry.
//!
//! ```
//! use datafusion::arrow::array::AsArray;
//! use datafusion::prelude::SessionContext;
//! use verdict_scorer::Registry;
//!
//! # futures::executor::block_on(async {
//! let ctx = SessionContext::new();
//! verdict_sql::register_scorers(&ctx, Registry::with_builtins())?;
//! let batches = ctx
//!     .sql("SELECT exact_match(a, b) AS same FROM (VALUES ('Paris', 'Paris'), ('Lyon', 'Paris')) t(a, b)")
//!     .await?
//!     .collect()
//!     .await?;
//! let same = batches[0].column(0).as_boolean();
//! assert!(same.value(0) && !same.value(1));
//! # Ok::<(), datafusion::error::DataFusionError>(())
//! # }).unwrap();
//! ```
#![deny(missing_docs)]

mod function;
mod records;
mod scorers;
mod store;
mod tables;

use std::sync::Arc;

pub use datafusion;
use datafusion::common::Result;
use datafusion::execution::SessionState;
use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionContext;
pub use function::{ASSESS, assessment_fields};
pub use scorers::ValueType;
pub use store::{STORE_TABLES, register_store};
pub use tables::{Format, TableSpec, register_file};
use verdict_scorer::Registry;

/// The prefix of a scorer's function when DataFusion has a function of
/// its name.
pub const SHADOWED_PREFIX: &str = "score_";

/// One scorer's function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registered {
    /// The scorer.
    pub scorer: String,
    /// Its function's name in SQL.
    pub function: String,
}

/// Registers every scorer of `registry` as a function of `ctx`, and
/// `assess`; returns the functions, in the registry's order.
pub fn register_scorers(ctx: &SessionContext, registry: Registry) -> Result<Vec<Registered>> {
    let (registered, functions) = scorer_functions(&ctx.state(), registry);
    for function in functions {
        ctx.register_udf(Arc::unwrap_or_clone(function));
    }
    Ok(registered)
}

/// Every scorer of `registry` as a function, and `assess`, named as in
/// `state` (a scorer whose name `state` already gives a function gets
/// [`SHADOWED_PREFIX`]), without registering them: a session built per
/// query (a worker's) adds the same functions each time, and the scorers
/// they make are made once.
pub fn scorer_functions(
    state: &SessionState,
    registry: impl Into<Arc<Registry>>,
) -> (Vec<Registered>, Vec<Arc<ScalarUDF>>) {
    let registry = registry.into();
    let names: Vec<String> = registry.scorers().iter().map(|s| s.name.clone()).collect();
    let scorers = Arc::new(scorers::Scorers::new(registry));
    let taken = |name: &str| {
        state.scalar_functions().contains_key(name)
            || state.aggregate_functions().contains_key(name)
            || state.window_functions().contains_key(name)
            || name == ASSESS
    };
    let mut registered = Vec::with_capacity(names.len());
    let mut functions = Vec::with_capacity(names.len() + 1);
    for scorer in names {
        let function = if taken(&scorer) {
            format!("{SHADOWED_PREFIX}{scorer}")
        } else {
            scorer.clone()
        };
        let udf = function::ScorerFunction::value(&function, &scorer, Arc::clone(&scorers));
        functions.push(Arc::new(ScalarUDF::new_from_impl(udf)));
        registered.push(Registered { scorer, function });
    }
    functions.push(Arc::new(ScalarUDF::new_from_impl(
        function::ScorerFunction::assess(Arc::clone(&scorers)),
    )));
    (registered, functions)
}
