//! Package versions and patterns with pkg_install's exact semantics.
//!
//! [`dewey_compare`] orders versions as `lib/dewey.c` does: numbers, the
//! modifiers `alpha` < `beta` < `pre` = `rc` < (nothing) = `pl` = `_` = `.`,
//! single letters as `.N` (`a` = 1), and the `nbN` revision compared last.
//! [`pkg_match`] is `pkg_match()` from `lib/opattern.c`: csh alternates,
//! dewey ranges, globs, exact names and the implicit `-[0-9]*`.
//! `shared/conformance/pattern-match.tsv` is the judge.

use std::cmp::Ordering;

/// One parsed version: the dewey components and the `nb` revision.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Dewey {
    parts: Vec<i64>,
    revision: i64,
}

const ALPHA: i64 = -3;
const BETA: i64 = -2;
const RC: i64 = -1;
const DOT: i64 = 0;

/// Modifiers in `dewey.c`'s table order (the first prefix that matches wins).
const MODIFIERS: &[(&str, i64)] = &[
    ("alpha", ALPHA),
    ("beta", BETA),
    ("pre", RC),
    ("rc", RC),
    ("pl", DOT),
    ("_", DOT),
    (".", DOT),
];

fn parse_dewey(version: &str) -> Dewey {
    let bytes = version.as_bytes();
    let mut parts = Vec::new();
    let mut revision = 0i64;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_digit() {
            let mut n: i64 = 0;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                n = n
                    .saturating_mul(10)
                    .saturating_add(i64::from(bytes[i] - b'0'));
                i += 1;
            }
            parts.push(n);
            continue;
        }
        if bytes.len() - i >= 2 && bytes[i..i + 2].eq_ignore_ascii_case(b"nb") {
            i += 2;
            let mut n: i64 = 0;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                n = n
                    .saturating_mul(10)
                    .saturating_add(i64::from(bytes[i] - b'0'));
                i += 1;
            }
            revision = n;
            continue;
        }
        if let Some((word, value)) = MODIFIERS.iter().find(|(word, _)| {
            bytes[i..].len() >= word.len()
                && bytes[i..i + word.len()].eq_ignore_ascii_case(word.as_bytes())
        }) {
            parts.push(*value);
            i += word.len();
            continue;
        }
        if c.is_ascii_alphabetic() {
            parts.push(DOT);
            parts.push(i64::from(c.to_ascii_lowercase() - b'a') + 1);
        }
        i += 1;
    }
    Dewey { parts, revision }
}

/// Compare two version strings (the part after the last `-` of a PKGNAME).
pub fn dewey_compare(left: &str, right: &str) -> Ordering {
    let l = parse_dewey(left);
    let r = parse_dewey(right);
    let len = l.parts.len().max(r.parts.len());
    for i in 0..len {
        let a = l.parts.get(i).copied().unwrap_or(0);
        let b = r.parts.get(i).copied().unwrap_or(0);
        match a.cmp(&b) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    l.revision.cmp(&r.revision)
}

/// Split a PKGNAME at its last `-` into (PKGBASE, version).
pub fn split_pkgname(pkgname: &str) -> Option<(&str, &str)> {
    pkgname
        .rfind('-')
        .map(|i| (&pkgname[..i], &pkgname[i + 1..]))
}

/// Why `pkgname` cannot name a package, if it cannot: it must be
/// `name-version` with both parts non-empty, the version starting with a digit
/// (as pkgsrc's are), and no `/`, white space or control characters, since it
/// becomes a directory name and appears in messages and pkg_summary lines.
pub fn invalid_pkgname(pkgname: &str) -> Option<&'static str> {
    if pkgname.is_empty() {
        return Some("it is empty");
    }
    if pkgname.contains('/') {
        return Some("it contains `/`");
    }
    if pkgname.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("it contains white space or control characters");
    }
    if pkgname.starts_with('.') {
        return Some("it starts with a dot");
    }
    match split_pkgname(pkgname) {
        Some((name, version))
            if !name.is_empty() && version.starts_with(|c: char| c.is_ascii_digit()) =>
        {
            None
        }
        _ => Some("it is not of the form name-version (the version starting with a digit)"),
    }
}

/// How many `{a,b}` alternatives one match may try. pkg_install expands
/// every combination, so `{a,b}` written thirty times is a billion tries
/// (found by fuzzing); real patterns need a handful. Beyond this the
/// pattern does not match.
pub const MAX_ALTERNATIVES: usize = 4096;

