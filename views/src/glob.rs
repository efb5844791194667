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
    use super::glob_match;

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
