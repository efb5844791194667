//! pkg-vulnerabilities: the list of vulnerable package patterns pkgsrc
//! publishes, read as pkg_install reads it (optionally compressed, optionally
//! inside a PGP clear-signature, `#FORMAT 1.1.0`, `pattern class url` lines)
//! and checked by its `#CHECKSUM` line (SHA512 or SHA1 over the file without
//! blank lines, `Hash:`, `# $NetBSD` and `#CHECKSUM` lines). depot requires
//! the `#CHECKSUM` line (pkg_install accepts a file without one), so a file
//! whose checksum was cut off is refused along with one whose lines changed.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use sha2::Digest as _;

use crate::package::archive::Compression;
use crate::package::pattern;

/// The file's name under PKGVULNDIR.
pub const FILE_NAME: &str = "pkg-vulnerabilities";

/// Where pkgsrc publishes it (pkg_install's default PKGVULNURL).
pub const DEFAULT_URL: &str =
    "https://cdn.NetBSD.org/pub/NetBSD/packages/vulns/pkg-vulnerabilities.gz";

/// Where end-of-life notices point (pkg_install's tnf_vulnerability_base).
const EOL_BASE: &str = "https://www.NetBSD.org/support/security";

const PGP_START: &str = "-----BEGIN PGP SIGNED MESSAGE-----\n";
const PGP_SIGNATURE: &str = "-----BEGIN PGP SIGNATURE-----\n";
const PKCS7_START: &str = "-----BEGIN PKCS7-----\n";

/// The largest file read (the real one is about 1 MB).
const MAX_SIZE: u64 = 64 << 20;

/// One entry: packages matching `pattern` have a `class` vulnerability
/// described at `url`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Vulnerability {
    /// A package pattern.
    pub pattern: String,
    /// `remote-code-execution`, `denial-of-service`, `eol`, …
    pub class: String,
    /// The advisory.
    pub url: String,
}

/// A checked pkg-vulnerabilities file.
#[derive(Debug, Clone, Default)]
pub struct Vulnerabilities {
    /// Every entry, in file order.
    pub entries: Vec<Vulnerability>,
    /// The text as read (decompressed), for a signature check.
    pub text: String,
}

/// What an audit looks for, as pkg_admin's `-e`, `-t`.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Report end-of-life entries too (`-e`, CHECK_EOL=yes).
    pub eol: bool,
    /// Only this class (`-t TYPE`).
    pub class: Option<String>,
    /// Advisories left out (IGNORE_URLS; none with `-i`).
    pub ignore_urls: Vec<String>,
}

/// A package found vulnerable.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// The PKGNAME.
    pub pkgname: String,
    /// The entry that matched.
    pub vulnerability: Vulnerability,
}

impl Finding {
    /// pkg_admin's line: `Package x-1.0 has a denial-of-service vulnerability, see URL`.
    pub fn line(&self) -> String {
        if self.vulnerability.class == "eol" {
            format!(
                "Package {} has reached end-of-life (eol), see {EOL_BASE}/eol-packages",
                self.pkgname
            )
        } else {
            format!(
                "Package {} has a {} vulnerability, see {}",
                self.pkgname, self.vulnerability.class, self.vulnerability.url
            )
        }
    }
}

impl Vulnerabilities {
    /// The entries `pkgname` matches under `filter`.
    pub fn audit(&self, pkgname: &str, filter: &Filter) -> Vec<Finding> {
        self.entries
            .iter()
            .filter(|v| filter.class.as_ref().is_none_or(|c| *c == v.class))
            .filter(|v| v.class != "eol" || filter.eol)
            .filter(|v| !filter.ignore_urls.contains(&v.url))
            .filter(|v| pattern::pkg_match(&v.pattern, pkgname))
            .map(|v| Finding {
                pkgname: pkgname.to_owned(),
                vulnerability: v.clone(),
            })
            .collect()
    }

    /// The entries about PKGBASE `base`, whatever the version (`audit-history`),
    /// end-of-life ones left out as pkg_admin does.
    pub fn history(&self, base: &str) -> Vec<&Vulnerability> {
        self.entries
            .iter()
            .filter(|v| v.class != "eol" && pattern_base_is(&v.pattern, base))
            .collect()
    }
}

