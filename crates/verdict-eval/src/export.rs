//! An evaluation's destinations (`--export`): the one fan-out of
//! `verdict-export` ([`Destination`], [`Tally`]), and for MLflow the
//! evaluation's own MLflow run around what is sent.

use std::time::SystemTime;

use verdict_export::Destination;
use verdict_export::mlflow::RunEnd;

use crate::RunSummary;
use crate::mlflow_run::{MlflowRun, RunPlan};

/// A destination of an evaluation, and its MLflow run once started.
#[derive(Debug)]
pub(crate) struct Export {
    pub(crate) destination: Destination,
    mlflow_run: Option<MlflowRun>,
}

impl Export {
    pub(crate) fn new(destination: Destination) -> Self {
        Export {
            destination,
            mlflow_run: None,
        }
    }

    /// Before anything is sent: the run's own traces (their high half
    /// `ids`) are new to every destination, and an MLflow destination
    /// makes the evaluation an MLflow run (see `mlflow_run`). When the run
    /// cannot be started, nothing is sent to the destination, as when it
    /// cannot be reached.
    pub(crate) fn begin_run(&mut self, plan: &RunPlan, started: SystemTime, ids: u64) {
        self.destination.new_traces(ids);
        let Some(sink) = self.destination.mlflow() else {
            return;
        };
        match MlflowRun::start(sink, plan, started) {
            Ok(run) => {
                self.destination.join_mlflow_run(run.id().to_owned());
                self.mlflow_run = Some(run);
            }
            Err(e) => self
                .destination
                .set_unreachable(format!("cannot start an MLflow run: {e}")),
        }
    }

    /// Ends the evaluation's MLflow run, if it has one (see
    /// `MlflowRun::end`): what went wrong, if anything.
    pub(crate) fn end_run(
        &self,
        summary: Option<&RunSummary>,
        end: RunEnd,
        status: &str,
        reason: Option<&str>,
    ) -> Option<String> {
        let (Some(sink), Some(run)) = (self.destination.mlflow(), &self.mlflow_run) else {
            return None;
        };
        // A server that took none of a chunk has had its retry budget
        // spent once already: ending the run would spend it again, for a
        // server that is most likely gone.
        if self.destination.given_up() {
            return Some(format!(
                "MLflow run {} was not ended: nothing more was sent to the server",
                run.id()
            ));
        }
        run.end(sink, summary, end, status, reason)
            .err()
            .map(|e| format!("ending MLflow run {}: {e}", run.id()))
    }
}
