//! Signed summaries: Ed25519 keys and signatures in minisign's format (the
//! signify-style format of OpenBSD's signify and of minisign, readable by the
//! `minisign` tool). A repository's `pkg_summary.minisig` signs the summary's
//! uncompressed text; the summary's `FILE_CKSUM`s then vouch for the package
//! files.

use std::io::Cursor;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

/// A public key from its base64 line (the second line of a `.pub` file), or
/// from a whole `.pub` file's text.
pub fn public_key(text: &str) -> Result<minisign::PublicKey> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
        .unwrap_or_default();
    minisign::PublicKey::from_base64(line).map_err(|e| {
        anyhow::anyhow!(
            "{}: not a minisign public key ({e}); give the base64 line of a .pub file made by `depot repo keygen` or minisign",
            crate::quote::name(line)
        )
    })
}

/// The 16-hex-digit id minisign shows for a key.
pub fn key_id(key: &minisign::PublicKey) -> String {
    id_of(key.keynum())
}

fn id_of(keynum: &[u8]) -> String {
    hex::encode_upper(keynum.iter().rev().copied().collect::<Vec<u8>>())
}

/// `depot repo keygen PREFIX`: write `PREFIX.sec` (mode 0600, unencrypted:
/// it signs in unattended bulk builds) and `PREFIX.pub`; returns their paths
/// and the public key's base64 line.
pub fn keygen(prefix: &Path) -> Result<(PathBuf, PathBuf, String)> {
    let secret_path = with_suffix(prefix, ".sec");
    let public_path = with_suffix(prefix, ".pub");
    for path in [&secret_path, &public_path] {
        if path.exists() {
            bail!(
                "{} exists; keygen does not overwrite keys (remove it, or give another name)",
                path.display()
            );
        }
    }
    let pair = minisign::KeyPair::generate_unencrypted_keypair()
        .map_err(|e| anyhow::anyhow!("cannot make a key pair: {e}"))?;
    let id = key_id(&pair.pk);
    let secret = pair
        .sk
        .to_box(Some(&format!("depot secret key {id}")))
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .into_string();
    let public = pair
        .pk
        .to_box()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .into_string();
    let write = |path: &Path, text: &str, mode: u32| -> Result<()> {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        Ok(())
    };
    write(&secret_path, &secret, 0o600)?;
    if let Err(e) = write(&public_path, &public, 0o644) {
        let _ = std::fs::remove_file(&secret_path);
        return Err(e);
    }
    Ok((secret_path, public_path, pair.pk.to_base64()))
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Sign `text` with the secret key in `key_file`; the signature file's text.
pub fn sign(text: &[u8], key_file: &Path, trusted_comment: &str) -> Result<String> {
    let boxed = fs_err::read_to_string(key_file)?;
    let secret = minisign::SecretKeyBox::from_string(&boxed)
        .and_then(minisign::SecretKeyBox::into_unencrypted_secret_key)
        .map_err(|e| {
            anyhow::anyhow!(
                "{}: not an unencrypted minisign secret key ({e}); make one with `depot repo keygen`",
                key_file.display()
            )
        })?;
    let signature = minisign::sign(
        None,
        &secret,
        Cursor::new(text),
        Some(trusted_comment),
        Some("signature of a pkg_summary, by depot"),
    )
    .map_err(|e| anyhow::anyhow!("{}: cannot sign: {e}", key_file.display()))?;
    Ok(signature.into_string())
}

/// Check that `signature` (a `.minisig` file's text) signs `text` by one of
/// `keys`; the id of the key that did.
pub fn verify(text: &[u8], signature: &str, keys: &[String]) -> Result<String> {
    let boxed = minisign::SignatureBox::from_string(signature)
        .map_err(|e| anyhow::anyhow!("the signature file is not a minisign signature ({e})"))?;
    let signed_by = id_of(boxed.keynum());
    let mut trusted = Vec::new();
    for key in keys {
        let key = public_key(key)?;
        let id = key_id(&key);
        if id == signed_by {
            minisign::verify(&key, &boxed, Cursor::new(text), true, false, false).map_err(
                |e| anyhow::anyhow!("the signature by key {id} does not verify ({e}): the summary was changed after it was signed"),
            )?;
            return Ok(id);
        }
        trusted.push(id);
    }
    bail!(
        "the summary is signed by key {signed_by}, which is not trusted for this site (trusted: {})",
        trusted.join(", ")
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_signature_verifies_only_for_its_text_and_key() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let (secret, _, public) = super::keygen(&dir.path().join("a"))?;
        let (_, _, other) = super::keygen(&dir.path().join("b"))?;
        let signature = super::sign(b"PKGNAME=a-1\n\n", &secret, "test")?;
        let id = super::verify(
            b"PKGNAME=a-1\n\n",
            &signature,
            &[other.clone(), public.clone()],
        )?;
        assert_eq!(id, super::key_id(&super::public_key(&public)?));
        let changed = super::verify(
            b"PKGNAME=a-2\n\n",
            &signature,
            std::slice::from_ref(&public),
        );
        assert!(format!("{:#}", changed.unwrap_err()).contains("does not verify"));
        let untrusted = super::verify(b"PKGNAME=a-1\n\n", &signature, &[other]);
        assert!(format!("{:#}", untrusted.unwrap_err()).contains("not trusted"));
        assert!(
            super::keygen(&dir.path().join("a")).is_err(),
            "keys are never overwritten"
        );
        Ok(())
    }
}
