//! Where a run or a trace comes from, as MLflow's Python client records
//! it: who (`mlflow.user`), what program (`mlflow.source.name`,
//! `mlflow.source.type`), and the git checkout it ran in
//! (`mlflow.source.git.commit`, `.branch`, `.repoURL`).
//!
//! MLflow's client resolves these once per process: the user as Python's
//! `getpass.getuser` finds it in the environment, the program from
//! `sys.argv[0]`, git through GitPython from the working directory. This
//! module does the same for a Rust process, reading the repository's files
//! (`HEAD`, refs, `packed-refs`, `config`, worktrees included) rather
//! than running `git`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `mlflow.user`.
pub(crate) const USER: &str = "mlflow.user";
/// `mlflow.source.name`.
pub(crate) const SOURCE_NAME: &str = "mlflow.source.name";
/// `mlflow.source.type`.
pub(crate) const SOURCE_TYPE: &str = "mlflow.source.type";
/// `mlflow.source.git.commit`.
pub(crate) const GIT_COMMIT: &str = "mlflow.source.git.commit";
/// `mlflow.source.git.branch`.
pub(crate) const GIT_BRANCH: &str = "mlflow.source.git.branch";
/// `mlflow.source.git.repoURL`.
pub(crate) const GIT_REPO_URL: &str = "mlflow.source.git.repoURL";

/// What this process is, resolved once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Provenance {
    user: Option<String>,
    source_name: Option<String>,
    git: Option<Git>,
}

/// The git checkout of the working directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Git {
    commit: Option<String>,
    branch: Option<String>,
    repo_url: Option<String>,
}

impl Provenance {
    /// This process's, resolved on first use.
    pub(crate) fn current() -> &'static Provenance {
        static CURRENT: OnceLock<Provenance> = OnceLock::new();
        CURRENT.get_or_init(|| Provenance {
            user: user(|name| std::env::var(name).ok()).or_else(user_from_passwd),
            source_name: std::env::args_os()
                .next()
                .map(|arg| arg.to_string_lossy().into_owned()),
            git: std::env::current_dir().ok().and_then(|dir| git(&dir)),
        })
    }

    /// The tags MLflow's client gives a run: user and source always, git
    /// only in a checkout (`GitRunContext`).
    pub(crate) fn run_tags(&self) -> BTreeMap<String, String> {
        let mut tags = self.common();
        if let Some(git) = &self.git {
            for (key, value) in git.entries() {
                if let Some(value) = value {
                    tags.insert(key.to_owned(), value.clone());
                }
            }
        }
        tags
    }

    /// The metadata MLflow's client gives a trace: user and source, and
    /// the three git keys always, empty outside a checkout (as its
    /// `resolve_env_metadata` writes them).
    pub(crate) fn trace_metadata(&self) -> BTreeMap<String, String> {
        let mut metadata = self.common();
        let git = self.git.clone().unwrap_or_default();
        for (key, value) in git.entries() {
            metadata.insert(key.to_owned(), value.clone().unwrap_or_default());
        }
        metadata
    }

    fn common(&self) -> BTreeMap<String, String> {
        let mut map = BTreeMap::new();
        if let Some(user) = &self.user {
            map.insert(USER.to_owned(), user.clone());
        }
        if let Some(name) = &self.source_name {
            map.insert(SOURCE_NAME.to_owned(), name.clone());
        }
        map.insert(SOURCE_TYPE.to_owned(), "LOCAL".to_owned());
        map
    }
}

impl Git {
    fn entries(&self) -> [(&'static str, &Option<String>); 3] {
        [
            (GIT_COMMIT, &self.commit),
            (GIT_BRANCH, &self.branch),
            (GIT_REPO_URL, &self.repo_url),
        ]
    }
}

/// The user name as Python's `getpass.getuser` finds it in the
/// environment.
fn user(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    ["LOGNAME", "USER", "LNAME", "USERNAME"]
        .into_iter()
        .find_map(|name| var(name).filter(|v| !v.is_empty()))
}

/// The name of this process's user in the password database, where
/// `getpass.getuser` looks when the environment does not say (Linux: the
/// owner of `/proc/self`, looked up in `/etc/passwd`).
fn user_from_passwd() -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let uid = std::fs::metadata("/proc/self").ok()?.uid();
        let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
        passwd_name(&passwd, uid)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The name of user `uid` in an `/etc/passwd` text.
#[cfg_attr(not(unix), allow(dead_code))]
fn passwd_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?;
        (id.parse::<u32>().ok()? == uid).then(|| name.to_owned())
    })
}

/// The checkout `dir` is in, if any: its commit (`HEAD` resolved), branch
/// (none when detached) and first remote's URL without credentials.
fn git(dir: &Path) -> Option<Git> {
    let git_dir = dir.ancestors().find_map(git_dir_of)?;
    // A worktree's own directory holds HEAD; refs, packed-refs and config
    // are in the common directory it names.
    let common = std::fs::read_to_string(git_dir.join("commondir"))
        .ok()
        .map(|rel| git_dir.join(rel.trim()))
        .unwrap_or_else(|| git_dir.clone());
    let head = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let head = head.trim();
    let (branch, commit) = match head.strip_prefix("ref: ") {
        Some(reference) => (
            reference.strip_prefix("refs/heads/").map(str::to_owned),
            resolve(&git_dir, &common, reference),
        ),
        None => (None, Some(head.to_owned())),
    };
    Some(Git {
        commit,
        branch,
        repo_url: std::fs::read_to_string(common.join("config"))
            .ok()
            .and_then(|config| first_remote_url(&config))
            .map(|url| strip_credentials(&url)),
    })
}

