//! Recipes: `<tree>/<category>/<name>/recipe.toml` plus `distinfo`, `patches/`,
//! `files/`, `DESCR` and an optional `PLIST`. Keys use pkgsrc's variable names
//! in lower case; every key is checked (an unknown key, a wrong type or a
//! missing one is an error naming the file, the line and the key).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;
use sha2::Digest as _;

/// The phases of a build, in order.
pub const PHASES: &[&str] = &[
    "fetch",
    "checksum",
    "extract",
    "patch",
    "wrapper",
    "configure",
    "build",
    "test",
    "install",
    "package",
];

/// `recipe.toml` as written. See docs/recipes.md for every key.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipeFile {
    pub distname: String,
    pub pkgname: Option<String>,
    pub pkgrevision: Option<u32>,
    pub categories: Vec<String>,
    pub comment: String,
    pub homepage: Option<String>,
    pub license: Option<String>,
    pub maintainer: Option<String>,
    #[serde(default)]
    pub master_sites: Vec<String>,
    #[serde(default)]
    pub sites: BTreeMap<String, Vec<String>>,
    pub distfiles: Option<Vec<String>>,
    pub extract_sufx: Option<String>,
    pub extract_only: Option<Vec<String>>,
    #[serde(default)]
    pub patchfiles: Vec<String>,
    #[serde(default)]
    pub patch_sites: Vec<String>,
    pub patch_strip: Option<u32>,
    pub wrksrc: Option<String>,
    #[serde(default)]
    pub depends: Vec<String>,
    #[serde(default)]
    pub build_depends: Vec<String>,
    #[serde(default)]
    pub tool_depends: Vec<String>,
    #[serde(default)]
    pub has_configure: bool,
    #[serde(default)]
    pub gnu_configure: bool,
    #[serde(default)]
    pub no_configure: bool,
    pub configure_script: Option<String>,
    #[serde(default)]
    pub configure_args: Vec<String>,
    #[serde(default)]
    pub configure_env: BTreeMap<String, String>,
    pub configure_dirs: Option<Vec<String>>,
    pub make_program: Option<String>,
    pub make_file: Option<String>,
    #[serde(default)]
    pub make_env: BTreeMap<String, String>,
    pub make_jobs_safe: Option<bool>,
    pub build_dirs: Option<Vec<String>>,
    #[serde(default)]
    pub build_make_flags: Vec<String>,
    pub build_target: Option<String>,
    pub test_target: Option<String>,
    pub install_dirs: Option<Vec<String>>,
    #[serde(default)]
    pub install_make_flags: Vec<String>,
    pub install_target: Option<String>,
    #[serde(default)]
    pub installation_dirs: Vec<String>,
    #[serde(default)]
    pub no_build: bool,
    #[serde(default)]
    pub no_install: bool,
    #[serde(default)]
    pub no_package: bool,
    #[serde(rename = "pre-fetch")]
    pub pre_fetch: Option<String>,
    #[serde(rename = "do-fetch")]
    pub do_fetch: Option<String>,
    #[serde(rename = "post-fetch")]
    pub post_fetch: Option<String>,
    #[serde(rename = "pre-checksum")]
    pub pre_checksum: Option<String>,
    #[serde(rename = "do-checksum")]
    pub do_checksum: Option<String>,
    #[serde(rename = "post-checksum")]
    pub post_checksum: Option<String>,
    #[serde(rename = "pre-extract")]
    pub pre_extract: Option<String>,
    #[serde(rename = "do-extract")]
    pub do_extract: Option<String>,
    #[serde(rename = "post-extract")]
    pub post_extract: Option<String>,
    #[serde(rename = "pre-patch")]
    pub pre_patch: Option<String>,
    #[serde(rename = "do-patch")]
    pub do_patch: Option<String>,
    #[serde(rename = "post-patch")]
    pub post_patch: Option<String>,
    #[serde(rename = "pre-wrapper")]
    pub pre_wrapper: Option<String>,
    #[serde(rename = "do-wrapper")]
    pub do_wrapper: Option<String>,
    #[serde(rename = "post-wrapper")]
    pub post_wrapper: Option<String>,
    #[serde(rename = "pre-configure")]
    pub pre_configure: Option<String>,
    #[serde(rename = "do-configure")]
    pub do_configure: Option<String>,
    #[serde(rename = "post-configure")]
    pub post_configure: Option<String>,
    #[serde(rename = "pre-build")]
    pub pre_build: Option<String>,
    #[serde(rename = "do-build")]
    pub do_build: Option<String>,
    #[serde(rename = "post-build")]
    pub post_build: Option<String>,
    #[serde(rename = "pre-test")]
    pub pre_test: Option<String>,
    #[serde(rename = "do-test")]
    pub do_test: Option<String>,
    #[serde(rename = "post-test")]
    pub post_test: Option<String>,
    #[serde(rename = "pre-install")]
    pub pre_install: Option<String>,
    #[serde(rename = "do-install")]
    pub do_install: Option<String>,
    #[serde(rename = "post-install")]
    pub post_install: Option<String>,
    #[serde(rename = "pre-package")]
    pub pre_package: Option<String>,
    #[serde(rename = "do-package")]
    pub do_package: Option<String>,
    #[serde(rename = "post-package")]
    pub post_package: Option<String>,
}

