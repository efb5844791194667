//! Shell globs for ignore rules and always-real directories.

/// fnmatch(3)-style match where `*` and `?` also match `/` only when the pattern has no `/`
/// (then it is matched against the last component).
pub fn glob_match(pattern: &str, path: &str) -> bool {
    if pattern.contains('/') {
        matches(pattern.as_bytes(), path.as_bytes())
    } else {
        let base = path.rsplit('/').next().unwrap_or(path);
        matches(pattern.as_bytes(), base.as_bytes())
    }
}

/// Globs compiled for matching many paths: the common shapes (a literal, `x*`,
/// `*x`) skip the general matcher, and the last component is found once.
#[derive(Debug, Clone)]
pub(crate) struct Globs(Vec<Glob>);

#[derive(Debug, Clone)]
struct Glob {
    /// Matched against the whole path (the pattern has a `/`), else the last component.
    whole: bool,
    shape: Shape,
}

#[derive(Debug, Clone)]
enum Shape {
    Literal(String),
    Prefix(String),
    Suffix(String),
    General(String),
}

impl Globs {
    pub(crate) fn new(patterns: &[String]) -> Globs {
        let special = |s: &str| s.contains(['*', '?', '[']);
        Globs(
            patterns
                .iter()
                .map(|p| {
                    let shape = if !special(p) {
                        Shape::Literal(p.clone())
                    } else if let Some(head) = p.strip_suffix('*')
                        && !special(head)
                    {
                        Shape::Prefix(head.to_owned())
                    } else if let Some(tail) = p.strip_prefix('*')
                        && !special(tail)
                    {
                        Shape::Suffix(tail.to_owned())
                    } else {
                        Shape::General(p.clone())
                    };
                    Glob {
                        whole: p.contains('/'),
                        shape,
                    }
                })
                .collect(),
        )
    }

    /// Whether any of the globs matches `path` (as [`glob_match`] would).
    pub(crate) fn matches(&self, path: &str) -> bool {
        let base = path.rsplit('/').next().unwrap_or(path);
        self.0.iter().any(|g| {
            let t = if g.whole { path } else { base };
            match &g.shape {
                Shape::Literal(l) => t == l,
                // `*` never crosses a `/`.
                Shape::Prefix(h) => t.starts_with(h.as_str()) && !t[h.len()..].contains('/'),
                Shape::Suffix(x) => {
                    t.ends_with(x.as_str()) && !t[..t.len() - x.len()].contains('/')
                }
                Shape::General(p) => matches(p.as_bytes(), t.as_bytes()),
            }
        })
    }
}

fn matches(p: &[u8], t: &[u8]) -> bool {
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
                b'?' if t[ti] != b'/' => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                b'[' => {
                    if let Some(end) = p[pi + 1..]
                        .iter()
                        .position(|&c| c == b']')
                        .map(|e| pi + 1 + e)
                    {
                        let class = &p[pi + 1..end];
                        let (negate, class) = match class.first() {
                            Some(b'!' | b'^') => (true, &class[1..]),
                            _ => (false, class),
                        };
                        let mut hit = false;
                        let mut i = 0;
                        while i < class.len() {
                            if i + 2 < class.len() && class[i + 1] == b'-' {
                                hit |= class[i] <= t[ti] && t[ti] <= class[i + 2];
                                i += 3;
                            } else {
                                hit |= class[i] == t[ti];
                                i += 1;
                            }
                        }
                        if hit != negate {
                            pi = end + 1;
                            ti += 1;
                            continue;
                        }
                    }
                }
                c if c == t[ti] => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            // `*` never crosses a `/`.
            Some((sp, st)) if t[st] != b'/' => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            _ => return false,
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::{Globs, glob_match};

    #[test]
    fn compiled_globs_agree_with_glob_match() {
        let patterns: Vec<String> = [
            "+*",
            "info/dir",
            "*[~#]",
            "*.OLD",
            "*.orig",
            "*,v",
            "share/man/*",
            "lib/*.a",
            "x",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let paths = [
            "+CONTENTS",
            "a/+x",
            "info/dir",
            "share/info/dir",
            "a/b~",
            "a/#b#",
            "x.OLD",
            "a/b.orig",
            "a/b.orig/c",
            "f,v",
            "share/man/man1",
            "share/man/man1/x.1",
            "lib/libx.a",
            "lib/sub/x.a",
            "x",
            "a/x",
            "xx",
            "bin/tool",
        ];
        for pattern in &patterns {
            let compiled = Globs::new(std::slice::from_ref(pattern));
            for path in paths {
                assert_eq!(
                    compiled.matches(path),
                    glob_match(pattern, path),
                    "{pattern} on {path}"
                );
            }
        }
    }

    #[test]
    fn pkg_view_defaults() {
        assert!(glob_match("+*", "+CONTENTS"));
        assert!(glob_match("info/dir", "info/dir"));
        assert!(!glob_match("info/dir", "share/info/dir"));
        assert!(glob_match("*[~#]", "share/doc/x~"));
        assert!(glob_match("*.orig", "a/b.orig"));
        assert!(glob_match("share/man/*", "share/man/man1"));
        assert!(!glob_match("share/man/*", "share/man/man1/x.1"));
    }
}
