//! Reads records (JSON lines or CSV with a header) and hands over, for each,
//! the raw text of the wanted columns only. Unknown columns are skipped
//! without being parsed; nothing here knows what a column means.

use std::{
    borrow::Cow,
    fmt,
    io::{self, BufRead},
};

use anyhow::Result;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::{json_scan::KeyScanner, Format, InputFile};

/// The raw values of the wanted columns of one record; none when absent,
/// null or empty.
pub type Fields<'a> = [Option<Cow<'a, str>>];

/// An empty vector of another element type in `spare`'s allocation: the
/// buffers of the record before, without its borrows (collecting into the
/// same layout reuses the allocation).
pub fn recycle<T, U>(spare: Vec<T>) -> Vec<U> {
    spare.into_iter().filter_map(|_| None).collect()
}

/// What a reader calls for each record: line number, then fields or reason.
pub type OnRecord<'f> = dyn FnMut(u64, Result<&Fields, String>) -> Result<()> + 'f;

/// Calls `on_record(line, fields)` for every record of `input`: `fields[i]`
/// is the value of column `wanted[i]`, or the reason the record is unreadable.
/// Stops at the first error `on_record` returns.
pub fn read(
    input: &InputFile,
    wanted: &[&str],
    on_record: impl FnMut(u64, Result<&Fields, String>) -> Result<()>,
) -> Result<()> {
    read_from(input, input.open()?, wanted, on_record)
}

/// [`read`] from `input` already opened as `reader`.
pub fn read_from(
    input: &InputFile,
    reader: Box<dyn BufRead>,
    wanted: &[&str],
    mut on_record: impl FnMut(u64, Result<&Fields, String>) -> Result<()>,
) -> Result<()> {
    match input.format {
        Format::JsonLines => read_json_lines(input, reader, wanted, &[], &mut on_record),
        Format::Csv => super::csv_records::read_csv(input, reader, wanted, &mut on_record),
        Format::Text => anyhow::bail!("{}: not JSON lines or CSV", input.name),
    }
}

/// Calls `on_line(number, line)` for every line of `reader`, numbered from 1,
/// without its line end; a line that cannot be text (longer than the
/// input's limit, or not UTF-8) comes as the reason, and the lines after it
/// are still read. A read error (a truncated gzip) is the reason of the line
/// where it happened, and the last call: the lines before it stay read.
pub fn for_each_line(
    input: &InputFile,
    mut reader: Box<dyn BufRead>,
    mut on_line: impl FnMut(u64, Result<&str, String>) -> Result<()>,
) -> Result<()> {
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        number += 1;
        let read = match read_line(&mut reader, &mut line, input.max_line) {
            Ok(read) => read,
            Err(error) => return on_line(number, Err(stopped_by(&error))),
        };
        let text = match read {
            LineRead::End => return Ok(()),
            LineRead::Whole => std::str::from_utf8(&line)
                .map(super::without_line_end)
                .map_err(|error| not_utf8(&error)),
            LineRead::TooLong(length) => Err(too_long(length, input.max_line)),
        };
        on_line(number, text)?;
    }
}

/// How [`read_line`] ended.
enum LineRead {
    /// A line (or the file's last bytes) is in the buffer.
    Whole,
    /// The line had this many bytes, more than the limit: the buffer holds
    /// its start only, the rest was skipped.
    TooLong(u64),
    /// Nothing was left to read.
    End,
}

/// Reads one line of `reader` into `line` (emptied first), keeping at most
/// `max` bytes of it: a longer line is read to its end without being kept.
fn read_line(reader: &mut dyn BufRead, line: &mut Vec<u8>, max: usize) -> io::Result<LineRead> {
    line.clear();
    let mut length = 0u64;
    loop {
        let Some((piece, ended)) = line_piece(reader)? else {
            return Ok(match length {
                0 => LineRead::End,
                _ if line.len() as u64 == length => LineRead::Whole,
                _ => LineRead::TooLong(length),
            });
        };
        let taken = piece.len();
        let room = max.saturating_sub(line.len()).min(taken);
        line.extend_from_slice(&piece[..room]);
        length += taken as u64;
        reader.consume(taken);
        if ended {
            // The line end itself does not count against the limit.
            let kept_whole = length - 1 <= max as u64;
            return Ok(match kept_whole {
                true => LineRead::Whole,
                false => LineRead::TooLong(length - 1),
            });
        }
    }
}

/// The buffered bytes of `reader` up to and with the next `\n` (all of them
/// if there is none), and whether they end a line; `None` at the end.
pub(super) fn line_piece(reader: &mut dyn BufRead) -> io::Result<Option<(&[u8], bool)>> {
    let at_end = loop {
        match reader.fill_buf() {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
            Ok(available) => break available.is_empty(),
        }
    };
    if at_end {
        return Ok(None);
    }
    // Bytes are buffered: this second call reads nothing.
    let available = reader.fill_buf()?;
    Ok(Some(match memchr::memchr(b'\n', available) {
        Some(at) => (&available[..=at], true),
        None => (available, false),
    }))
}

/// The reason of a line longer than `max` bytes.
pub(super) fn too_long(length: u64, max: usize) -> String {
    format!("a line of {length} bytes, longer than the limit of {max} (--max-line-mib)")
}

/// The reason of a line that is not UTF-8.
pub(super) fn not_utf8(error: &std::str::Utf8Error) -> String {
    format!(
        "not UTF-8 text (a bad byte at column {})",
        error.valid_up_to() + 1
    )
}

/// The reason of the line where reading failed: nothing after it is read.
pub(super) fn stopped_by(error: &io::Error) -> String {
    format!("reading stopped: {error} (the rows before are kept, the rest of the file is lost)")
}

