//! Parquet and Arrow IPC datasets, written with the Arrow project's own
//! writers into real files: the same rows as JSON lines make the same
//! records, and what is broken or not readable is refused, with which
//! words.
#![cfg(feature = "parquet")]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, Float32Builder, Int64Builder, ListBuilder, MapBuilder, StringBuilder,
    StringDictionaryBuilder,
};
use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, StructArray,
    TimestampNanosecondArray,
};
use arrow_schema::{Field, Fields};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use verdict_eval::{Dataset, DatasetOptions, Entry, Error, FieldMap, Format};

fn write(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn entries(dataset: &Dataset) -> Result<Vec<Entry>, Error> {
    dataset.entries()?.collect()
}

fn read(path: &Path, map: &[&str]) -> Result<Vec<Entry>, Error> {
    let mut options = DatasetOptions::default();
    let mut field_map = FieldMap::default();
    for m in map {
        field_map.add(m).unwrap();
    }
    options.map = field_map;
    entries(&Dataset::open_with(path, &options)?)
}

/// `batch` as a Parquet file, `rows_per_group` rows to a row group.
fn parquet(dir: &Path, name: &str, batch: &RecordBatch, rows_per_group: usize) -> PathBuf {
    let path = dir.join(name);
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(rows_per_group))
        .build();
    let mut writer = ArrowWriter::try_new(
        std::fs::File::create(&path).unwrap(),
        batch.schema(),
        Some(props),
    )
    .unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
    path
}

/// `batch` as an Arrow IPC file (`stream`: an IPC stream), in batches of
/// 1000 rows.
fn arrow(dir: &Path, name: &str, batch: &RecordBatch, stream: bool) -> PathBuf {
    let path = dir.join(name);
    let file = std::fs::File::create(&path).unwrap();
    let parts = (0..batch.num_rows().max(1))
        .step_by(1000)
        .map(|at| batch.slice(at, (batch.num_rows() - at).min(1000)));
    if stream {
        let mut w = arrow_ipc::writer::StreamWriter::try_new(file, &batch.schema()).unwrap();
        parts.for_each(|part| w.write(&part).unwrap());
        w.finish().unwrap();
    } else {
        let mut w = arrow_ipc::writer::FileWriter::try_new(file, &batch.schema()).unwrap();
        parts.for_each(|part| w.write(&part).unwrap());
        w.finish().unwrap();
    }
    path
}

fn strings(values: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

fn string_lists(values: &[Option<&[&str]>]) -> ArrayRef {
    let mut b = ListBuilder::new(StringBuilder::new());
    for v in values {
        match v {
            Some(items) => {
                for i in *items {
                    b.values().append_value(i);
                }
                b.append(true);
            }
            None => b.append(false),
        }
    }
    Arc::new(b.finish())
}

fn structure(fields: Vec<(&str, ArrayRef)>, valid: &[bool]) -> ArrayRef {
    let (fields, arrays): (Vec<_>, Vec<_>) = fields
        .into_iter()
        .map(|(name, a)| (Field::new(name, a.data_type().clone(), true), a))
        .unzip();
    Arc::new(StructArray::new(
        Fields::from(fields),
        arrays,
        Some(valid.iter().copied().collect()),
    ))
}

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(columns).unwrap()
}

/// MLflow's evaluation shape: the rows of [`EVALUATION_JSONL`], as
/// pyarrow writes records whose objects lack some keys (a struct of every
/// key, null where a row lacks one).
fn evaluation_batch() -> RecordBatch {
    let inputs = structure(
        vec![
            (
                "question",
                strings(&[
                    Some("Capital of France?"),
                    Some("2+2?"),
                    Some("ünïcode ✓ \"quoted\"\n"),
                    None,
                    Some("q5"),
                ]),
            ),
            (
                "context",
                string_lists(&[
                    Some(&["Paris is the capital.", "It is in France."]),
                    None,
                    Some(&[]),
                    None,
                    None,
                ]),
            ),
            (
                "n",
                Arc::new(Int64Array::from(vec![
                    Some(-3),
                    Some(9_007_199_254_740_993),
                    None,
                    None,
                    Some(0),
                ])),
            ),
            (
                "w",
                Arc::new(Float64Array::from(vec![
                    Some(0.1),
                    Some(1e300),
                    Some(-0.0),
                    None,
                    Some(2.5),
                ])),
            ),
        ],
        &[true, true, true, false, true],
    );
    let expectations = structure(
        vec![
            (
                "expected_response",
                strings(&[Some("Paris"), None, Some("x"), None, Some("y")]),
            ),
            (
                "expected_facts",
                string_lists(&[None, Some(&["four"]), Some(&[]), None, None]),
            ),
        ],
        &[true, true, true, false, true],
    );
    batch(vec![
        ("inputs", inputs),
        (
            "outputs",
            strings(&[Some("Paris"), Some("4"), Some(""), None, Some("y")]),
        ),
        ("expectations", expectations),
        (
            "trace_id",
            strings(&[
                Some("0fb07256509eb9d22d07f42f7eb9f24d"),
                None,
                None,
                None,
                Some("not hex"),
            ]),
        ),
    ])
}

