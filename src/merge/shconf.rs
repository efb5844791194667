//! portshaker.conf, read as the sh(1) `name=value` assignments it is made of
//! (quoting, `${var}` expansion, comments, line continuations), with its hook
//! functions (`<tree>_pre<action>()`) noted by name and run later by sourcing
//! the file. Anything else sh would run is refused with the file and line:
//! depot reads the file, it does not execute it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use super::config::{Config, Hook, MergeFrom, Source, Target, Update, bad_name, config_path};

/// What a portshaker.conf sets.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Each variable's value and the line it was set on.
    pub vars: BTreeMap<String, (String, usize)>,
    /// The functions it defines.
    pub functions: BTreeSet<String>,
}

impl Parsed {
    fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(|(v, _)| v.as_str())
    }
}

/// Parse sh assignments and function definitions from `text`; anything else
/// is an error `file:line: …`.
pub fn parse(path: &Path, text: &str) -> Result<Parsed> {
    let mut p = Parser {
        path,
        chars: text.chars().collect(),
        at: 0,
        line: 1,
        out: Parsed::default(),
    };
    p.statements()?;
    Ok(p.out)
}

struct Parser<'a> {
    path: &'a Path,
    chars: Vec<char>,
    at: usize,
    line: usize,
    out: Parsed,
}

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn error(&self, line: usize, what: &str) -> anyhow::Error {
        anyhow::anyhow!("{}:{line}: {what}", self.path.display())
    }

    /// Skip blanks, newlines, `;`, comments and line continuations.
    fn skip_space(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\n' | '\r' | ';' => {
                    self.bump();
                }
                '\\' if self.peek_at(1) == Some('\n') => {
                    self.bump();
                    self.bump();
                }
                '#' => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                _ => break,
            }
        }
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.bump();
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek().filter(|c| name_char(*c)) {
            name.push(c);
            self.bump();
        }
        name
    }

    fn statements(&mut self) -> Result<()> {
        loop {
            self.skip_space();
            if self.peek().is_none() {
                return Ok(());
            }
            let line = self.line;
            let start = self.at;
            let word = self.name();
            if word.is_empty() || word.starts_with(|c: char| c.is_ascii_digit()) {
                return Err(self.unexpected(start, line));
            }
            match self.peek() {
                Some('=') => {
                    self.bump();
                    let value = self.word()?;
                    self.out.vars.insert(word, (value, line));
                }
                Some('(' | ' ' | '\t') if self.function_follows() => {
                    self.function(word, line)?;
                }
                _ if word == "function" => {
                    self.skip_blanks();
                    let name = self.name();
                    if name.is_empty() {
                        return Err(self.unexpected(start, line));
                    }
                    self.function(name, line)?;
                }
                Some(' ' | '\t') if word == "export" || word == "readonly" => {
                    // `export a=b c`: the assignments are read; plain names set nothing.
                }
                _ => return Err(self.unexpected(start, line)),
            }
        }
    }

    fn unexpected(&self, start: usize, line: usize) -> anyhow::Error {
        let text: String = self.chars[start..]
            .iter()
            .take_while(|c| **c != '\n')
            .collect();
        self.error(
            line,
            &format!(
                "{} is not a `name=value` assignment or a hook function (depot reads portshaker.conf; it does not run it)",
                crate::quote::name(text.trim())
            ),
        )
    }

    /// Whether `()` comes next (after blanks).
    fn function_follows(&self) -> bool {
        let mut i = self.at;
        while matches!(self.chars.get(i), Some(' ' | '\t')) {
            i += 1;
        }
        self.chars.get(i) == Some(&'(')
    }

    /// `name () { … }`: the body is skipped (it runs only when sourced).
    fn function(&mut self, name: String, line: usize) -> Result<()> {
        self.skip_blanks();
        if self.peek() == Some('(') {
            self.bump();
            self.skip_blanks();
            if self.bump() != Some(')') {
                return Err(self.error(line, &format!("function {name}: expected `()`")));
            }
        }
        self.skip_space();
        if self.bump() != Some('{') {
            return Err(self.error(
                line,
                &format!("function {name}: expected `{{` to open its body"),
            ));
        }
        let mut depth = 1;
        while depth > 0 {
            match self.bump() {
                None => {
                    return Err(self.error(
                        line,
                        &format!("function {name}: its body has no closing `}}`"),
                    ));
                }
                Some('{') => depth += 1,
                Some('}') => depth -= 1,
                Some('\\') => {
                    self.bump();
                }
                Some('\'') => while self.bump().is_some_and(|c| c != '\'') {},
                Some('"') => {
                    while let Some(c) = self.bump() {
                        if c == '\\' {
                            self.bump();
                        } else if c == '"' {
                            break;
                        }
                    }
                }
                Some('#') => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                Some(_) => {}
            }
        }
        self.out.functions.insert(name);
        Ok(())
    }

    /// One sh word: unquoted text, '…', "…" and expansions, up to an
    /// unquoted blank, newline or `;`.
    fn word(&mut self) -> Result<String> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\n' | '\r' | ';' => break,
                '\\' => {
                    self.bump();
                    match self.bump() {
                        Some('\n') | None => {}
                        Some(c) => out.push(c),
                    }
                }
                '\'' => {
                    let line = self.line;
                    self.bump();
                    loop {
                        match self.bump() {
                            Some('\'') => break,
                            Some(c) => out.push(c),
                            None => {
                                return Err(
                                    self.error(line, "a '…' string is not closed (missing ')")
                                );
                            }
                        }
                    }
                }
                '"' => {
                    let line = self.line;
                    self.bump();
                    loop {
                        match self.peek() {
                            Some('"') => {
                                self.bump();
                                break;
                            }
                            Some('\\') => {
                                self.bump();
                                match self.bump() {
                                    Some('\n') => {}
                                    Some(c @ ('$' | '`' | '"' | '\\')) => out.push(c),
                                    Some(c) => {
                                        out.push('\\');
                                        out.push(c);
                                    }
                                    None => break,
                                }
                            }
                            Some('$') => {
                                let v = self.expansion()?;
                                out.push_str(&v);
                            }
                            Some('`') => {
                                return Err(self.error(
                                    self.line,
                                    "command substitution (`…`) is not read in a merge config",
                                ));
                            }
                            Some(c) => {
                                self.bump();
                                out.push(c);
                            }
                            None => {
                                return Err(
                                    self.error(line, "a \"…\" string is not closed (missing \")")
                                );
                            }
                        }
                    }
                }
                '$' => {
                    let v = self.expansion()?;
                    out.push_str(&v);
                }
                '`' | '|' | '&' | '<' | '>' | '(' | ')' => {
                    return Err(self.error(
                        self.line,
                        &format!(
                            "`{c}` in a value: command substitution, pipes and redirections are not read in a merge config"
                        ),
                    ));
                }
                c => {
                    self.bump();
                    out.push(c);
                }
            }
        }
        Ok(out)
    }

    /// `$name`, `${name}`, `${name:-word}`, `${name-word}`, `${name:=word}`.
    fn expansion(&mut self) -> Result<String> {
        let line = self.line;
        self.bump(); // $
        match self.peek() {
            Some('{') => {
                self.bump();
                let name = self.name();
                if name.is_empty() {
                    return Err(self.error(line, "`${` is not followed by a variable name"));
                }
                let mut op = String::new();
                while let Some(c) = self.peek().filter(|c| matches!(c, ':' | '-' | '=' | '+')) {
                    op.push(c);
                    self.bump();
                    if op.len() == 2 || (op.len() == 1 && c != ':') {
                        break;
                    }
                }
                let mut word = String::new();
                if !op.is_empty() {
                    loop {
                        match self.peek() {
                            Some('}') | None => break,
                            Some('$') => word.push_str(&self.expansion()?),
                            Some('"') => {
                                self.bump();
                            }
                            Some(c) => {
                                self.bump();
                                word.push(c);
                            }
                        }
                    }
                }
                if self.bump() != Some('}') {
                    return Err(self.error(line, &format!("`${{{name}` is not closed with `}}`")));
                }
                let value = self.value_of(&name);
                let empty_counts = op.starts_with(':');
                let unset = match &value {
                    None => true,
                    Some(v) => empty_counts && v.is_empty(),
                };
                Ok(match op.trim_start_matches(':') {
                    "-" if unset => word,
                    "=" if unset => {
                        self.out.vars.insert(name, (word.clone(), line));
                        word
                    }
                    "+" if !unset => word,
                    "+" => String::new(),
                    "" | "-" | "=" => value.unwrap_or_default(),
                    other => {
                        return Err(self.error(
                            line,
                            &format!("`${{{name}{other}…}}` is not a form depot reads"),
                        ));
                    }
                })
            }
            Some('(') => Err(self.error(
                line,
                "command substitution ($(…)) is not read in a merge config",
            )),
            Some(c) if name_char(c) && !c.is_ascii_digit() => {
                let name = self.name();
                Ok(self.value_of(&name).unwrap_or_default())
            }
            _ => Ok("$".to_owned()),
        }
    }

    /// A variable set earlier in the file, or else in the environment (sh
    /// sees both).
    fn value_of(&self, name: &str) -> Option<String> {
        self.out
            .vars
            .get(name)
            .map(|(v, _)| v.clone())
            .or_else(|| std::env::var(name).ok())
    }
}

