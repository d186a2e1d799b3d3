//! A directory of Parquet files as one dataset: the files a table is cut
//! into when Spark, DuckDB, DataFusion, `verdict sql --output` or a lake's
//! exporter writes it.
//!
//! - **Which files**: every file under the directory, its subdirectories
//!   included (Hive partitions, `date=…/`), whose name ends in `.parquet`
//!   and does not start with `.` or `_` (`_SUCCESS`, `.part-0.parquet.crc`
//!   are a writer's bookkeeping). Partition values in directory names are
//!   not columns. A directory with no such file is refused.
//! - **One order**: the files are read one after the other in the order of
//!   their paths, numbers in them compared as numbers (`part-2.parquet`
//!   before `part-10.parquet`, as pyarrow numbers its files unpadded), so
//!   that every machine that lists the same files reads the same rows in
//!   the same order, the order they were written in; a record's
//!   line is its row in that concatenation (1-based), and the row groups
//!   of the dataset are the files' row groups in that order.
//! - **Each file as itself**: each is read as a Parquet dataset of its own
//!   would be (its shape told from its columns, or read with the map), so
//!   that a directory gives the records its files give one by one.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// One Parquet file of a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct File {
    pub(super) path: PathBuf,
    /// Its size in bytes.
    pub(super) len: u64,
}

/// The Parquet files under `dir`, in the order they are read.
pub(super) fn parquet_files(dir: &Path) -> io::Result<Vec<File>> {
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    if files.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "it is a directory with no Parquet file (`*.parquet`) in it or under it: give a \
             file, a directory of Parquet files, or - for standard input",
        ));
    }
    files.sort_by(|a, b| natural(a.path.as_os_str(), b.path.as_os_str()));
    Ok(files)
}