const EVALUATION_JSONL: &str = concat!(
    r#"{"inputs": {"question": "Capital of France?", "context": ["Paris is the capital.", "It is in France."], "n": -3, "w": 0.1}, "outputs": "Paris", "expectations": {"expected_response": "Paris"}, "trace_id": "0fb07256509eb9d22d07f42f7eb9f24d"}"#,
    "\n",
    r#"{"inputs": {"question": "2+2?", "n": 9007199254740993, "w": 1e300}, "outputs": "4", "expectations": {"expected_facts": ["four"]}}"#,
    "\n",
    r#"{"inputs": {"question": "ünïcode ✓ \"quoted\"\n", "context": [], "w": -0.0}, "outputs": "", "expectations": {"expected_response": "x", "expected_facts": []}}"#,
    "\n",
    r#"{"inputs": null, "outputs": null, "expectations": null}"#,
    "\n",
    r#"{"inputs": {"question": "q5", "n": 0, "w": 2.5}, "outputs": "y", "expectations": {"expected_response": "y"}, "trace_id": "not hex"}"#,
    "\n",
);

#[test]
fn the_same_rows_as_parquet_arrow_and_json_lines_make_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl =
        entries(&Dataset::open(write(dir.path(), "e.jsonl", EVALUATION_JSONL)).unwrap()).unwrap();
    // Four records and the invalid trace id, in both.
    assert_eq!(jsonl.len(), 5);
    assert!(matches!(&jsonl[4], Entry::Invalid(i) if i.line == 5 && i.reason.contains("trace_id")));
    assert!(matches!(&jsonl[0], Entry::Record(r) if r.trace_id.is_some()));
    let batch = evaluation_batch();
    for (path, format) in [
        (parquet(dir.path(), "e.parquet", &batch, 2), Format::Parquet),
        (arrow(dir.path(), "e.arrow", &batch, false), Format::Arrow),
        (arrow(dir.path(), "e.arrows", &batch, true), Format::Arrow),
        // The format from the first bytes alone.
        (
            parquet(dir.path(), "e-parquet", &batch, 1000),
            Format::Parquet,
        ),
        (arrow(dir.path(), "e-stream", &batch, true), Format::Arrow),
    ] {
        let dataset = Dataset::open(&path).unwrap();
        assert_eq!(dataset.format(), format, "{}", path.display());
        assert_eq!(entries(&dataset).unwrap(), jsonl, "{}", path.display());
    }
}

