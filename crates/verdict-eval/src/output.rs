//! Where a run writes, and what it must never write over.
//!
//! No output — a report, JSON results, JUnit XML, a JSONL export — may be
//! the dataset, the local store or a file SQLite keeps beside it (`-wal`,
//! `-shm`, `-journal`), another file the command reads (`--config`,
//! `--plugin`), or another output: a run that wrote one over the other
//! would destroy what it reads and still say it passed. [`Outputs`]
//! refuses such a run before anything is written. Files are compared as
//! the system sees them, through symlinks and hard links: by device and
//! inode when they exist, by their resolved directory and name when they
//! do not yet. Devices, FIFOs and sockets hold nothing to destroy
//! (`/dev/null`, `/dev/stdout` on a terminal) and are not compared.
//!
//! Result files are written whole ([`OutputFile`]): into a temporary file
//! beside the target, renamed over it once complete, so that a run that
//! fails or is killed never leaves a half-written file where the old one
//! was. A FIFO, a device, or a path under `/dev` or `/proc`
//! (`/dev/stdout`) is written in place. Before a run starts, the result
//! files an earlier run left are removed
//! ([`Outputs::remove_stale_results`]): whatever stops the run, CI never
//! reads an earlier run's results as this one's.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::dataset::STDIN;
use crate::error::{Error, Result};

/// What a command reads and writes, checked before it writes anything.
///
/// ```
/// use verdict_eval::Outputs;
///
/// let dir = tempfile::tempdir()?;
/// let store = dir.path().join("v.db");
/// let err = Outputs::new()
///     .dataset(dir.path().join("qa.jsonl"))
///     .store(&store)
///     .output("--report", &store)
///     .check()
///     .unwrap_err();
/// assert!(err.to_string().starts_with("--report "));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct Outputs {
    dataset: Option<PathBuf>,
    store: Option<PathBuf>,
    /// Other files the command reads (`--config`, `--plugin`).
    inputs: Vec<(String, PathBuf)>,
    outputs: Vec<Output>,
}

/// One output, named as the user gave it.
#[derive(Debug)]
struct Output {
    what: String,
    /// `None`: standard output.
    path: Option<PathBuf>,
    /// A result file, written whole: one an earlier run left is removed
    /// before a run starts.
    result: bool,
}

/// What a file is to the command, for messages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Dataset,
    Store,
    /// A file SQLite keeps beside the store.
    StoreFile,
    Output,
    /// Another file the command reads.
    Input,
}

/// A file as the system sees it.
struct Identity {
    /// Its path with symlinks resolved (or, for standard input, none).
    name: Option<PathBuf>,
    /// Its device and inode, when it exists.
    inode: Option<(u64, u64)>,
    /// Whether it is a regular file, or none yet: something a write
    /// would replace.
    holds_data: bool,
}

impl Outputs {
    /// Nothing read or written yet.
    pub fn new() -> Self {
        Outputs::default()
    }

    /// The dataset (`-`: standard input).
    pub fn dataset(mut self, path: impl Into<PathBuf>) -> Self {
        self.dataset = Some(path.into());
        self
    }

    /// The local store; its `-wal`, `-shm` and `-journal` files too.
    pub fn store(mut self, path: impl Into<PathBuf>) -> Self {
        self.store = Some(path.into());
        self
    }

    /// Another file the command reads, named as the user gave it
    /// (`--config`, `--plugin`).
    pub fn input(mut self, what: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        self.inputs.push((what.into(), path.into()));
        self
    }

    /// An output, named as the user gave it (`--export`): a file written
    /// to, or appended to, as it is.
    pub fn output(mut self, what: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        self.outputs.push(Output {
            what: what.into(),
            path: Some(path.into()),
            result: false,
        });
        self
    }

    /// An output to standard output, named as the user gave it
    /// (`--export jsonl:-`): compared as the file standard output is
    /// redirected to, if it is one (`>> qa.jsonl`), so that a run never
    /// writes into what it reads.
    pub fn standard_output(mut self, what: impl Into<String>) -> Self {
        self.outputs.push(Output {
            what: what.into(),
            path: None,
            result: false,
        });
        self
    }

