//! pkg_install's signed packages: an `ar` archive holding `+PKG_HASH` (the
//! SHA-512 of each block of the inner package), `+PKG_GPG_SIGNATURE` (a
//! detached OpenPGP signature of `+PKG_HASH`) and the package itself.
//!
//! [`open`] tells a signed package from a plain one, checks the inner
//! package against `+PKG_HASH` and the signature with `gpgv` (keyring:
//! `GPG_KEYRING_VERIFY`, as pkg_install's setting), and hands back the inner
//! package. With `VERIFIED_INSTALLATION=always` a plain package is refused.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use sha2::Digest as _;

use crate::settings::Verified;

/// The `ar` magic a signed package starts with.
const AR_MAGIC: &[u8] = b"!<arch>\n";

/// A package file ready to read: the file itself, or the inner package of a
/// signed one (in a temporary directory that lives as long as this).
#[derive(Debug)]
pub struct Opened {
    /// The package to read.
    pub path: PathBuf,
    /// The PKGNAME `+PKG_HASH` names, for a signed package.
    pub signed_as: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

/// Open `file` as a package under `verified`; a signed package is checked
/// (hashes always, the signature with `gpgv`) and its inner package unpacked
/// into `work`.
pub fn open(file: &Path, verified: Verified, work: &Path) -> Result<Opened> {
    let shown = file.display();
    let mut magic = [0u8; 8];
    let is_signed = fs_err::File::open(file)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == AR_MAGIC;
    if !is_signed {
        if verified == Verified::Always {
            bail!(
                "{shown}: not signed, and VERIFIED_INSTALLATION=always accepts only signed packages (+PKG_HASH and +PKG_GPG_SIGNATURE)"
            );
        }
        return Ok(Opened {
            path: file.to_owned(),
            signed_as: None,
            _dir: None,
        });
    }
    fs_err::create_dir_all(work)?;
    let dir = tempfile::Builder::new()
        .prefix("signed-")
        .tempdir_in(work)?;
    let mut hash = None;
    let mut signature = None;
    let mut inner = None;
    let mut archive = ar::Archive::new(fs_err::File::open(file)?);
    while let Some(entry) = archive.next_entry() {
        let mut entry = entry.with_context(|| format!("{shown}: a broken signed package"))?;
        let name = String::from_utf8_lossy(entry.header().identifier())
            .trim_end_matches('/')
            .to_owned();
        match name.as_str() {
            "+PKG_HASH" => hash = Some(read_small(&mut entry, &shown.to_string(), &name)?),
            "+PKG_GPG_SIGNATURE" => {
                signature = Some(read_small(&mut entry, &shown.to_string(), &name)?);
            }
            other if inner.is_none() && crate::repo::pkgname_of_file(other).is_some() => {
                if other.contains('/') || other.starts_with('.') {
                    bail!(
                        "{shown}: a signed package whose package is named {}",
                        crate::quote::name(other)
                    );
                }
                let path = dir.path().join(other);
                let mut out = fs_err::File::create(&path)?;
                std::io::copy(&mut entry, &mut out)?;
                out.flush()?;
                inner = Some(path);
            }
            _ => {}
        }
    }
    let (Some(hash), Some(inner)) = (hash, inner) else {
        bail!(
            "{shown}: an ar archive, but not a signed package (no +PKG_HASH or no package in it)"
        );
    };
    let hash =
        String::from_utf8(hash).with_context(|| format!("{shown}: +PKG_HASH is not text"))?;
    let pkgname = check_hashes(&hash, &inner).with_context(|| format!("{shown}: refused"))?;
    match signature {
        Some(sig) => {
            check_signature(&hash, &sig, dir.path())
                .with_context(|| format!("{shown}: refused"))?;
        }
        None if verified == Verified::Always => bail!(
            "{shown}: has +PKG_HASH but no +PKG_GPG_SIGNATURE; VERIFIED_INSTALLATION=always needs a signature"
        ),
        None => crate::output::caution!(
            "{shown}: +PKG_HASH without a signature: the hashes match, nothing vouches for them"
        ),
    }
    Ok(Opened {
        path: inner,
        signed_as: Some(pkgname),
        _dir: Some(dir),
    })
}

fn read_small(entry: &mut impl std::io::Read, file: &str, name: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    entry.take(1 << 20).read_to_end(&mut bytes)?;
    if bytes.len() >= 1 << 20 {
        bail!("{file}: {name} is too large");
    }
    Ok(bytes)
}

/// Check `inner` against `+PKG_HASH` (pkg_install's format: version 1,
/// SHA512 of each block); the PKGNAME it names.
fn check_hashes(text: &str, inner: &Path) -> Result<String> {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key).map(str::trim))
            .with_context(|| format!("+PKG_HASH has no `{key}` line"))
    };
    if !text.starts_with("pkgsrc signature\n") || field("version:")? != "1" {
        bail!("+PKG_HASH is not a version 1 pkgsrc signature");
    }
    let pkgname = field("pkgname:")?.to_owned();
    if field("algorithm:")? != "SHA512" {
        bail!("+PKG_HASH uses {}, not SHA512", field("algorithm:")?);
    }
    let block: usize = field("block size:")?
        .parse()
        .ok()
        .filter(|b| (1..=1 << 26).contains(b))
        .context("+PKG_HASH has a bad block size")?;
    let size: u64 = field("file size:")?
        .parse()
        .context("+PKG_HASH has a bad file size")?;
    // The hashes: the lines after `file size:` up to the end line.
    let hashes: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("file size:"))
        .skip(1)
        .filter(|l| !l.is_empty())
        .take_while(|l| *l != "end pkgsrc signature")
        .collect();
    if !text.ends_with("end pkgsrc signature\n") {
        bail!("+PKG_HASH does not end with `end pkgsrc signature`");
    }
    let actual = fs_err::metadata(inner)?.len();
    if actual != size {
        bail!("the package has {actual} bytes but +PKG_HASH says {size}");
    }
    let mut file = fs_err::File::open(inner)?;
    let mut buffer = vec![0; block];
    let mut n = 0;
    loop {
        let mut filled = 0;
        while filled < block {
            let got = file.read(&mut buffer[filled..])?;
            if got == 0 {
                break;
            }
            filled += got;
        }
        if filled == 0 {
            break;
        }
        let digest = hex::encode(sha2::Sha512::digest(&buffer[..filled]));
        if hashes
            .get(n)
            .is_none_or(|h| !h.eq_ignore_ascii_case(&digest))
        {
            bail!(
                "block {n} of the package does not match +PKG_HASH: it was changed after it was signed"
            );
        }
        n += 1;
    }
    if n != hashes.len() {
        bail!(
            "+PKG_HASH lists {} blocks, the package has {n}",
            hashes.len()
        );
    }
    Ok(pkgname)
}

/// Check the detached signature of `+PKG_HASH` with `gpgv` against
/// `GPG_KEYRING_VERIFY` (default `<root>`-independent: gpg's trustedkeys).
fn check_signature(hash: &str, signature: &[u8], dir: &Path) -> Result<()> {
    let hash_file = dir.join("+PKG_HASH");
    let sig_file = dir.join("+PKG_GPG_SIGNATURE");
    fs_err::write(&hash_file, hash)?;
    fs_err::write(&sig_file, signature)?;
    let mut gpgv = std::process::Command::new("gpgv");
    if let Some(keyring) = std::env::var_os("GPG_KEYRING_VERIFY").filter(|k| !k.is_empty()) {
        gpgv.arg("--keyring").arg(keyring);
    }
    let out = gpgv
        .arg(&sig_file)
        .arg(&hash_file)
        .output()
        .context("cannot run gpgv to check the package's signature (install GnuPG's gpgv)")?;
    if !out.status.success() {
        bail!(
            "its +PKG_GPG_SIGNATURE does not verify against the keyring (GPG_KEYRING_VERIFY): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
