//! Datasets in the formats and shapes people keep them in, read from real
//! files: how the format is told, what each shape reads, and what is
//! refused, with which words.

use std::path::{Path, PathBuf};

use verdict_eval::{Dataset, DatasetOptions, Entry, Error, FieldMap, Format, SuiteConfig};
use verdict_scorer::OwnedValue;

fn write(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn entries(dataset: &Dataset) -> Result<Vec<Entry>, Error> {
    dataset.entries()?.collect()
}

/// Each entry as `line: inputs -> outputs [expectations]` or `line!
/// reason`.
fn said(entries: &[Entry]) -> Vec<String> {
    let text = |v: &OwnedValue| match v {
        OwnedValue::Null => "null".to_owned(),
        OwnedValue::String(s) => s.clone(),
        OwnedValue::Json(j) => j.clone(),
    };
    entries
        .iter()
        .map(|e| match e {
            Entry::Record(r) => format!(
                "{}: {} -> {} {:?}",
                r.line,
                text(&r.record.inputs),
                text(&r.record.outputs),
                r.record
                    .expectations
                    .iter()
                    .map(|(n, v)| format!("{n}={}", text(v)))
                    .collect::<Vec<_>>()
            ),
            Entry::Invalid(i) => format!("{}! {}", i.line, i.reason),
        })
        .collect()
}

#[test]
fn the_format_comes_from_the_extension_else_the_first_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("a.csv", "[not json],x\n", Format::Csv),
        ("a.tsv", "inputs\toutputs\n", Format::Tsv),
        ("a.jsonl", "[1, 2]\n", Format::Jsonl),
        ("a.json", "\u{feff}  \n[{\"inputs\": 1}]", Format::JsonArray),
        ("a.json", "{\"inputs\": 1}\n", Format::Jsonl),
        ("data", "[{\"inputs\": 1}]", Format::JsonArray),
        ("data", "question,answer\n", Format::Csv),
        ("data", "", Format::Jsonl),
        (
            "traces.json",
            "{\n  \"resourceSpans\": [\n  ]\n}\n",
            Format::OtlpJson,
        ),
        (
            "traces.jsonl",
            "{\"resourceSpans\": []}\n",
            Format::OtlpJson,
        ),
    ];
    for (name, text, format) in cases {
        let path = write(dir.path(), name, text);
        assert_eq!(
            Dataset::open(&path).unwrap().format(),
            format,
            "{name}: {text:?}"
        );
    }
    // Given, it wins.
    let path = write(dir.path(), "data.txt", "inputs,outputs\nq,a\n");
    let options = DatasetOptions {
        format: Some("tsv".parse().unwrap()),
        ..DatasetOptions::default()
    };
    assert_eq!(
        Dataset::open_with(&path, &options).unwrap().format(),
        Format::Tsv
    );
    assert!("xml".parse::<Format>().unwrap_err().contains("jsonl, json"));
}

#[test]
fn each_shape_reads_its_fields() {
    let dir = tempfile::tempdir().unwrap();
    let request = write(
        dir.path(),
        "rr.jsonl",
        concat!(
            r#"{"request": {"messages": [{"role": "user", "content": "hi"}]}, "response": "hello", "expected_response": "hello", "expected_facts": ["greets"], "guidelines": null, "request_id": "r1"}"#,
            "\n",
        ),
    );
    assert_eq!(
        said(&entries(&Dataset::open(&request).unwrap()).unwrap()),
        [
            r#"1: {"messages":[{"content":"hi","role":"user"}]} -> hello ["expected_response=hello", "expected_facts=[\"greets\"]"]"#
        ]
    );
    let tsv = write(
        dir.path(),
        "io.tsv",
        "input\toutput\texpected\tid\nq1\ta\ta\t1\nq2\tb\t\t2\n",
    );
    assert_eq!(
        said(&entries(&Dataset::open(&tsv).unwrap()).unwrap()),
        [
            r#"2: q1 -> a ["expected_response=a"]"#,
            // An empty cell is no expectation.
            "3: q2 -> b []",
        ]
    );
}

#[test]
fn a_map_builds_inputs_from_several_fields_and_ignores_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "rag.json",
        r#"[{"q": "Capital?", "ctx": ["Paris is the capital"], "pred": "Paris", "refs": {"expected_response": "Paris"}, "notes": "x", "tid": "0fb07256509eb9d22d07f42f7eb9f24d"},
            {"q": "Capital?", "ctx": [], "pred": "Rome", "refs": "Rome", "tid": 42}]"#,
    );
    let mut map = FieldMap::default();
    for arg in [
        "inputs.question=q",
        "inputs.context=ctx",
        "outputs=pred",
        "expectations=refs",
        "trace_id=tid",
    ] {
        map.add(arg).unwrap();
    }
    let options = DatasetOptions {
        map,
        ..DatasetOptions::default()
    };
    let got = said(&entries(&Dataset::open_with(&path, &options).unwrap()).unwrap());
    assert_eq!(
        got[0],
        r#"1: {"context":["Paris is the capital"],"question":"Capital?"} -> Paris ["expected_response=Paris"]"#
    );
    assert!(
        got[1].starts_with("2! `refs` is not an object"),
        "{}",
        got[1]
    );
}