/// Whether `pattern` (with `{a,b}` alternatives) is about PKGBASE `base`.
fn pattern_base_is(pattern: &str, base: &str) -> bool {
    // As in pattern matching: a bounded number of alternatives.
    let mut budget = pattern::MAX_ALTERNATIVES;
    base_within(pattern, base, &mut budget)
}

fn base_within(pattern: &str, base: &str, budget: &mut usize) -> bool {
    if let Some(open) = pattern.find('{')
        && let Some(close) = pattern[open..].find('}').map(|c| c + open)
    {
        let (head, tail) = (&pattern[..open], &pattern[close + 1..]);
        return pattern[open + 1..close].split(',').any(|alt| {
            if *budget == 0 {
                return false;
            }
            *budget -= 1;
            base_within(&format!("{head}{alt}{tail}"), base, budget)
        });
    }
    let end = if pattern.contains(['*', '[']) {
        pattern
            .split('[')
            .next()
            .and_then(|p| p.rfind('-'))
            .unwrap_or(pattern.len())
    } else if let Some(i) = pattern.find(['>', '<']) {
        i
    } else {
        pattern.rfind('-').unwrap_or(pattern.len())
    };
    &pattern[..end] == base
}

/// Read and check a pkg-vulnerabilities file (compressed or not).
pub fn read(path: &Path) -> Result<Vulnerabilities> {
    let bytes = match fs_err::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "{} not found: run `depot admin fetch-pkg-vulnerabilities` (pkg_admin fetch-pkg-vulnerabilities) first",
            path.display()
        ),
        Err(e) => return Err(e.into()),
    };
    parse(&bytes).with_context(|| format!("{}: refused", path.display()))
}

/// Decompress (by magic) and check `bytes`.
pub fn parse(bytes: &[u8]) -> Result<Vulnerabilities> {
    let compression = Compression::from_magic(bytes);
    let mut text = Vec::new();
    compression
        .decoder(bytes)?
        .take(MAX_SIZE + 1)
        .read_to_end(&mut text)
        .context("cannot decompress it")?;
    if text.len() as u64 > MAX_SIZE {
        bail!("it is larger than {} MiB", MAX_SIZE >> 20);
    }
    if text.contains(&0) {
        bail!("invalid input (a NUL byte)");
    }
    let text = String::from_utf8(text).context("it is not UTF-8 text")?;
    parse_text(text)
}

fn parse_text(text: String) -> Result<Vulnerabilities> {
    if !text.is_empty() && !text.ends_with('\n') {
        bail!("the last line has no newline (a truncated file?)");
    }
    let (body, signed) = match text.strip_prefix(PGP_START) {
        Some(rest) => (rest, true),
        None => (text.as_str(), false),
    };
    let mut lines = body.split_inclusive('\n').enumerate();
    // The header: comments up to `#FORMAT 1.1.0`.
    loop {
        let Some((n, line)) = lines.next() else {
            bail!("no #FORMAT line: not a pkg-vulnerabilities file");
        };
        let bare = line.trim_end_matches('\n');
        if bare.is_empty() || bare.starts_with("Hash:") || bare.starts_with("# $NetBSD") {
            continue;
        }
        if bare.starts_with('#') && bare[1..].starts_with(char::is_whitespace) || bare == "#" {
            continue;
        }
        let Some(version) = bare.strip_prefix("#FORMAT") else {
            bail!(
                "line {}: {} where the header expects `#FORMAT 1.1.0`",
                n + 1,
                crate::quote::excerpt(bare, 60)
            );
        };
        if version.trim() != "1.1.0" {
            bail!(
                "line {}: #FORMAT {}: depot reads format 1.1.0",
                n + 1,
                crate::quote::excerpt(version.trim(), 20)
            );
        }
        break;
    }
    let mut entries = Vec::new();
    let mut checksum = None;
    for (n, line) in lines {
        let bare = line.trim_end_matches('\n');
        if signed && line == PGP_SIGNATURE || !signed && line == PKCS7_START {
            break;
        }
        if bare.is_empty() || bare.starts_with('#') && !bare.starts_with("#CHECKSUM") {
            continue;
        }
        if let Some(rest) = bare.strip_prefix("#CHECKSUM") {
            checksum = Some((n + 1, rest.trim().to_owned()));
            continue;
        }
        let mut words = bare.split_whitespace();
        let (Some(p), Some(class), Some(url)) = (words.next(), words.next(), words.next()) else {
            bail!(
                "line {}: {} is not `pattern class url`",
                n + 1,
                crate::quote::excerpt(bare, 80)
            );
        };
        entries.push(Vulnerability {
            pattern: p.to_owned(),
            class: class.to_owned(),
            url: url.to_owned(),
        });
    }
    let Some((line, checksum)) = checksum else {
        bail!("it has no #CHECKSUM line, so it cannot be verified (a cut or forged file?)");
    };
    verify_checksum(body, signed, &checksum).with_context(|| format!("line {line}: #CHECKSUM"))?;
    Ok(Vulnerabilities { entries, text })
}