/// pkg_install's `pkg_match`: does the package `pkg` (a PKGNAME) match `pattern`?
pub fn pkg_match(pattern: &str, pkg: &str) -> bool {
    let mut budget = MAX_ALTERNATIVES;
    match_within(pattern, pkg, &mut budget)
}

fn match_within(pattern: &str, pkg: &str, budget: &mut usize) -> bool {
    if !quick_match(pattern, pkg) {
        return false;
    }
    if pattern.contains('{') {
        return alternate_match(pattern, pkg, budget);
    }
    if pattern.contains(['<', '>']) {
        return dewey_match(pattern, pkg);
    }
    if pattern.contains(['*', '?', '[', ']']) && glob_match(pattern, pkg) {
        return true;
    }
    if pattern == pkg {
        return true;
    }
    glob_match(&format!("{pattern}-[0-9]*"), pkg)
}

/// A cheap first test: two leading alphanumerics that differ cannot match.
fn quick_match(pattern: &str, pkg: &str) -> bool {
    let p = pattern.as_bytes();
    let k = pkg.as_bytes();
    for i in 0..2 {
        match (p.get(i), k.get(i)) {
            (Some(a), Some(b)) if a.is_ascii_alphanumeric() => {
                if a != b {
                    return false;
                }
            }
            _ => return true,
        }
    }
    true
}

/// Expand the first (outermost) `{a,b}` group and try each alternative
/// whose literal start `pkg` begins with, within `budget` tries.
fn alternate_match(pattern: &str, pkg: &str, budget: &mut usize) -> bool {
    let Some(open) = pattern.find('{') else {
        return match_within(pattern, pkg, budget);
    };
    let bytes = pattern.as_bytes();
    let mut depth = 0;
    let mut close = None;
    let mut commas = Vec::new();
    for (i, &b) in bytes.iter().enumerate().skip(open) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(i);
                    break;
                }
            }
            b',' if depth == 1 => commas.push(i),
            _ => {}
        }
    }
    let Some(close) = close else {
        return false;
    };
    let prefix = &pattern[..open];
    let suffix = &pattern[close + 1..];
    let mut start = open + 1;
    let mut bounds = commas;
    bounds.push(close);
    for end in bounds {
        let candidate = format!("{prefix}{}{suffix}", &pattern[start..end]);
        start = end + 1;
        // Every kind of match (glob, dewey, `name-[0-9]*`) needs the text
        // before its first special character at the start of the name.
        let literal = candidate
            .find(['{', '*', '?', '[', '\\', '<', '>'])
            .map_or(candidate.as_str(), |i| &candidate[..i]);
        if !pkg.starts_with(literal) {
            continue;
        }
        if *budget == 0 {
            return false;
        }
        *budget -= 1;
        if match_within(&candidate, pkg, budget) {
            return true;
        }
    }
    false
}

#[derive(Clone, Copy)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

fn parse_op(s: &str) -> Option<(Op, usize)> {
    let b = s.as_bytes();
    match (b.first(), b.get(1)) {
        (Some(b'<'), Some(b'=')) => Some((Op::Le, 2)),
        (Some(b'<'), _) => Some((Op::Lt, 1)),
        (Some(b'>'), Some(b'=')) => Some((Op::Ge, 2)),
        (Some(b'>'), _) => Some((Op::Gt, 1)),
        _ => None,
    }
}

fn test(version: &str, op: Op, against: &str) -> bool {
    let c = dewey_compare(version, against);
    match op {
        Op::Lt => c == Ordering::Less,
        Op::Le => c != Ordering::Greater,
        Op::Gt => c == Ordering::Greater,
        Op::Ge => c != Ordering::Less,
    }
}

fn dewey_match(pattern: &str, pkg: &str) -> bool {
    let Some((name, version)) = split_pkgname(pkg) else {
        return false;
    };
    let Some(sep) = pattern.find(['<', '>']) else {
        return false;
    };
    if &pattern[..sep] != name {
        return false;
    }
    let Some((op, n)) = parse_op(&pattern[sep..]) else {
        return false;
    };
    let rest = &pattern[sep + n..];
    // As `lib/dewey.c`: only a lower bound (`>`, `>=`) looks for an upper one,
    // at the first `<`; any other `<`, `>` or `=` is part of a version string,
    // where dewey parsing skips it (`foo<2>=1` is `foo<2.1`).
    if matches!(op, Op::Gt | Op::Ge)
        && let Some(sep2) = rest.find('<')
    {
        let Some((op2, n2)) = parse_op(&rest[sep2..]) else {
            return false;
        };
        return test(version, op2, &rest[sep2 + n2..]) && test(version, op, &rest[..sep2]);
    }
    test(version, op, rest)
}