#[test]
fn a_map_for_otlp_or_without_outputs_is_refused_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let otlp = write(dir.path(), "t.jsonl", "{\"resourceSpans\": []}\n");
    let mut map = FieldMap::default();
    map.add("inputs=q").unwrap();
    let options = DatasetOptions {
        map: map.clone(),
        ..DatasetOptions::default()
    };
    let err = Dataset::open_with(&otlp, &options).unwrap_err().to_string();
    assert!(err.contains("gives no outputs"), "{err}");
    map.add("outputs=a").unwrap();
    let options = DatasetOptions {
        map,
        ..DatasetOptions::default()
    };
    let err = Dataset::open_with(&otlp, &options).unwrap_err().to_string();
    assert!(err.contains("OTLP traces"), "{err}");
}

#[test]
fn a_json_record_in_no_shape_is_refused_with_a_map_that_parses_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "qa.jsonl",
        "\n{\"question\": \"q\", \"answer\": \"a\", \"ground_truth\": \"a\"}\n",
    );
    let err = entries(&Dataset::open(&path).unwrap()).unwrap_err();
    let Error::DatasetShape { reason, .. } = &err else {
        panic!("{err}")
    };
    assert!(reason.contains("the first one (line 2)"), "{reason}");
    let flags = "--map inputs=question --map outputs=answer --map \
                 expectations.expected_response=ground_truth";
    assert!(reason.contains(flags), "{reason}");
    // The table it suggests is the same map, read by verdict.toml.
    let table = &reason[reason.find("[dataset.map]").unwrap()..];
    let config = SuiteConfig::from_toml(table, Path::new("verdict.toml")).unwrap();
    let sorted = |text: &str| {
        let mut maps: Vec<String> = text.split("--map ").map(|m| m.trim().to_owned()).collect();
        maps.sort();
        maps
    };
    assert_eq!(sorted(&config.dataset.map.to_string()), sorted(flags));
}

#[test]
fn hostile_records_are_invalid_with_a_reason_and_the_rest_is_read() {
    let dir = tempfile::tempdir().unwrap();
    // A NUL in a CSV cell is text; a raw NUL in JSON is not JSON; a
    // trace id of the wrong type; a header with a cell too many.
    let csv = write(
        dir.path(),
        "h.csv",
        "inputs,outputs\n\"a\0b\",x\nq,a,extra\nq,a\n",
    );
    assert_eq!(
        said(&entries(&Dataset::open(&csv).unwrap()).unwrap()),
        [
            "2: a\0b -> x []",
            "3! the row has 3 cells and the header 2 columns",
            "4: q -> a []"
        ]
    );
    let jsonl = write(
        dir.path(),
        "h.jsonl",
        "{\"inputs\": \"a\0\", \"outputs\": 1}\n{\"inputs\": 1, \"outputs\": 2, \"trace_id\": 42}\n{\"inputs\": 1, \"outputs\": 2, \"inputs\": 3}\n",
    );
    let got = said(&entries(&Dataset::open(&jsonl).unwrap()).unwrap());
    assert!(
        got[0].starts_with("1! not a valid record: control character"),
        "{}",
        got[0]
    );
    assert!(got[1].contains("invalid type: integer `42`"), "{}", got[1]);
    assert!(got[2].contains("duplicate field `inputs`"), "{}", got[2]);
    let header = write(dir.path(), "twice.csv", "inputs,outputs,inputs\n1,2,3\n");
    let err = entries(&Dataset::open(&header).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("names the column `inputs` twice"), "{err}");
}

#[test]
fn an_array_element_too_large_to_keep_is_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let huge = "x".repeat(65 << 20);
    let path = write(
        dir.path(),
        "big.json",
        format!(
            "[{{\"inputs\": \"{huge}\", \"outputs\": 1}},\n {{\"inputs\": 2, \"outputs\": 3}}]"
        ),
    );
    drop(huge);
    let got = said(&entries(&Dataset::open(&path).unwrap()).unwrap());
    assert_eq!(got.len(), 2);
    assert!(
        got[0].starts_with("1! the element is longer than 64 MiB (67108864 bytes)"),
        "{}",
        &got[0][..80]
    );
    assert_eq!(got[1], "2: 2 -> 3 []");
}

#[test]
fn a_file_is_read_again_from_its_start_on_a_second_call() {
    let dir = tempfile::tempdir().unwrap();
    let text = "{\"inputs\": 1, \"outputs\": 2}\n";
    let path = write(dir.path(), "qa.jsonl", text);
    let dataset = Dataset::open(&path).unwrap();
    assert_eq!(entries(&dataset).unwrap(), entries(&dataset).unwrap());
    assert_eq!(dataset.len_bytes(), Some(text.len() as u64));
}
