//! Verdict's SQL and evaluations across machines: `verdict worker` serves
//! the parts of a query's plan that a coordinator (`verdict sql
//! --workers`) sends it, with every scorer as the same SQL function as in
//! `verdict sql`, and scores the parts of a run's dataset that `verdict
//! eval --workers` sends it.
//!
//! - [`worker`] makes the worker: an Arrow Flight (gRPC) service whose
//!   query sessions hold the scorer functions of a [`Registry`], made
//!   once for the process; [`serve`] runs it on a listener until told to
//!   stop.
//! - [`coordinator`] makes the session a query is planned in: the
//!   distributed planner, the workers it sends the plan's stages to
//!   ([`parse_workers`]), and the same scorer functions, so that a query
//!   is typed and refused at planning exactly as `verdict sql` would.
//! - [`RemoteEval`] scores a run's Parquet dataset on the workers, its
//!   row groups dealt round them, and hands the run each
//!   record's results in line order ([`verdict_eval::RemoteScoring`]); the
//!   run reads, stores, gates and reports on the coordinator as it does
//!   alone (see the `eval` module).
//!
//! Decisions:
//!
//! - **An existing engine, datafusion-distributed, over Apache DataFusion
//!   Ballista.** The plan is DataFusion's own, cut into stages at its
//!   repartitions, each stage's tasks sent to workers over Arrow Flight;
//!   the worker is a library type mounted in our own process, so one
//!   binary holds the engine, the scorers and the plugin host, and a
//!   worker's sessions get the scorer functions through a session-builder
//!   hook. Ballista needs a scheduler process besides its executors, and
//!   the scorer functions in three places: the client's session, the
//!   scheduler's session builder (it plans the physical plan from the
//!   client's logical one, so it loads the plugins too) and each
//!   executor's `override_function_registry`, with our binary built as
//!   both scheduler and executor. One more long-running process, and
//!   plugins loaded where nothing is scored, for what one hook gives
//!   here.
//! - **Files are split by byte range, and so by row group, the same way
//!   on every run.** A Parquet file's row groups go to the task whose
//!   byte range holds their middle (DataFusion's rule), the ranges are
//!   cut from the files' sizes, and every scan stage gets as many tasks
//!   as there are workers, whatever the data's size (a scoring query is
//!   CPU-bound: a few megabytes already pay for a worker).
//! - **A worker that fails fails the query.** A worker that cannot be
//!   reached, dies, errs or stops answering mid-query ends the
//!   coordinator's stream with an error naming its URL; no partial result
//!   is returned as whole.
//! - **A scorer is found by its function's name on the worker.** A
//!   worker that lacks a plugin the query calls refuses its stage with
//!   the function's name (`assess` names the scorer).
//! - **No authentication, no TLS.** A worker runs what any client sends
//!   it: it listens only on the address it is given, and belongs on a
//!   private network.

#![deny(missing_docs)]

mod coordinator;
mod eval;
mod named;
mod worker;

pub use coordinator::{coordinator, parse_workers};
pub use datafusion_distributed;
pub use eval::{EvalSpec, Layout, RemoteEval, ScorerCall};
pub use url::Url;
pub use worker::{serve, worker};