/// Why a dewey pattern is malformed, if it is: a version holding `<`, `>` or
/// `=` beyond the one `>`/`>=` ... `<`/`<=` range pkg_install reads. Such a
/// pattern still matches as pkg_install matches it (its version parser skips
/// those characters); callers warn.
pub fn malformed(pattern: &str) -> Option<String> {
    if pattern.contains('{') {
        return None;
    }
    let sep = pattern.find(['<', '>'])?;
    let (op, n) = parse_op(&pattern[sep..])?;
    let rest = &pattern[sep + n..];
    let versions: Vec<&str> = match (op, rest.find('<')) {
        (Op::Gt | Op::Ge, Some(sep2)) => {
            let n2 = parse_op(&rest[sep2..]).map_or(1, |(_, n)| n);
            vec![&rest[..sep2], &rest[sep2 + n2..]]
        }
        _ => vec![rest],
    };
    let stray: Vec<&str> = versions
        .into_iter()
        .filter(|v| v.contains(['<', '>', '=']))
        .collect();
    (!stray.is_empty()).then(|| {
        format!(
            "pattern {} is malformed: pkg_install skips the `<`, `>` and `=` inside the version {} and compares what is left; write a range as NAME>=LOW<HIGH",
            crate::quote::name(pattern),
            crate::quote::name(stray[0])
        )
    })
}

/// Warn (on stderr) if a pattern the user gave is malformed.
pub fn warn_if_malformed(pattern: &str) {
    if let Some(why) = malformed(pattern) {
        crate::output::caution!("{why}");
    }
}

/// fnmatch(3) without flags: `*`, `?`, `[...]` with ranges and `!`/`^`, `\` escapes.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    glob_bytes(pattern.as_bytes(), text.as_bytes())
}

fn glob_bytes(p: &[u8], t: &[u8]) -> bool {
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            match p[pi] {
                b'*' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                b'?' => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, len)) = class_match(&p[pi..], t[ti]) {
                        if matched {
                            pi += len;
                            ti += 1;
                            continue;
                        }
                    } else if t[ti] == b'[' {
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                }
                b'\\' if pi + 1 < p.len() => {
                    if p[pi + 1] == t[ti] {
                        pi += 2;
                        ti += 1;
                        continue;
                    }
                }
                c => {
                    if c == t[ti] {
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Match one byte against a bracket expression at the start of `p`.
/// Returns (matched, length of the expression) or `None` if unterminated.
fn class_match(p: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let lo = *p.get(i)?;
        if lo == b']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if p.get(i + 1) == Some(&b'-') && p.get(i + 2).is_some_and(|&hi| hi != b']') {
            let hi = p[i + 2];
            if lo <= c && c <= hi {
                matched = true;
            }
            i += 3;
        } else {
            if lo == c {
                matched = true;
            }
            i += 1;
        }
    }
}

/// pkg_install's `pkg_order`: whether `candidate` matches `pattern` and beats the best
/// so far (a higher version); on a tie the earlier one is kept.
pub fn beats(pattern: &str, current: Option<&str>, candidate: &str) -> bool {
    if !pkg_match(pattern, candidate) {
        return false;
    }
    let Some(current) = current else {
        return true;
    };
    let cv = split_pkgname(current).map_or("", |(_, v)| v);
    let nv = split_pkgname(candidate).map_or("", |(_, v)| v);
    dewey_compare(nv, cv) == Ordering::Greater
}

/// The best match for `pattern` among `candidates` (PKGNAMEs), pkg_install's rule.
pub fn find_best<'a, I>(pattern: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    candidates.into_iter().fold(None, |best, c| {
        if beats(pattern, best, c) {
            Some(c)
        } else {
            best
        }
    })
}

/// A prefix of the PKGBASE of every package `pattern` can match (`None`: no
/// such prefix, as for `{a,b}` alternatives or a pattern that starts with a
/// glob). Lets a catalogue look candidates up by name before [`pkg_match`]
/// judges them. The literal start of the pattern is a prefix of every
/// matching PKGNAME; cut at its last `-`, it is a prefix of the PKGBASE.
pub fn base_prefix(pattern: &str) -> Option<&str> {
    if pattern.contains(['{', '}']) {
        return None;
    }
    let literal = &pattern[..pattern
        .find(['*', '?', '[', ']', '<', '>'])
        .unwrap_or(pattern.len())];
    let prefix = literal.rfind('-').map_or(literal, |i| &literal[..i]);
    (!prefix.is_empty()).then_some(prefix)
}

