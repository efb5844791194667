//! The merge config: which source trees there are, how each is updated, and
//! which target trees are merged from which sources. Read from depot's own
//! TOML (`<root>/etc/depot-merge.toml`) or from a portshaker.conf
//! ([`super::shconf`]); both give the same [`Config`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde::Deserialize;

/// How a source takes part in a target's merge (portshaker's suffixes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// No suffix: the higher version wins; equal versions that differ conflict.
    Plain,
    /// `!`: equal versions that differ take this source's recipe.
    Replace,
    /// `+`: this source's files replace or join the recipe's, whatever the
    /// versions (local patches).
    Overlay,
}

impl Flag {
    /// The suffix as written after a source name.
    pub fn suffix(self) -> &'static str {
        match self {
            Flag::Plain => "",
            Flag::Replace => "!",
            Flag::Overlay => "+",
        }
    }
}

/// A command run before or after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hook {
    /// A shell command (`sh -c`).
    Shell(String),
    /// A function a portshaker.conf defines: run by sourcing the file.
    Function {
        /// The portshaker.conf.
        conf: PathBuf,
        /// The function's name.
        name: String,
    },
}

/// How a source tree is brought up to date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// Not at all: the directory is used as it is.
    Nothing,
    /// `git clone`, then `git fetch` + `git reset --hard` of the branch.
    Git {
        /// The repository.
        url: String,
        /// The branch (default: the remote's HEAD).
        branch: Option<String>,
    },
    /// `rsync -a --delete FROM/ DIR/`.
    Rsync {
        /// What to copy from (a path or `host:path`).
        from: String,
    },
    /// A shell command run in the mirror base dir.
    Command(String),
}

/// A source tree.
#[derive(Debug, Clone)]
pub struct Source {
    /// Its name in `merge_from`.
    pub name: String,
    /// Where the tree is (default: `<mirror_base_dir>/<name>`).
    pub dir: PathBuf,
    /// How it is updated.
    pub update: Update,
    /// Run before the update.
    pub pre_update: Option<Hook>,
    /// Run after the update.
    pub post_update: Option<Hook>,
}

/// One entry of a target's `merge_from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeFrom {
    /// The source's name.
    pub source: String,
    /// Its suffix.
    pub flag: Flag,
}

/// A target tree.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its name.
    pub name: String,
    /// Where the merged tree appears (a symlink to its current generation).
    pub tree: PathBuf,
    /// The sources, in order: later ones are merged over earlier ones.
    pub merge_from: Vec<MergeFrom>,
    /// Stop without touching the tree when recipes conflict.
    pub fail_on_conflict: bool,
    /// Run before the merge.
    pub pre_merge: Option<Hook>,
    /// Run after the merge.
    pub post_merge: Option<Hook>,
}

/// A whole merge config.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub file: PathBuf,
    /// Where sources without a `dir` are fetched to.
    pub mirror_base_dir: PathBuf,
    /// The sources by name.
    pub sources: BTreeMap<String, Source>,
    /// The targets, in the config's order.
    pub targets: Vec<Target>,
    /// What the config asked for that depot does not do.
    pub warnings: Vec<String>,
}

impl Config {
    /// Read `path`: a `.toml` file as depot's format, anything else as a
    /// portshaker.conf. `root` gives the default mirror base dir.
    pub fn load(path: &Path, root: &Path) -> Result<Config> {
        let text = match fs_err::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "no merge config at {}: write one (docs/merge.md describes it) or give --config FILE",
                path.display()
            ),
            Err(e) => return Err(e.into()),
        };
        let default_mirror = root.join("var/merge");
        if path.extension().is_some_and(|e| e == "toml") {
            from_toml(path, &text, default_mirror)
        } else {
            super::shconf::read(path, &text, default_mirror)
        }
    }

    /// The source named `name`: declared, or a plain directory under the
    /// mirror base dir (as portshaker finds a source it has no script for).
    pub fn source(&self, name: &str) -> Source {
        self.sources.get(name).cloned().unwrap_or_else(|| Source {
            name: name.to_owned(),
            dir: self.mirror_base_dir.join(name),
            update: Update::Nothing,
            pre_update: None,
            post_update: None,
        })
    }
}