fn truth(path: &Path, name: &str, value: &str, line: usize) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Ok(true),
        "no" | "false" | "off" | "0" | "" => Ok(false),
        _ => bail!(
            "{}:{line}: {name}={}: expected yes or no",
            path.display(),
            crate::quote::name(value)
        ),
    }
}

/// The variables portshaker documents that depot does not act on.
const ZFS: &[&str] = &[
    "use_zfs",
    "poudriere_dataset",
    "source_zfs_compression",
    "target_zfs_compression",
];

/// A portshaker.conf as a [`Config`].
pub fn read(path: &Path, text: &str, default_mirror: PathBuf) -> Result<Config> {
    let parsed = parse(path, text)?;
    let mirror_base_dir = parsed
        .get("mirror_base_dir")
        .filter(|v| !v.is_empty())
        .map_or(default_mirror, |d| config_path(path, d));
    let Some((trees, trees_line)) = parsed.vars.get("ports_trees") else {
        bail!(
            "{}: ports_trees is not set: name the target trees (ports_trees=\"main\")",
            path.display()
        );
    };
    let at = |line: usize| format!("{}:{line}", path.display());
    let fail_on_conflict = match parsed.vars.get("fail_on_conflict") {
        Some((v, line)) => truth(path, "fail_on_conflict", v, *line)?,
        None => false,
    };
    let mut warnings = Vec::new();
    for name in ZFS {
        if let Some((value, line)) = parsed.vars.get(*name) {
            let set = if *name == "use_zfs" {
                truth(path, name, value, *line)?
            } else {
                !value.is_empty()
            };
            if set {
                warnings.push(zfs_warning(&at(*line), name));
            }
        }
    }
    let hook = |name: String| {
        parsed.functions.contains(&name).then(|| Hook::Function {
            conf: path.to_path_buf(),
            name,
        })
    };
    let mut sources = BTreeMap::new();
    let mut targets = Vec::new();
    for target in trees.split_whitespace() {
        if let Some(why) = bad_name(target) {
            bail!(
                "{}: ports_trees: target {}: {why}",
                at(*trees_line),
                crate::quote::name(target)
            );
        }
        if let Some((_, line)) = parsed.vars.get(&format!("{target}_zfs_dataset")) {
            warnings.push(zfs_warning(&at(*line), &format!("{target}_zfs_dataset")));
        }
        let ports = parsed.vars.get(&format!("{target}_ports_tree"));
        let poudriere = parsed.vars.get(&format!("{target}_poudriere_tree"));
        let tree = match (ports, poudriere) {
            (Some(_), Some((_, line))) => bail!(
                "{}: {target}_ports_tree and {target}_poudriere_tree are mutually exclusive: set one",
                at(*line)
            ),
            (Some((tree, _)), None) => config_path(path, tree),
            (None, Some((name, _))) => {
                let base = parsed
                    .get("poudriere_ports_mountpoint")
                    .filter(|v| !v.is_empty())
                    .unwrap_or("/usr/local/poudriere/ports");
                config_path(path, base).join(name)
            }
            (None, None) => bail!(
                "{}: target {target} (in ports_trees) has neither {target}_ports_tree nor {target}_poudriere_tree",
                at(*trees_line)
            ),
        };
        let Some((from, from_line)) = parsed.vars.get(&format!("{target}_merge_from")) else {
            bail!(
                "{}: target {target} (in ports_trees) has no {target}_merge_from",
                at(*trees_line)
            );
        };
        let mut merge_from: Vec<MergeFrom> = Vec::new();
        for entry in from.split_whitespace() {
            // `redports:foo`: the script `redports` with the argument `foo`,
            // mirrored as `redports_foo`.
            let flat = entry.replace(':', "_");
            let parsed_entry = super::config::parse_merge_from(&flat)
                .map_err(|why| anyhow::anyhow!("{}: {target}_merge_from: {why}", at(*from_line)))?;
            if merge_from.iter().any(|m| m.source == parsed_entry.source) {
                bail!(
                    "{}: {target}_merge_from names {} twice",
                    at(*from_line),
                    parsed_entry.source
                );
            }
            let bare = entry.trim_end_matches(['!', '+']);
            let mut words = bare.split(':');
            let script = words.next().unwrap_or_default();
            let args: Vec<&str> = words.collect();
            if !sources.contains_key(&parsed_entry.source) {
                let (update, warning) = source_script(path, script, &args)?;
                warnings.extend(warning);
                let name = parsed_entry.source.clone();
                sources.insert(
                    name.clone(),
                    Source {
                        dir: mirror_base_dir.join(&name),
                        update,
                        pre_update: hook(format!("{name}_preupdate")),
                        post_update: hook(format!("{name}_postupdate")),
                        name,
                    },
                );
            }
            merge_from.push(parsed_entry);
        }
        if merge_from.is_empty() {
            bail!("{}: {target}_merge_from names no source", at(*from_line));
        }
        targets.push(Target {
            name: target.to_owned(),
            tree,
            merge_from,
            fail_on_conflict,
            pre_merge: hook(format!("{target}_premerge")),
            post_merge: hook(format!("{target}_postmerge")),
        });
    }
    if targets.is_empty() {
        bail!("{}: ports_trees names no target", at(*trees_line));
    }
    Ok(Config {
        file: path.to_path_buf(),
        mirror_base_dir,
        sources,
        targets,
        warnings,
    })
}