/// The order of paths as people number files: runs of digits compare as
/// numbers (`part-2` before `part-10`, as pyarrow names its files),
/// everything else byte by byte; of two equal numbers, the one with fewer
/// leading zeros first, so that the order is total.
fn natural(a: &std::ffi::OsStr, b: &std::ffi::OsStr) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (a, b) = (a.as_encoded_bytes(), b.as_encoded_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let (end_a, digits_a, zeros_a) = number(a, i);
            let (end_b, digits_b, zeros_b) = number(b, j);
            let order = digits_a
                .len()
                .cmp(&digits_b.len())
                .then_with(|| digits_a.cmp(digits_b))
                .then(zeros_a.cmp(&zeros_b));
            if order != Ordering::Equal {
                return order;
            }
            (i, j) = (end_a, end_b);
        } else if a[i] != b[j] {
            return a[i].cmp(&b[j]);
        } else {
            (i, j) = (i + 1, j + 1);
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

/// The run of digits of `s` from `at`: where it ends, its digits without
/// leading zeros, and how many zeros lead.
fn number(s: &[u8], at: usize) -> (usize, &[u8], usize) {
    let end = s[at..]
        .iter()
        .position(|c| !c.is_ascii_digit())
        .map_or(s.len(), |n| at + n);
    let zeros = s[at..end].iter().take_while(|&&c| c == b'0').count();
    (end, &s[at + zeros..end], zeros)
}

/// How the name of a file read ends.
const PARQUET: &str = ".parquet";

/// Whether a file or directory of this name is a writer's bookkeeping,
/// never read.
fn hidden(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

/// Whether a file at `path` would be one of the directory `dir`'s Parquet
/// files (both paths resolved, links followed).
pub(crate) fn would_read(dir: &Path, path: &Path) -> bool {
    let Ok(under) = path.strip_prefix(dir) else {
        return false;
    };
    let names: Vec<_> = under.iter().map(|n| n.to_string_lossy()).collect();
    names.last().is_some_and(|name| name.ends_with(PARQUET))
        && !names.iter().any(|name| hidden(name))
}

/// Adds the Parquet files in `dir` and its subdirectories to `files`.
/// A symbolic link to a directory is not followed (no loop can be walked);
/// one to a file is read as the file.
fn walk(dir: &Path, files: &mut Vec<File>) -> io::Result<()> {
    let named = |e: io::Error, path: &Path| {
        io::Error::new(e.kind(), format!("listing {}: {e}", path.display()))
    };
    for entry in fs::read_dir(dir).map_err(|e| named(e, dir))? {
        let entry = entry.map_err(|e| named(e, dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if hidden(&name) {
            continue;
        }
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| named(e, &path))?;
        if kind.is_dir() {
            walk(&path, files)?;
        } else if name.ends_with(PARQUET) {
            let meta = fs::metadata(&path).map_err(|e| named(e, &path))?;
            if meta.is_file() {
                files.push(File {
                    path,
                    len: meta.len(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(feature = "parquet")]
pub(super) use chained::{Chained, Piece};

#[cfg(feature = "parquet")]
mod chained {
    use std::io;
    use std::ops::Range;
    use std::path::PathBuf;

    use super::super::columnar::{Refusal, Rows};
    use super::super::mapping::Plan;
    use super::super::source::Source;
    use super::super::{Entry, Format};

    /// A file, or some of its row groups, to read after the one before.
    pub(in super::super) struct Piece {
        pub(in super::super) path: PathBuf,
        pub(in super::super) len: u64,
        /// Its row groups to read; `None`: all.
        pub(in super::super) groups: Option<Range<usize>>,
        /// The rows of the files before it; `None`: as many as the pieces
        /// before it read (they are whole files).
        pub(in super::super) rows_before: Option<usize>,
    }

    /// The rows of one Parquet or Arrow source, or of several Parquet
    /// files one after the other, numbered through them all.
    pub(in super::super) struct Chained {
        current: Rows,
        /// The file `current` reads, when there are several (to name it
        /// in an error).
        named: Option<PathBuf>,
        rows_before: usize,
        rest: std::vec::IntoIter<Piece>,
        /// The bytes of the files read before `current`, and its own.
        done_bytes: u64,
        current_len: u64,
        plan: Option<Plan>,
        max: usize,
    }

    impl Chained {
        /// The rows of one source.
        pub(in super::super) fn one(rows: Rows) -> Chained {
            Chained {
                current: rows,
                named: None,
                rows_before: 0,
                rest: Vec::new().into_iter(),
                done_bytes: 0,
                current_len: 0,
                plan: None,
                max: 0,
            }
        }

        /// The rows of `first` (already opened as `rows`), then of `rest`,
        /// each read with `plan`.
        pub(in super::super) fn files(
            rows: Rows,
            first: &Piece,
            rest: Vec<Piece>,
            plan: Option<Plan>,
            max: usize,
        ) -> Chained {
            Chained {
                current: rows,
                named: Some(first.path.clone()),
                rows_before: first.rows_before.unwrap_or(0),
                rest: rest.into_iter(),
                done_bytes: 0,
                current_len: first.len,
                plan,
                max,
            }
        }

        /// The next row as a record, `Ok(None)` after the last file's last.
        pub(in super::super) fn next(
            &mut self,
            outputs_optional: bool,
        ) -> io::Result<Option<Entry>> {
            loop {
                let entry = self
                    .current
                    .next(outputs_optional)
                    .map_err(|e| self.name(e))?;
                if let Some(mut entry) = entry {
                    match &mut entry {
                        Entry::Record(r) => r.line += self.rows_before,
                        Entry::Invalid(i) => i.line += self.rows_before,
                    }
                    return Ok(Some(entry));
                }
                let Some(piece) = self.rest.next() else {
                    return Ok(None);
                };
                self.done_bytes += self.current_len;
                self.named = Some(piece.path.clone());
                let rows_before = match piece.rows_before {
                    Some(rows) => rows,
                    None => self.rows_before + self.current.row(),
                };
                let source = Source::open(&piece.path).map_err(|e| self.name(e))?;
                self.current = Rows::open(
                    Format::Parquet,
                    source,
                    self.plan.clone(),
                    self.max,
                    piece.groups,
                )
                .map_err(|refusal| {
                    self.name(match refusal {
                        Refusal::Read(e) => e,
                        Refusal::Shape(reason) => {
                            io::Error::new(io::ErrorKind::InvalidData, reason)
                        }
                    })
                })?;
                self.rows_before = rows_before;
                self.current_len = piece.len;
            }
        }

        /// `e`, naming the file it comes from when there are several.
        fn name(&self, e: io::Error) -> io::Error {
            match &self.named {
                Some(path) => io::Error::new(e.kind(), format!("{}: {e}", path.display())),
                None => e,
            }
        }

        /// How many bytes of the dataset have been read, about.
        pub(in super::super) fn bytes_read(&self) -> u64 {
            self.done_bytes + self.current.bytes_read()
        }
    }
}

#[cfg(all(test, feature = "parquet"))]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use arrow_array::{ArrayRef, RecordBatch, StringArray};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;

    use crate::dataset::{Dataset, DatasetOptions, Entry, Format};
    use crate::error::Error;

    /// Writes `path`, rows `first..first + n` in row groups of `group`
    /// rows: each row's output is its number in the whole dataset.
    fn write(path: &Path, first: usize, n: usize, group: usize) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let input: ArrayRef = Arc::new(StringArray::from_iter_values(
            (first..first + n).map(|i| format!("q{i}")),
        ));
        let output: ArrayRef = Arc::new(StringArray::from_iter_values(
            (first..first + n).map(|i| i.to_string()),
        ));
        let batch = RecordBatch::try_from_iter([("input", input), ("output", output)]).unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(group))
            .build();
        let file = std::fs::File::create(path).unwrap();
        let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
    }

    /// The lines of `entries`, each record's output checked against it.
    fn lines(entries: crate::dataset::Entries) -> Vec<usize> {
        entries
            .map(|entry| match entry.unwrap() {
                Entry::Record(r) => {
                    let want = serde_json::Value::String((r.line - 1).to_string());
                    assert_eq!(
                        r.record.outputs,
                        verdict_scorer::OwnedValue::from(want),
                        "line {}",
                        r.line
                    );
                    r.line
                }
                Entry::Invalid(i) => panic!("{i:?}"),
            })
            .collect()
    }

    /// A table as writers leave it: files in partition directories, out
    /// of order on disk, beside their bookkeeping.
    fn table(dir: &Path) {
        write(&dir.join("date=2026-01-02/part-0.parquet"), 30, 25, 10);
        write(&dir.join("date=2026-01-01/part-1.parquet"), 10, 20, 10);
        write(&dir.join("date=2026-01-01/part-0.parquet"), 0, 10, 4);
        std::fs::write(dir.join("_SUCCESS"), "").unwrap();
        std::fs::write(dir.join("date=2026-01-01/.part-0.parquet.crc"), "crc").unwrap();
        std::fs::write(dir.join("README.txt"), "not data").unwrap();
        write(&dir.join("_temporary/0/part-9.parquet"), 1000, 5, 5);
        write(&dir.join(".hidden/part-9.parquet"), 1000, 5, 5);
    }

    #[test]
    fn a_directory_is_its_files_read_in_the_order_of_their_paths() {
        let dir = tempfile::tempdir().unwrap();
        table(dir.path());
        let dataset = Dataset::open(dir.path()).unwrap();
        assert_eq!(dataset.format(), Format::Parquet);
        let files: u64 = [
            "date=2026-01-01/part-0.parquet",
            "date=2026-01-01/part-1.parquet",
        ]
        .iter()
        .chain(&["date=2026-01-02/part-0.parquet"])
        .map(|f| std::fs::metadata(dir.path().join(f)).unwrap().len())
        .sum();
        assert_eq!(dataset.len_bytes(), Some(files));
        assert_eq!(
            lines(dataset.entries().unwrap()),
            (1..=55).collect::<Vec<_>>()
        );
        // Read again, from the start.
        assert_eq!(dataset.entries().unwrap().count(), 55);
        assert_eq!(
            dataset.row_groups().unwrap(),
            vec![4, 4, 2, 10, 10, 10, 10, 5]
        );
    }

    #[test]
    fn row_groups_read_apart_keep_their_lines_across_files() {
        let dir = tempfile::tempdir().unwrap();
        table(dir.path());
        let dataset = Dataset::open(dir.path()).unwrap();
        let part = |groups| lines(dataset.entries_of_row_groups(groups).unwrap());
        // Each group alone, then all of them, give every row once.
        let mut each = Vec::new();
        for g in 0..8 {
            each.extend(part(g..g + 1));
        }
        assert_eq!(each, (1..=55).collect::<Vec<_>>());
        // Parts across files.
        assert_eq!(part(2..5), (9..=30).collect::<Vec<_>>());
        assert_eq!(part(5..8), (31..=55).collect::<Vec<_>>());
        assert_eq!(part(3..3), Vec::<usize>::new());
        let Err(refused) = dataset.entries_of_row_groups(7..9) else {
            panic!("groups past the last are refused")
        };
        let refused = refused.to_string();
        assert!(refused.contains("have 8 row groups"), "{refused}");
    }

    #[test]
    fn a_file_that_cannot_be_read_is_named() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("a.parquet"), 0, 3, 3);
        std::fs::write(dir.path().join("b.parquet"), "PAR1 and then nothing").unwrap();
        let dataset = Dataset::open(dir.path()).unwrap();
        let error = dataset
            .entries()
            .unwrap()
            .find_map(Result::err)
            .expect("the second file is broken")
            .to_string();
        assert!(error.contains("b.parquet"), "{error}");
        let error = dataset.row_groups().unwrap_err().to_string();
        assert!(error.contains("b.parquet"), "{error}");
    }

    #[test]
    fn a_file_in_another_shape_is_named() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("a.parquet"), 0, 3, 3);
        let other: ArrayRef = Arc::new(StringArray::from_iter_values(["x"]));
        let batch = RecordBatch::try_from_iter([("something", other)]).unwrap();
        let file = std::fs::File::create(dir.path().join("b.parquet")).unwrap();
        let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let dataset = Dataset::open(dir.path()).unwrap();
        let entries: Vec<_> = dataset.entries().unwrap().collect();
        assert_eq!(entries.iter().filter(|e| e.is_ok()).count(), 3);
        let error = entries.last().unwrap().as_ref().unwrap_err().to_string();
        assert!(error.contains("b.parquet"), "{error}");
    }

    #[test]
    fn a_directory_without_parquet_files_or_as_another_format_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("data.jsonl"), "{}\n").unwrap();
        std::fs::write(dir.path().join("_x.parquet"), "").unwrap();
        let error = Dataset::open(dir.path()).unwrap_err().to_string();
        assert!(error.contains("no Parquet file"), "{error}");

        write(&dir.path().join("a.parquet"), 0, 3, 3);
        let options = DatasetOptions {
            format: Some(Format::Csv),
            ..DatasetOptions::default()
        };
        let error = Dataset::open_with(dir.path(), &options).unwrap_err();
        assert!(
            matches!(&error, Error::Usage(m) if m.contains("is a directory")),
            "{error}"
        );
    }

    #[test]
    fn numbers_in_names_are_ordered_as_numbers() {
        let mut names = vec![
            "part-10.parquet",
            "part-2.parquet",
            "part-02.parquet",
            "part-1.parquet",
            "date=2026-1-10/a.parquet",
            "date=2026-1-9/a.parquet",
            "part-00000-c000.parquet",
            "part-00001-c000.parquet",
            "part-.parquet",
            "Part-3.parquet",
        ];
        names.sort_by(|a, b| super::natural(a.as_ref(), b.as_ref()));
        assert_eq!(
            names,
            [
                "Part-3.parquet",
                "date=2026-1-9/a.parquet",
                "date=2026-1-10/a.parquet",
                "part-.parquet",
                "part-00000-c000.parquet",
                "part-1.parquet",
                "part-00001-c000.parquet",
                "part-2.parquet",
                "part-02.parquet",
                "part-10.parquet",
            ]
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_link_to_a_directory_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("a/x.parquet"), 0, 3, 3);
        // A loop: a/loop -> the directory itself.
        std::os::unix::fs::symlink(dir.path(), dir.path().join("a/loop")).unwrap();
        let dataset = Dataset::open(dir.path()).unwrap();
        assert_eq!(dataset.entries().unwrap().count(), 3);
    }
}
