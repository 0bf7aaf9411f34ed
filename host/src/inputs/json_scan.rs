//! The fast path of the JSON lines reader: one pass over a record that finds
//! the wanted keys and steps over every other value, checking it is valid
//! JSON without building it. It gives exactly what the serde_json path in
//! `records.rs` gives, or declines: anything it does not handle the same way
//! (escapes, nested values kept as text, reals, deep nesting, any error) is
//! `Declined`, and the caller reads that record with serde_json instead, which
//! also words the error of a bad record.

use std::borrow::Cow;

/// The record needs the full serde_json reading.
#[derive(Debug, PartialEq, Eq)]
pub struct Declined;

type Scan<T> = Result<T, Declined>;

/// Deeper nesting is left to serde_json (whose own limit is 128).
const MAX_DEPTH: usize = 64;

/// Fills `fields[i]` with the text of key `wanted[i]` of the object in
/// `text`, as `records::Scalar` would: strings as written, numbers and
/// booleans printed, null and "" as none.
pub fn scan<'a>(text: &'a str, wanted: &[&str], fields: &mut [Option<Cow<'a, str>>]) -> Scan<()> {
    let mut scanner = Scanner {
        bytes: text.as_bytes(),
        text,
        at: 0,
    };
    scanner.whitespace();
    scanner.expect(b'{')?;
    scanner.whitespace();
    if scanner.peek() == Some(b'}') {
        scanner.at += 1;
    } else {
        loop {
            scanner.whitespace();
            let key = scanner.plain_string()?;
            scanner.whitespace();
            scanner.expect(b':')?;
            scanner.whitespace();
            // Length and first byte first: most keys are not wanted.
            let first = key.as_bytes().first();
            let slot = wanted.iter().position(|name| {
                name.len() == key.len() && name.as_bytes().first() == first && *name == key
            });
            match slot {
                Some(slot) => fields[slot] = scanner.scalar()?,
                None => scanner.skip_value(1)?,
            }
            scanner.whitespace();
            match scanner.next() {
                Some(b',') => continue,
                Some(b'}') => break,
                _ => return Err(Declined),
            }
        }
    }
    scanner.whitespace();
    match scanner.at == scanner.bytes.len() {
        true => Ok(()),
        false => Err(Declined),
    }
}

/// Whether `bytes` holds a control character (below 0x20), which JSON
/// strings may not: eight bytes at a time.
fn has_control(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut words = bytes.chunks_exact(8);
    let below = |word: u64| word.wrapping_sub(0x20 * ONES) & !word & HIGHS != 0;
    for word in words.by_ref() {
        let mut eight = [0; 8];
        eight.copy_from_slice(word);
        if below(u64::from_le_bytes(eight)) {
            return true;
        }
    }
    words.remainder().iter().any(|&byte| byte < 0x20)
}

