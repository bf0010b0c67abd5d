//! Safe text from untrusted files: names with control characters escaped, garbage clipped.
//!
//! Anything a run's files say (a run name, class and layer names, tensor names, file names, a
//! garbled header) may end up on a terminal. [`escape`] makes control characters visible instead of
//! letting them act (an escape sequence could recolour or rewrite the screen), and [`clip`] /
//! [`snippet`] bound how much of a damaged file an error message repeats.

use std::fmt::Write;

/// At most this many bytes of a file's content are repeated in a message.
pub const SNIPPET_BYTES: usize = 200;

/// `s` with every control character (C0, DEL, C1) and the Unicode bidi/format controls escaped as
/// `\n`, `\t`, `\x1b`, `\u{202e}`, ... and backslashes left as they are. Printable text, any script, is kept.
pub fn escape(s: &str) -> String {
    if !s.chars().any(needs_escape) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !needs_escape(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    out
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// [`escape`]d, and cut to about [`SNIPPET_BYTES`] bytes (on a character boundary) with a note of
/// the full length when longer.
pub fn clip(s: &str) -> String {
    if s.len() <= SNIPPET_BYTES {
        return escape(s);
    }
    let mut end = SNIPPET_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", escape(&s[..end]), s.len())
}

/// Raw bytes from a file as clipped, escaped text (invalid utf-8 shown as U+FFFD).
pub fn snippet(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(SNIPPET_BYTES)];
    let text = String::from_utf8_lossy(head);
    if bytes.len() > SNIPPET_BYTES {
        format!("{}… ({} bytes in all)", escape(&text), bytes.len())
    } else {
        escape(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_text_kept() {
        assert_eq!(escape("plain Ünïcode 猫"), "plain Ünïcode 猫");
        assert_eq!(escape("\x1b[31mred\x07\n"), "\\x1b[31mred\\x07\\n");
        assert_eq!(escape("a\u{9b}b\u{202e}c"), "a\\u{9b}b\\u{202e}c");
    }

    #[test]
    fn long_text_is_clipped_on_a_char_boundary() {
        let long = "é".repeat(1000);
        let c = clip(&long);
        assert!(c.len() < SNIPPET_BYTES + 40 && c.ends_with("(2000 bytes in all)"), "{c}");
        let s = snippet(&[0xffu8; 60_000]);
        assert!(s.len() < 4 * SNIPPET_BYTES && s.ends_with("(60000 bytes in all)"));
    }
}
