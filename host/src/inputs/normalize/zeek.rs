//! Zeek `conn.log`, TSV (with its `#separator`/`#fields` header) or JSON
//! lines, mapped as Sentinel's `ASimNetworkSessionCorelightZeek` parser maps
//! Corelight's JSON; the differences are deliberate and listed in
//! docs/NORMALIZERS.md.
//!
//! One file past 500 lines: the mapping's tables (raw fields, ASIM columns,
//! connection states) are most of it, shared by the TSV and JSON readers.

use std::borrow::Cow;

use anyhow::{bail, Result};
use asim_rule_core::Timestamp;

use super::{fixed, number, owned, sum, FieldIssues, Mapped, Value};
use crate::inputs::{
    records::{self, recycle, Fields, OnRecord},
    InputFile,
};
use crate::time;

/// The Zeek fields the mapping reads.
const RAW: [&str; 21] = [
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "service",
    "duration",
    "orig_bytes",
    "resp_bytes",
    "conn_state",
    "local_orig",
    "local_resp",
    "orig_pkts",
    "resp_pkts",
    "community_id",
    "_system_name",
    "_write_ts",
    "orig_l2_addr",
    "resp_l2_addr",
];

/// Where `name` is in [`RAW`], found when compiling (a name not there
/// does not compile).
const fn raw_at(name: &str) -> usize {
    let mut at = 0;
    while at < RAW.len() && !same_text(RAW[at], name) {
        at += 1;
    }
    assert!(at < RAW.len(), "not a field of RAW");
    at
}

const fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut at = 0;
    while at < a.len() && at < b.len() && a[at] == b[at] {
        at += 1;
    }
    at == a.len() && at == b.len()
}

const TS: usize = raw_at("ts");
const UID: usize = raw_at("uid");
const ORIG_H: usize = raw_at("id.orig_h");
const ORIG_P: usize = raw_at("id.orig_p");
const RESP_H: usize = raw_at("id.resp_h");
const RESP_P: usize = raw_at("id.resp_p");
const PROTO: usize = raw_at("proto");
const SERVICE: usize = raw_at("service");
const DURATION: usize = raw_at("duration");
const ORIG_BYTES: usize = raw_at("orig_bytes");
const RESP_BYTES: usize = raw_at("resp_bytes");
const CONN_STATE: usize = raw_at("conn_state");
const LOCAL_ORIG: usize = raw_at("local_orig");
const LOCAL_RESP: usize = raw_at("local_resp");
const ORIG_PKTS: usize = raw_at("orig_pkts");
const RESP_PKTS: usize = raw_at("resp_pkts");
const COMMUNITY_ID: usize = raw_at("community_id");
const SYSTEM_NAME: usize = raw_at("_system_name");
const WRITE_TS: usize = raw_at("_write_ts");
const ORIG_L2_ADDR: usize = raw_at("orig_l2_addr");
const RESP_L2_ADDR: usize = raw_at("resp_l2_addr");

indexed_names! {
    /// The ASIM columns a conn record gives.
    enum Column,
    pub const COLUMNS = [
        TimeGenerated,
        EventStartTime,
        EventEndTime,
        EventCount,
        EventType,
        EventProduct,
        EventVendor,
        EventSchema,
        EventSchemaVersion,
        EventResult,
        EventResultDetails,
        EventOriginalResultDetails,
        EventSeverity,
        EventOriginalUid,
        SrcIpAddr,
        SrcPortNumber,
        DstIpAddr,
        DstPortNumber,
        NetworkProtocol,
        NetworkApplicationProtocol,
        NetworkDirection,
        NetworkDuration,
        SrcBytes,
        DstBytes,
        NetworkBytes,
        SrcPackets,
        DstPackets,
        NetworkPackets,
        NetworkSessionId,
        Dvc,
        SrcMacAddr,
        DstMacAddr,
    ]
}