    /// A result file, named as the user gave it (`--report`, `--json`,
    /// `--junit`): written whole by a run that reaches its verdict, and
    /// removed by [`remove_stale_results`](Self::remove_stale_results)
    /// before it starts.
    pub fn result(mut self, what: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        self.outputs.push(Output {
            what: what.into(),
            path: Some(path.into()),
            result: true,
        });
        self
    }

    /// Checks as [`check`](Self::check) does, then removes the result
    /// file an earlier run left at each result's path, so that a run that
    /// fails from here on (a dataset it cannot open, a scorer it does not
    /// know, a baseline it cannot find) leaves no result file for CI to
    /// read as its own. Only a regular file is removed (through a symlink,
    /// the file it leads to): a FIFO, a device or `/dev/stdout` stays.
    ///
    /// ```
    /// use verdict_eval::Outputs;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let junit = dir.path().join("junit.xml");
    /// std::fs::write(&junit, "<testsuites/>")?;
    /// Outputs::new()
    ///     .dataset(dir.path().join("qa.jsonl"))
    ///     .result("--junit", &junit)
    ///     .remove_stale_results()?;
    /// assert!(!junit.exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remove_stale_results(&self) -> Result<()> {
        self.check()?;
        for path in self
            .outputs
            .iter()
            .filter(|o| o.result)
            .filter_map(|o| o.path.as_ref())
        {
            remove_stale(path).map_err(|e| Error::WriteReport {
                path: path.clone(),
                source: io::Error::new(
                    e.kind(),
                    format!(
                        "an earlier run's result file is there and cannot be removed (a run \
                         that fails leaves none): {e}"
                    ),
                ),
            })?;
        }
        Ok(())
    }

    /// Refuses, with a sentence naming both, an output that is the
    /// dataset, the store (or a file of it), another input or another
    /// output, or a store that is the dataset.
    pub fn check(&self) -> Result<()> {
        // What each is, its path (`None`: standard output), its role and
        // its identity.
        let mut inputs: Vec<(String, Option<&Path>, Role, Identity)> = Vec::new();
        if let Some(path) = &self.dataset {
            inputs.push((
                "the dataset".into(),
                Some(path),
                Role::Dataset,
                identify(path),
            ));
        }
        // SQLite names its files after the store's resolved path.
        let mut store_files = Vec::new();
        if let Some(store) = &self.store {
            let resolved = resolve(store);
            for suffix in ["-wal", "-shm", "-journal"] {
                let with = |path: &Path| {
                    let mut name = path.as_os_str().to_owned();
                    name.push(suffix);
                    PathBuf::from(name)
                };
                store_files.push((with(store), with(&resolved), store.clone(), suffix));
            }
        }
        if let Some(store) = &self.store {
            let store_id = identify(store);
            if let Some((what, path, _, id)) = inputs.first()
                && same(&store_id, id)
            {
                return Err(collision(
                    "the store",
                    Some(store),
                    what,
                    *path,
                    Role::Dataset,
                ));
            }
            inputs.push(("the store".into(), Some(store), Role::Store, store_id));
        }
        for (named, resolved, store, suffix) in &store_files {
            inputs.push((
                format!("the store's {suffix} file, beside {}", store.display()),
                Some(named),
                Role::StoreFile,
                identify(resolved),
            ));
        }
        for (what, path) in &self.inputs {
            inputs.push((what.clone(), Some(path), Role::Input, identify(path)));
        }
        // A directory's Parquet files are the dataset.
        let dataset_dir = self
            .dataset
            .as_deref()
            .filter(|path| path.as_os_str() != STDIN && path.is_dir());
        for Output { what, path, .. } in &self.outputs {
            let path = path.as_deref();
            if let (Some(dir), Some(path)) = (dataset_dir, path)
                && [resolve(path), resolve_parent(path)]
                    .iter()
                    .any(|named| crate::dataset::would_read(&resolve(dir), named))
            {
                return Err(Error::SamePath(format!(
                    "{what} {} is in the dataset {}, whose .parquet files are the dataset: \
                     writing it would destroy or add to the dataset; give {what} a path outside \
                     it",
                    path.display(),
                    dir.display()
                )));
            }
            let id = path.map_or_else(stdout_identity, identify);
            if let Some((other, other_path, role, _)) =
                inputs.iter().find(|(_, _, _, other)| same(&id, other))
            {
                return Err(collision(what, path, other, *other_path, *role));
            }
            inputs.push((what.clone(), path, Role::Output, id));
        }
        Ok(())
    }
}

