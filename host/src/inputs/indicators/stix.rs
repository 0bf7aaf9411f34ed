//! STIX 2.1 (and 2.0) bundles, streamed object by object, so a bundle of
//! millions of indicators never sits in memory whole. Mapping (spec §5):
//! `id` → IndicatorId, `modified` (else `created`) → TimeGenerated,
//! `valid_until` → ExpirationDateTime (absent: never), `revoked` → not Active,
//! `confidence` → ConfidenceScore, `description` (else `name`) → Description,
//! `indicator_types` (STIX 2.0: `labels`) → ThreatType, `ActivityGroup:NAME`
//! labels → ActivityGroupNames. A pattern naming
//! several addresses gives one indicator per address, with ids `{id}#{address}`.

use std::{
    borrow::Cow,
    cell::Cell as Shared,
    fmt,
    io::{self, Read},
    rc::Rc,
};

use anyhow::{anyhow, Result};
use asim_rule_core::IpPrefix;
use serde::{
    de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor},
    Deserialize, Deserializer,
};
use serde_json::value::RawValue;

use super::{deliver, pattern, types_and_groups, Indicator, Input, SourceReport, NEVER_EXPIRES};
use crate::inputs::{InputFile, Rejects};
use crate::time;

/// The fields of a STIX object the mapping reads; the rest are skipped.
#[derive(Deserialize)]
struct StixObject<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pattern: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pattern_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    modified: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    created: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    valid_until: Option<Cow<'a, str>>,
    #[serde(default)]
    revoked: Option<bool>,
    #[serde(default)]
    confidence: Option<f64>,
    #[serde(borrow, default)]
    description: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    indicator_types: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow, default)]
    labels: Option<Vec<Cow<'a, str>>>,
}

/// Reads a bundle, handing each usable indicator to `emit`.
pub fn read(
    input: &InputFile,
    reader: Input,
    report: &mut SourceReport,
    rejects: &mut Rejects,
    emit: &mut dyn FnMut(&Indicator) -> Result<()>,
) -> Result<()> {
    let position = Rc::new(Position {
        line: Shared::new(1),
        since_mark: Shared::new(0),
        max: input.max_line as u64,
    });
    let counting = LineCounter {
        inner: reader,
        position: Rc::clone(&position),
    };
    let mut deserializer = serde_json::Deserializer::from_reader(counting);
    let mut failure = None;
    let mut on_object = |at: u64, object: &RawValue| {
        if failure.is_none() {
            if let Err(error) = object_to_indicators(input, at, object, report, rejects, emit) {
                failure = Some(error);
            }
        }
    };
    let bundle = BundleVisitor {
        position: &position,
        on_object: &mut on_object,
    };
    let outcome = deserializer
        .deserialize_map(bundle)
        .and_then(|kind| deserializer.end().map(|()| kind));
    if let Some(error) = failure {
        return Err(error);
    }
    match outcome {
        Ok(Some(kind)) if kind == "bundle" => Ok(()),
        Ok(Some(kind)) => Err(anyhow!(
            "{}: a JSON object of type {kind:?}, not a STIX bundle",
            input.name
        )),
        Ok(None) => Err(anyhow!(
            "{}: a JSON object without \"type\": not a STIX bundle",
            input.name
        )),
        Err(error) => Err(anyhow!(
            "{}:{}: not a readable STIX bundle: {error}",
            input.name,
            position.line.get()
        )),
    }
}

/// Maps one bundle object (starting at line `at`).
fn object_to_indicators(
    input: &InputFile,
    at: u64,
    object: &RawValue,
    report: &mut SourceReport,
    rejects: &mut Rejects,
    emit: &mut dyn FnMut(&Indicator) -> Result<()>,
) -> Result<()> {
    let object: StixObject = match serde_json::from_str(object.get()) {
        Ok(object) => object,
        Err(error) => {
            report.records += 1;
            rejects.reject(input, at, &format!("unreadable STIX object: {error}"));
            return Ok(());
        }
    };
    if object.kind != "indicator" {
        return Ok(());
    }
    report.records += 1;
    match indicators(&object, report) {
        Ok(indicators) => indicators
            .iter()
            .try_for_each(|indicator| deliver(report, emit, indicator)),
        Err(reason) => {
            let id = object.id.as_deref().unwrap_or("indicator");
            rejects.reject(input, at, &format!("{id}: {reason}"));
            Ok(())
        }
    }
}