#[test]
fn a_map_reads_its_columns_of_any_readable_type_and_ignores_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let mut gold = StringDictionaryBuilder::<Int32Type>::new();
    for g in [Some("Paris"), Some("Lima"), None, Some("Paris")] {
        gold.append_option(g);
    }
    let mut meta = MapBuilder::new(None, StringBuilder::new(), Int64Builder::new());
    for entries in [&[("a", 1)][..], &[], &[("b", 2), ("c", 3)], &[("z", -1)]] {
        for (k, v) in entries {
            meta.keys().append_value(k);
            meta.values().append_value(*v);
        }
        meta.append(true).unwrap();
    }
    let mut score = Float32Builder::new();
    for s in [Some(0.1f32), Some(1.5), None, Some(-2.25)] {
        score.append_option(s);
    }
    let mut raw = BinaryBuilder::new();
    for r in [b"plain".as_slice(), b"caf\xc3\xa9", b"", b"x"] {
        raw.append_value(r);
    }
    let batch = batch(vec![
        (
            "Question",
            strings(&[
                Some("Capital of France?"),
                Some("Peru?"),
                Some("?"),
                Some("4"),
            ]),
        ),
        (
            "answer",
            Arc::new(arrow_array::LargeStringArray::from(vec![
                "Paris", "Lima", "no", "Paris",
            ])),
        ),
        ("gold", Arc::new(gold.finish())),
        ("meta", Arc::new(meta.finish())),
        ("score", Arc::new(score.finish())),
        ("raw", Arc::new(raw.finish())),
        // Read by no target: its type is not read either.
        (
            "created",
            Arc::new(TimestampNanosecondArray::from(vec![1, 2, 3, 4])),
        ),
    ]);
    let jsonl = write(
        dir.path(),
        "m.jsonl",
        concat!(
            r#"{"Question": "Capital of France?", "answer": "Paris", "gold": "Paris", "meta": {"a": 1}, "score": 0.1, "raw": "plain", "created": "t"}"#,
            "\n",
            r#"{"Question": "Peru?", "answer": "Lima", "gold": "Lima", "meta": {}, "score": 1.5, "raw": "café", "created": "t"}"#,
            "\n",
            r#"{"Question": "?", "answer": "no", "gold": null, "meta": {"b": 2, "c": 3}, "score": null, "raw": "", "created": "t"}"#,
            "\n",
            r#"{"Question": "4", "answer": "Paris", "gold": "Paris", "meta": {"z": -1}, "score": -2.25, "raw": "x", "created": "t"}"#,
            "\n",
        ),
    );
    let map = [
        "inputs.question=Question",
        "inputs.meta=meta",
        "inputs.score=score",
        "inputs.raw=raw",
        "outputs=answer",
        "expectations.expected_response=gold",
    ];
    let want = read(&jsonl, &map).unwrap();
    assert_eq!(want.len(), 4);
    assert!(want.iter().all(|e| matches!(e, Entry::Record(_))));
    for path in [
        parquet(dir.path(), "m.parquet", &batch, 3),
        arrow(dir.path(), "m.feather", &batch, false),
    ] {
        assert_eq!(read(&path, &map).unwrap(), want, "{}", path.display());
    }

    // Read, the timestamp is refused by name and type, before any record.
    let path = parquet(dir.path(), "t.parquet", &batch, 3);
    let err = read(&path, &["inputs=Question", "outputs=created"]).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::DatasetShape { .. }), "{text}");
    assert!(
        text.contains("column `created` is of type Timestamp(ns)")
            || text.contains("column `created` is of type Timestamp(Nanosecond"),
        "{text}"
    );
    // A map's field the columns lack is named, as for the other formats.
    let err = read(&path, &["inputs=question", "outputs=answer"]).unwrap_err();
    assert!(err.to_string().contains("`question`"), "{err}");
}

#[test]
fn a_column_in_a_struct_of_an_unread_type_is_named_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = structure(
        vec![
            ("q", strings(&[Some("a")])),
            (
                "when",
                Arc::new(arrow_array::Date32Array::from(vec![19000])),
            ),
        ],
        &[true],
    );
    let path = parquet(
        dir.path(),
        "d.parquet",
        &batch(vec![("inputs", inputs), ("outputs", strings(&[Some("a")]))]),
        10,
    );
    let err = read(&path, &[]).unwrap_err().to_string();
    assert!(
        err.contains("column `inputs` holds `inputs.when` of type Date32"),
        "{err}"
    );
}

#[test]
fn nulls_in_every_column_are_what_null_is_in_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    // input/output/expected: every column null in one row or another.
    let batch = batch(vec![
        ("input", strings(&[None, Some("b"), Some("c"), Some("d")])),
        ("output", strings(&[Some("a"), None, Some("c"), Some("d")])),
        (
            "expected",
            strings(&[Some("a"), Some("b"), None, Some("x")]),
        ),
        (
            "id",
            Arc::new(Int64Array::from(vec![Some(1), Some(2), Some(3), None])),
        ),
    ]);
    let jsonl = write(
        dir.path(),
        "n.jsonl",
        concat!(
            r#"{"input": null, "output": "a", "expected": "a", "id": 1}"#,
            "\n",
            r#"{"input": "b", "output": null, "expected": "b", "id": 2}"#,
            "\n",
            r#"{"input": "c", "output": "c", "expected": null, "id": 3}"#,
            "\n",
            r#"{"input": "d", "output": "d", "expected": "x", "id": null}"#,
            "\n",
        ),
    );
    let want = read(&jsonl, &[]).unwrap();
    let parquet = parquet(dir.path(), "n.parquet", &batch, 2);
    assert_eq!(read(&parquet, &[]).unwrap(), want);
    // The null expectation is no expectation; the rest are records.
    let Entry::Record(third) = &want[2] else {
        panic!("{want:?}")
    };
    assert!(third.record.expectations.is_empty());
}