/// The stage of a phase a hook runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `pre-<phase>`.
    Pre,
    /// `do-<phase>`: replaces the phase's own action.
    Do,
    /// `post-<phase>`.
    Post,
}

impl RecipeFile {
    /// The hook for `stage` of `phase`, if the recipe has one.
    pub fn hook(&self, stage: Stage, phase: &str) -> Option<&str> {
        let (pre, run, post) = match phase {
            "fetch" => (&self.pre_fetch, &self.do_fetch, &self.post_fetch),
            "checksum" => (&self.pre_checksum, &self.do_checksum, &self.post_checksum),
            "extract" => (&self.pre_extract, &self.do_extract, &self.post_extract),
            "patch" => (&self.pre_patch, &self.do_patch, &self.post_patch),
            "wrapper" => (&self.pre_wrapper, &self.do_wrapper, &self.post_wrapper),
            "configure" => (
                &self.pre_configure,
                &self.do_configure,
                &self.post_configure,
            ),
            "build" => (&self.pre_build, &self.do_build, &self.post_build),
            "test" => (&self.pre_test, &self.do_test, &self.post_test),
            "install" => (&self.pre_install, &self.do_install, &self.post_install),
            "package" => (&self.pre_package, &self.do_package, &self.post_package),
            _ => return None,
        };
        match stage {
            Stage::Pre => pre,
            Stage::Do => run,
            Stage::Post => post,
        }
        .as_deref()
    }
}

/// A dependency as a recipe declares it: `pattern:../../category/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Depend {
    /// The package pattern (`zlib>=1.2`).
    pub pattern: String,
    /// The recipe that provides it (absolute, normalised).
    pub recipe: PathBuf,
    /// `depends` (run time), `build_depends` or `tool_depends`.
    pub kind: DependKind,
}

/// Which list a dependency comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DependKind {
    /// Needed at run time: recorded as `@pkgdep`, and built against.
    Run,
    /// Needed to build only (headers, static libraries): built against.
    Build,
    /// A tool run during the build (on PATH).
    Tool,
}

/// A loaded, checked recipe.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// The recipe directory (absolute).
    pub dir: PathBuf,
    /// `category/name`, from the directory's place in its tree.
    pub pkgpath: String,
    /// The keys.
    pub file: RecipeFile,
    /// `name-version[nbN]`.
    pub pkgname: String,
    /// Every dependency, run-time first.
    pub depends: Vec<Depend>,
    /// Content hash of everything that defines the build (recipe.toml,
    /// distinfo, patches, files, DESCR, PLIST).
    pub hash: String,
    /// sha256 of each of those files, as `(name, hex)`, read in the same
    /// pass: what a bulk compares to name the file that changed.
    pub file_hashes: Vec<(String, String)>,
}

