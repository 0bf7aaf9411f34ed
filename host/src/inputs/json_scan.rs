//! The fast path of the JSON lines reader: one pass over a record that finds
//! the wanted keys and steps over every other value, checking it is valid
//! JSON without building it. It gives exactly what the serde_json path in
//! `records.rs` gives, or declines: anything it does not handle the same way
//! (escapes, nested values kept as text, reals, deep nesting, any error) is
//! `Declined`, and the caller reads that record with serde_json instead, which
//! also words the error of a bad record. One exception, asked for by key
//! ([`KeyScanner::objects_as_written`]): an object value handed over as
//! written, for a reader that parses it itself (serde_json would print it
//! again from a parsed `Value`).
//!
//! One file past 500 lines: a quarter of it is the tests that hold the
//! scanner to serde_json.

use std::borrow::Cow;

use asim_rule_core::string_table::same_bytes;

/// The record needs the full serde_json reading.
#[derive(Debug, PartialEq, Eq)]
pub struct Declined;

type Scan<T> = Result<T, Declined>;

/// Deeper nesting is left to serde_json (whose own limit is 128).
const MAX_DEPTH: usize = 64;

/// Finds wanted keys in records, remembering the keys of the record before:
/// lines of one file almost always write the same keys in the same order, so
/// each key is first compared, quotes and all, with the key the previous
/// record had at that place.
pub struct KeyScanner {
    wanted: Vec<String>,
    /// By slot: an object value is handed over as written, not declined.
    objects_as_written: Vec<bool>,
    /// The previous record's keys in order, each quoted, with its slot.
    previous: Vec<(Vec<u8>, Option<usize>)>,
}

impl KeyScanner {
    /// A scanner for the keys `wanted`; `fields[i]` gets `wanted[i]`.
    pub fn new(wanted: &[&str]) -> KeyScanner {
        KeyScanner {
            wanted: wanted.iter().map(|name| (*name).to_owned()).collect(),
            objects_as_written: vec![false; wanted.len()],
            previous: Vec::new(),
        }
    }

    /// The scanner, handing over the value of each key of `keys` that is an
    /// object as its text as written (checked, not parsed), where the
    /// record reader would print it again from a parsed `Value`: for a
    /// reader that parses that object itself.
    pub fn objects_as_written(mut self, keys: &[&str]) -> KeyScanner {
        for (slot, name) in self.wanted.iter().enumerate() {
            self.objects_as_written[slot] |= keys.contains(&name.as_str());
        }
        self
    }

