//! An isolated plugin, and its scorer: a [`Scorer`] like any other, whose
//! batches are scored by worker processes, one per caller at a time.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use verdict_plugin::abi::{Buf, ResultSlot};
use verdict_plugin::host::score_batch_with;
use verdict_plugin::{Record, Results, ScoreError, Trace};

use super::Isolation;
use super::supervisor::{Failure, Worker};
use super::wire::{self, Malformed, ReplyResults};
use crate::error::LoadError;
use crate::plugin::{check_file, sha256_of};
use crate::scorer::{SCORER_INVALID_RESULT, Scorer, ScorerInfo};

/// A plugin read by a worker process: its info, and what it takes to
/// start more workers for it. Nothing of it is loaded into this process.
pub struct IsolatedPlugin {
    info: ScorerInfo,
    /// The file, canonicalized.
    path: PathBuf,
    isolation: Isolation,
}

impl std::fmt::Debug for IsolatedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IsolatedPlugin")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl IsolatedPlugin {
    /// Reads the plugin at `path` in a new worker process: the worker
    /// opens it and reads its descriptor, and sends back what it found,
    /// which is checked here. A plugin that crashes, exits or hangs while
    /// loading (its library's constructor included) is refused with what
    /// happened; this process never opens the file as a library.
    pub fn load(path: &Path, isolation: &Isolation) -> Result<Arc<IsolatedPlugin>, LoadError> {
        check_file(path)?;
        let canonical = path.canonicalize().map_err(|source| LoadError::Io {
            path: path.to_owned(),
            source,
        })?;
        let sha256 = sha256_of(&canonical)?;
        let (_, json) = load(&canonical, isolation)?;
        Ok(Arc::new(IsolatedPlugin {
            info: wire::read_info(&json, &canonical, sha256)?,
            path: canonical,
            isolation: isolation.clone(),
        }))
    }

    /// What the plugin's scorer is.
    pub fn info(&self) -> &ScorerInfo {
        &self.info
    }

    /// Makes a scorer from config JSON, in a worker: a config the plugin
    /// refuses is refused here.
    pub fn instantiate(self: &Arc<Self>, config: &str) -> Result<IsolatedScorer, LoadError> {
        let worker = self.ready_worker(config)?;
        Ok(IsolatedScorer {
            plugin: Arc::clone(self),
            config: config.to_owned(),
            idle: Mutex::new(vec![worker]),
        })
    }

    /// The plugin's file, canonicalized.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A new worker with the plugin loaded and its scorer made.
    fn ready_worker(&self, config: &str) -> Result<Worker, LoadError> {
        let (mut worker, json) = load(&self.path, &self.isolation)?;
        // The file may have changed since it was read.
        let again = wire::read_info(&json, &self.path, String::new())?;
        if again.name != self.info.name {
            return Err(LoadError::Worker {
                path: self.path.clone(),
                reason: format!(
                    "the file changed: it was the scorer {:?}, and is now {:?}",
                    self.info.name, again.name
                ),
            });
        }
        match worker.create(config, &self.path, &self.isolation) {
            Ok(Ok(())) => Ok(worker),
            Ok(Err(refused)) => Err(refused),
            Err(failure) => Err(failure.loading(&self.path, &self.isolation)),
        }
    }

    /// The scorer's name and file, for messages.
    fn named(&self) -> String {
        format!("{} (plugin {})", self.info.name, self.path.display())
    }
}

/// A new worker that has loaded the plugin at `path`, and the plugin's
/// info as it sent it.
fn load(path: &Path, isolation: &Isolation) -> Result<(Worker, Vec<u8>), LoadError> {
    let mut worker =
        Worker::start(isolation).map_err(|e| Failure::Io(e).loading(path, isolation))?;
    match worker.load(path, isolation) {
        Ok(Ok(json)) => Ok((worker, json)),
        Ok(Err(refused)) => Err(refused),
        Err(failure) => Err(failure.loading(path, isolation)),
    }
}

/// A configured scorer of an isolated plugin. Each call takes an idle
/// worker (or starts one: as many as callers at once, so the runner's
/// threads each have their own) and gives it back after the batch; a
/// worker that crashed, hung or ran out of memory is not given back, and
/// the next batch starts a new one. Dropping the scorer stops its
/// workers.
pub struct IsolatedScorer {
    plugin: Arc<IsolatedPlugin>,
    config: String,
    idle: Mutex<Vec<Worker>>,
}

impl std::fmt::Debug for IsolatedScorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IsolatedScorer")
            .field("name", &self.plugin.info.name)
            .finish_non_exhaustive()
    }
}

/// What one batch call left for a later call on one of its records.
struct Call {
    /// The first record of the latest batch sent.
    base: usize,
    /// How many records it had.
    n: usize,
}