impl Recipe {
    /// Read and check `<dir>/recipe.toml`.
    pub fn load(dir: &Path) -> Result<Recipe> {
        let dir = crate::settings::absolute(dir)?;
        let path = dir.join("recipe.toml");
        let text = match fs_err::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "{} is not a recipe directory: it has no recipe.toml (docs/recipes.md describes one)",
                dir.display()
            ),
            Err(e) => return Err(e.into()),
        };
        let file: RecipeFile = toml::from_str(&text).map_err(|e| toml_error(&path, &text, &e))?;
        let at = |key: &str| format!("{}: key `{key}`", path.display());
        if file.distname.trim().is_empty() {
            bail!("{}: must not be empty", at("distname"));
        }
        if file.categories.is_empty() {
            bail!("{}: name at least one category", at("categories"));
        }
        let configures = [file.has_configure, file.gnu_configure].iter().any(|b| *b);
        if configures && file.no_configure {
            bail!(
                "{}: no_configure = true contradicts has_configure/gnu_configure",
                path.display()
            );
        }
        let pkgname = pkgname_of(&file.distname, file.pkgname.as_deref(), file.pkgrevision);
        if let Some(why) = crate::package::pattern::invalid_pkgname(&pkgname) {
            bail!("{}: PKGNAME {pkgname}: {why}", path.display());
        }
        let mut depends = Vec::new();
        for (list, kind, key) in [
            (&file.depends, DependKind::Run, "depends"),
            (&file.build_depends, DependKind::Build, "build_depends"),
            (&file.tool_depends, DependKind::Tool, "tool_depends"),
        ] {
            for entry in list {
                let Some((pattern, recipe)) = entry.rsplit_once(':') else {
                    bail!(
                        "{}: {entry:?} is not `pattern:../../category/name`",
                        at(key)
                    );
                };
                if pattern.is_empty() || recipe.is_empty() {
                    bail!(
                        "{}: {entry:?} is not `pattern:../../category/name`",
                        at(key)
                    );
                }
                depends.push(Depend {
                    pattern: pattern.to_owned(),
                    recipe: crate::settings::absolute(&dir.join(recipe))?,
                    kind,
                });
            }
        }
        let pkgpath = pkgpath_of(&dir);
        let (hash, file_hashes) = hashes(&dir)?;
        Ok(Recipe {
            dir,
            pkgpath,
            file,
            pkgname,
            depends,
            hash,
            file_hashes,
        })
    }

    /// The distfiles: `distfiles`, or `distname` + `extract_sufx`.
    pub fn distfiles(&self) -> Vec<String> {
        self.file.distfiles.clone().unwrap_or_else(|| {
            vec![format!(
                "{}{}",
                self.file.distname,
                self.file.extract_sufx.as_deref().unwrap_or(".tar.gz")
            )]
        })
    }

    /// The patches in the recipe's `patches/` directory, sorted by name.
    pub fn local_patches(&self) -> Result<Vec<PathBuf>> {
        list_patches(&self.dir.join("patches"))
    }

    /// PKGBASE: the PKGNAME without its version.
    pub fn pkgbase(&self) -> &str {
        self.pkgname
            .rsplit_once('-')
            .map_or(self.pkgname.as_str(), |(b, _)| b)
    }

    /// The version part of PKGNAME.
    pub fn pkgversion(&self) -> &str {
        self.pkgname.rsplit_once('-').map_or("", |(_, v)| v)
    }
}

/// PKGNAME as pkgsrc makes it: `pkgname` (or `distname`) with `nbN` for a
/// `pkgrevision` N > 0.
pub fn pkgname_of(distname: &str, pkgname: Option<&str>, pkgrevision: Option<u32>) -> String {
    let base = pkgname.unwrap_or(distname);
    match pkgrevision {
        Some(0) | None => base.to_owned(),
        Some(n) => format!("{base}nb{n}"),
    }
}

/// The keys of a recipe.toml that make its PKGNAME, read without checking
/// the rest (what a merge compares versions with).
#[derive(Debug, Deserialize)]
pub struct VersionKeys {
    /// `distname`.
    pub distname: String,
    /// `pkgname`.
    pub pkgname: Option<String>,
    /// `pkgrevision`.
    pub pkgrevision: Option<u32>,
}

