//! Reads records (JSON lines or CSV with a header) and hands over, for each,
//! the raw text of the wanted columns only. Unknown columns are skipped
//! without being parsed; nothing here knows what a column means.

use std::{borrow::Cow, fmt, io::BufRead};

use anyhow::{Context, Result};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::{Format, InputFile};

/// The raw values of the wanted columns of one record; none when absent,
/// null or empty.
pub type Fields<'a> = [Option<Cow<'a, str>>];

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
        Format::JsonLines => read_json_lines(input, reader, wanted, &mut on_record),
        Format::Csv => read_csv(input, reader, wanted, &mut on_record),
        Format::Text => anyhow::bail!("{}: not JSON lines or CSV", input.name),
    }
}

/// Calls `on_line(number, line)` for every line of `reader`, numbered from 1,
/// without its line end.
pub fn for_each_line(
    input: &InputFile,
    mut reader: Box<dyn BufRead>,
    mut on_line: impl FnMut(u64, &str) -> Result<()>,
) -> Result<()> {
    let mut line = String::new();
    let mut number = 0;
    loop {
        line.clear();
        number += 1;
        let read = reader
            .read_line(&mut line)
            .with_context(|| format!("{}:{number}: reading", input.name))?;
        if read == 0 {
            return Ok(());
        }
        on_line(number, super::without_line_end(&line))?;
    }
}

fn read_json_lines(
    input: &InputFile,
    reader: Box<dyn BufRead>,
    wanted: &[&str],
    on_record: &mut OnRecord,
) -> Result<()> {
    let mut keys = super::json_scan::KeyScanner::new(wanted);
    let mut spare = Vec::with_capacity(wanted.len());
    for_each_line(input, reader, |number, text| {
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

/// `len` empty fields in the allocation of `fields`, free of its borrows:
/// collecting into a vector of the same layout reuses the buffer, so a
/// record's fields cost no allocation.
pub(super) fn emptied<'b>(
    fields: Vec<Option<Cow<'_, str>>>,
    len: usize,
) -> Vec<Option<Cow<'b, str>>> {
    let mut fields: Vec<Option<Cow<'b, str>>> = fields.into_iter().map(|_| None).collect();
    fields.clear();
    fields.resize(len, None);
    fields
}

pub(super) fn parse_json_record<'a>(
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

fn read_csv(
    input: &InputFile,
    reader: Box<dyn BufRead>,
    wanted: &[&str],
    on_record: &mut OnRecord,
) -> Result<()> {
    let mut csv = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(reader);
    let header = csv
        .headers()
        .with_context(|| format!("{}:1: reading the CSV header", input.name))?
        .clone();
    // Sentinel's portal writes `TimeGenerated [UTC]`; the name is what counts.
    let positions: Vec<Option<usize>> = wanted
        .iter()
        .map(|name| {
            header.iter().position(|column| {
                column
                    .trim_start_matches('\u{feff}')
                    .trim()
                    .trim_end_matches(" [UTC]")
                    == *name
            })
        })
        .collect();
    let mut record = csv::StringRecord::new();
    loop {
        let line = csv.position().line();
        match csv.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let fields: Vec<Option<Cow<str>>> = positions
                    .iter()
                    .map(|position| {
                        position
                            .and_then(|at| record.get(at))
                            .filter(|value| !value.is_empty())
                            .map(Cow::Borrowed)
                    })
                    .collect();
                on_record(line, Ok(&fields))?;
            }
            Err(error) if error.is_io_error() => {
                return Err(error).with_context(|| format!("{}:{line}: reading", input.name));
            }
            Err(error) => on_record(line, Err(format!("bad CSV record: {error}")))?,
        }
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