/// `conn_state` → EventResult, EventResultDetails, EventOriginalResultDetails,
/// EventSeverity, as the parser's lookup table has them.
const CONN_STATES: [(&str, &str, &str, &str, &str); 13] = [
    (
        "S0",
        "Success",
        "",
        "Connection attempt seen, no reply",
        "Informational",
    ),
    (
        "S1",
        "Success",
        "",
        "Connection established, not terminated",
        "Informational",
    ),
    (
        "SF",
        "Success",
        "Terminated",
        "Normal establishment and termination",
        "Informational",
    ),
    // The parser says `Rejeced`, no ASIM value; a rejected attempt is a
    // reset (the responder answers the SYN with a RST).
    (
        "REJ",
        "Failure",
        "Reset",
        "Connection attempt rejected",
        "Low",
    ),
    (
        "S2",
        "Failure",
        "Terminated",
        "Connection established and close attempt by originator seen (but no reply from responder)",
        "Low",
    ),
    (
        "S3",
        "Failure",
        "Terminated",
        "Connection established and close attempt by responder seen (but no reply from originator)",
        "Low",
    ),
    (
        "RSTO",
        "Failure",
        "Reset",
        "Connection established, originator aborted (sent a RST)",
        "Low",
    ),
    ("RSTR", "Failure", "Reset", "Responder sent a RST", "Low"),
    (
        "RSTOS0",
        "Failure",
        "Reset",
        "Originator sent a SYN followed by a RST, no SYN-ACK from the responder",
        "Low",
    ),
    (
        "RSTRH",
        "Failure",
        "Reset",
        "Responder sent a SYN ACK followed by a RST, no SYN from the originator",
        "Low",
    ),
    (
        "SH",
        "Failure",
        "Timeout",
        "Originator sent a SYN followed by a FIN, no SYN ACK from the responder",
        "Low",
    ),
    (
        "SHR",
        "Failure",
        "Timeout",
        "Responder sent a SYN ACK followed by a FIN, no SYN from the originator",
        "Low",
    ),
    (
        "OTH",
        "Success",
        "",
        "No SYN seen, just midstream traffic",
        "Informational",
    ),
];

/// A TSV `conn.log`: the header says the separator, the unset and empty
/// markers and the field order; `#` lines after it (`#close`) are skipped.
pub fn read_tsv(
    input: &InputFile,
    reader: Box<dyn std::io::BufRead>,
    wanted: &[&str],
    issues: &mut FieldIssues,
    on_record: &mut OnRecord,
) -> Result<()> {
    let mapped = Mapped::new(COLUMNS, wanted);
    let sensor = input.base_name();
    let mut header = Header::default();
    let mut positions: Option<Vec<Option<usize>>> = None;
    // Buffers kept from record to record.
    let (mut spare_fields, mut spare_raw, mut values): (Vec<&str>, Vec<Option<&str>>, _) =
        (Vec::new(), Vec::new(), Vec::new());
    records::for_each_line(input, reader, |number, line| {
        let line = match line {
            Ok(line) => line,
            Err(reason) => return on_record(number, Err(reason)),
        };
        if let Some(directive) = line.strip_prefix('#') {
            header.read(directive);
            if directive.starts_with("fields") {
                positions = Some(
                    RAW.iter()
                        .map(|name| header.fields.iter().position(|field| field == name))
                        .collect(),
                );
            }
            return Ok(());
        }
        if line.trim().is_empty() {
            return Ok(());
        }
        let Some(positions) = &positions else {
            bail!(
                "{}:{number}: a Zeek TSV record before the #fields header",
                input.name
            );
        };
        let mut fields = recycle(std::mem::take(&mut spare_fields));
        header.split(line, &mut fields);
        if fields.len() != header.fields.len() {
            let reason = format!(
                "{} fields where the header names {}",
                fields.len(),
                header.fields.len()
            );
            return on_record(number, Err(reason));
        }
        let mut raw: Vec<Option<Cow<str>>> = recycle(std::mem::take(&mut spare_raw));
        raw.extend(positions.iter().map(|position| {
            let value = (*position).map(|at| fields[at])?;
            if value == header.unset {
                None
            } else if value == header.empty {
                Some(Cow::Borrowed(""))
            } else {
                Some(Cow::Borrowed(value))
            }
        }));
        let delivered = deliver(
            number,
            &raw,
            &sensor,
            &mapped,
            issues,
            &mut values,
            on_record,
        );
        (spare_fields, spare_raw) = (recycle(fields), recycle(raw));
        delivered
    })
}