#[test]
fn a_file_of_no_rows_has_no_records() {
    let dir = tempfile::tempdir().unwrap();
    let empty = evaluation_batch().slice(0, 0);
    for path in [
        parquet(dir.path(), "z.parquet", &empty, 10),
        arrow(dir.path(), "z.arrow", &empty, false),
        arrow(dir.path(), "z.arrows", &empty, true),
    ] {
        assert_eq!(read(&path, &[]).unwrap(), [], "{}", path.display());
    }
}

#[test]
fn a_row_of_too_much_text_is_invalid_and_the_next_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let huge = "x".repeat((64 << 20) + 1);
    let batch = batch(vec![
        ("input", strings(&[Some("q"), Some("q2")])),
        ("output", strings(&[Some(huge.as_str()), Some("ok")])),
    ]);
    let path = parquet(dir.path(), "h.parquet", &batch, 10);
    let read = read(&path, &[]).unwrap();
    assert!(
        matches!(&read[0], Entry::Invalid(i) if i.line == 1 && i.reason.contains("longer than 64 MiB")),
        "{:?}",
        read[0]
    );
    assert!(matches!(&read[1], Entry::Record(r) if r.line == 2));
}

#[test]
fn bytes_that_are_not_utf8_make_their_row_invalid_naming_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = BinaryBuilder::new();
    raw.append_value(b"fine");
    raw.append_value(b"ab\xff\xfe");
    raw.append_value("ünï".as_bytes());
    let batch = batch(vec![
        ("input", strings(&[Some("a"), Some("b"), Some("c")])),
        ("output", Arc::new(raw.finish()) as ArrayRef),
    ]);
    let path = parquet(dir.path(), "b.parquet", &batch, 10);
    let read = read(&path, &[]).unwrap();
    assert!(matches!(&read[0], Entry::Record(_)));
    assert!(
        matches!(&read[1], Entry::Invalid(i) if i.line == 2
            && i.reason.contains("column `output` holds bytes that are not UTF-8 text (from byte 2)")),
        "{:?}",
        read[1]
    );
    assert!(
        matches!(&read[2], Entry::Record(r) if r.record.outputs == verdict_scorer::OwnedValue::String("ünï".into()))
    );
}

#[test]
fn a_nan_is_no_json_number_and_makes_its_row_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let batch = batch(vec![
        ("input", strings(&[Some("a"), Some("b")])),
        (
            "output",
            Arc::new(Float64Array::from(vec![f64::NAN, 1.0])) as ArrayRef,
        ),
    ]);
    let path = parquet(dir.path(), "f.parquet", &batch, 10);
    let read = read(&path, &[]).unwrap();
    assert!(
        matches!(&read[0], Entry::Invalid(i) if i.reason.contains("column `output` holds NaN")),
        "{:?}",
        read[0]
    );
    assert!(matches!(&read[1], Entry::Record(_)));
}