/// The digest pkg_install computes: every line except blank ones, `Hash:`,
/// `# $NetBSD` and `#CHECKSUM`, up to the signature.
fn digest_input(body: &str, signed: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    for line in body.split_inclusive('\n') {
        if signed && line == PGP_SIGNATURE || !signed && line == PKCS7_START {
            break;
        }
        if line == "\n"
            || line.starts_with("Hash:")
            || line.starts_with("# $NetBSD")
            || line.starts_with("#CHECKSUM")
        {
            continue;
        }
        out.extend_from_slice(line.as_bytes());
    }
    out
}

fn verify_checksum(body: &str, signed: bool, line: &str) -> Result<()> {
    let mut words = line.split_whitespace();
    let (Some(algorithm), Some(expected)) = (words.next(), words.next()) else {
        bail!("expected `#CHECKSUM SHA512 <hex>`");
    };
    let input = digest_input(body, signed);
    let actual = match algorithm {
        "SHA512" => hex::encode(sha2::Sha512::digest(&input)),
        "SHA1" => hex::encode(sha1::Sha1::digest(&input)),
        other => bail!(
            "{}: unsupported hash algorithm (SHA512, SHA1)",
            crate::quote::excerpt(other, 20)
        ),
    };
    if !actual.eq_ignore_ascii_case(expected) {
        bail!(
            "{algorithm} hash doesn't match: the file was changed or damaged after it was made; fetch it again"
        );
    }
    Ok(())
}

/// The `#CHECKSUM SHA512` line for `text` (a file without its checksum line):
/// what a site publishing its own list writes, and what tests and the fuzz
/// target make.
pub fn checksum_line(text: &str) -> String {
    let (body, signed) = match text.strip_prefix(PGP_START) {
        Some(rest) => (rest, true),
        None => (text, false),
    };
    format!(
        "#CHECKSUM SHA512 {}\n",
        hex::encode(sha2::Sha512::digest(digest_input(body, signed)))
    )
}

/// Verify a clear-signed file's PGP signature with `gpgv` and `keyring`
/// (GPG_KEYRING_PKGVULN), as pkg_admin's `-s`.
pub fn verify_signature(text: &str, keyring: Option<&str>) -> Result<()> {
    let Some(keyring) = keyring else {
        bail!(
            "-s needs a keyring to check the signature with: set GPG_KEYRING_PKGVULN (or [audit] gpg_keyring)"
        );
    };
    if !text.starts_with(PGP_START) {
        bail!("-s: the file is not PGP-signed");
    }
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("pkg-vulnerabilities");
    fs_err::write(&file, text)?;
    let out = std::process::Command::new("gpgv")
        .arg("--keyring")
        .arg(keyring)
        .arg(&file)
        .output()
        .context("cannot run gpgv (install gnupg's gpgv)")?;
    if !out.status.success() {
        bail!(
            "the PGP signature does not verify with {keyring}: {}",
            crate::quote::message(String::from_utf8_lossy(&out.stderr).trim())
        );
    }
    Ok(())
}

