//! The rationales `verdict eval` prints and stores read as the scorers
//! wrote them with `format!`, now that they are written without it: the
//! real binary, its `--json` results and its local store (read back by
//! `verdict show`), on generated pairs of ASCII and Unicode text, against
//! texts built here with `format!` from the textbook distance.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::verdict_in as verdict;
use serde_json::{Value, json};
use verdict_edit_distance::testdata::{Alphabet, Rng, reference};

/// `n` records of generated pairs: every alphabet, lengths from 0 to 300,
/// 0 to 60 % of the characters edited.
fn write_pairs(path: &Path, n: usize) -> Vec<(String, String)> {
    let mut rng = Rng(4242);
    let mut lines = String::new();
    let mut pairs = Vec::new();
    for i in 0..n {
        let alphabet = Alphabet::ALL[i % Alphabet::ALL.len()];
        let len = [0, 1, 2, 5, 20, 21, 64, 65, 240, 300][i % 10];
        let a = rng.text(len, alphabet);
        let b = rng.mutate(&a, [0, 10, 30, 60][i % 4], alphabet);
        let record = json!({"inputs": format!("pair {i}"), "outputs": a, "expectations": {"expected_response": b}});
        lines.push_str(&format!("{record}\n"));
        pairs.push((a, b));
    }
    std::fs::write(path, lines).unwrap();
    pairs
}

/// `format!("{s:.4}")` without its trailing zeros.
fn show(s: f64) -> String {
    let text = format!("{s:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The rationale of `edit_distance` with `config` for one pair, as
/// `format!` wrote it.
fn edit_distance_rationale(config: &str, output: &str, expected: &str) -> String {
    let d = reference(output, expected);
    let len = output.chars().count().max(expected.chars().count());
    let s = if len == 0 {
        1.0
    } else {
        1.0 - d as f64 / len as f64
    };
    match config {
        "" => format!("distance {d} over {len} chars: similarity {}", show(s)),
        "max_distance=3" => {
            let op = if d <= 3 {
                "≤ max 3: pass"
            } else {
                "> max 3: fail"
            };
            format!("distance {d} {op}")
        }
        "min_similarity=0.85" => {
            let op = if s >= 0.85 { "≥" } else { "<" };
            let shown = if show(s) == show(0.85) && s != 0.85 {
                s.to_string()
            } else {
                show(s)
            };
            let verdict = if s >= 0.85 { "pass" } else { "fail" };
            format!("similarity {shown} {op} min 0.85: {verdict}")
        }
        other => unreachable!("no reference for {other}"),
    }
}

/// Each record's rationale by its line: from `--json`'s results, and from
/// the store through `verdict show --run latest --json`.
fn rationales(
    dir: &Path,
    scorer: &str,
    n: usize,
) -> (BTreeMap<u64, String>, BTreeMap<u64, String>) {
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    let printed = results["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let line = r["line"].as_u64().unwrap();
            let rationale = r["results"][scorer]["rationale"].as_str();
            (line, rationale.unwrap_or_else(|| panic!("{r}")).to_owned())
        })
        .collect();
    let limit = n.to_string();
    let (code, shown, stderr) = verdict(
        dir,
        &["show", "--run", "latest", "--json", "--limit", &limit],
    );
    assert_eq!(code, 0, "{stderr}");
    let shown: Value = serde_json::from_str(&shown).unwrap();
    let stored = shown
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let line = r["line"].as_u64().unwrap();
            let result = &r["results"][0];
            assert_eq!(result["scorer"], scorer, "{r}");
            let rationale = result["rationale"].as_str();
            (line, rationale.unwrap_or_else(|| panic!("{r}")).to_owned())
        })
        .collect();
    (printed, stored)
}

#[test]
fn edit_distance_rationales_are_printed_and_stored_as_format_wrote_them() {
    const N: usize = 600;
    for config in ["", "max_distance=3", "min_similarity=0.85"] {
        let dir = tempfile::tempdir().unwrap();
        let pairs = write_pairs(&dir.path().join("pairs.jsonl"), N);
        let spec = if config.is_empty() {
            "edit_distance".to_owned()
        } else {
            format!("edit_distance:{config}")
        };
        let (code, _, stderr) = verdict(
            dir.path(),
            &[
                "eval",
                "pairs.jsonl",
                "--scorer",
                &spec,
                "--json",
                "results.json",
            ],
        );
        assert_eq!(code, 0, "{spec}: {stderr}");
        let (printed, stored) = rationales(dir.path(), "edit_distance", N);
        assert_eq!(printed.len(), N, "{spec}");
        assert_eq!(stored, printed, "{spec}: the store keeps what was printed");
        for (i, (output, expected)) in pairs.iter().enumerate() {
            assert_eq!(
                printed[&(i as u64 + 1)],
                edit_distance_rationale(config, output, expected),
                "{spec}, line {}: {output:?} against {expected:?}",
                i + 1
            );
        }
    }
}