/// Compare two PKGNAMEs by version (for sorting the same PKGBASE).
pub fn compare_pkgnames(a: &str, b: &str) -> Ordering {
    let av = split_pkgname(a).map_or("", |(_, v)| v);
    let bv = split_pkgname(b).map_or("", |(_, v)| v);
    dewey_compare(av, bv).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_alternatives_are_cut_short() {
        // Found by fuzzing: every combination of thirty `{a,b}` groups is a
        // billion tries; the budget and the literal-prefix check end it.
        let hostile = format!("{}x>=1", "{a,b}".repeat(30));
        let began = std::time::Instant::now();
        assert!(!pkg_match(&hostile, "ab-1.0"));
        let same = format!("a{}-[0-9]*", "{,}".repeat(30));
        assert!(pkg_match(&same, "a-1.0"));
        assert!(!pkg_match(&same, "b-1.0"));
        assert!(began.elapsed() < std::time::Duration::from_secs(2));
        // Real ones still match.
        assert!(pkg_match("{foo,bar}-{1,2}.*", "bar-2.5"));
        assert!(pkg_match("py{27,38,311}-x>=1", "py311-x-1.2"));
    }

    #[test]
    fn base_prefixes_cover_every_match() {
        assert_eq!(base_prefix("foo>=1<2"), Some("foo"));
        assert_eq!(base_prefix("foo-[0-9]*"), Some("foo"));
        assert_eq!(base_prefix("foo-1.0"), Some("foo"));
        assert_eq!(base_prefix("foo"), Some("foo"));
        assert_eq!(base_prefix("{a,b}>=1"), None);
        assert_eq!(base_prefix("*-1.0"), None);
        for (pattern, pkg) in [
            ("foo", "foo-2.0"),
            ("foo-1.0", "foo-1.0"),
            ("lib-x>=2", "lib-x-3"),
            ("foo-[0-9]*", "foo-2fa-1.0"),
            ("foo-bar", "foo-bar-1"),
            ("fo*", "foo-1"),
        ] {
            assert!(pkg_match(pattern, pkg), "{pattern} {pkg}");
            let base = split_pkgname(pkg).map_or("", |(b, _)| b);
            assert!(
                base_prefix(pattern).is_some_and(|p| base.starts_with(p)),
                "{pattern} {pkg}"
            );
        }
    }

    /// Malformed chained ranges, as `lib/dewey.c`'s dewey_match reads them:
    /// only `>`/`>=` looks for an upper bound (at the first `<`); every other
    /// `<`, `>`, `=` is skipped by the version parser.
    #[test]
    fn malformed_chained_ranges_match_as_pkg_install_reads_them() {
        // "2>=1" parses as the components [2, 1]; "2.1" as [2, 0, 1] ('.' is a
        // zero component), so every 2.x sorts below it and 3 above.
        let cases: &[(&str, &str, bool)] = &[
            ("foo<2>=1", "foo-2.0", true),
            ("foo<2>=1", "foo-2.1", true),
            ("foo<2>=1", "foo-2.9.9", true),
            ("foo<2>=1", "foo-0.5", true),
            ("foo<2>=1", "foo-3.0", false),
            ("foo<2>=1", "foo-21", false),
            // foo<2<3: below [2, 3]
            ("foo<2<3", "foo-2.3", true),
            ("foo<2<3", "foo-3", false),
            // foo>1>2: above [1, 2], so 1.x does not match and 2 does
            ("foo>1>2", "foo-1.3", false),
            ("foo>1>2", "foo-2", true),
            // foo>=1<2<3: lower 1, upper [2, 3]
            ("foo>=1<2<3", "foo-2.5", true),
            ("foo>=1<2<3", "foo-3", false),
            ("foo>=1<2<3", "foo-0.9", false),
            // well-formed ranges are unchanged
            ("foo>=1<2", "foo-1.5", true),
            ("foo>=1<2", "foo-2.0", false),
        ];
        for (pattern, pkg, expected) in cases {
            assert_eq!(pkg_match(pattern, pkg), *expected, "{pattern} {pkg}");
        }
        assert!(malformed("foo<2>=1").is_some_and(|m| m.contains("the version 2>=1")));
        assert!(malformed("foo<2<3").is_some_and(|m| m.contains("the version 2<3")));
        assert!(malformed("foo>=1<2<3").is_some_and(|m| m.contains("the version 2<3")));
        for fine in ["foo>=1<2", "foo<2", "foo-[0-9]*", "foo>1.0nb2", "{a,b}>=1"] {
            assert_eq!(malformed(fine), None, "{fine}");
        }
    }

    #[test]
    fn dewey_basics() {
        assert_eq!(dewey_compare("1.0", "1.0.0"), Ordering::Equal);
        assert_eq!(dewey_compare("1.0alpha", "1.0"), Ordering::Less);
        assert_eq!(dewey_compare("1.0nb1", "1.0"), Ordering::Greater);
        assert_eq!(dewey_compare("1.10", "1.9"), Ordering::Greater);
        assert_eq!(dewey_compare("1.2e", "1.2.5"), Ordering::Equal);
    }

    #[test]
    fn globbing() {
        assert!(glob_match("foo-[0-9]*", "foo-1.0"));
        assert!(!glob_match("foo-[0-9]*", "foo-bar-1.0"));
        assert!(glob_match("foo-?.0", "foo-2.0"));
        assert!(glob_match("[!a]x", "bx"));
        assert!(!glob_match("[!a]x", "ax"));
        assert!(glob_match("*", ""));
    }

    #[test]
    fn best_match_prefers_highest() {
        let c = ["foo-1.0", "foo-2.0", "foo-1.5", "bar-9"];
        assert_eq!(find_best("foo>=1", c.iter().copied()), Some("foo-2.0"));
        assert_eq!(find_best("foo<2", c.iter().copied()), Some("foo-1.5"));
        assert_eq!(find_best("baz", c.iter().copied()), None);
    }

    #[test]
    fn conformance_table_passes_completely() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/conformance/pattern-match.tsv"
        );
        let text = fs_err::read_to_string(path)
            .expect("../shared/conformance/pattern-match.tsv is required beside the repository");
        let mut failures = Vec::new();
        let mut rows = 0;
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 3, "{line}");
            rows += 1;
            if pkg_match(cols[0], cols[1]) != (cols[2] == "true") {
                failures.push(line.to_owned());
            }
        }
        assert_eq!(rows, 89);
        assert!(
            failures.is_empty(),
            "{} of {rows} rows disagree with pkg_install:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        fn version() -> impl Strategy<Value = String> {
            proptest::string::string_regex("[0-9]{1,3}(\\.[0-9]{1,3}){0,3}((alpha|beta|pre|rc|pl|_|[a-z])[0-9]{0,2})?(nb[0-9]{1,2})?")
                .expect("regex")
        }

        proptest! {
            #[test]
            fn ordering_is_antisymmetric(a in version(), b in version()) {
                prop_assert_eq!(dewey_compare(&a, &b), dewey_compare(&b, &a).reverse());
            }

            #[test]
            fn ordering_is_transitive(a in version(), b in version(), c in version()) {
                let ab = dewey_compare(&a, &b);
                let bc = dewey_compare(&b, &c);
                if ab != Ordering::Greater && bc != Ordering::Greater {
                    prop_assert_ne!(dewey_compare(&a, &c), Ordering::Greater);
                }
                if ab == Ordering::Equal && bc == Ordering::Equal {
                    prop_assert_eq!(dewey_compare(&a, &c), Ordering::Equal);
                }
            }

            #[test]
            fn bare_name_matches_exactly_what_the_version_glob_matches(
                name in "[a-z][a-z0-9]{0,6}(-[a-z]{1,4})?",
                other in "[a-z][a-z0-9]{0,6}(-[a-z]{1,4})?",
                v in version(),
            ) {
                for pkg in [format!("{name}-{v}"), format!("{other}-{v}"), format!("{name}-x{v}")] {
                    prop_assert_eq!(pkg_match(&name, &pkg), pkg_match(&format!("{name}-[0-9]*"), &pkg), "{}", pkg);
                }
            }

            #[test]
            fn ranges_agree_with_the_ordering(a in version(), b in version()) {
                let pkg = format!("p-{a}");
                prop_assert_eq!(pkg_match(&format!("p>={b}"), &pkg), dewey_compare(&a, &b) != Ordering::Less);
                prop_assert_eq!(pkg_match(&format!("p<{b}"), &pkg), dewey_compare(&a, &b) == Ordering::Less);
            }
        }
    }
}
