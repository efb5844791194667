//! Package files from sites: a local site's file is used where it is, an
//! HTTP site's is downloaded into `<root>/var/cache/packages`. Either way the
//! file is checked against the summary's `FILE_SIZE` and `FILE_CKSUM` before it
//! is used; a download goes to a temporary name, is hashed while it streams,
//! and is renamed into the cache only once it checks out, so the cache never
//! holds a partial or wrong file.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use pkgdb::RemotePackage;
use sha2::Digest as _;

use super::site::{Location, Site};

/// The largest package file downloaded when the summary gives no size.
const UNSIZED_LIMIT: u64 = 16 << 30;

/// Downloads package files into a cache.
#[derive(Debug)]
pub struct Downloader {
    agent: ureq::Agent,
    cache: PathBuf,
    retries: u32,
}

/// Called with the bytes read so far.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

impl Downloader {
    /// A downloader caching under `cache` (`<root>/var/cache/packages`).
    pub fn new(cache: &Path, timeout: Duration, retries: u32) -> Downloader {
        Downloader {
            agent: crate::http::agent(timeout, false),
            cache: cache.to_owned(),
            retries,
        }
    }

    /// The checked package file of `package` from `site`.
    pub fn fetch(
        &self,
        site: &Site,
        package: &RemotePackage,
        progress: Progress<'_>,
    ) -> Result<PathBuf> {
        match &site.location {
            Location::Dir(dir) => {
                let path = dir.join(&package.file_name);
                let file = fs_err::File::open(&path).with_context(|| {
                    format!(
                        "{}: {} is listed in the summary but cannot be read; re-run `depot repo index` there",
                        site.label, package.file_name
                    )
                })?;
                let (size, sha256) = hash_stream(file, u64::MAX, progress, &mut std::io::sink())
                    .with_context(|| format!("{}: cannot read {}", site.label, path.display()))?;
                check(site, package, size, &sha256)?;
                Ok(path)
            }
            Location::Http(base) => self.download(site, base, package, progress),
        }
    }

    fn download(
        &self,
        site: &Site,
        base: &str,
        package: &RemotePackage,
        progress: Progress<'_>,
    ) -> Result<PathBuf> {
        let cached = self.cache.join(&package.file_name);
        // A cached copy is used only if it is the file the summary describes.
        if package.sha256.is_some()
            && let Ok(file) = fs_err::File::open(&cached)
            && let Ok((size, sha256)) = hash_stream(file, u64::MAX, &|_| {}, &mut std::io::sink())
        {
            if check(site, package, size, &sha256).is_ok() {
                progress(size);
                return Ok(cached);
            }
            let _ = std::fs::remove_file(&cached);
        }
        fs_err::create_dir_all(&self.cache)?;
        let url = format!("{base}/{}", package.file_name);
        let limit = package.file_size.map_or(UNSIZED_LIMIT, |s| s as u64);
        let mut attempt = 0;
        loop {
            let tmp = self.cache.join(format!(
                ".{}.part-{}-{attempt}",
                package.file_name,
                std::process::id()
            ));
            let outcome = self.try_download(&url, &tmp, limit, progress);
            let outcome = outcome.and_then(|(size, sha256)| {
                check(site, package, size, &sha256).map_err(Failure::Final)
            });
            match outcome {
                Ok(()) => {
                    fs_err::rename(&tmp, &cached)?;
                    return Ok(cached);
                }
                Err(failure) => {
                    let _ = std::fs::remove_file(&tmp);
                    match failure {
                        Failure::Passing(_) if attempt < self.retries => {
                            attempt += 1;
                            std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
                        }
                        Failure::Passing(e) | Failure::Final(e) => {
                            return Err(e.context(format!(
                                "{}: cannot download {} (tried {} time{}); nothing was installed",
                                site.label,
                                package.file_name,
                                attempt + 1,
                                if attempt == 0 { "" } else { "s" }
                            )));
                        }
                    }
                }
            }
        }
    }

    /// One try: the file streamed to `tmp`, hashed; its size and sha256.
    fn try_download(
        &self,
        url: &str,
        tmp: &Path,
        limit: u64,
        progress: Progress<'_>,
    ) -> Result<(u64, String), Failure> {
        let response = self.agent.get(url).call().map_err(|e| {
            Failure::Passing(anyhow::Error::new(e).context(format!("{url}: no answer")))
        })?;
        let status = response.status().as_u16();
        match status {
            200 => {}
            500..=599 => {
                return Err(Failure::Passing(anyhow::anyhow!(
                    "{url}: the server answered HTTP {status}"
                )));
            }
            404 | 410 => {
                return Err(Failure::Final(anyhow::anyhow!(
                    "{url}: not found (HTTP {status}), though the site's summary lists it; the summary is out of date"
                )));
            }
            _ => {
                return Err(Failure::Final(anyhow::anyhow!(
                    "{url}: the server answered HTTP {status}"
                )));
            }
        }
        let mut out = fs_err::File::create(tmp).map_err(|e| Failure::Final(e.into()))?;
        // One byte more than allowed tells a file that is too long.
        let body = response.into_body().into_reader();
        let (size, sha256) = hash_stream(body, limit.saturating_add(1), progress, &mut out)
            .map_err(|e| {
                Failure::Passing(
                    anyhow::Error::new(e).context(format!("{url}: the download broke off")),
                )
            })?;
        out.sync_all().map_err(|e| Failure::Final(e.into()))?;
        Ok((size, sha256))
    }
}

/// Why a download failed: worth another try, or not.
enum Failure {
    Passing(anyhow::Error),
    Final(anyhow::Error),
}

/// Copy at most `limit` bytes of `reader` to `out`, hashing them.
fn hash_stream(
    reader: impl std::io::Read,
    limit: u64,
    progress: Progress<'_>,
    out: &mut dyn std::io::Write,
) -> std::io::Result<(u64, String)> {
    let mut reader = reader.take(limit);
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buffer[..n]);
        out.write_all(&buffer[..n])?;
        total += n as u64;
        progress(total);
    }
    Ok((total, hex::encode(hasher.finalize())))
}

/// Whether a file of `size` bytes hashing to `sha256` is the one the summary describes.
fn check(site: &Site, package: &RemotePackage, size: u64, sha256: &str) -> Result<()> {
    if let Some(expected) = package.file_size
        && expected as u64 != size
    {
        bail!(
            "{}: {} has {size} bytes but the summary says {expected}: it is truncated or was replaced after the summary was made",
            site.label,
            package.file_name
        );
    }
    if let Some(expected) = &package.sha256
        && expected != sha256
    {
        bail!(
            "{}: {} has sha256 {sha256} but the summary says {expected}: the file was changed after the summary was made (or tampered with); not installed",
            site.label,
            package.file_name
        );
    }
    Ok(())
}
