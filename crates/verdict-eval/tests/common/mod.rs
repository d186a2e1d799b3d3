//! What the suite tests that call code under test share: a dataset
//! written from JSON values, and the store's traces read back by line.

// Each test file is a crate of its own and uses what it needs of these.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use verdict_eval::LINE_ATTRIBUTE;
use verdict_export::{LocalStore, StoredSpan};

/// `lines` as a JSON-lines dataset in `dir`.
pub(crate) fn write(dir: &Path, lines: &[Value]) -> PathBuf {
    let path = dir.join("qa.jsonl");
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, text).unwrap();
    path
}

/// The store's traces by the dataset line of their root span.
pub(crate) fn by_line(store: &LocalStore) -> HashMap<u64, Vec<StoredSpan>> {
    store
        .list_traces()
        .unwrap()
        .into_iter()
        .map(|t| {
            let spans = store.spans_of(t.trace_id).unwrap();
            let root = spans.iter().find(|s| s.parent_span_id.is_none()).unwrap();
            (root.attributes[LINE_ATTRIBUTE].as_u64().unwrap(), spans)
        })
        .collect()
}

/// A dataset in `dir` of records each expecting its inputs back: what a
/// system that echoes answers right.
pub(crate) fn echoes(dir: &Path, inputs: &[Value]) -> PathBuf {
    let lines: Vec<Value> = inputs
        .iter()
        .map(|i| serde_json::json!({"inputs": i, "expectations": {"expected_response": i}}))
        .collect();
    write(dir, &lines)
}