/// `dir/.git` when it is a repository: a directory, or a file naming one
/// (`gitdir: PATH`, a worktree or a submodule).
fn git_dir_of(dir: &Path) -> Option<PathBuf> {
    let dot_git = dir.join(".git");
    if dot_git.is_dir() {
        return Some(dot_git);
    }
    let text = std::fs::read_to_string(&dot_git).ok()?;
    let target = text.trim().strip_prefix("gitdir:")?.trim();
    Some(dir.join(target))
}

/// The commit a reference points to: its loose file, else `packed-refs`.
fn resolve(git_dir: &Path, common: &Path, reference: &str) -> Option<String> {
    for base in [git_dir, common] {
        if let Ok(text) = std::fs::read_to_string(base.join(reference)) {
            return Some(text.trim().to_owned());
        }
    }
    let packed = std::fs::read_to_string(common.join("packed-refs")).ok()?;
    packed.lines().find_map(|line| {
        let (sha, name) = line.split_once(' ')?;
        (name.trim() == reference).then(|| sha.to_owned())
    })
}

/// The `url` of the first `[remote "…"]` section of a git config.
fn first_remote_url(config: &str) -> Option<String> {
    let mut in_remote = false;
    for line in config.lines().map(str::trim) {
        if line.starts_with('[') {
            in_remote = line.starts_with("[remote ");
        } else if in_remote
            && let Some((key, value)) = line.split_once('=')
            && key.trim() == "url"
        {
            return Some(value.trim().to_owned());
        }
    }
    None
}

/// `scheme://user:token@host/…` without `user:token@`, as MLflow strips
/// credentials from a remote's URL.
fn strip_credentials(url: &str) -> String {
    crate::replace_credentials(url, "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vars;

    #[test]
    fn the_user_is_found_as_python_finds_it() {
        assert_eq!(
            user(vars(&[("USER", "ann"), ("LOGNAME", "")])),
            Some("ann".into())
        );
        assert_eq!(
            user(vars(&[("USER", "ann"), ("LOGNAME", "bob")])),
            Some("bob".into())
        );
        assert_eq!(user(vars(&[])), None);
        let passwd = "root:x:0:0:root:/root:/bin/bash\nann:x:1000:1000::/home/ann:/bin/sh\n";
        assert_eq!(passwd_name(passwd, 1000), Some("ann".into()));
        assert_eq!(passwd_name(passwd, 7), None);
    }

    #[test]
    fn a_checkout_is_read_from_its_files() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        let repo = dir.join("repo");
        let git_dir = repo.join(".git");
        std::fs::create_dir_all(git_dir.join("refs/heads")).unwrap();
        std::fs::create_dir_all(repo.join("sub/deeper")).unwrap();
        std::fs::write(git_dir.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::write(
            git_dir.join("packed-refs"),
            "# pack-refs with: peeled\n1111111111111111111111111111111111111111 refs/heads/main\n",
        )
        .unwrap();
        std::fs::write(
            git_dir.join("config"),
            "[core]\n\tbare = false\n[remote \"origin\"]\n\turl = https://ann:tok@example.com/v.git\n\tfetch = x\n",
        )
        .unwrap();
        let found = git(&repo.join("sub/deeper")).unwrap();
        assert_eq!(
            found,
            Git {
                commit: Some("1111111111111111111111111111111111111111".into()),
                branch: Some("main".into()),
                repo_url: Some("https://example.com/v.git".into()),
            }
        );

        // A loose ref wins over packed-refs; a worktree's HEAD is its own.
        std::fs::write(
            git_dir.join("refs/heads/main"),
            "2222222222222222222222222222222222222222\n",
        )
        .unwrap();
        let worktree_git = git_dir.join("worktrees/wt");
        std::fs::create_dir_all(&worktree_git).unwrap();
        std::fs::write(worktree_git.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::write(worktree_git.join("commondir"), "../..\n").unwrap();
        let worktree = dir.join("wt");
        std::fs::create_dir_all(&worktree).unwrap();
        std::fs::write(
            worktree.join(".git"),
            format!("gitdir: {}\n", worktree_git.display()),
        )
        .unwrap();
        let found = git(&worktree).unwrap();
        assert_eq!(
            found.commit.as_deref(),
            Some("2222222222222222222222222222222222222222")
        );
        assert_eq!(found.branch.as_deref(), Some("main"));

        // Detached: a commit, no branch.
        std::fs::write(
            worktree_git.join("HEAD"),
            "3333333333333333333333333333333333333333\n",
        )
        .unwrap();
        let found = git(&worktree).unwrap();
        assert_eq!(found.branch, None);
        assert_eq!(
            found.commit.as_deref(),
            Some("3333333333333333333333333333333333333333")
        );
    }

    #[test]
    fn outside_a_checkout_traces_get_empty_git_keys_and_runs_none() {
        let outside = Provenance {
            user: Some("ann".into()),
            source_name: Some("verdict".into()),
            git: None,
        };
        let metadata = outside.trace_metadata();
        assert_eq!(metadata[GIT_COMMIT], "");
        assert_eq!(metadata[SOURCE_TYPE], "LOCAL");
        assert!(!outside.run_tags().contains_key(GIT_COMMIT));
    }
}
