//! `+CONTENTS` packing lists: parse, query and write with pkg_install's rules.
//!
//! The entry point is [`PackingList::parse`]. Command words are matched as
//! `lib/plist.c` does: the first word in table order that is a prefix of the
//! command (case-insensitive) wins, so the legacy `@cd`, upper-case commands
//! and `@ignore_inst` are read leniently. Unknown commands are reported as
//! warnings and skipped. [`PackingList::files`] binds `@comment MD5:`,
//! `@comment SHA256:` and `@comment Symlink:` to the file before them and
//! carries the sticky `@mode`/`@owner`/`@group`.

use std::fmt::Write as _;

/// A packing list command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `@cwd DIR`: the directory following file names are relative to.
    Cwd,
    /// `@src DIR`: the source directory at create time.
    Src,
    /// `@exec CMD`: run at install.
    Exec,
    /// `@unexec CMD`: run at delete.
    Unexec,
    /// `@mode MODE`: sticky mode for following files.
    Mode,
    /// `@owner USER`: sticky owner.
    Owner,
    /// `@group GROUP`: sticky group.
    Group,
    /// `@comment TEXT`.
    Comment,
    /// `@ignore`: the next file is metadata, not payload.
    Ignore,
    /// `@ignore_inst` (legacy): like `@ignore`.
    IgnoreInst,
    /// `@name PKGNAME`.
    Name,
    /// `@display FILE`: message shown at install.
    Display,
    /// `@pkgdep PATTERN`: a run-time dependency.
    PkgDep,
    /// `@pkgcfl PATTERN`: a conflict.
    PkgCfl,
    /// `@pkgdir DIR`: a directory the package owns.
    PkgDir,
    /// `@dirrm DIR`: a directory removed at delete.
    DirRm,
    /// `@option NAME`.
    Option,
    /// `@blddep PKGNAME`: the exact package built against.
    BldDep,
    /// `@mtree FILE` (legacy).
    Mtree,
}

/// `lib/plist.c`'s command table, in its matching order.
const TABLE: &[(&str, Command)] = &[
    ("cwd", Command::Cwd),
    ("src", Command::Src),
    ("cd", Command::Cwd),
    ("exec", Command::Exec),
    ("unexec", Command::Unexec),
    ("mode", Command::Mode),
    ("owner", Command::Owner),
    ("group", Command::Group),
    ("comment", Command::Comment),
    ("ignore", Command::Ignore),
    ("ignore_inst", Command::IgnoreInst),
    ("name", Command::Name),
    ("display", Command::Display),
    ("pkgdep", Command::PkgDep),
    ("pkgcfl", Command::PkgCfl),
    ("pkgdir", Command::PkgDir),
    ("mtree", Command::Mtree),
    ("dirrm", Command::DirRm),
    ("option", Command::Option),
    ("blddep", Command::BldDep),
];

impl Command {
    /// The canonical lower-case word written for this command.
    pub fn word(self) -> &'static str {
        match self {
            Command::IgnoreInst => "ignore_inst",
            other => TABLE
                .iter()
                .find(|(_, c)| *c == other)
                .map_or("comment", |(w, _)| w),
        }
    }

    fn takes_argument(self) -> bool {
        !matches!(self, Command::Ignore | Command::IgnoreInst)
    }
}

/// One line of a packing list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A file name (a line not starting with `@`).
    File(String),
    /// A command with its argument (empty when none).
    Command(Command, String),
}

/// A parsed `+CONTENTS`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackingList {
    /// The entries in file order.
    pub entries: Vec<Entry>,
}

/// A warning produced while parsing (unknown commands).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// 1-based line number.
    pub line: usize,
    /// The offending line.
    pub text: String,
}

/// The checksum comment pkg_install writes after each file.
pub const MD5_HEADER: &str = "MD5:";
/// depot's own checksum comment, ignored by pkg_install.
pub const SHA256_HEADER: &str = "SHA256:";
/// The comment pkg_install writes after each symlink.
pub const SYMLINK_HEADER: &str = "Symlink:";

/// A file of the packing list with everything bound to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileItem {
    /// Index of the file entry in [`PackingList::entries`].
    pub index: usize,
    /// The name as written (relative to `cwd`).
    pub name: String,
    /// The `@cwd` in effect.
    pub cwd: String,
    /// Marked by a preceding `@ignore`: a metadata file, not payload.
    pub ignored: bool,
    /// `@comment MD5:` value.
    pub md5: Option<String>,
    /// `@comment SHA256:` value.
    pub sha256: Option<String>,
    /// `@comment Symlink:` value.
    pub symlink: Option<String>,
    /// Sticky `@mode`.
    pub mode: Option<String>,
    /// Sticky `@owner`.
    pub owner: Option<String>,
    /// Sticky `@group`.
    pub group: Option<String>,
}

/// A run-time dependency with the exact package it was built against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The `@pkgdep` pattern, or for build-only dependencies the `@blddep` name.
    pub pattern: String,
    /// The `@blddep` bound to it, if any.
    pub built_with: Option<String>,
    /// True for a `@blddep` with no `@pkgdep` after it.
    pub build_only: bool,
}