#[test]
fn a_truncated_file_or_another_format_under_the_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let good = parquet(dir.path(), "g.parquet", &evaluation_batch(), 2);
    let bytes = std::fs::read(&good).unwrap();
    for (name, content, said) in [
        ("cut.parquet", &bytes[..bytes.len() / 2], "is it whole?"),
        ("cut2.parquet", &bytes[..bytes.len() - 1], "is it whole?"),
        (
            "text.parquet",
            b"{\"inputs\": 1}\n".as_slice(),
            "is not a Parquet file, which starts with PAR1",
        ),
        ("empty.parquet", b"", "it is empty"),
        (
            "csv.arrow",
            b"a,b\n1,2\n".as_slice(),
            "is not an Arrow IPC file or stream",
        ),
        (
            "old.feather",
            b"FEA1\0\0\0\0".as_slice(),
            "Feather version 1",
        ),
    ] {
        let path = write(dir.path(), name, content);
        let err = read(&path, &[]).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::ReadDataset { .. }), "{name}: {text}");
        assert!(text.contains(said), "{name}: {text}");
    }
    // An Arrow file cut short: its footer is gone.
    let arrow_file = arrow(dir.path(), "g.arrow", &evaluation_batch(), false);
    let bytes = std::fs::read(&arrow_file).unwrap();
    let cut = write(dir.path(), "cut.arrow", &bytes[..bytes.len() - 20]);
    let err = read(&cut, &[]).unwrap_err().to_string();
    assert!(
        err.contains("Arrow IPC file failed (is it whole?)"),
        "{err}"
    );
}

#[test]
fn columns_in_no_shape_are_refused_with_the_map_that_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let batch = batch(vec![
        ("Question", strings(&[Some("a")])),
        ("model_answer", strings(&[Some("a")])),
        ("gold", strings(&[Some("a")])),
    ]);
    let path = parquet(dir.path(), "x.parquet", &batch, 10);
    let err = read(&path, &[]).unwrap_err();
    assert!(matches!(err, Error::DatasetShape { .. }));
    assert!(
        err.to_string().contains(
            "--map inputs=Question --map outputs=model_answer --map \
             expectations.expected_response=gold"
        ),
        "{err}"
    );
}

#[test]
fn pandas_index_columns_are_not_fields() {
    let dir = tempfile::tempdir().unwrap();
    let batch = batch(vec![
        ("input", strings(&[Some("a")])),
        ("output", strings(&[Some("a")])),
        (
            "__index_level_0__",
            Arc::new(Int64Array::from(vec![7])) as ArrayRef,
        ),
    ]);
    let path = parquet(dir.path(), "p.parquet", &batch, 10);
    let read = read(&path, &[]).unwrap();
    assert!(matches!(&read[0], Entry::Record(_)), "{read:?}");
}

#[test]
fn a_field_a_shape_does_not_read_is_refused_as_in_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let batch = batch(vec![
        ("input", strings(&[Some("a")])),
        ("output", strings(&[Some("a")])),
        (
            "when",
            Arc::new(TimestampNanosecondArray::from(vec![1])) as ArrayRef,
        ),
    ]);
    let path = parquet(dir.path(), "u.parquet", &batch, 10);
    let jsonl = write(
        dir.path(),
        "u.jsonl",
        "{\"input\": \"a\", \"output\": \"a\", \"when\": 1}\n",
    );
    let want = read(&jsonl, &[]).unwrap();
    assert!(matches!(&want[0], Entry::Invalid(i) if i.reason.contains("unknown field `when`")));
    assert_eq!(read(&path, &[]).unwrap(), want);
}

#[test]
fn the_dataset_says_how_far_it_has_read() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<Option<String>> = (0..4000).map(|i| Some(format!("row {i}"))).collect();
    let refs: Vec<Option<&str>> = rows.iter().map(|r| r.as_deref()).collect();
    let batch = batch(vec![("input", strings(&refs)), ("output", strings(&refs))]);
    for path in [
        parquet(dir.path(), "r.parquet", &batch, 1000),
        arrow(dir.path(), "r.arrows", &batch, true),
    ] {
        let dataset = Dataset::open(&path).unwrap();
        let len = dataset.len_bytes().unwrap();
        let mut entries = dataset.entries().unwrap();
        // No more than the schema before the first record.
        assert!(entries.bytes_read() < len / 4, "{}", entries.bytes_read());
        let n = entries.by_ref().take(2000).count();
        assert_eq!(n, 2000);
        let halfway = entries.bytes_read();
        assert!(halfway > 0 && halfway < len, "{halfway} of {len}");
        assert_eq!(entries.count(), 2000);
    }
}

#[test]
fn the_format_is_named_and_parsed() {
    assert_eq!("parquet".parse::<Format>().unwrap(), Format::Parquet);
    assert_eq!("Feather".parse::<Format>().unwrap(), Format::Arrow);
    assert_eq!(Format::Arrow.to_string(), "arrow");
    let err = "orc".parse::<Format>().unwrap_err();
    assert!(err.contains("parquet or arrow"), "{err}");
}
