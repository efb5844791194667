//! Where binary packages come from: `PKG_PATH` and `BINPKG_SITES` entries as
//! directories or `http(s)://` URLs, and each site's pkg_summary, fetched with
//! conditional requests and cached under `<root>/var/cache/summaries`.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use sha2::Digest as _;

use crate::package::archive::Compression;
use crate::quote;

/// Where a site is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local directory of package files.
    Dir(PathBuf),
    /// A base URL (no trailing slash) of package files.
    Http(String),
}

/// A place packages come from, as the user named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The entry as given (after expansion), for messages.
    pub label: String,
    /// Where it is.
    pub location: Location,
}

/// Whether a site entry or URL is `http://` or `https://`.
pub fn is_http(entry: &str) -> bool {
    entry.starts_with("http://") || entry.starts_with("https://")
}

impl Site {
    /// A `PKG_PATH` or `BINPKG_SITES` entry: a directory, a `file://` URL or an
    /// `http(s)://` URL.
    pub fn parse(entry: &str) -> Result<Site> {
        let location = if is_http(entry) {
            Location::Http(entry.trim_end_matches('/').to_owned())
        } else if let Some(path) = super::file_url_path(entry) {
            Location::Dir(path?)
        } else if let Some((scheme, _)) = entry.split_once("://") {
            bail!(
                "{}: depot reads packages from directories, file:// and http(s):// URLs, not {scheme}://",
                quote::name(entry)
            );
        } else {
            Location::Dir(PathBuf::from(entry))
        };
        Ok(Site {
            label: entry.to_owned(),
            location,
        })
    }
}

/// The sites of `BINPKG_SITES` (space separated base URLs): `${arch}` and
/// `${rel}` expanded, packages under `All/`.
#[cfg(test)]
fn binpkg_sites(value: &str, arch: &str, rel: &str) -> Result<Vec<Site>> {
    value
        .split_whitespace()
        .map(|entry| {
            let expanded = entry.replace("${arch}", arch).replace("${rel}", rel);
            Site::parse(&format!("{}/All", expanded.trim_end_matches('/')))
        })
        .collect()
}