/// The PKGNAME a recipe.toml at `path` (with `text`) declares.
pub fn declared_pkgname(path: &Path, text: &str) -> Result<String> {
    let keys: VersionKeys = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
    Ok(pkgname_of(
        &keys.distname,
        keys.pkgname.as_deref(),
        keys.pkgrevision,
    ))
}

/// The patch files in `dir` (`patch-*`, as pkgsrc), sorted; none if no dir.
pub fn list_patches(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    match fs_err::read_dir(dir) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let backup = Path::new(&name)
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("orig"));
                if name.starts_with("patch-") && !backup && !name.ends_with('~') {
                    out.push(entry.path());
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    out.sort();
    Ok(out)
}

/// `category/name`: the last two components of the recipe directory.
fn pkgpath_of(dir: &Path) -> String {
    let mut parts: Vec<String> = dir
        .components()
        .rev()
        .take(2)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.reverse();
    parts.join("/")
}

/// A toml error as `file:line: key `k`: message`.
pub(crate) fn toml_error(path: &Path, text: &str, error: &toml::de::Error) -> anyhow::Error {
    let message = error.message().trim();
    let Some(span) = error.span() else {
        return anyhow::anyhow!("{}: {message}", path.display());
    };
    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
    let line_text = text.lines().nth(line - 1).unwrap_or("");
    // The key on that line, when the error is about its value.
    let key = line_text
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"'))
        .filter(|k| !k.is_empty() && !message.contains(&format!("`{k}`")));
    match key {
        Some(key) => anyhow::anyhow!("{}:{line}: key `{key}`: {message}", path.display()),
        None => anyhow::anyhow!("{}:{line}: {message}", path.display()),
    }
}

/// The files that define a recipe's build, relative to its dir, sorted.
fn defining_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for name in ["recipe.toml", "distinfo", "DESCR", "PLIST"] {
        if dir.join(name).is_file() {
            files.push(PathBuf::from(name));
        }
    }
    for sub in ["patches", "files"] {
        let base = dir.join(sub);
        if !base.is_dir() {
            continue;
        }
        for entry in walkdir::WalkDir::new(&base).sort_by_file_name() {
            let entry = entry.with_context(|| format!("cannot read {}", base.display()))?;
            if entry.file_type().is_file() {
                files.push(entry.path().strip_prefix(dir)?.to_path_buf());
            }
        }
    }
    Ok(files)
}

/// The recipe hash of the recipe in `dir` (sha256 over the names, sizes
/// and contents of the files that define its build) and each file's own
/// sha256 as `(name, hex)`, reading each file once.
pub fn hashes(dir: &Path) -> Result<(String, Vec<(String, String)>)> {
    let mut recipe = sha2::Sha256::new();
    let mut files = Vec::new();
    for rel in defining_files(dir)? {
        let bytes = fs_err::read(dir.join(&rel))?;
        let name = rel.to_string_lossy().into_owned();
        recipe.update(name.as_bytes());
        recipe.update([0]);
        recipe.update((bytes.len() as u64).to_le_bytes());
        recipe.update(&bytes);
        files.push((name, hex::encode(sha2::Sha256::digest(&bytes))));
    }
    Ok((hex::encode(recipe.finalize()), files))
}

/// The recipe hash alone (see [`hashes`]).
pub fn content_hash(dir: &Path) -> Result<String> {
    Ok(hashes(dir)?.0)
}

/// One `distinfo` line: `ALGORITHM (file) = value`.
#[derive(Debug, Clone, Default)]
pub struct Distinfo {
    /// sha256 of each file.
    pub sha256: BTreeMap<String, String>,
    /// Size of each file in bytes.
    pub size: BTreeMap<String, u64>,
}