fn zfs_warning(at: &str, name: &str) -> String {
    format!(
        "{at}: {name} is ignored: depot merge builds each target beside the old one and switches it by rename; it makes no ZFS datasets"
    )
}

/// How portshaker would update `script`: its `portshaker.d/<script>` beside
/// the config, read for `method=git` (`git_clone_uri`, `git_branch`) or
/// `method=rsync` (`rsync_source`). Without a script the mirror is used as
/// it is.
fn source_script(conf: &Path, script: &str, args: &[&str]) -> Result<(Update, Option<String>)> {
    let file = conf
        .parent()
        .unwrap_or(Path::new("/"))
        .join("portshaker.d")
        .join(script);
    let Ok(text) = fs_err::read_to_string(&file) else {
        return Ok((Update::Nothing, None));
    };
    // A script is a program; only its plain assignment lines are read.
    let mut vars = BTreeMap::new();
    for line in text.lines() {
        if let Ok(p) = parse(&file, line) {
            for (k, (v, _)) in p.vars {
                vars.insert(k, v);
            }
        }
    }
    let get = |k: &str| vars.get(k).cloned().filter(|v: &String| !v.is_empty());
    let unsupported = |what: &str| {
        Ok((
            Update::Nothing,
            Some(format!(
                "{}: {what}; the mirror {script}{} is used as it is",
                file.display(),
                if args.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", args.join(" "))
                }
            )),
        ))
    };
    match get("method").as_deref() {
        Some("git") => match get("git_clone_uri") {
            Some(url) => Ok((
                Update::Git {
                    url,
                    branch: get("git_branch"),
                },
                None,
            )),
            None => unsupported("method=git without git_clone_uri"),
        },
        Some("rsync") => match get("rsync_source") {
            Some(from) => Ok((Update::Rsync { from }, None)),
            None => unsupported("method=rsync without rsync_source"),
        },
        Some(other) => unsupported(&format!(
            "method={other} is not one depot runs (git, rsync)"
        )),
        None => unsupported("no method= assignment"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(text: &str) -> Result<BTreeMap<String, String>> {
        Ok(parse(Path::new("p.conf"), text)?
            .vars
            .into_iter()
            .map(|(k, (v, _))| (k, v))
            .collect())
    }

    #[test]
    fn sh_quoting_and_expansion() -> Result<()> {
        let v = vars(
            "# comment\ntb=\"/usr/local/tb/\"\nx=\"${tb}/ports\" y='${tb}' z=$tb\\\nq\n\
             d=${unset:-fallback} e=\"a \\\"b\\\" \\$c\"\n: \nexport w=1;\n",
        );
        // `:` is not an assignment: refused with the line.
        let e = v.unwrap_err().to_string();
        assert!(e.contains("p.conf:6"), "{e}");
        let v = vars(
            "# comment\ntb=\"/usr/local/tb/\"\nx=\"${tb}/ports\" y='${tb}' z=$tb\\\nq\n\
             d=${unset_var_for_test:-fallback} e=\"a \\\"b\\\" \\$c\"\nexport w=1;\n\
             main_premerge() {\n  echo '}' \"{\"\n}\nfunction other { :; }\n",
        )?;
        assert_eq!(v["x"], "/usr/local/tb//ports");
        assert_eq!(v["y"], "${tb}");
        assert_eq!(v["z"], "/usr/local/tb/q");
        assert_eq!(v["d"], "fallback");
        assert_eq!(v["e"], "a \"b\" $c");
        assert_eq!(v["w"], "1");
        let p = parse(
            Path::new("p.conf"),
            "main_premerge() {\n  echo '}' \"{\"\n}\nfunction other { :; }\n",
        )?;
        assert!(p.functions.contains("main_premerge") && p.functions.contains("other"));
        Ok(())
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line) in [
            ("a=1\nb=\"open\n\n", 2),
            ("a=1\nb=$(date)\n", 2),
            ("a=1\n\nrm -rf /\n", 3),
            ("a=1\nf() {\n echo\n", 2),
        ] {
            let e = parse(Path::new("p.conf"), text).unwrap_err().to_string();
            assert!(e.starts_with(&format!("p.conf:{line}:")), "{text:?}: {e}");
        }
    }

    #[test]
    fn the_seed_example_reads() -> Result<()> {
        let text = "ports_trees=\"tb_official tb_bsd_sharp\"\n\
            tb=\"/usr/local/tinderbox/\"\n\
            tb_official_ports_tree=\"${tb}/portstrees/FreeBSD/ports\"\n\
            tb_official_merge_from=\"ports\"\n\
            tb_bsd_sharp_ports_tree=\"${tb}/portstrees/BSD-sharp/ports\"\n\
            tb_bsd_sharp_merge_from=\"ports bsd_sharp! redports:foo+\"\n\
            use_zfs=yes\n";
        let c = read(Path::new("/etc/portshaker.conf"), text, PathBuf::from("/m"))?;
        assert_eq!(c.targets.len(), 2);
        assert_eq!(
            c.targets[0].tree,
            Path::new("/usr/local/tinderbox/portstrees/FreeBSD/ports")
        );
        let from: Vec<String> = c.targets[1]
            .merge_from
            .iter()
            .map(|m| format!("{}{}", m.source, m.flag.suffix()))
            .collect();
        assert_eq!(from, ["ports", "bsd_sharp!", "redports_foo+"]);
        assert_eq!(c.source("redports_foo").dir, Path::new("/m/redports_foo"));
        assert!(
            c.warnings.iter().any(|w| w.contains("use_zfs")),
            "{:?}",
            c.warnings
        );
        Ok(())
    }
}