/// The error for an output that is another file the command uses; a path
/// of `None` is standard output.
fn collision(
    what: &str,
    path: Option<&Path>,
    other: &str,
    other_path: Option<&Path>,
    role: Role,
) -> Error {
    let lexical = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let link = match (path, other_path) {
        (_, Some(other)) if other.as_os_str() == STDIN => " (the file standard input reads)",
        (Some(path), Some(other))
            if !lexical(path).components().eq(lexical(other).components()) =>
        {
            " (the same file, through a link)"
        }
        _ => "",
    };
    let harm = match role {
        // Standard output may append to it (`>>`): the run would read its
        // own output back.
        Role::Dataset if path.is_none() => {
            "change the dataset while it is read (the run would read its own output back)"
        }
        Role::Dataset => "destroy the dataset before it is read",
        Role::Store => "destroy the store, and every run it holds",
        Role::StoreFile => "corrupt the store",
        Role::Output => "leave only one of the two, or a mix of both",
        Role::Input => "destroy it before it is read",
    };
    let other = match (role, other_path) {
        (Role::StoreFile, _) | (_, None) => other.to_owned(),
        (_, Some(p)) if p.as_os_str() == STDIN => other.to_owned(),
        (_, Some(p)) => format!("{other} {}", p.display()),
    };
    Error::SamePath(match path {
        Some(path) => format!(
            "{what} {} is {other}{link}: writing it would {harm}; give {what} another path",
            path.display()
        ),
        None => format!(
            "{what} writes to standard output, which is {other}{link}: writing it would {harm}; \
             send standard output elsewhere, or give {what} a file of its own"
        ),
    })
}

/// Whether two files are one that a write would replace.
fn same(a: &Identity, b: &Identity) -> bool {
    a.holds_data
        && b.holds_data
        && ((a.inode.is_some() && a.inode == b.inode) || (a.name.is_some() && a.name == b.name))
}

fn identify(path: &Path) -> Identity {
    if path.as_os_str() == STDIN {
        return stdin_identity();
    }
    let name = resolve(path);
    match fs::metadata(&name) {
        Ok(meta) => Identity {
            inode: inode(&meta),
            holds_data: meta.is_file(),
            name: Some(name),
        },
        Err(_) => Identity {
            name: Some(name),
            inode: None,
            holds_data: true,
        },
    }
}

#[cfg(unix)]
fn inode(meta: &fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn inode(_: &fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// Standard input: the file it reads, when it is one (`- < data.jsonl`).
fn stdin_identity() -> Identity {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd as _;
        stream_identity(io::stdin().as_fd())
    }
    #[cfg(not(unix))]
    Identity::unknown()
}

/// Standard output: the file it is redirected to, when it is one
/// (`> results.jsonl`, `>> qa.jsonl`).
fn stdout_identity() -> Identity {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd as _;
        stream_identity(io::stdout().as_fd())
    }
    #[cfg(not(unix))]
    Identity::unknown()
}

/// The file a standard stream is, as its descriptor says.
#[cfg(unix)]
fn stream_identity(fd: std::os::fd::BorrowedFd<'_>) -> Identity {
    let meta = fd
        .try_clone_to_owned()
        .map(File::from)
        .and_then(|f| f.metadata());
    match meta {
        Ok(meta) => Identity {
            name: None,
            inode: inode(&meta),
            holds_data: meta.is_file(),
        },
        Err(_) => Identity::unknown(),
    }
}

impl Identity {
    /// A stream that is no file a write would replace, as far as is known.
    fn unknown() -> Self {
        Identity {
            name: None,
            inode: None,
            holds_data: false,
        }
    }
}

