//! pkg_summary(5) records: what a repository says about each package file it
//! holds. [`records`] splits a summary into records and [`Record::parse`]
//! reads the variables depot uses; the record's text is kept as it was.

use anyhow::{Result, bail};

/// One package in a pkg_summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// `PKGNAME`.
    pub pkgname: String,
    /// `COMMENT`.
    pub comment: String,
    /// `DEPENDS`, in order.
    pub depends: Vec<String>,
    /// `CONFLICTS`, in order.
    pub conflicts: Vec<String>,
    /// `FILE_NAME`: the package file's name in the repository (a plain name).
    pub file_name: String,
    /// `FILE_SIZE`.
    pub file_size: Option<u64>,
    /// The sha256 of `FILE_CKSUM=sha256 <hex>`, in lower-case hex.
    pub sha256: Option<String>,
    /// `SIZE_PKG`: bytes once installed.
    pub size_pkg: Option<u64>,
    /// The record's text, with its final empty line.
    pub text: String,
}

/// Split pkg_summary text into records, each with its lines and the empty
/// line that ends it.
pub fn records(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        at += line.len();
        if line == "\n" {
            if at - start > 1 {
                out.push(&text[start..at]);
            }
            start = at;
        }
    }
    out
}

/// Each value of `var` in a record, in order.
pub fn values<'a>(record: &'a str, var: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    record.lines().filter_map(move |line| {
        line.strip_prefix(var)
            .and_then(|rest| rest.strip_prefix('='))
    })
}

/// The first value of `var` in a record.
pub fn value<'a>(record: &'a str, var: &str) -> Option<&'a str> {
    record.lines().find_map(|line| {
        line.strip_prefix(var)
            .and_then(|rest| rest.strip_prefix('='))
    })
}

impl Record {
    /// Read one record. It must name a valid PKGNAME; FILE_NAME, when given,
    /// must be a plain file name (it becomes a path in the cache), and
    /// defaults to `<PKGNAME>.tgz` as pkg_install's sites lay packages out.
    pub fn parse(text: &str) -> Result<Record> {
        let Some(pkgname) = value(text, "PKGNAME") else {
            bail!(
                "a record without PKGNAME: {}",
                crate::quote::name(text.lines().next().unwrap_or_default())
            );
        };
        if let Some(why) = super::pattern::invalid_pkgname(pkgname) {
            bail!("PKGNAME={}: {why}", crate::quote::name(pkgname));
        }
        let file_name =
            value(text, "FILE_NAME").map_or_else(|| format!("{pkgname}.tgz"), str::to_owned);
        if file_name.is_empty()
            || file_name.contains('/')
            || file_name.starts_with('.')
            || file_name.chars().any(char::is_control)
        {
            bail!(
                "{pkgname}: FILE_NAME={} is not a plain file name",
                crate::quote::name(&file_name)
            );
        }
        let number = |var: &str| -> Result<Option<u64>> {
            value(text, var)
                .map(|v| {
                    v.trim().parse::<u64>().map_err(|_| {
                        anyhow::anyhow!(
                            "{pkgname}: {var}={} is not a number",
                            crate::quote::name(v)
                        )
                    })
                })
                .transpose()
        };
        let sha256 = match value(text, "FILE_CKSUM") {
            None => None,
            Some(v) => match v.split_once(' ') {
                Some((algorithm, hex)) if algorithm.eq_ignore_ascii_case("sha256") => {
                    let hex = hex.trim().to_ascii_lowercase();
                    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                        bail!(
                            "{pkgname}: FILE_CKSUM={} is not a sha256",
                            crate::quote::name(v)
                        );
                    }
                    Some(hex)
                }
                // Another algorithm (pkgsrc's bulk builds may write others): not checked.
                _ => None,
            },
        };
        Ok(Record {
            pkgname: pkgname.to_owned(),
            comment: value(text, "COMMENT").unwrap_or_default().to_owned(),
            depends: values(text, "DEPENDS").map(str::to_owned).collect(),
            conflicts: values(text, "CONFLICTS").map(str::to_owned).collect(),
            file_name,
            file_size: number("FILE_SIZE")?,
            sha256,
            size_pkg: number("SIZE_PKG")?,
            text: text.to_owned(),
        })
    }
}

/// Parse a whole summary: every record, or the first error with its record number.
pub fn parse(text: &str) -> Result<Vec<Record>> {
    records(text)
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            Record::parse(r).map_err(|e| e.context(format!("record {} of the summary", i + 1)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{Record, parse};

    #[test]
    fn records_read_their_variables() -> anyhow::Result<()> {
        let text = "PKGNAME=app-1.0\nDEPENDS=lib>=1\nDEPENDS=tool-[0-9]*\nCOMMENT=An app\nFILE_NAME=app-1.0.tgz\nFILE_SIZE=123\nFILE_CKSUM=sha256 ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789\nDESCRIPTION=x\n\nPKGNAME=lib-1.0\n\n";
        let all = parse(text)?;
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].depends, ["lib>=1", "tool-[0-9]*"]);
        assert_eq!(all[0].file_size, Some(123));
        assert_eq!(
            all[0].sha256.as_deref(),
            Some("abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789")
        );
        assert_eq!(all[1].file_name, "lib-1.0.tgz");
        for bad in [
            "COMMENT=x\n\n",
            "PKGNAME=a-1\nFILE_NAME=../../etc/passwd\n\n",
            "PKGNAME=a-1\nFILE_SIZE=many\n\n",
            "PKGNAME=a-1\nFILE_CKSUM=sha256 xyz\n\n",
            "PKGNAME=../x-1\n\n",
        ] {
            assert!(Record::parse(bad).is_err(), "{bad}");
        }
        Ok(())
    }
}
