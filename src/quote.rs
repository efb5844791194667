//! Text from outside (names, paths, what an archive said) made fit for a
//! message on a terminal: control characters escaped, long runs cut with `…`,
//! so an error can neither paint the terminal nor dump what it read.

use std::fmt::Write as _;

/// The longest name or excerpt quoted whole, in characters.
pub const MAX_QUOTED: usize = 120;

/// `text` with control characters escaped (`\e`, `\n`, `\x07`, ...) and cut to
/// at most `max` characters, ending in `…` when cut.
pub fn excerpt(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (count, c) in text.chars().enumerate() {
        if count == max {
            out.push('…');
            break;
        }
        escape_into(&mut out, c);
    }
    out
}

/// A name or path from outside, for a message: [`excerpt`] at [`MAX_QUOTED`].
pub fn name(text: &str) -> String {
    excerpt(text, MAX_QUOTED)
}

fn escape_into(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        '\x1b' => out.push_str("\\e"),
        c if c.is_control() => {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        }
        c => out.push(c),
    }
}

/// A whole message (an error chain): control characters other than the line
/// breaks between its own lines escaped, and any run of more than
/// [`MAX_QUOTED`] characters without a space cut in the middle with `…`.
pub fn message(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(4096));
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let mut first = true;
        for word in line.split(' ') {
            if !first {
                out.push(' ');
            }
            first = false;
            let length = word.chars().count();
            if length > MAX_QUOTED {
                let keep = MAX_QUOTED / 2;
                for c in word.chars().take(keep) {
                    escape_into(&mut out, c);
                }
                let _ = write!(out, "…({} characters)…", length - 2 * keep);
                for c in word.chars().skip(length - keep) {
                    escape_into(&mut out, c);
                }
            } else {
                for c in word.chars() {
                    escape_into(&mut out, c);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{excerpt, message, name};

    #[test]
    fn control_characters_are_escaped_and_long_text_cut() {
        assert_eq!(name("evil\x1b[31mred"), "evil\\e[31mred");
        assert_eq!(name("bell\x07"), "bell\\x07");
        assert_eq!(excerpt("abcdef", 3), "abc…");
        let long = "a".repeat(5000);
        let shown = message(&format!("{long}: no such package\nsecond line\x1b"));
        assert!(shown.len() < 300, "{shown}");
        assert!(shown.contains("…(4881 characters)…"), "{shown}");
        assert!(
            shown.ends_with(": no such package\nsecond line\\e"),
            "{shown}"
        );
    }
}