/// The TSV header's settings.
struct Header {
    separator: String,
    unset: String,
    empty: String,
    fields: Vec<String>,
}

impl Default for Header {
    fn default() -> Header {
        Header {
            separator: "\t".into(),
            unset: "-".into(),
            empty: "(empty)".into(),
            fields: Vec::new(),
        }
    }
}

impl Header {
    /// The fields of a record line: at each byte of a one-byte separator
    /// (Zeek's tab) without a pattern search, as `str::split` cuts them.
    fn split<'l>(&self, line: &'l str, fields: &mut Vec<&'l str>) {
        fields.clear();
        match self.separator.as_bytes() {
            [separator] => {
                let mut start = 0;
                // Fields are short: a byte loop beats a search per field.
                for (at, byte) in line.bytes().enumerate() {
                    if byte == *separator {
                        // A one-byte separator is ASCII: `at` is a boundary.
                        fields.push(&line[start..at]);
                        start = at + 1;
                    }
                }
                fields.push(&line[start..]);
            }
            _ => fields.extend(line.split(self.separator.as_str())),
        }
    }

    /// Takes in one `#` line (without the `#`).
    fn read(&mut self, directive: &str) {
        if let Some(separator) = directive.strip_prefix("separator ") {
            self.separator = unescape(separator.trim());
            return;
        }
        let mut parts = directive.split(self.separator.as_str());
        match parts.next() {
            Some("unset_field") => self.unset = parts.next().unwrap_or("-").to_owned(),
            Some("empty_field") => self.empty = parts.next().unwrap_or("(empty)").to_owned(),
            Some("fields") => self.fields = parts.map(str::to_owned).collect(),
            _ => {}
        }
    }
}