    /// Fills `fields[i]` with the text of key `wanted[i]` of the object in
    /// `text`, as `records::Scalar` would: strings as written, numbers and
    /// booleans printed, null and "" as none. Fields of absent keys are
    /// left as they are.
    pub fn scan<'a>(&mut self, text: &'a str, fields: &mut [Option<Cow<'a, str>>]) -> Scan<()> {
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
            let mut ordinal = 0;
            loop {
                scanner.whitespace();
                let slot = self.key(&mut scanner, ordinal)?;
                ordinal += 1;
                scanner.colon()?;
                match slot {
                    Some(slot) if self.objects_as_written[slot] && scanner.peek() == Some(b'{') => {
                        let start = scanner.at;
                        scanner.skip_value(1)?;
                        fields[slot] = Some(Cow::Borrowed(&text[start..scanner.at]));
                    }
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

    /// The slot of the key at the scanner, the `ordinal`-th of its record.
    fn key(&mut self, scanner: &mut Scanner, ordinal: usize) -> Scan<Option<usize>> {
        let rest = &scanner.bytes[scanner.at..];
        if let Some((quoted, slot)) = self.previous.get(ordinal) {
            // A remembered key holds no quote, backslash or control character.
            if rest
                .get(..quoted.len())
                .is_some_and(|start| same_bytes(start, quoted))
            {
                scanner.at += quoted.len();
                return Ok(*slot);
            }
        }
        let start = scanner.at;
        let key = scanner.plain_string()?;
        let slot = self.wanted.iter().position(|name| name == key);
        let quoted = &scanner.bytes[start..scanner.at];
        // Every key before this one is remembered, so `ordinal` is at most
        // the number remembered.
        match self.previous.get_mut(ordinal) {
            Some(previous) => {
                previous.0.clear();
                previous.0.extend_from_slice(quoted);
                previous.1 = slot;
            }
            None => self.previous.push((quoted.to_vec(), slot)),
        }
        Ok(slot)
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The first byte from `at` that ends a plain run of string contents: a
/// quote, a backslash or a control character; eight bytes at a time.
#[inline]
fn string_stop(bytes: &[u8], mut at: usize) -> Option<usize> {
    // Each term's lowest set high bit marks its first hit exactly (a borrow
    // only runs upwards), so the lowest of their union is the first stop.
    let zero_at = |word: u64| word.wrapping_sub(ONES) & !word;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let mut eight = [0; 8];
        eight.copy_from_slice(chunk);
        let word = u64::from_le_bytes(eight);
        let stops = (zero_at(word ^ (u64::from(b'"') * ONES))
            | zero_at(word ^ (u64::from(b'\\') * ONES))
            | (word.wrapping_sub(0x20 * ONES) & !word))
            & HIGHS;
        if stops != 0 {
            return Some(at + stops.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    let tail = bytes.get(at..)?;
    tail.iter()
        .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)
        .map(|offset| at + offset)
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
        let end = string_stop(self.bytes, start).ok_or(Declined)?;
        if self.bytes[end] != b'"' {
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
            let stop = string_stop(self.bytes, self.at).ok_or(Declined)?;
            self.at = stop + 1;
            match self.bytes[stop] {
                b'"' => return Ok(()),
                b'\\' => match self.next().ok_or(Declined)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    // \u escapes can pair surrogates: serde_json's to judge.
                    _ => return Err(Declined),
                },
                _ => return Err(Declined),
            }
        }
    }

    /// `:` between optional whitespace.
    #[inline]
    fn colon(&mut self) -> Scan<()> {
        if self.peek() == Some(b':') {
            self.at += 1;
        } else {
            self.whitespace();
            self.expect(b':')?;
        }
        self.whitespace();
        Ok(())
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
        KeyScanner::new(&WANTED).scan(text, &mut fields)?;
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
    fn objects_of_the_keys_asked_for_are_handed_over_as_written() {
        let mut keys = KeyScanner::new(&WANTED).objects_as_written(&["b"]);
        let mut read = |text: &str| {
            let mut fields = vec![None; WANTED.len()];
            keys.scan(text, &mut fields)?;
            Ok(fields.into_iter().map(|f| f.map(Cow::into_owned)).collect())
        };
        let text = r#"{"b": { "x" : [1, {"y": "z\""}] } ,"a":"k"}"#;
        let expected = [
            Some("k"),
            Some(r#"{ "x" : [1, {"y": "z\""}] }"#),
            None,
            None,
        ];
        assert_eq!(
            read(text),
            Ok(expected.map(|f| f.map(str::to_owned)).to_vec())
        );
        // Other values of that key as the serde path gives them; objects of
        // other keys still declined, and broken objects too.
        let text = r#"{"a":"x","b":443,"c":true}"#;
        assert_eq!(read(text), Ok(by_serde(text).unwrap()));
        assert_eq!(read(r#"{"c":{"x":1}}"#), Err(Declined));
        assert_eq!(read(r#"{"b":{"x":1,}}"#), Err(Declined));
        assert_eq!(read(r#"{"b":{"x":1e999}}"#), Err(Declined));
    }

    #[test]
    fn strings_stop_at_the_first_quote_backslash_or_control_character() {
        for length in 0..40 {
            let clean = vec![b'a'; length];
            assert_eq!(string_stop(&clean, 0), None);
            for at in 0..length {
                for byte in [0x00, 0x09, 0x1f, b'"', b'\\'] {
                    let mut dirty = clean.clone();
                    dirty[at] = byte;
                    // A second stop further on must not hide the first.
                    if at + 1 < length {
                        dirty[at + 1] = 0x01;
                    }
                    assert_eq!(string_stop(&dirty, 0), Some(at), "{length} {at} {byte}");
                    assert_eq!(string_stop(&dirty, at), Some(at));
                }
                let mut high = clean.clone();
                high[at] = 0xe9;
                high.iter_mut().skip(at + 1).for_each(|byte| *byte = 0xa2);
                assert_eq!(string_stop(&high, 0), None);
            }
        }
    }

    #[test]
    fn keys_remembered_from_the_record_before_never_mislead() {
        // One scanner over records whose keys change order, length and
        // spacing from one record to the next.
        let records = [
            r#"{"a":"1","zz":2,"b":"3"}"#,
            r#"{"a":"4","zz":5,"b":"6"}"#,
            r#"{"b":"7","a":"8"}"#,
            r#"{"ab":"9","a":"10","b":"11","c":true,"d":1}"#,
            r#"{ "a" :"12","b":"13"}"#,
            r#"{"a":"14"}"#,
            r#"{"a":"15","zz":2,"b":"16","c":false}"#,
        ];
        let mut scanner = KeyScanner::new(&WANTED);
        for text in records {
            let mut fields = vec![None; WANTED.len()];
            scanner.scan(text, &mut fields).unwrap();
            let fields: Vec<_> = fields.into_iter().map(|f| f.map(Cow::into_owned)).collect();
            assert_eq!(fields, by_serde(text).unwrap(), "{text}");
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