/// PKGVULNDIR/pkg-vulnerabilities.
pub fn file(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// `fetch-pkg-vulnerabilities`: download `url` (http(s) or file://), check
/// it (and its signature with `-s`), then replace `dest` by rename: a failed
/// fetch leaves the old file as it was.
pub fn fetch(url: &str, dest: &Path, keyring: Option<&str>, signed: bool) -> Result<usize> {
    let bytes = if let Some(path) = url.strip_prefix("file://") {
        fs_err::read(path)?
    } else if url.starts_with("http://") || url.starts_with("https://") {
        let agent = crate::http::agent(std::time::Duration::from_mins(1), true);
        let mut response = agent
            .get(url)
            .call()
            .with_context(|| {
                format!(
                    "could not fetch {url} (set PKGVULNURL or PKG_VULN_URL to a reachable copy, http(s):// or file://)"
                )
            })?;
        response
            .body_mut()
            .with_config()
            .limit(MAX_SIZE)
            .read_to_vec()
            .with_context(|| format!("could not read {url}"))?
    } else if url.starts_with('/') {
        fs_err::read(url)?
    } else {
        bail!("{url}: give an http(s):// or file:// URL (PKGVULNURL)");
    };
    let checked = parse(&bytes)
        .with_context(|| format!("{url}: refused; {} kept as it was", dest.display()))?;
    if signed {
        verify_signature(&checked.text, keyring)
            .with_context(|| format!("{url}: refused; {} kept as it was", dest.display()))?;
    }
    if let Some(parent) = dest.parent() {
        fs_err::create_dir_all(parent)?;
    }
    let partial = dest.with_extension("partial");
    fs_err::write(&partial, &bytes)?;
    fs_err::rename(&partial, dest)?;
    Ok(checked.entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made(entries: &str) -> String {
        let text = format!(
            "# $NetBSD: pkg-vulnerabilities,v 1.1 $\n#FORMAT 1.1.0\n#\n# comment\n{entries}"
        );
        format!("{text}{}", checksum_line(&text))
    }

    #[test]
    fn checksum_and_entries() -> Result<()> {
        let text = made(
            "hello<2.11\tremote-code-execution\thttps://example.org/1\nold-[0-9]*\teol\thttps://example.org/eol\n",
        );
        let v = parse(text.as_bytes())?;
        assert_eq!(v.entries.len(), 2);
        let found = v.audit("hello-2.10", &Filter::default());
        assert_eq!(
            found[0].line(),
            "Package hello-2.10 has a remote-code-execution vulnerability, see https://example.org/1"
        );
        assert!(v.audit("old-1", &Filter::default()).is_empty());
        assert_eq!(
            v.audit(
                "old-1",
                &Filter {
                    eol: true,
                    ..Filter::default()
                }
            )
            .len(),
            1
        );
        assert!(v.audit("hello-2.11", &Filter::default()).is_empty());
        let ignoring = Filter {
            ignore_urls: vec!["https://example.org/1".to_owned()],
            ..Filter::default()
        };
        assert!(v.audit("hello-2.10", &ignoring).is_empty());
        // One changed character, a removed line, a cut checksum: refused.
        let tampered = text.replace("hello<2.11", "hello<2.10");
        assert!(
            format!("{:#}", parse(tampered.as_bytes()).unwrap_err()).contains("hash doesn't match")
        );
        let cut: String = text
            .split_inclusive('\n')
            .filter(|l| !l.starts_with("#CHECKSUM"))
            .collect();
        assert!(format!("{:#}", parse(cut.as_bytes()).unwrap_err()).contains("no #CHECKSUM"));
        // Compressed as the site serves it.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, text.as_bytes())?;
        assert_eq!(parse(&gz.finish()?)?.entries.len(), 2);
        Ok(())
    }

    #[test]
    fn history_matches_by_base() {
        assert!(pattern_base_is("hello<2.11", "hello"));
        assert!(pattern_base_is("hello-2.[0-9]*", "hello"));
        assert!(pattern_base_is("{hello,hola}>=1<2", "hola"));
        assert!(pattern_base_is("hello-2.10", "hello"));
        assert!(!pattern_base_is("hello-world<1", "hello"));
        assert!(pattern_base_is("hello-{1,2}", "hello"));
        // Thirty two-way groups: a billion combinations, cut short.
        let hostile = format!("{}x>=1", "{a,b}".repeat(30));
        let began = std::time::Instant::now();
        assert!(!pattern_base_is(&hostile, "hello"));
        assert!(began.elapsed() < std::time::Duration::from_secs(2));
    }
}