/// The indicators one STIX indicator gives (none when its pattern is of no
/// use, with the reason counted), or why it is malformed.
fn indicators<'a>(
    object: &'a StixObject,
    report: &mut SourceReport,
) -> Result<Vec<Indicator<'a>>, String> {
    let id = object.id.as_deref().ok_or("no id")?;
    if object
        .pattern_type
        .as_deref()
        .is_some_and(|kind| kind != "stix")
    {
        report.skip("pattern_type other than stix");
        return Ok(Vec::new());
    }
    let pattern = object.pattern.as_deref().ok_or("no pattern")?;
    let addresses = match pattern::addresses(pattern).map_err(|why| format!("pattern: {why}"))? {
        Ok(addresses) => addresses,
        Err(unusable) => {
            report.skip(unusable.reason());
            return Ok(Vec::new());
        }
    };
    let time_text = object
        .modified
        .as_deref()
        .or(object.created.as_deref())
        .ok_or("neither modified nor created")?;
    let time = time::parse(time_text).map_err(|why| format!("modified/created: {why}"))?;
    let expiration = match object.valid_until.as_deref() {
        Some(text) => time::parse(text).map_err(|why| format!("valid_until: {why}"))?,
        None => NEVER_EXPIRES,
    };
    let (usable, unparsable): (Vec<String>, Vec<String>) = addresses
        .iter()
        .cloned()
        .partition(|address| IpPrefix::parse_network(address).is_some());
    if usable.is_empty() {
        let shown = unparsable.first().map_or("", |address| address.as_str());
        return Err(format!("pattern: not an IP address or network: {shown:?}"));
    }
    let (threat_types, groups) =
        types_and_groups(object.indicator_types.as_deref(), object.labels.as_deref());
    let several = addresses.len() > 1;
    Ok(usable
        .into_iter()
        .map(|address| Indicator {
            time,
            id: match several {
                true => Cow::Owned(format!("{id}#{address}")),
                false => Cow::Borrowed(id),
            },
            address: Cow::Owned(address),
            expiration,
            active: object.revoked != Some(true),
            threat_type: threat_types.clone().map(Cow::Owned),
            activity_groups: groups.clone().map(Cow::Owned),
            description: object
                .description
                .as_deref()
                .or(object.name.as_deref())
                .map(Cow::Borrowed),
            confidence: object.confidence,
            external_id: several.then_some(Cow::Borrowed(id)),
        })
        .collect())
}

/// How far the JSON parser has read: the line, so an object can be named by
/// the line it starts on; and the bytes since the start of the current object
/// (or bundle field), so that one of them cannot grow past `max` in memory.
struct Position {
    line: Shared<u64>,
    since_mark: Shared<u64>,
    max: u64,
}

impl Position {
    /// An object or field starts here.
    fn mark(&self) {
        self.since_mark.set(0);
    }
}

/// The bundle's bytes, counted into a [`Position`].
struct LineCounter {
    inner: Input,
    position: Rc<Position>,
}

impl Read for LineCounter {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buffer)?;
        let newlines = buffer[..read].iter().filter(|&&b| b == b'\n').count();
        let position = &self.position;
        position.line.set(position.line.get() + newlines as u64);
        position
            .since_mark
            .set(position.since_mark.get() + read as u64);
        if position.since_mark.get() > position.max {
            let message = format!(
                "a STIX object longer than the limit of {} bytes (--max-line-mib)",
                position.max
            );
            return Err(io::Error::new(io::ErrorKind::InvalidData, message));
        }
        Ok(read)
    }
}

type OnObject<'f> = dyn FnMut(u64, &RawValue) + 'f;

/// The bundle: its `type` (returned) and each element of `objects` (handed on).
struct BundleVisitor<'l, 'f, 'g> {
    position: &'l Position,
    on_object: &'f mut OnObject<'g>,
}

impl<'de> Visitor<'de> for BundleVisitor<'_, '_, '_> {
    type Value = Option<String>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a STIX bundle object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Option<String>, M::Error> {
        let mut kind = None;
        while let Some(key) = {
            self.position.mark();
            map.next_key::<Cow<str>>()?
        } {
            match key.as_ref() {
                "type" => kind = Some(map.next_value::<String>()?),
                "objects" => map.next_value_seed(ObjectsSeed {
                    position: self.position,
                    on_object: &mut *self.on_object,
                })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(kind)
    }
}

struct ObjectsSeed<'l, 'f, 'g> {
    position: &'l Position,
    on_object: &'f mut OnObject<'g>,
}

impl<'de> DeserializeSeed<'de> for ObjectsSeed<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ObjectsSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a list of STIX objects")
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        while let Some(object) = {
            self.position.mark();
            seq.next_element::<Box<RawValue>>()?
        } {
            // The counter stands on the object's last line; its own newlines
            // (kept verbatim) lead back to its first.
            let newlines = object.get().bytes().filter(|&b| b == b'\n').count() as u64;
            (self.on_object)(self.position.line.get() - newlines, &object);
        }
        Ok(())
    }
}
