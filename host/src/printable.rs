//! Messages that carry text from inputs (a value, a file name, a config
//! line) made safe for a terminal and a log: an attacker who writes the input
//! must not be able to flood stderr or send it control bytes.

use std::{borrow::Cow, fmt::Write};

use crate::limits::MESSAGE_CHARS;

/// `message` as printable text: control characters escaped (`\u{0}`, `\n`),
/// and cut after [`MESSAGE_CHARS`] characters, saying how long it was.
pub fn printable(message: &str) -> Cow<'_, str> {
    let short = message.len() <= MESSAGE_CHARS;
    if short && !message.chars().any(char::is_control) {
        return Cow::Borrowed(message);
    }
    let mut shown = String::with_capacity(message.len().min(4 * MESSAGE_CHARS));
    for (count, character) in message.chars().enumerate() {
        if count == MESSAGE_CHARS {
            // Writing to a String cannot fail.
            let _ = write!(shown, "… ({} bytes in all)", message.len());
            break;
        }
        match character.is_control() {
            true => shown.extend(character.escape_default()),
            false => shown.push(character),
        }
    }
    Cow::Owned(shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_messages_pass_unchanged() {
        let message = "warning: a.jsonl:3: bad JSON; row skipped — café";
        assert!(matches!(printable(message), Cow::Borrowed(text) if text == message));
    }

    #[test]
    fn control_bytes_are_escaped_and_long_messages_cut() {
        assert_eq!(
            printable("tenant a\0b\x1b[2J\r\n"),
            "tenant a\\u{0}b\\u{1b}[2J\\r\\n"
        );
        let long = format!("address \"{}\"", "1".repeat(4 << 20));
        let shown = printable(&long);
        assert_eq!(
            shown.chars().count(),
            MESSAGE_CHARS + " (4194314 bytes in all)".len() + 1
        );
        assert!(shown.starts_with("address \"111"));
        assert!(shown.ends_with("… (4194314 bytes in all)"));
    }
}
