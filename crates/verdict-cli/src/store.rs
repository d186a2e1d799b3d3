//! The local store as the commands open it, and the trace ids people give.

use std::path::Path;

use anyhow::{Context, anyhow, bail};
use verdict::opentelemetry::trace::TraceId;
use verdict::{mlflow_trace_id, parse_trace_id};
use verdict_export::LocalStore;

/// Opens a store that must already exist, to change it: reading or
/// changing a store that is not there is a mistake in the path, not a
/// reason to make an empty one.
pub(crate) fn open_existing(path: &Path) -> anyhow::Result<LocalStore> {
    must_exist(path)?;
    Ok(LocalStore::open(path)?)
}

/// Opens a store that must already exist, to read it: wherever the file
/// is readable, a read-only directory included, and without changing it.
pub(crate) fn open_to_read(path: &Path) -> anyhow::Result<LocalStore> {
    must_exist(path)?;
    Ok(LocalStore::open_read_only(path)?)
}

fn must_exist(path: &Path) -> anyhow::Result<()> {
    if path.is_dir() {
        bail!(
            "{} is a directory: --store takes the store's file, such as {}",
            path.display(),
            path.join("verdict.db").display()
        );
    }
    if !path.is_file() {
        bail!(
            "there is no local store at {}: nothing has been recorded there yet; run the \
             command where the store is, or pass --store PATH",
            path.display()
        );
    }
    Ok(())
}

/// A trace id as a person pastes it: 32 hex digits or `tr-` + 32 hex.
pub(crate) fn parse_trace(text: &str) -> anyhow::Result<TraceId> {
    Ok(parse_trace_id(text.trim())?)
}

/// Whether the store knows the trace, from its spans or its assessments.
pub(crate) fn knows_trace(store: &LocalStore, trace_id: TraceId) -> anyhow::Result<bool> {
    Ok(!store.spans_of(trace_id)?.is_empty() || !store.list_by_trace(trace_id)?.is_empty())
}

/// Fails with a sentence when the store does not know the trace.
pub(crate) fn require_trace(store: &LocalStore, trace_id: TraceId) -> anyhow::Result<()> {
    if knows_trace(store, trace_id).with_context(|| {
        format!(
            "reading trace {} from {}",
            mlflow_trace_id(trace_id),
            store.path().display()
        )
    })? {
        return Ok(());
    }
    Err(unknown_trace(store, trace_id))
}

/// The error for a trace the store does not know, saying how to list the
/// ones it does.
pub(crate) fn unknown_trace(store: &LocalStore, trace_id: TraceId) -> anyhow::Error {
    anyhow!(
        "the local store {} has no trace {}: `verdict show --store {}` lists the traces it has",
        store.path().display(),
        mlflow_trace_id(trace_id),
        store.path().display()
    )
}