impl IsolatedScorer {
    fn failed(&self, failure: &Failure, n: usize) -> ScoreError {
        ScoreError::new(
            failure.code(),
            format!(
                "{}: {} while scoring a batch of {n} records; a new worker takes the next batch",
                self.plugin.named(),
                failure.what(&self.plugin.isolation)
            ),
        )
    }

    /// Has `worker` score `records` into `slots`, as a plugin's batch
    /// entry would write them.
    fn batch(
        &self,
        worker: &mut Option<Worker>,
        call: &mut Call,
        records: &[Record<'_>],
        traces: &[Option<&Trace<'_>>],
        buf: &mut Buf,
        slots: &mut [ResultSlot],
    ) -> Result<(), ScoreError> {
        if worker.is_none() {
            *worker = Some(self.plugin.ready_worker(&self.config).map_err(|e| {
                ScoreError::new(
                    super::SCORER_CRASHED,
                    format!("{}: no worker could be started: {e}", self.plugin.named()),
                )
            })?);
        }
        let running = worker.as_mut().expect("started above");
        // Traces go only to a plugin that reads them, each record with
        // its own or with none.
        let none: Vec<Option<&Trace<'_>>>;
        let traces = match (self.plugin.info.needs_trace, traces.len() == records.len()) {
            (false, _) => &[][..],
            (true, true) => traces,
            (true, false) => {
                none = vec![None; records.len()];
                &none
            }
        };
        if let Err(failure) = running.score(records, traces, self.plugin.isolation.timeout) {
            *worker = None;
            return Err(self.failed(&failure, records.len()));
        }
        let mut read = || -> Result<(), Malformed> {
            let results = ReplyResults::new(running.reply(), records.len())?;
            for (i, slot) in slots.iter_mut().enumerate() {
                results.write(i, slot, buf)?;
            }
            Ok(())
        };
        *call = Call {
            base: records.as_ptr() as usize,
            n: records.len(),
        };
        if let Err(Malformed(reason)) = read() {
            // A worker that writes what cannot be read is not trusted with
            // another batch.
            *worker = None;
            return Err(ScoreError::new(
                SCORER_INVALID_RESULT,
                format!(
                    "{}: its worker's results cannot be read ({reason}); a new worker takes the \
                     next batch",
                    self.plugin.named()
                ),
            ));
        }
        Ok(())
    }

    /// Writes again the result of one record of the latest batch, into a
    /// buffer large enough for its text.
    fn one(
        &self,
        worker: &Option<Worker>,
        call: &Call,
        records: &[Record<'_>],
        buf: &mut Buf,
        slots: &mut [ResultSlot],
    ) -> Result<(), ScoreError> {
        let lost = || verdict_plugin::host::invalid("the worker's result for this record is gone");
        let lost_reply = || Malformed("it has no result for this record".into());
        let worker = worker.as_ref().ok_or_else(lost)?;
        let index = (records.as_ptr() as usize)
            .checked_sub(call.base)
            .map(|bytes| bytes / size_of::<Record<'_>>());
        let slot = slots.first_mut().ok_or_else(lost)?;
        ReplyResults::new(worker.reply(), call.n)
            .and_then(|results| results.write(index.ok_or_else(lost_reply)?, slot, buf))
            .map_err(|Malformed(reason)| verdict_plugin::host::invalid(reason))
    }
}

impl Scorer for IsolatedScorer {
    fn info(&self) -> &ScorerInfo {
        &self.plugin.info
    }

    fn score_batch(&self, records: &[Record<'_>], out: &mut Results) {
        self.score_batch_traced(records, &[], out);
    }

    fn score_batch_traced(
        &self,
        records: &[Record<'_>],
        traces: &[Option<&Trace<'_>>],
        out: &mut Results,
    ) {
        if records.is_empty() {
            return;
        }
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let worker = RefCell::new(idle);
        let call = RefCell::new(Call { base: 0, n: 0 });
        // The worker's results are checked as a plugin's that does not
        // vouch for them: every slot, every text.
        score_batch_with(
            records,
            traces,
            out,
            false,
            |records: &[Record<'_>],
             traces: &[Option<&Trace<'_>>],
             buf: &mut Buf,
             slots: &mut [ResultSlot]| {
                self.batch(
                    &mut worker.borrow_mut(),
                    &mut call.borrow_mut(),
                    records,
                    traces,
                    buf,
                    slots,
                )
            },
            |records: &[Record<'_>],
             _: &[Option<&Trace<'_>>],
             buf: &mut Buf,
             slots: &mut [ResultSlot]| {
                self.one(&worker.borrow(), &call.borrow(), records, buf, slots)
            },
        );
        if let Some(worker) = worker.into_inner() {
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(worker);
        }
    }
}