/// JSON lines, each record's `wanted` keys found by the key scanner or,
/// where it declines a line, by serde_json; object values of the keys
/// `objects_as_written` are handed over as written where the scanner reads
/// the line ([`KeyScanner::objects_as_written`]).
pub fn read_json_lines(
    input: &InputFile,
    reader: Box<dyn BufRead>,
    wanted: &[&str],
    objects_as_written: &[&str],
    on_record: &mut OnRecord,
) -> Result<()> {
    let mut keys = KeyScanner::new(wanted).objects_as_written(objects_as_written);
    let mut spare = Vec::with_capacity(wanted.len());
    for_each_line(input, reader, |number, text| {
        let text = match text {
            Ok(text) => text,
            Err(reason) => return on_record(number, Err(reason)),
        };
        if super::is_blank(text) {
            return Ok(());
        }
        let mut fields = emptied(std::mem::take(&mut spare), wanted.len());
        let parsed = keys.scan(text, &mut fields).or_else(|_| {
            fields.iter_mut().for_each(|field| *field = None);
            parse_json_record(text, wanted, &mut fields)
        });
        let delivered = match parsed {
            Ok(()) => on_record(number, Ok(&fields)),
            Err(reason) => on_record(number, Err(reason)),
        };
        spare = emptied(fields, 0);
        delivered
    })
}

/// `len` empty fields in the allocation of `fields`, free of its borrows
/// ([`recycle`]), so a record's fields cost no allocation.
fn emptied<'b>(fields: Vec<Option<Cow<'_, str>>>, len: usize) -> Vec<Option<Cow<'b, str>>> {
    let mut fields = recycle(fields);
    fields.resize(len, None);
    fields
}

/// Reads one JSON record with serde_json, keeping the `wanted` keys' values
/// as text in `fields`; the reason when it is no JSON object. The reference
/// the fast scanner (`json_scan`) is held to.
pub fn parse_json_record<'a>(
    text: &'a str,
    wanted: &[&str],
    fields: &mut [Option<Cow<'a, str>>],
) -> Result<(), String> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    RecordSeed { wanted, fields }
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end())
        .map_err(|error| format!("bad JSON: {error}"))
}

/// Visits one JSON object, keeping the wanted keys' values as text.
struct RecordSeed<'w, 'f, 'a> {
    wanted: &'w [&'w str],
    fields: &'f mut [Option<Cow<'a, str>>],
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for RecordSeed<'_, '_, 'a> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for RecordSeed<'_, '_, 'a> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match self.wanted.iter().position(|name| **name == *key) {
                Some(slot) => self.fields[slot] = map.next_value::<Scalar>()?.0,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A JSON value as text: strings as they are (borrowed when unescaped),
/// numbers and booleans printed, null and "" as none, arrays and objects as
/// compact JSON.
struct Scalar<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Scalar<'de>, E> {
        Ok(Scalar((!value.is_empty()).then_some(Cow::Borrowed(value))))
    }
    fn visit_str<E>(self, value: &str) -> Result<Scalar<'de>, E> {
        Ok(Scalar(
            (!value.is_empty()).then(|| Cow::Owned(value.to_owned())),
        ))
    }
    fn visit_string<E>(self, value: String) -> Result<Scalar<'de>, E> {
        Ok(Scalar((!value.is_empty()).then_some(Cow::Owned(value))))
    }
    fn visit_bool<E>(self, value: bool) -> Result<Scalar<'de>, E> {
        Ok(Scalar(Some(Cow::Borrowed(if value {
            "true"
        } else {
            "false"
        }))))
    }
    fn visit_i64<E>(self, value: i64) -> Result<Scalar<'de>, E> {
        Ok(Scalar(Some(Cow::Owned(value.to_string()))))
    }
    fn visit_u64<E>(self, value: u64) -> Result<Scalar<'de>, E> {
        Ok(Scalar(Some(Cow::Owned(value.to_string()))))
    }
    fn visit_f64<E>(self, value: f64) -> Result<Scalar<'de>, E> {
        Ok(Scalar(Some(Cow::Owned(value.to_string()))))
    }
    fn visit_unit<E>(self) -> Result<Scalar<'de>, E> {
        Ok(Scalar(None))
    }
    fn visit_none<E>(self) -> Result<Scalar<'de>, E> {
        Ok(Scalar(None))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Scalar<'de>, A::Error> {
        let value: serde_json::Value =
            serde::Deserialize::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        Ok(Scalar(Some(Cow::Owned(value.to_string()))))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Scalar<'de>, A::Error> {
        let value: serde_json::Value =
            serde::Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(Scalar(Some(Cow::Owned(value.to_string()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str) -> Result<Vec<Option<String>>, String> {
        let mut fields = vec![None; 3];
        parse_json_record(text, &["a", "b", "c"], &mut fields)?;
        Ok(fields.into_iter().map(|f| f.map(Cow::into_owned)).collect())
    }

    #[test]
    fn json_values_become_text_and_unknown_keys_are_skipped() {
        let got = fields(r#"{"a":"x\"y","z":{"deep":[1,2]},"b":443,"c":true}"#).unwrap();
        assert_eq!(
            got,
            [Some("x\"y".into()), Some("443".into()), Some("true".into())]
        );
        let got = fields(r#"{"a":null,"b":"","c":["g1","g2"]}"#).unwrap();
        assert_eq!(got, [None, None, Some(r#"["g1","g2"]"#.into())]);
    }

    #[test]
    fn malformed_json_is_a_reason_not_a_panic() {
        for text in ["{", "[1,2]", r#"{"a":1} trailing"#, "\"just a string\""] {
            assert!(fields(text).unwrap_err().starts_with("bad JSON"), "{text}");
        }
    }
}