/// A path with its symlinks resolved as far as they lead: the canonical
/// path of a file that exists; for one that does not, the target of a
/// dangling symlink, else its canonical directory and its name.
/// `path` with its directory resolved and its own name as given: where a
/// directory's listing finds it, when it is a link to a file elsewhere.
fn resolve_parent(path: &Path) -> PathBuf {
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) if dir.as_os_str().is_empty() => resolve(Path::new(".")).join(name),
        (Some(dir), Some(name)) => resolve(dir).join(name),
        _ => resolve(path),
    }
}

fn resolve(path: &Path) -> PathBuf {
    let mut path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    // As the system follows links: at most 40.
    for _ in 0..40 {
        if let Ok(canonical) = path.canonicalize() {
            return canonical;
        }
        match fs::read_link(&path) {
            Ok(target) => {
                path = match path.parent() {
                    Some(dir) => dir.join(target),
                    None => target,
                }
            }
            Err(_) => break,
        }
    }
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => dir
            .canonicalize()
            .map_or_else(|_| path.clone(), |dir| dir.join(name)),
        _ => path,
    }
}

/// Whether a path is written in place: under `/dev` or `/proc`, whose
/// files stand for open streams (`/dev/stdout` may lead to the very file
/// standard output is redirected to, which a rename would replace).
fn in_place(path: &Path) -> bool {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    path.starts_with("/dev") || path.starts_with("/proc")
}

/// A result file being written: a temporary file beside its target,
/// renamed over it by [`commit`](OutputFile::commit); dropped uncommitted,
/// the temporary file goes and the target is as it was. Other commands
/// that write result files (`verdict sql --output`) write them so too.
pub struct OutputFile {
    /// The path as given, for messages.
    path: PathBuf,
    file: File,
    /// The temporary file and where it goes; `None` when written in place.
    temp: Option<(tempfile::TempPath, PathBuf)>,
}

impl OutputFile {
    /// Starts writing `path`: fails now, not after the run, when it
    /// cannot be written.
    pub fn create(path: &Path) -> Result<OutputFile> {
        let error = |source| Error::WriteReport {
            path: path.to_path_buf(),
            source,
        };
        let target = resolve(path);
        let meta = fs::metadata(&target).ok();
        if meta.as_ref().is_some_and(fs::Metadata::is_dir) {
            return Err(error(io::Error::new(
                io::ErrorKind::InvalidInput,
                "it is a directory; give a file's path",
            )));
        }
        if in_place(path) || meta.is_some_and(|m| !m.is_file()) {
            return Ok(OutputFile {
                path: path.to_path_buf(),
                file: File::create(path).map_err(error)?,
                temp: None,
            });
        }
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let name = target
            .file_name()
            .map_or_else(|| "output".into(), |n| n.to_string_lossy());
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        // As `File::create` makes files: 0666 less the umask, not 0600.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let (file, temp) = builder.tempfile_in(dir).map_err(error)?.into_parts();
        Ok(OutputFile {
            path: path.to_path_buf(),
            file,
            temp: Some((temp, target)),
        })
    }

    /// The path as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file written through a buffer is complete: the buffer is
    /// flushed, and the file takes the target's place.
    pub fn commit_buffered(out: std::io::BufWriter<OutputFile>) -> Result<()> {
        let path = out.get_ref().path.clone();
        out.into_inner()
            .map_err(|e| Error::WriteReport {
                path,
                source: e.into_error(),
            })?
            .commit()
    }

    /// The file is complete: it takes the target's place.
    pub fn commit(self) -> Result<()> {
        let error = |source| Error::WriteReport {
            path: self.path.clone(),
            source,
        };
        // Written in place (a FIFO, a device), it is done once written.
        let Some((temp, target)) = self.temp else {
            return Ok(());
        };
        self.file.sync_all().map_err(error)?;
        temp.persist(&target).map_err(|e| error(e.error))
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Removes the result file a failed run was to replace, so that it is not
/// read as this run's: a regular file only, never a device or a FIFO.
pub(crate) fn remove_stale(path: &Path) -> io::Result<()> {
    if in_place(path) {
        return Ok(());
    }
    let target = resolve(path);
    if fs::symlink_metadata(&target).is_ok_and(|m| m.is_file()) {
        match fs::remove_file(target) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}
