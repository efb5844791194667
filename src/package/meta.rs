//! Metadata helpers: `+BUILD_INFO` variables and the host's identity.

use std::fmt::Write as _;

/// pkg_install's version depot writes as `PKGTOOLS_VERSION` (what it is compatible with).
pub const PKGTOOLS_VERSION: &str = "20170419";

/// Variables pkg_add requires in `+BUILD_INFO`.
pub const REQUIRED_BUILD_INFO: &[&str] =
    &["OPSYS", "MACHINE_ARCH", "OS_VERSION", "PKGTOOLS_VERSION"];

/// The value of `var` in `+BUILD_INFO` text (`VAR=value` lines; the last one wins).
pub fn build_info_var(text: &str, var: &str) -> Option<String> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .filter(|(k, _)| k.trim() == var)
        .map(|(_, v)| v.trim().to_owned())
        .next_back()
}

/// The host's values for the required `+BUILD_INFO` variables.
pub fn host_build_info() -> Vec<(&'static str, String)> {
    let opsys = match std::env::consts::OS {
        "linux" => "Linux".to_owned(),
        "netbsd" => "NetBSD".to_owned(),
        "freebsd" => "FreeBSD".to_owned(),
        "macos" => "Darwin".to_owned(),
        other => other.to_owned(),
    };
    let release = fs_err::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map_or_else(|| "0".to_owned(), |s| s.trim().to_owned());
    // pkgsrc's OS_VERSION on Linux is the kernel release without the local suffix.
    let os_version = release
        .split(['-', '+'])
        .next()
        .unwrap_or(&release)
        .to_owned();
    vec![
        ("OPSYS", opsys),
        ("MACHINE_ARCH", std::env::consts::ARCH.to_owned()),
        ("OS_VERSION", os_version),
        ("PKGTOOLS_VERSION", PKGTOOLS_VERSION.to_owned()),
    ]
}

/// Add any required variable missing from `text`, with the host's value.
pub fn complete_build_info(text: &str) -> String {
    let mut out = text.to_owned();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for (key, value) in host_build_info() {
        if build_info_var(text, key).is_none() {
            let _ = writeln!(out, "{key}={value}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_missing_variables_only() {
        let text = complete_build_info("OPSYS=NetBSD\nFOO=bar");
        assert_eq!(build_info_var(&text, "OPSYS").as_deref(), Some("NetBSD"));
        assert_eq!(build_info_var(&text, "FOO").as_deref(), Some("bar"));
        for key in REQUIRED_BUILD_INFO {
            assert!(build_info_var(&text, key).is_some(), "{key}");
        }
    }
}