/// `\x09` → a tab: how Zeek writes its separator.
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("\\x") {
        out.push_str(&rest[..at]);
        let code = rest
            .get(at + 2..at + 4)
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match code {
            Some(code) => {
                out.push(char::from(code));
                rest = &rest[at + 4..];
            }
            None => {
                out.push_str("\\x");
                rest = &rest[at + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// JSON lines as Zeek's JSON writer (and Corelight) emit them.
pub fn read_json(
    input: &InputFile,
    reader: Box<dyn std::io::BufRead>,
    wanted: &[&str],
    issues: &mut FieldIssues,
    on_record: &mut OnRecord,
) -> Result<()> {
    let mapped = Mapped::new(COLUMNS, wanted);
    let sensor = input.base_name();
    let mut values = Vec::new();
    let on_raw = &mut |number: u64, raw: Result<&Fields, String>| match raw {
        Ok(raw) => deliver(
            number,
            raw,
            &sensor,
            &mapped,
            issues,
            &mut values,
            on_record,
        ),
        Err(reason) => on_record(number, Err(reason)),
    };
    records::read_from(input, reader, &RAW, on_raw)
}

/// Maps one record and hands its wanted values on; `values` is the
/// buffer they are written into, kept from record to record.
fn deliver(
    number: u64,
    raw: &[Option<Cow<str>>],
    sensor: &str,
    mapped: &Mapped,
    issues: &mut FieldIssues,
    values: &mut Vec<Value>,
    on_record: &mut OnRecord,
) -> Result<()> {
    match map(raw, sensor, mapped, issues, values) {
        Ok(()) => on_record(number, Ok(values)),
        Err(reason) => on_record(number, Err(reason)),
    }
}

/// One conn record (values in `RAW` order) as ASIM values (in [`COLUMNS`]
/// order), or why it cannot be a session: no readable `ts`. `Dvc` is the
/// sensor's `_system_name` (Corelight); plain Zeek does not name its sensor,
/// so then it is `sensor`, the log file's name, and counted as such.
fn map(
    raw: &[Option<Cow<str>>],
    sensor: &str,
    mapped: &Mapped,
    issues: &mut FieldIssues,
    values: &mut Vec<Value>,
) -> Result<(), String> {
    let field = |at: usize| raw.get(at)?.as_deref().filter(|value| !value.is_empty());
    let start =
        epoch_or_rfc3339(field(TS).ok_or("ts: missing")?).map_err(|why| format!("ts: {why}"))?;
    // A duration that would end the connection past year 9999 is as bad as
    // one that is no number.
    let duration = field(DURATION)
        .and_then(|text| text.parse::<f64>().ok())
        .filter(|seconds| time::after_seconds(start, *seconds).is_some());
    if field(DURATION).is_some() && duration.is_none() {
        issues.count("NetworkDuration");
    }
    // Plain Zeek has no `_write_ts`: the record was written when the
    // connection ended, `ts + duration`.
    let end = match field(WRITE_TS).map(epoch_or_rfc3339) {
        Some(Ok(time)) => time,
        _ => duration
            .and_then(|seconds| time::after_seconds(start, seconds))
            .unwrap_or(start),
    };
    let state = field(CONN_STATE).and_then(|state| {
        let found = CONN_STATES.iter().find(|(name, ..)| *name == state);
        if found.is_none() {
            issues.count("EventResult");
        }
        found
    });
    let direction = match (flag(field(LOCAL_ORIG)), flag(field(LOCAL_RESP))) {
        (Some(false), Some(true)) => Some("Inbound"),
        (Some(true), Some(false)) => Some("Outbound"),
        (Some(_), Some(_)) => Some("Local"),
        _ => None,
    };
    let src = issues.checked_address(field(ORIG_H), "SrcIpAddr");
    let dst = issues.checked_address(field(RESP_H), "DstIpAddr");
    let src_port = issues.whole(field(ORIG_P), "SrcPortNumber");
    let dst_port = issues.whole(field(RESP_P), "DstPortNumber");
    let src_bytes = issues.whole(field(ORIG_BYTES), "SrcBytes");
    let dst_bytes = issues.whole(field(RESP_BYTES), "DstBytes");
    let src_packets = issues.whole(field(ORIG_PKTS), "SrcPackets");
    let dst_packets = issues.whole(field(RESP_PKTS), "DstPackets");
    let src_mac = issues.mac(field(ORIG_L2_ADDR), "SrcMacAddr");
    let dst_mac = issues.mac(field(RESP_L2_ADDR), "DstMacAddr");
    let dvc = field(SYSTEM_NAME);
    if dvc.is_none() {
        issues.derive("Dvc from the file name");
    }
    // Every value is checked (and counted) above; only the wanted ones are
    // written out, which is most of the cost.
    values.clear();
    values.resize(mapped.wanted(), None);
    let mut put = |column: Column, value: &dyn Fn() -> Value| {
        if let Some(slot) = mapped.slot(column.into()) {
            values[slot] = value();
        }
    };
    put(Column::TimeGenerated, &|| {
        Some(Cow::Owned(time::format(end)))
    });
    put(Column::EventStartTime, &|| {
        Some(Cow::Owned(time::format(start)))
    });
    put(Column::EventEndTime, &|| {
        Some(Cow::Owned(time::format(end)))
    });
    put(Column::EventCount, &|| fixed("1"));
    put(Column::EventType, &|| fixed("Flow"));
    put(Column::EventProduct, &|| fixed("Zeek"));
    put(Column::EventVendor, &|| fixed("Corelight"));
    put(Column::EventSchema, &|| fixed("NetworkSession"));
    put(Column::EventSchemaVersion, &|| fixed("0.2.4"));
    put(Column::EventResult, &|| state.map(|s| Cow::Borrowed(s.1)));
    put(Column::EventResultDetails, &|| {
        state.and_then(|s| (!s.2.is_empty()).then_some(Cow::Borrowed(s.2)))
    });
    put(Column::EventOriginalResultDetails, &|| {
        state.map(|s| Cow::Borrowed(s.3))
    });
    put(Column::EventSeverity, &|| state.map(|s| Cow::Borrowed(s.4)));
    put(Column::EventOriginalUid, &|| owned(field(UID)));
    put(Column::SrcIpAddr, &|| owned(src));
    put(Column::SrcPortNumber, &|| number(src_port));
    put(Column::DstIpAddr, &|| owned(dst));
    put(Column::DstPortNumber, &|| number(dst_port));
    put(Column::NetworkProtocol, &|| {
        field(PROTO).map(|proto| Cow::Owned(proto.to_ascii_uppercase()))
    });
    put(Column::NetworkApplicationProtocol, &|| {
        owned(field(SERVICE))
    });
    put(Column::NetworkDirection, &|| direction.map(Cow::Borrowed));
    put(Column::NetworkDuration, &|| {
        duration.map(|seconds| Cow::Owned(((seconds * 1000.0).round() as i64).to_string()))
    });
    put(Column::SrcBytes, &|| number(src_bytes));
    put(Column::DstBytes, &|| number(dst_bytes));
    put(Column::NetworkBytes, &|| number(sum(src_bytes, dst_bytes)));
    put(Column::SrcPackets, &|| number(src_packets));
    put(Column::DstPackets, &|| number(dst_packets));
    put(Column::NetworkPackets, &|| {
        number(sum(src_packets, dst_packets))
    });
    put(Column::NetworkSessionId, &|| owned(field(COMMUNITY_ID)));
    put(Column::Dvc, &|| owned(Some(dvc.unwrap_or(sensor))));
    put(Column::SrcMacAddr, &|| src_mac.clone());
    put(Column::DstMacAddr, &|| dst_mac.clone());
    Ok(())
}

/// `T`/`F` (TSV) or `true`/`false` (JSON).
fn flag(text: Option<&str>) -> Option<bool> {
    match text? {
        "T" | "true" => Some(true),
        "F" | "false" => Some(false),
        _ => None,
    }
}

/// Zeek's epoch seconds with a fraction (`1655071198.444458`), or RFC 3339
/// when Zeek was told to write ISO 8601 times.
fn epoch_or_rfc3339(text: &str) -> Result<Timestamp, String> {
    let (seconds, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if digits(seconds) && (fraction.is_empty() || digits(fraction)) {
        let whole: i64 = seconds
            .parse()
            .map_err(|_| format!("not a time: {text:?}"))?;
        // The first six digits of the fraction, as microseconds.
        let kept = &fraction.as_bytes()[..fraction.len().min(6)];
        let micros = kept
            .iter()
            .fold(0, |micros, digit| micros * 10 + i64::from(digit - b'0'))
            * 10_i64.pow(6 - kept.len() as u32);
        return time::from_seconds(whole, micros).ok_or_else(|| format!("out of range: {text:?}"));
    }
    time::parse(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_split_as_str_split_splits_them() {
        for separator in ["\t", ",", "\u{e9}", "::"] {
            let header = Header {
                separator: separator.to_owned(),
                ..Header::default()
            };
            for line in [
                "",
                "a",
                "a\tb",
                "\t\t",
                "é\tü,x::y",
                ",a,,b,",
                "::a::::b",
                "\u{e9}x\u{e9}",
            ] {
                let expected: Vec<&str> = line.split(separator).collect();
                let mut fields = vec!["left over"];
                header.split(line, &mut fields);
                assert_eq!(fields, expected, "{line:?} by {separator:?}");
            }
        }
    }

    #[test]
    fn epoch_times_keep_their_microseconds() {
        assert_eq!(
            epoch_or_rfc3339("1655071198.444458"),
            Ok(1_655_071_198_444_458)
        );
        assert_eq!(epoch_or_rfc3339("19.98"), Ok(19_980_000));
        assert_eq!(epoch_or_rfc3339("1655071198"), Ok(1_655_071_198_000_000));
        assert_eq!(epoch_or_rfc3339("1.1234567"), Ok(1_123_456));
        assert_eq!(epoch_or_rfc3339("1.000001"), Ok(1_000_001));
        assert_eq!(
            epoch_or_rfc3339("2022-09-29T14:40:56.755299Z"),
            Ok(1_664_462_456_755_299)
        );
        assert!(epoch_or_rfc3339("-").is_err());
        assert!(epoch_or_rfc3339("1.2.3").is_err());
    }

    #[test]
    fn the_separator_directive_is_unescaped() {
        assert_eq!(unescape("\\x09"), "\t");
        assert_eq!(unescape("\\x2c"), ",");
        assert_eq!(unescape("||"), "||");
    }
}
