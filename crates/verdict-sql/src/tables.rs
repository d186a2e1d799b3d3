//! Files as tables: `name=PATH` or `name=PATH:FORMAT`, read as Parquet
//! (a file, or a directory of `.parquet` files), CSV (with a header line)
//! or JSON lines. A CSV file's empty field is
//! NULL, as DataFusion reads CSV; `verdict eval` reads it as the empty
//! string, which `coalesce(column, '')` gives back.

use std::path::{Path, PathBuf};

use datafusion::common::{Result, plan_err};
use datafusion::prelude::{CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionContext};

/// A file format a table or an output is read or written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Apache Parquet.
    Parquet,
    /// Comma-separated values with a header line.
    Csv,
    /// One JSON object per line.
    Json,
}

impl Format {
    /// The format a file's extension names: `.parquet`, `.csv`, `.json`,
    /// `.jsonl` or `.ndjson`.
    pub fn of_path(path: &Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        Format::named(&extension)
    }

    /// The format named `name`, as after the colon of `name=PATH:FORMAT`.
    pub fn named(name: &str) -> Option<Format> {
        match name {
            "parquet" | "pq" => Some(Format::Parquet),
            "csv" => Some(Format::Csv),
            "json" | "jsonl" | "ndjson" => Some(Format::Json),
            _ => None,
        }
    }
}

/// A table to register: `name=PATH` or `name=PATH:FORMAT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSpec {
    /// The table's name in SQL.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// How it is read.
    pub format: Format,
}

impl std::str::FromStr for TableSpec {
    type Err = String;

    fn from_str(spec: &str) -> std::result::Result<Self, String> {
        let Some((name, rest)) = spec.split_once('=') else {
            return Err(format!(
                "{spec:?} is not NAME=PATH; write --table qa=qa.parquet (or qa=PATH:csv)"
            ));
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "{name:?} cannot name a table: use letters, digits and _"
            ));
        }
        // An explicit format follows the last colon, when it names one.
        let (path, format) = match rest.rsplit_once(':') {
            Some((path, format)) if Format::named(format).is_some() => {
                (PathBuf::from(path), Format::named(format))
            }
            _ => (PathBuf::from(rest), None),
        };
        let Some(format) = format.or_else(|| Format::of_path(&path)) else {
            return Err(format!(
                "cannot tell the format of {}: name a file .parquet, .csv, .json or .jsonl, \
                 or write {name}=PATH:parquet (csv, json)",
                path.display()
            ));
        };
        Ok(TableSpec {
            name: name.to_owned(),
            path,
            format,
        })
    }
}

/// Registers the file of `spec` as a table of `ctx`.
pub async fn register_file(ctx: &SessionContext, spec: &TableSpec) -> Result<()> {
    // A directory of Parquet files is one table: its `.parquet` files,
    // in name order (a dataset split into files, as `--workers` splits
    // them).
    let directory = spec.format == Format::Parquet && spec.path.is_dir();
    if !spec.path.is_file() && !directory {
        return plan_err!(
            "table {}: {} is not a file (nor a directory of .parquet files)",
            spec.name,
            spec.path.display()
        );
    }
    let path = if directory {
        format!("{}/", spec.path.to_string_lossy().trim_end_matches('/'))
    } else {
        spec.path.to_string_lossy().into_owned()
    };
    // The extension of a file named on the command line is whatever it
    // is: the format decides how it is read.
    let extension = match spec.path.extension() {
        _ if directory => ".parquet".to_owned(),
        Some(e) => format!(".{}", e.to_string_lossy()),
        None => String::new(),
    };
    match spec.format {
        Format::Parquet => {
            let options = ParquetReadOptions {
                file_extension: &extension,
                ..ParquetReadOptions::default()
            };
            ctx.register_parquet(&spec.name, path, options).await
        }
        Format::Csv => {
            // DataFusion reads an empty field as NULL (its reader takes
            // no other rule), where `verdict eval` reads the empty
            // string: `coalesce(column, '')` scores it as eval does.
            let options = CsvReadOptions::new().file_extension(&extension);
            ctx.register_csv(&spec.name, path, options).await
        }
        Format::Json => {
            let options = JsonReadOptions::default().file_extension(&extension);
            ctx.register_json(&spec.name, path, options).await
        }
    }
}