/// `${arch}` (MACHINE_ARCH) and `${rel}` (OS_VERSION) of this host expanded in `entry`.
pub fn expand(entry: &str) -> String {
    if !entry.contains("${") {
        return entry.to_owned();
    }
    let host = crate::package::meta::host_build_info();
    let value = |var: &str| {
        host.iter()
            .find(|(k, _)| *k == var)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    entry
        .replace("${arch}", &value("MACHINE_ARCH"))
        .replace("${rel}", &value("OS_VERSION"))
}

/// The sites of `BINPKG_SITES` entries, for this host's `${arch}` and `${rel}`.
pub fn binpkg_sites_of(entries: &[String]) -> Result<Vec<Site>> {
    entries
        .iter()
        .map(|entry| Site::parse(&format!("{}/All", expand(entry).trim_end_matches('/'))))
        .collect::<Result<_>>()
        .context("BINPKG_SITES")
}

/// The summary formats a site may offer, in the order they are tried.
const SUMMARY_FORMATS: &[(&str, Compression)] = &[
    ("pkg_summary.zst", Compression::Zstd),
    ("pkg_summary.xz", Compression::Xz),
    ("pkg_summary.bz2", Compression::Bzip2),
    ("pkg_summary.gz", Compression::Gzip),
];

/// The signature of a site's summary (minisign format, over the
/// uncompressed text), beside the summaries.
pub const SIGNATURE_FILE: &str = "pkg_summary.minisig";

/// What [`SummaryFetcher::fetch`] found.
#[derive(Debug)]
pub enum Fetched {
    /// The summary is the one the caller knows.
    Unchanged,
    /// A summary (new, or not known to the caller).
    Summary {
        /// Its text, uncompressed.
        text: String,
        /// What identifies this copy, for the next fetch.
        stamp: String,
    },
}

/// Check a summary's signature against the site's trusted keys.
fn verify(site: &Site, text: &str, signature: Option<&str>, keys: &[String]) -> Result<()> {
    let Some(signature) = signature else {
        bail!(
            "{}: the summary is not signed ({SIGNATURE_FILE} is missing), but the config trusts keys for this site; refusing it (the site signs with `depot repo index --sign KEY`)",
            site.label
        );
    };
    super::sign::verify(text.as_bytes(), signature, keys)
        .with_context(|| format!("{}: refusing its summary", site.label))?;
    Ok(())
}

/// Size, mtime and inode of a local file, to tell when it changed.
fn file_stamp(meta: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt as _;
    format!(
        "{}:{}.{}:{}",
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ino()
    )
}

/// The largest summary accepted (compressed or not).
const SUMMARY_LIMIT: u64 = 1 << 30;

/// Fetches and caches sites' summaries.
#[derive(Debug)]
pub struct SummaryFetcher {
    agent: ureq::Agent,
    /// `<root>/var/cache/summaries`: made when a summary is first stored, and
    /// only if it can be (a reader without write access fetches into memory).
    cache: PathBuf,
    retries: u32,
}

impl SummaryFetcher {
    /// A fetcher caching under `cache`, with a
    /// timeout per request and `retries` more tries after a failure that may
    /// pass (no connection, a 5xx answer); see [`crate::http::agent`].
    pub fn new(cache: &Path, timeout: Duration, retries: u32) -> SummaryFetcher {
        SummaryFetcher {
            agent: crate::http::agent(timeout, false),
            cache: cache.to_owned(),
            retries,
        }
    }

    /// The pkg_summary of `site`, or [`Fetched::Unchanged`] when it is the
    /// one `known` identifies (a stamp from an earlier [`Fetched::Summary`]).
    /// With `keys`, the summary must be signed by one of them
    /// ([`SIGNATURE_FILE`]); it is checked before it is cached or returned.
    pub fn fetch(&self, site: &Site, known: Option<&str>, keys: &[String]) -> Result<Fetched> {
        match &site.location {
            Location::Dir(dir) => {
                for (name, compression) in SUMMARY_FORMATS {
                    let path = dir.join(name);
                    let Ok(meta) = std::fs::metadata(&path) else {
                        continue;
                    };
                    let signature_path = dir.join(SIGNATURE_FILE);
                    let stamp = format!(
                        "{name} {} {}",
                        file_stamp(&meta),
                        std::fs::metadata(&signature_path)
                            .map_or_else(|_| "-".to_owned(), |m| file_stamp(&m))
                    );
                    if known == Some(stamp.as_str()) {
                        return Ok(Fetched::Unchanged);
                    }
                    let bytes = fs_err::read(&path)?;
                    let text = checked_summary(&bytes, *compression)
                        .with_context(|| format!("{}: {name}", site.label))?;
                    if !keys.is_empty() {
                        let signature = match fs_err::read_to_string(&signature_path) {
                            Ok(text) => Some(text),
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                            Err(e) => return Err(e.into()),
                        };
                        verify(site, &text, signature.as_deref(), keys)?;
                    }
                    return Ok(Fetched::Summary { text, stamp });
                }
                bail!(
                    "{}: no pkg_summary ({}); run `depot repo index` there",
                    site.label,
                    formats()
                )
            }
            Location::Http(base) => self.http_summary(site, base, known, keys),
        }
    }

    fn http_summary(
        &self,
        site: &Site,
        base: &str,
        known: Option<&str>,
        keys: &[String],
    ) -> Result<Fetched> {
        let cache = self.cache.join(cache_key(base));
        for (name, compression) in SUMMARY_FORMATS {
            let url = format!("{base}/{name}");
            let cached = cache.join(name);
            let validators = Validators::read(&cached);
            let response = self.get(&url, validators.as_ref())?;
            let status = response.status().as_u16();
            match status {
                200 => {
                    let validators = Validators::of(&response);
                    let bytes = response
                        .into_body()
                        .with_config()
                        .limit(SUMMARY_LIMIT)
                        .read_to_vec()
                        .with_context(|| format!("{url}: the download broke off"))?;
                    let text = checked_summary(&bytes, *compression)
                        .with_context(|| format!("{url}: not a usable summary"))?;
                    if !keys.is_empty() {
                        verify(site, &text, self.http_signature(base)?.as_deref(), keys)?;
                    }
                    // Only a summary that reads (and verifies) goes in the cache.
                    if fs_err::create_dir_all(&cache).is_ok() {
                        let _ = store(&cached, &bytes, &validators);
                    }
                    return Ok(Fetched::Summary {
                        text,
                        stamp: validators.stamp(name),
                    });
                }
                304 => {
                    // Asked with validators only when a copy exists.
                    let stamp = validators.unwrap_or_default().stamp(name);
                    if known == Some(stamp.as_str()) {
                        return Ok(Fetched::Unchanged);
                    }
                    let bytes = fs_err::read(&cached)?;
                    let text = checked_summary(&bytes, *compression).with_context(|| {
                        format!("{}: the cached copy of {url}", cached.display())
                    })?;
                    if !keys.is_empty() {
                        // The signature is small: always the site's current one.
                        verify(site, &text, self.http_signature(base)?.as_deref(), keys)?;
                    }
                    return Ok(Fetched::Summary { text, stamp });
                }
                404 | 410 => {}
                _ => bail!("{url}: the server answered HTTP {status}"),
            }
        }
        bail!("{}: no pkg_summary ({}) on the site", site.label, formats())
    }

    /// The site's summary signature, if it has one.
    fn http_signature(&self, base: &str) -> Result<Option<String>> {
        let url = format!("{base}/{SIGNATURE_FILE}");
        let response = self.get(&url, None)?;
        match response.status().as_u16() {
            200 => Ok(Some(
                response
                    .into_body()
                    .with_config()
                    .limit(64 * 1024)
                    .read_to_string()
                    .with_context(|| format!("{url}: the download broke off"))?,
            )),
            404 | 410 => Ok(None),
            status => bail!("{url}: the server answered HTTP {status}"),
        }
    }

    /// GET with the validators, retrying what may pass.
    fn get(
        &self,
        url: &str,
        validators: Option<&Validators>,
    ) -> Result<ureq::http::Response<ureq::Body>> {
        let mut attempt = 0;
        loop {
            let mut request = self.agent.get(url);
            if let Some(v) = validators {
                if let Some(etag) = &v.etag {
                    request = request.header("If-None-Match", etag);
                }
                if let Some(date) = &v.last_modified {
                    request = request.header("If-Modified-Since", date);
                }
            }
            let outcome = request.call();
            let passing = match &outcome {
                Ok(response) => response.status().is_server_error(),
                Err(_) => true,
            };
            if !passing || attempt >= self.retries {
                return match outcome {
                    Ok(response) => Ok(response),
                    Err(e) => Err(anyhow::Error::new(e).context(format!(
                        "{url}: cannot fetch (tried {} time{}); check the site in PKG_PATH or BINPKG_SITES",
                        attempt + 1,
                        if attempt == 0 { "" } else { "s" }
                    ))),
                };
            }
            attempt += 1;
            std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
        }
    }
}

fn formats() -> String {
    SUMMARY_FORMATS
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A directory name for a site's cache: readable, and unique by the URL's hash.
fn cache_key(base: &str) -> String {
    let readable: String = base
        .split("://")
        .nth(1)
        .unwrap_or(base)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    let hash = hex::encode(sha2::Sha256::digest(base.as_bytes()));
    format!("{readable}-{}", &hash[..16])
}

/// What a server said identifies the copy it sent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Validators {
    etag: Option<String>,
    last_modified: Option<String>,
}

impl Validators {
    /// What identifies the copy these validators came with.
    fn stamp(&self, name: &str) -> String {
        format!(
            "{name} etag={} date={}",
            self.etag.as_deref().unwrap_or("-"),
            self.last_modified.as_deref().unwrap_or("-")
        )
    }

    fn of(response: &ureq::http::Response<ureq::Body>) -> Validators {
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Validators {
            etag: header("etag"),
            last_modified: header("last-modified"),
        }
    }

    /// The validators stored beside a cached copy (`None` without a copy).
    fn read(cached: &Path) -> Option<Validators> {
        if !cached.is_file() {
            return None;
        }
        let text = fs_err::read_to_string(validators_path(cached)).ok()?;
        let mut v = Validators::default();
        for line in text.lines() {
            match line.split_once(": ") {
                Some(("etag", value)) => v.etag = Some(value.to_owned()),
                Some(("last-modified", value)) => v.last_modified = Some(value.to_owned()),
                _ => {}
            }
        }
        Some(v)
    }
}

fn validators_path(cached: &Path) -> PathBuf {
    let mut name = cached.file_name().unwrap_or_default().to_os_string();
    name.push(".validators");
    cached.with_file_name(name)
}

/// Store a fetched copy and its validators, each under a temporary name first.
fn store(path: &Path, bytes: &[u8], validators: &Validators) -> Result<()> {
    let mut text = String::new();
    if let Some(etag) = &validators.etag {
        let _ = writeln!(text, "etag: {etag}");
    }
    if let Some(date) = &validators.last_modified {
        let _ = writeln!(text, "last-modified: {date}");
    }
    // The copy first: validators without their copy are ignored.
    super::index::replace_file(path, bytes)?;
    super::index::replace_file(&validators_path(path), text.as_bytes())
}

/// Decompress a summary and check that it is one: text of records, each
/// naming its PKGNAME.
fn checked_summary(bytes: &[u8], compression: Compression) -> Result<String> {
    let mut raw = Vec::new();
    let reader = compression.decoder(bytes)?;
    reader
        .take(SUMMARY_LIMIT)
        .read_to_end(&mut raw)
        .context("it does not decompress")?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    for record in crate::package::summary::records(&text) {
        if !record.lines().any(|l| l.starts_with("PKGNAME=")) {
            bail!(
                "a record without PKGNAME: {}",
                quote::name(record.lines().next().unwrap_or_default())
            );
        }
    }
    if !text.is_empty() && !text.ends_with("\n\n") {
        bail!("it ends in the middle of a record");
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::{Location, Site, binpkg_sites};

    #[test]
    fn sites_are_directories_file_urls_or_http() -> anyhow::Result<()> {
        assert_eq!(
            Site::parse("/srv/pkgs")?.location,
            Location::Dir("/srv/pkgs".into())
        );
        assert_eq!(
            Site::parse("file:///srv/my%20pkgs")?.location,
            Location::Dir("/srv/my pkgs".into())
        );
        assert_eq!(
            Site::parse("https://cdn.example/pkgsrc/")?.location,
            Location::Http("https://cdn.example/pkgsrc".into())
        );
        let err = Site::parse("ftp://ftp.example/pub")
            .map(|_| ())
            .unwrap_err();
        assert!(format!("{err:#}").contains("not ftp://"), "{err:#}");
        let sites = binpkg_sites(
            "http://a.example/${arch}/${rel}  file:///srv/r",
            "x86_64",
            "10.0",
        )?;
        assert_eq!(
            sites[0].location,
            Location::Http("http://a.example/x86_64/10.0/All".into())
        );
        assert_eq!(sites[1].location, Location::Dir("/srv/r/All".into()));
        Ok(())
    }
}