impl Distinfo {
    /// Read `<dir>/distinfo`; none is an empty one.
    pub fn load(dir: &Path) -> Result<Distinfo> {
        let path = dir.join("distinfo");
        let text = match fs_err::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Distinfo::default()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Distinfo::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('$') || line.starts_with('#') {
                continue;
            }
            let parsed = (|| {
                let (algorithm, rest) = line.split_once(" (")?;
                let (file, value) = rest.rsplit_once(") = ")?;
                Some((algorithm, file, value))
            })();
            let Some((algorithm, file, value)) = parsed else {
                bail!(
                    "{}:{}: expected `ALGORITHM (file) = value`, found {}",
                    path.display(),
                    n + 1,
                    crate::quote::name(line)
                );
            };
            match algorithm {
                "SHA256" => {
                    out.sha256.insert(file.to_owned(), value.to_lowercase());
                }
                "Size" => {
                    let size = value
                        .trim_end_matches(" bytes")
                        .parse()
                        .with_context(|| format!("{}:{}: bad size", path.display(), n + 1))?;
                    out.size.insert(file.to_owned(), size);
                }
                // pkgsrc's other digests are accepted and not checked.
                _ => {}
            }
        }
        Ok(out)
    }

    /// The text of a distinfo for these distfiles and patches.
    pub fn render(distfiles: &[(String, String, u64)], patches: &[(String, String)]) -> String {
        let mut out = String::from("$NetBSD$\n\n");
        for (file, sha, size) in distfiles {
            let _ = write!(
                out,
                "SHA256 ({file}) = {sha}\nSize ({file}) = {size} bytes\n"
            );
        }
        for (file, sha) in patches {
            let _ = writeln!(out, "SHA256 ({file}) = {sha}");
        }
        out
    }
}

/// sha256 and size of a file.
pub fn hash_file(path: &Path) -> Result<(String, u64)> {
    let mut file = fs_err::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let size = std::io::copy(&mut file, &mut hasher)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok((hex::encode(hasher.finalize()), size))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> Result<Recipe> {
        fs_err::create_dir_all(dir)?;
        fs_err::write(dir.join("recipe.toml"), text)?;
        Recipe::load(dir)
    }

    #[test]
    fn errors_name_file_line_and_key() -> Result<()> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join("devel/x");
        let ok = "distname = \"x-1.0\"\ncategories = [\"devel\"]\ncomment = \"x\"\n";
        let r = write(&dir, ok)?;
        assert_eq!(r.pkgname, "x-1.0");
        assert_eq!(r.pkgpath, "devel/x");

        let e = write(&dir, &format!("{ok}colour = \"red\"\n")).unwrap_err();
        let text = format!("{e:#}");
        assert!(
            text.contains("recipe.toml:4") && text.contains("colour"),
            "{text}"
        );

        let e = write(
            &dir,
            "distname = \"x-1.0\"\ncategories = [\"devel\"]\ncomment = 3\n",
        )
        .unwrap_err();
        let text = format!("{e:#}");
        assert!(text.contains("recipe.toml:3: key `comment`"), "{text}");

        let e = write(&dir, "distname = \"x-1.0\"\ncategories = [\"devel\"]\n").unwrap_err();
        let text = format!("{e:#}");
        assert!(text.contains("comment"), "{text}");

        let r = write(&dir, &format!("{ok}pkgrevision = 2\n"))?;
        assert_eq!(r.pkgname, "x-1.0nb2");
        Ok(())
    }

    #[test]
    fn depends_split_pattern_and_recipe() -> Result<()> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join("archivers/lzop");
        let r = write(
            &dir,
            "distname = \"lzop-1.04\"\ncategories = [\"archivers\"]\ncomment = \"c\"\ndepends = [\"lzo>=2:../../archivers/lzo\"]\n",
        )?;
        assert_eq!(r.depends[0].pattern, "lzo>=2");
        assert_eq!(r.depends[0].recipe, tmp.path().join("archivers/lzo"));
        let e = write(
            &dir,
            "distname = \"lzop-1.04\"\ncategories = [\"archivers\"]\ncomment = \"c\"\ndepends = [\"lzo\"]\n",
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("key `depends`"));
        Ok(())
    }
}