impl PackingList {
    /// Parse `+CONTENTS` text. Unknown commands are skipped and returned as warnings.
    pub fn parse(text: &str) -> (PackingList, Vec<Warning>) {
        let mut entries = Vec::new();
        let mut warnings = Vec::new();
        for (number, raw) in text.split('\n').enumerate() {
            let line = raw.trim_end();
            if line.is_empty() {
                continue;
            }
            let Some(rest) = line.strip_prefix('@') else {
                entries.push(Entry::File(line.to_owned()));
                continue;
            };
            match match_command(rest) {
                Some((command, arg)) => entries.push(Entry::Command(command, arg)),
                None => warnings.push(Warning {
                    line: number + 1,
                    text: line.to_owned(),
                }),
            }
        }
        (PackingList { entries }, warnings)
    }

    /// Write canonical `+CONTENTS` text (lower-case commands, one per line).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for entry in &self.entries {
            match entry {
                Entry::File(name) => {
                    out.push_str(name);
                    out.push('\n');
                }
                Entry::Command(command, arg) => {
                    if command.takes_argument() {
                        let _ = writeln!(out, "@{} {}", command.word(), arg);
                    } else {
                        let _ = writeln!(out, "@{}", command.word());
                    }
                }
            }
        }
        out
    }

    /// Append a command.
    pub fn push(&mut self, command: Command, arg: impl Into<String>) {
        self.entries.push(Entry::Command(command, arg.into()));
    }

    /// Append a file name.
    pub fn push_file(&mut self, name: impl Into<String>) {
        self.entries.push(Entry::File(name.into()));
    }

    /// The first argument of `command`, if present.
    pub fn first(&self, command: Command) -> Option<&str> {
        self.entries.iter().find_map(|e| match e {
            Entry::Command(c, arg) if *c == command => Some(arg.as_str()),
            _ => None,
        })
    }

    /// Every argument of `command`, in order.
    pub fn all(&self, command: Command) -> impl Iterator<Item = &str> {
        self.entries.iter().filter_map(move |e| match e {
            Entry::Command(c, arg) if *c == command => Some(arg.as_str()),
            _ => None,
        })
    }

    /// `@name`.
    pub fn name(&self) -> Option<&str> {
        self.first(Command::Name)
    }

    /// The package prefix: the first `@cwd` that is not `.`.
    pub fn prefix(&self) -> Option<&str> {
        self.all(Command::Cwd).find(|c| *c != ".")
    }

    /// Dependencies: each `@pkgdep` with the `@blddep` before it bound, then build-only `@blddep`s.
    pub fn dependencies(&self) -> Vec<Dependency> {
        let mut out = Vec::new();
        let mut pending: Option<String> = None;
        for entry in &self.entries {
            match entry {
                Entry::Command(Command::BldDep, name) => {
                    if let Some(previous) = pending.replace(name.clone()) {
                        out.push(Dependency {
                            pattern: previous,
                            built_with: None,
                            build_only: true,
                        });
                    }
                }
                Entry::Command(Command::PkgDep, pattern) => out.push(Dependency {
                    pattern: pattern.clone(),
                    built_with: pending.take(),
                    build_only: false,
                }),
                _ => {}
            }
        }
        if let Some(previous) = pending {
            out.push(Dependency {
                pattern: previous,
                built_with: None,
                build_only: true,
            });
        }
        out
    }

    /// Every file entry with its bound comments, cwd, sticky attributes and ignore flag.
    pub fn files(&self) -> Vec<FileItem> {
        let mut out: Vec<FileItem> = Vec::new();
        let mut cwd = String::from(".");
        let mut mode = None;
        let mut owner = None;
        let mut group = None;
        let mut ignore_next = false;
        let mut last_was_file = false;
        for (index, entry) in self.entries.iter().enumerate() {
            match entry {
                Entry::File(name) => {
                    out.push(FileItem {
                        index,
                        name: name.clone(),
                        cwd: cwd.clone(),
                        ignored: std::mem::take(&mut ignore_next),
                        mode: mode.clone(),
                        owner: owner.clone(),
                        group: group.clone(),
                        ..FileItem::default()
                    });
                    last_was_file = true;
                    continue;
                }
                Entry::Command(Command::Comment, text) if last_was_file => {
                    if let Some(item) = out.last_mut() {
                        if let Some(v) = text.strip_prefix(MD5_HEADER) {
                            item.md5 = Some(v.to_owned());
                        } else if let Some(v) = text.strip_prefix(SHA256_HEADER) {
                            item.sha256 = Some(v.to_owned());
                        } else if let Some(v) = text.strip_prefix(SYMLINK_HEADER) {
                            item.symlink = Some(v.to_owned());
                        }
                    }
                    // Keep binding: MD5 and SHA256 both follow the same file.
                    continue;
                }
                Entry::Command(Command::Cwd, dir) => cwd.clone_from(dir),
                Entry::Command(Command::Mode, m) => mode = non_empty(m),
                Entry::Command(Command::Owner, o) => owner = non_empty(o),
                Entry::Command(Command::Group, g) => group = non_empty(g),
                Entry::Command(Command::Ignore | Command::IgnoreInst, _) => ignore_next = true,
                Entry::Command(..) => {}
            }
            last_was_file = false;
        }
        out
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

fn match_command(rest: &str) -> Option<(Command, String)> {
    let bytes = rest.as_bytes();
    // Exact word first so `@ignore_inst` is not read as `@ignore` with argument `_inst`.
    let word_end = bytes
        .iter()
        .position(u8::is_ascii_whitespace)
        .unwrap_or(bytes.len());
    let word = rest[..word_end].to_ascii_lowercase();
    let found = TABLE
        .iter()
        .find(|(w, _)| *w == word)
        .map(|(w, c)| (*c, w.len()))
        .or_else(|| {
            TABLE
                .iter()
                .find(|(w, _)| {
                    bytes.len() >= w.len() && bytes[..w.len()].eq_ignore_ascii_case(w.as_bytes())
                })
                .map(|(w, c)| (*c, w.len()))
        })?;
    let (command, len) = found;
    // `@ignore` and `@ignore_inst` take none: text after them is not kept
    // (it would not survive writing the list again).
    let arg = if command.takes_argument() {
        rest[len..].trim().to_owned()
    } else {
        String::new()
    };
    Some((command, arg))
}

/// Quote a string for `sh -c`.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:=@%".contains(&b))
    {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Expand `%F %D %B %f` in an `@exec`/`@unexec` command, shell-quoting the values.
pub fn format_command(command: &str, dir: &str, last_file: &str) -> String {
    let full = format!("{dir}/{last_file}");
    let (parent, base) = match full.rfind('/') {
        Some(i) => (&full[..i], &full[i + 1..]),
        None => ("", full.as_str()),
    };
    let mut out = String::new();
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('F') => out.push_str(&shell_quote(last_file)),
            Some('D') => out.push_str(&shell_quote(dir)),
            Some('B') => out.push_str(&shell_quote(parent)),
            Some('f') => out.push_str(&shell_quote(base)),
            Some('%') | None => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_in_table_order_and_legacy_forms() {
        let text = "@name foo-1.0\n@CWD /usr/pkg\n@cd /opt\n@ignore_inst\n@bogus x\nbin/foo\n@comment MD5:abc\n@comment SHA256:def\n";
        let (plist, warnings) = PackingList::parse(text);
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].line, 5);
        assert_eq!(plist.name(), Some("foo-1.0"));
        assert_eq!(
            plist.entries[1],
            Entry::Command(Command::Cwd, "/usr/pkg".into())
        );
        assert_eq!(
            plist.entries[2],
            Entry::Command(Command::Cwd, "/opt".into())
        );
        assert_eq!(
            plist.entries[3],
            Entry::Command(Command::IgnoreInst, String::new())
        );
        let files = plist.files();
        assert_eq!(files.len(), 1);
        assert!(files[0].ignored);
        assert_eq!(files[0].md5.as_deref(), Some("abc"));
        assert_eq!(files[0].sha256.as_deref(), Some("def"));
        assert_eq!(files[0].cwd, "/opt");
    }

    #[test]
    fn blddep_binds_to_next_pkgdep() {
        let text = "@blddep a-1.0\n@pkgdep a>=1\n@pkgdep b-[0-9]*\n@blddep c-2\n";
        let (plist, _) = PackingList::parse(text);
        let deps = plist.dependencies();
        assert_eq!(deps.len(), 3);
        assert_eq!(deps[0].built_with.as_deref(), Some("a-1.0"));
        assert_eq!(deps[1].built_with, None);
        assert!(deps[2].build_only);
        assert_eq!(deps[2].pattern, "c-2");
    }

    #[test]
    fn sticky_mode_and_comment_binding() {
        let text = "@mode 0755\nbin/a\n@comment Symlink:x\n@exec true\nbin/b\n@mode\nbin/c\n";
        let (plist, _) = PackingList::parse(text);
        let f = plist.files();
        assert_eq!(f[0].mode.as_deref(), Some("0755"));
        assert_eq!(f[0].symlink.as_deref(), Some("x"));
        assert_eq!(f[1].mode.as_deref(), Some("0755"));
        assert_eq!(f[2].mode, None);
    }

    #[test]
    fn round_trip_is_canonical() {
        let text = "@NAME foo-1\n@ignore\n+COMMENT\nfile with space\n";
        let (plist, _) = PackingList::parse(text);
        assert_eq!(
            plist.to_text(),
            "@name foo-1\n@ignore\n+COMMENT\nfile with space\n"
        );
    }

    #[test]
    fn format_substitutes_and_quotes() {
        assert_eq!(
            format_command("ln -s %F %D/x %B %f", "/usr/pkg", "bin/my file"),
            "ln -s 'bin/my file' /usr/pkg/x /usr/pkg/bin 'my file'"
        );
    }
}