struct Scanner<'a> {
    bytes: &'a [u8],
    text: &'a str,
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn expect(&mut self, byte: u8) -> Scan<()> {
        match self.next() == Some(byte) {
            true => Ok(()),
            false => Err(Declined),
        }
    }

    fn whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// A string without escapes, its contents borrowed; a backslash declines.
    fn plain_string(&mut self) -> Scan<&'a str> {
        self.expect(b'"')?;
        let start = self.at;
        let end = start + memchr::memchr2(b'"', b'\\', &self.bytes[start..]).ok_or(Declined)?;
        if self.bytes[end] != b'"' || has_control(&self.bytes[start..end]) {
            return Err(Declined);
        }
        self.at = end + 1;
        // The quotes are ASCII, so both ends are character boundaries.
        self.text.get(start..end).ok_or(Declined)
    }

    /// A string whose escapes are checked but not decoded.
    fn skip_string(&mut self) -> Scan<()> {
        self.expect(b'"')?;
        loop {
            let byte = self.next().ok_or(Declined)?;
            match byte {
                b'"' => return Ok(()),
                b'\\' => match self.next().ok_or(Declined)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    // \u escapes can pair surrogates: serde_json's to judge.
                    _ => return Err(Declined),
                },
                0..=0x1f => return Err(Declined),
                _ => {}
            }
        }
    }

    /// A number's text; whether it is a whole number (no fraction or
    /// exponent).
    fn number(&mut self) -> Scan<(&'a str, bool)> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.next() {
            Some(b'0') => {}
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(Declined),
        }
        let mut whole = true;
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.require_digits()?;
            whole = false;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.require_digits()?;
            whole = false;
        }
        Ok((&self.text[start..self.at], whole))
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
    }

    fn require_digits(&mut self) -> Scan<()> {
        let start = self.at;
        self.digits();
        match self.at > start {
            true => Ok(()),
            false => Err(Declined),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Scan<()> {
        match self.bytes[self.at..].starts_with(word) {
            true => {
                self.at += word.len();
                Ok(())
            }
            false => Err(Declined),
        }
    }

    /// A wanted value as text. Whole numbers that fit 64 bits print as
    /// written (but `-0`); reals go through serde_json's own float parsing,
    /// so they print as the serde path prints them.
    fn scalar(&mut self) -> Scan<Option<Cow<'a, str>>> {
        match self.peek().ok_or(Declined)? {
            b'"' => {
                let text = self.plain_string()?;
                Ok((!text.is_empty()).then_some(Cow::Borrowed(text)))
            }
            b't' => self.literal(b"true").map(|()| Some(Cow::Borrowed("true"))),
            b'f' => self
                .literal(b"false")
                .map(|()| Some(Cow::Borrowed("false"))),
            b'n' => self.literal(b"null").map(|()| None),
            b'-' | b'0'..=b'9' => {
                let (text, whole) = self.number()?;
                if whole
                    && text != "-0"
                    && (text.parse::<i64>().is_ok() || text.parse::<u64>().is_ok())
                {
                    return Ok(Some(Cow::Borrowed(text)));
                }
                let real: f64 = serde_json::from_str(text).map_err(|_| Declined)?;
                Ok(Some(Cow::Owned(real.to_string())))
            }
            _ => Err(Declined),
        }
    }

    /// Steps over any value, checking it.
    fn skip_value(&mut self, depth: usize) -> Scan<()> {
        if depth > MAX_DEPTH {
            return Err(Declined);
        }
        match self.peek().ok_or(Declined)? {
            b'"' => self.skip_string(),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => {
                let (text, whole) = self.number()?;
                // serde_json refuses reals out of range (1e400).
                match whole || text.parse::<f64>().is_ok_and(f64::is_finite) {
                    true => Ok(()),
                    false => Err(Declined),
                }
            }
            b'[' => {
                self.at += 1;
                self.whitespace();
                if self.peek() == Some(b']') {
                    self.at += 1;
                    return Ok(());
                }
                loop {
                    self.whitespace();
                    self.skip_value(depth + 1)?;
                    self.whitespace();
                    match self.next() {
                        Some(b',') => continue,
                        Some(b']') => return Ok(()),
                        _ => return Err(Declined),
                    }
                }
            }
            b'{' => {
                self.at += 1;
                self.whitespace();
                if self.peek() == Some(b'}') {
                    self.at += 1;
                    return Ok(());
                }
                loop {
                    self.whitespace();
                    self.skip_string()?;
                    self.whitespace();
                    self.expect(b':')?;
                    self.whitespace();
                    self.skip_value(depth + 1)?;
                    self.whitespace();
                    match self.next() {
                        Some(b',') => continue,
                        Some(b'}') => return Ok(()),
                        _ => return Err(Declined),
                    }
                }
            }
            _ => Err(Declined),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WANTED: [&str; 4] = ["a", "b", "c", "d"];

    fn fields(text: &str) -> Scan<Vec<Option<String>>> {
        let mut fields = vec![None; WANTED.len()];
        scan(text, &WANTED, &mut fields)?;
        Ok(fields.into_iter().map(|f| f.map(Cow::into_owned)).collect())
    }

    /// What serde_json gives for the same record, through the reader's own
    /// serde path.
    fn by_serde(text: &str) -> Result<Vec<Option<String>>, String> {
        let mut fields = vec![None; WANTED.len()];
        super::super::records::parse_json_record(text, &WANTED, &mut fields)?;
        Ok(fields.into_iter().map(|f| f.map(Cow::into_owned)).collect())
    }

    #[test]
    fn values_are_the_ones_the_serde_path_gives() {
        for text in [
            r#"{"a":"x","z":{"deep":[1,2,{"q":null}]},"b":443,"c":true,"d":null}"#,
            r#" { "a" : "" , "b" : -12 , "c" : false , "d" : 18446744073709551615 } "#,
            r#"{"a":1.0,"b":1e3,"c":-0,"d":2.5E-3}"#,
            r#"{"b":99999999999999999999,"a":"2026-03-14T15:00:00Z","a":"again"}"#,
            r#"{"skip":"with \"escapes\" and \\ \/ \n","a":"after"}"#,
            r#"{}"#,
        ] {
            assert_eq!(fields(text).unwrap(), by_serde(text).unwrap(), "{text}");
        }
    }

    #[test]
    fn control_characters_are_found_wherever_they_are() {
        for length in 0..40 {
            let clean = vec![b'a'; length];
            assert!(!has_control(&clean));
            for at in 0..length {
                for byte in [0x00, 0x09, 0x1f] {
                    let mut dirty = clean.clone();
                    dirty[at] = byte;
                    assert!(has_control(&dirty), "{length} {at} {byte}");
                }
                let mut high = clean.clone();
                high[at] = 0xe9;
                assert!(!has_control(&high));
            }
        }
    }

    #[test]
    fn anything_unusual_or_wrong_is_left_to_serde() {
        for text in [
            r#"{"a":"x\"y"}"#,
            r#"{"a":[1,2]}"#,
            r#"{"a":{"k":1}}"#,
            r#"{"z":"\u00e9","a":1}"#,
            r#"{"\u0061":1}"#,
            r#"{"a":1,}"#,
            r#"{"a":1} trailing"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":tru}"#,
            r#"{"z":1e400}"#,
            "{\"a\":\"tab\there\"}",
            r#"[1,2]"#,
            r#""just a string""#,
            r#"{"a""#,
            "",
        ] {
            assert_eq!(fields(text), Err(Declined), "{text}");
        }
        let deep = format!("{{\"z\":{}1{}}}", "[".repeat(100), "]".repeat(100));
        assert_eq!(fields(&deep), Err(Declined));
    }
}
