//! `fetch` (distfiles into DISTDIR from MASTER_SITE_OVERRIDE, the recipe's
//! sites, MASTER_SITE_BACKUP, in that order), `checksum` (against
//! `distinfo`), and `makesum`/`makepatchsum` (which write it).

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use super::Build;
use super::recipe::{Distinfo, Recipe, hash_file};

/// Every file the fetch phase gets: distfiles, then patchfiles.
fn wanted(recipe: &Recipe) -> Vec<(String, bool)> {
    let mut files: Vec<(String, bool)> =
        recipe.distfiles().into_iter().map(|f| (f, false)).collect();
    files.extend(recipe.file.patchfiles.iter().map(|f| (f.clone(), true)));
    files
}

/// The URLs to try for `file`, in order.
pub fn candidate_urls(build: &Build<'_>, file: &str, is_patch: bool) -> Vec<String> {
    let recipe = &build.recipe.file;
    let own: &[String] = if is_patch {
        &recipe.patch_sites
    } else {
        recipe.sites.get(file).unwrap_or(&recipe.master_sites)
    };
    build
        .settings
        .master_site_override
        .iter()
        .chain(own)
        .chain(&build.settings.master_site_backup)
        .map(|site| {
            if site.ends_with('/') {
                format!("{site}{file}")
            } else {
                format!("{site}/{file}")
            }
        })
        .collect()
}

/// Get every distfile and patchfile not yet in DISTDIR.
pub fn fetch(build: &Build<'_>) -> Result<()> {
    let distinfo = Distinfo::load(&build.recipe.dir)?;
    let distdir = &build.settings.distdir;
    fs_err::create_dir_all(distdir)?;
    for (file, is_patch) in wanted(build.recipe) {
        let dest = distdir.join(&file);
        let expected = distinfo.size.get(&file).copied();
        if let Ok(meta) = std::fs::metadata(&dest)
            && expected.is_none_or(|size| size == meta.len())
        {
            continue;
        }
        let urls = candidate_urls(build, &file, is_patch);
        if urls.is_empty() {
            bail!(
                "{file} is not in {} and the recipe names no site for it (master_sites, sites.\"{file}\"); set MASTER_SITE_OVERRIDE or put the file there",
                distdir.display()
            );
        }
        let mut failures = Vec::new();
        let mut got = false;
        for url in &urls {
            match download(build, url, &dest, expected) {
                Ok(()) => {
                    got = true;
                    break;
                }
                Err(e) => failures.push(format!("{url}: {e:#}")),
            }
        }
        if !got {
            bail!(
                "cannot fetch {file}; every site was tried:\n  {}",
                failures.join("\n  ")
            );
        }
    }
    Ok(())
}