/// Why `name` cannot be a source or target name, if it cannot: it names a
/// directory under the mirror base dir, so it must stay a plain name there.
pub fn bad_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        Some("it must be a plain name (no `/`, not `.` or `..`)")
    } else if name.starts_with('.') {
        Some("it must not start with `.`")
    } else {
        None
    }
}

/// `name!` / `name+` / `name` as a [`MergeFrom`].
pub fn parse_merge_from(entry: &str) -> Result<MergeFrom, String> {
    let (source, flag) = if let Some(s) = entry.strip_suffix('!') {
        (s, Flag::Replace)
    } else if let Some(s) = entry.strip_suffix('+') {
        (s, Flag::Overlay)
    } else {
        (entry, Flag::Plain)
    };
    if let Some(why) = bad_name(source) {
        return Err(format!(
            "source {} in merge_from: {why}",
            crate::quote::name(entry)
        ));
    }
    Ok(MergeFrom {
        source: source.to_owned(),
        flag,
    })
}

/// The 1-based line of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// A path from the config: relative ones are relative to the config's dir.
pub fn config_path(file: &Path, value: &str) -> PathBuf {
    let base = file.parent().unwrap_or(Path::new("/"));
    crate::settings::absolute(&base.join(value)).unwrap_or_else(|_| base.join(value))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlFile {
    mirror_base_dir: Option<String>,
    #[serde(default)]
    fail_on_conflict: bool,
    #[serde(default)]
    source: BTreeMap<String, toml::Spanned<TomlSource>>,
    #[serde(default)]
    target: BTreeMap<String, toml::Spanned<TomlTarget>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlSource {
    git: Option<String>,
    branch: Option<String>,
    rsync: Option<String>,
    command: Option<String>,
    dir: Option<String>,
    pre_update: Option<String>,
    post_update: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlTarget {
    tree: String,
    merge_from: Vec<toml::Spanned<String>>,
    fail_on_conflict: Option<bool>,
    pre_merge: Option<String>,
    post_merge: Option<String>,
}

/// Read `depot-merge.toml` text (`path` names it in errors).
pub fn from_toml(path: &Path, text: &str, default_mirror: PathBuf) -> Result<Config> {
    let file: TomlFile =
        toml::from_str(text).map_err(|e| crate::build::recipe::toml_error(path, text, &e))?;
    let at =
        |span: std::ops::Range<usize>| format!("{}:{}", path.display(), line_of(text, span.start));
    let mirror_base_dir = file
        .mirror_base_dir
        .as_deref()
        .map_or(default_mirror, |d| config_path(path, d));
    let mut sources = BTreeMap::new();
    for (name, spanned) in file.source {
        let where_ = at(spanned.span());
        let s = spanned.into_inner();
        if let Some(why) = bad_name(&name) {
            bail!("{where_}: [source.{}]: {why}", crate::quote::name(&name));
        }
        let methods = [s.git.is_some(), s.rsync.is_some(), s.command.is_some()];
        if methods.iter().filter(|m| **m).count() > 1 {
            bail!("{where_}: [source.{name}]: give at most one of git, rsync and command");
        }
        if s.branch.is_some() && s.git.is_none() {
            bail!("{where_}: [source.{name}]: `branch` needs `git`");
        }
        let update = if let Some(url) = s.git {
            Update::Git {
                url,
                branch: s.branch,
            }
        } else if let Some(from) = s.rsync {
            Update::Rsync { from }
        } else if let Some(command) = s.command {
            Update::Command(command)
        } else {
            Update::Nothing
        };
        let dir = s
            .dir
            .as_deref()
            .map_or_else(|| mirror_base_dir.join(&name), |d| config_path(path, d));
        sources.insert(
            name.clone(),
            Source {
                name,
                dir,
                update,
                pre_update: s.pre_update.map(Hook::Shell),
                post_update: s.post_update.map(Hook::Shell),
            },
        );
    }
    let mut targets = Vec::new();
    for (name, spanned) in file.target {
        let where_ = at(spanned.span());
        let t = spanned.into_inner();
        if let Some(why) = bad_name(&name) {
            bail!("{where_}: [target.{}]: {why}", crate::quote::name(&name));
        }
        if t.merge_from.is_empty() {
            bail!("{where_}: [target.{name}]: merge_from names no source");
        }
        let mut merge_from = Vec::new();
        for entry in t.merge_from {
            let line = at(entry.span());
            let parsed = parse_merge_from(entry.get_ref())
                .map_err(|why| anyhow::anyhow!("{line}: [target.{name}]: {why}"))?;
            if merge_from
                .iter()
                .any(|m: &MergeFrom| m.source == parsed.source)
            {
                bail!(
                    "{line}: [target.{name}]: source {} is named twice in merge_from",
                    parsed.source
                );
            }
            merge_from.push(parsed);
        }
        targets.push(Target {
            name,
            tree: config_path(path, &t.tree),
            merge_from,
            fail_on_conflict: t.fail_on_conflict.unwrap_or(file.fail_on_conflict),
            pre_merge: t.pre_merge.map(Hook::Shell),
            post_merge: t.post_merge.map(Hook::Shell),
        });
    }
    if targets.is_empty() {
        bail!(
            "{}: no [target.NAME] with tree and merge_from: nothing to merge",
            path.display()
        );
    }
    // Targets are emitted in the order they were written.
    targets.sort_by_key(|t| {
        text.find(&format!("[target.{}]", t.name))
            .unwrap_or(usize::MAX)
    });
    Ok(Config {
        file: path.to_path_buf(),
        mirror_base_dir,
        sources,
        targets,
        warnings: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config> {
        let tmp = tempfile::tempdir()?;
        let path = tmp.path().join("depot-merge.toml");
        fs_err::write(&path, text)?;
        Config::load(&path, Path::new("/r"))
    }

    #[test]
    fn toml_gives_sources_targets_and_flags() -> Result<()> {
        let c = load(
            "mirror_base_dir = \"/m\"\nfail_on_conflict = true\n\
             [source.up]\ngit = \"/g\"\nbranch = \"main\"\npre_update = \"echo hi\"\n\
             [target.main]\ntree = \"/t\"\nmerge_from = [\"up\", \"local!\", \"p+\"]\n",
        )?;
        assert_eq!(c.mirror_base_dir, Path::new("/m"));
        assert_eq!(c.source("local").dir, Path::new("/m/local"));
        assert_eq!(
            c.source("up").update,
            Update::Git {
                url: "/g".into(),
                branch: Some("main".into())
            }
        );
        let t = &c.targets[0];
        assert!(t.fail_on_conflict);
        let flags: Vec<Flag> = t.merge_from.iter().map(|m| m.flag).collect();
        assert_eq!(flags, [Flag::Plain, Flag::Replace, Flag::Overlay]);
        Ok(())
    }

    #[test]
    fn toml_errors_name_the_line() {
        let e = load("[target.main]\ntree = \"/t\"\nmerge_from = [\"up\",\n \"../x\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("depot-merge.toml:4") && e.contains("plain name"),
            "{e}"
        );
        let e = load("[target.main]\ntree = \"/t\"\nmerge_from = []\ncolour = 1\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("depot-merge.toml:4") && e.contains("colour"),
            "{e}"
        );
        let e = load("[source.a]\ngit = \"x\"\nrsync = \"y\"\n[target.t]\ntree = \"/t\"\nmerge_from = [\"a\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("depot-merge.toml:1") && e.contains("at most one"),
            "{e}"
        );
    }
}
