//! The extract phase: distfiles (`.tar.gz`, `.tar.bz2`, `.tar.xz`,
//! `.tar.zst`, `.tar`, `.zip`, anything else copied as it is) into WRKDIR.

use std::path::Path;

use anyhow::{Context as _, Result, bail};

use super::Build;
use crate::package::archive::Compression;

/// Extract `extract_only` (or every distfile) into WRKDIR; make WRKSRC if none made it.
pub fn extract(build: &Build<'_>) -> Result<()> {
    let wrkdir = build.wrkdir();
    let files = build
        .recipe
        .file
        .extract_only
        .clone()
        .unwrap_or_else(|| build.recipe.distfiles());
    for file in &files {
        let path = build.settings.distdir.join(file);
        unpack(&path, &wrkdir).with_context(|| format!("cannot extract {}", path.display()))?;
    }
    let wrksrc = build.wrksrc();
    if files.is_empty() {
        fs_err::create_dir_all(&wrksrc)?;
    } else if !wrksrc.is_dir() {
        bail!(
            "WRKSRC {} does not exist after extracting {}; set `wrksrc` in the recipe to the directory the distfile unpacks to",
            wrksrc.display(),
            files.join(", ")
        );
    }
    Ok(())
}

/// Unpack one archive into `dest` by its suffix.
pub fn unpack(path: &Path, dest: &Path) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lower = name.to_ascii_lowercase();
    let is = |suffixes: &[&str]| suffixes.iter().any(|s| lower.ends_with(s));
    let compression = if is(&[".tar.gz", ".tgz"]) {
        Compression::Gzip
    } else if is(&[".tar.bz2", ".tbz", ".tbz2"]) {
        Compression::Bzip2
    } else if is(&[".tar.xz", ".txz"]) {
        Compression::Xz
    } else if is(&[".tar.zst", ".tzst"]) {
        Compression::Zstd
    } else if is(&[".tar"]) {
        Compression::None
    } else if is(&[".zip"]) {
        let mut archive = zip::ZipArchive::new(fs_err::File::open(path)?)?;
        archive.extract(dest)?;
        return Ok(());
    } else {
        fs_err::copy(path, dest.join(&name))?;
        return Ok(());
    };
    let reader = compression.decoder(std::io::BufReader::new(fs_err::File::open(path)?))?;
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    // `unpack` refuses entries that leave `dest`.
    archive.unpack(dest)?;
    Ok(())
}