/// Copy or download `url` to `dest` through a temporary file.
fn download(build: &Build<'_>, url: &str, dest: &Path, expected: Option<u64>) -> Result<()> {
    let part = dest.with_file_name(format!(
        ".{}.part-{}",
        dest.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let result = (|| -> Result<u64> {
        let mut out = fs_err::File::create(&part)?;
        let written = if let Some(path) = crate::repo::file_url_path(url) {
            let path = path?;
            let mut input = fs_err::File::open(&path)?;
            std::io::copy(&mut input, &mut out)?
        } else if crate::repo::site::is_http(url) {
            http_get(build, url, &mut out)?
        } else {
            bail!("unsupported URL scheme (use file://, http:// or https://)");
        };
        out.sync_all()?;
        Ok(written)
    })();
    match result {
        Ok(size) if expected.is_some_and(|e| e != size) => {
            let _ = fs_err::remove_file(&part);
            bail!(
                "got {size} bytes, distinfo says {} bytes",
                expected.unwrap_or_default()
            )
        }
        Ok(_) => {
            fs_err::rename(&part, dest)?;
            Ok(())
        }
        Err(e) => {
            let _ = fs_err::remove_file(&part);
            Err(e)
        }
    }
}

/// GET `url` into `out`, with a progress bar on a terminal.
fn http_get(build: &Build<'_>, url: &str, out: &mut impl std::io::Write) -> Result<u64> {
    let agent = crate::http::agent(build.settings.fetch_timeout, true);
    let mut response = agent.get(url).call()?;
    let total = response.body().content_length();
    let bar = if build.settings.progress {
        let bar = indicatif::ProgressBar::new(total.unwrap_or(0));
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(url.rsplit('/').next().unwrap_or(url).to_owned());
        Some(bar)
    } else {
        None
    };
    let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        out.write_all(&buffer[..n])?;
        written += n as u64;
        if let Some(bar) = &bar {
            bar.set_position(written);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(written)
}

/// The files `checksum` verifies: distfiles and patchfiles in DISTDIR, and the recipe's patches.
fn checked_files(build: &Build<'_>) -> Result<Vec<(String, PathBuf)>> {
    let mut files: Vec<(String, PathBuf)> = wanted(build.recipe)
        .into_iter()
        .map(|(f, _)| {
            let path = build.settings.distdir.join(&f);
            (f, path)
        })
        .collect();
    for patch in build.recipe.local_patches()? {
        let name = patch
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        files.push((name, patch));
    }
    Ok(files)
}

/// Verify every distfile and patch against `distinfo`.
pub fn checksum(build: &Build<'_>) -> Result<()> {
    let distinfo = Distinfo::load(&build.recipe.dir)?;
    let where_ = build.recipe.dir.join("distinfo");
    for (name, path) in checked_files(build)? {
        let Some(expected) = distinfo.sha256.get(&name) else {
            bail!(
                "{} has no SHA256 for {name}; run `depot build {} makesum` to record it",
                where_.display(),
                build.recipe.dir.display()
            );
        };
        let (actual, size) = hash_file(&path).with_context(|| format!("cannot checksum {name}"))?;
        if &actual != expected {
            bail!(
                "checksum mismatch for {name} ({}):\n  expected sha256 {expected}\n  actual   sha256 {actual}\nthe file is damaged or not the one the recipe was written for; remove it and fetch again, or run makesum if the recipe changed",
                path.display()
            );
        }
        if let Some(want) = distinfo.size.get(&name)
            && *want != size
        {
            bail!(
                "size mismatch for {name} ({}): expected {want} bytes, found {size}",
                path.display()
            );
        }
    }
    Ok(())
}

/// Write `distinfo` from the fetched distfiles and the recipe's patches
/// (`makesum`), or refresh only the patches' lines (`makepatchsum`).
pub fn makesum(build: &Build<'_>, patches_only: bool) -> Result<PathBuf> {
    let old = Distinfo::load(&build.recipe.dir)?;
    let mut distfiles = Vec::new();
    for (file, _) in wanted(build.recipe) {
        if patches_only {
            if let (Some(sha), Some(size)) = (old.sha256.get(&file), old.size.get(&file)) {
                distfiles.push((file, sha.clone(), *size));
            }
            continue;
        }
        let (sha, size) = hash_file(&build.settings.distdir.join(&file))
            .with_context(|| format!("{file}: fetch it first (`depot build fetch`)"))?;
        distfiles.push((file, sha, size));
    }
    let mut patches = Vec::new();
    for patch in build.recipe.local_patches()? {
        let (sha, _) = hash_file(&patch)?;
        let name = patch
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        patches.push((name, sha));
    }
    let path = build.recipe.dir.join("distinfo");
    let text = Distinfo::render(&distfiles, &patches);
    let tmp = path.with_file_name(".distinfo.tmp");
    let mut out = fs_err::File::create(&tmp)?;
    out.write_all(text.as_bytes())?;
    out.sync_all()?;
    fs_err::rename(&tmp, &path)?;
    Ok(path)
}
