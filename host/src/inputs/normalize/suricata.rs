//! Suricata EVE JSON: `flow` events as sessions. Sentinel has no ASIM parser
//! for Suricata, so the mapping follows the Zeek one by analogy (a flow record
//! written when the flow ends); docs/NORMALIZERS.md has the table. Other event
//! types (alert, dns, http, …) are no sessions: counted by type and skipped.

use std::borrow::Cow;

use anyhow::Result;
use serde::Deserialize;

use super::{fixed, number, owned, raw_field, sum, FieldIssues, Mapped};
use crate::inputs::{
    records::{self, Fields, OnRecord},
    InputFile,
};
use crate::time;

/// The EVE fields the mapping reads (`flow` is an object of its own).
const RAW: [&str; 11] = [
    "event_type",
    "src_ip",
    "src_port",
    "dest_ip",
    "dest_port",
    "proto",
    "app_proto",
    "flow_id",
    "host",
    "in_iface",
    "flow",
];

/// The ASIM columns a flow event gives, in the order `map` fills them.
pub const COLUMNS: [&str; 28] = [
    "TimeGenerated",
    "EventStartTime",
    "EventEndTime",
    "EventCount",
    "EventType",
    "EventProduct",
    "EventVendor",
    "EventSchema",
    "EventSchemaVersion",
    "EventResult",
    "EventSeverity",
    "EventOriginalResultDetails",
    "SrcIpAddr",
    "SrcPortNumber",
    "DstIpAddr",
    "DstPortNumber",
    "NetworkProtocol",
    "NetworkApplicationProtocol",
    "NetworkDuration",
    "SrcBytes",
    "DstBytes",
    "NetworkBytes",
    "SrcPackets",
    "DstPackets",
    "NetworkPackets",
    "NetworkSessionId",
    "Dvc",
    "DvcInboundInterface",
];

/// The `flow` object of a flow event.
#[derive(Deserialize)]
struct Flow {
    start: Option<String>,
    end: Option<String>,
    pkts_toserver: Option<u64>,
    pkts_toclient: Option<u64>,
    bytes_toserver: Option<u64>,
    bytes_toclient: Option<u64>,
    state: Option<String>,
    reason: Option<String>,
}

/// Whether a first JSON record looks like EVE.
pub fn looks_like(line: &str) -> bool {
    line.starts_with('{') && line.contains("\"event_type\"") && line.contains("\"src_ip\"")
}

/// Reads EVE JSON lines, handing each flow event over as a session.
pub fn read(
    input: &InputFile,
    reader: Box<dyn std::io::BufRead>,
    wanted: &[&str],
    issues: &mut FieldIssues,
    on_record: &mut OnRecord,
) -> Result<()> {
    let mapped = Mapped::new(&COLUMNS, wanted);
    let on_raw = &mut |number: u64, raw: Result<&Fields, String>| {
        let raw = match raw {
            Ok(raw) => raw,
            Err(reason) => return on_record(number, Err(reason)),
        };
        match raw[0].as_deref() {
            Some("flow") => {}
            Some(other) => {
                issues.skip(event_type_reason(other));
                return Ok(());
            }
            None => return on_record(number, Err("event_type: missing".into())),
        }
        match map(raw, issues) {
            Ok(mut values) => on_record(number, Ok(&mapped.pick(&mut values))),
            Err(reason) => on_record(number, Err(reason)),
        }
    };
    // `flow` is an object: read as written, it is parsed once, here.
    records::read_json_lines(input, reader, &RAW, &["flow"], on_raw)
}

/// The `flow` object of its text. The record reader hands it over as
/// written, or (where its key scanner declined the line) parsed and printed
/// again; either way the result is that of parsing the printed text, which
/// differs from parsing the written one only when a key is written twice.
fn flow(text: &str) -> Result<Flow, serde_json::Error> {
    serde_json::from_str(text).or_else(|direct| {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(value) => serde_json::from_str(&value.to_string()),
            Err(_) => Err(direct),
        }
    })
}

/// The skip reason of an event type, from a fixed set (the counts are keyed
/// by `&'static str`).
fn event_type_reason(event_type: &str) -> &'static str {
    match event_type {
        "alert" => "alert events",
        "dns" => "dns events",
        "http" => "http events",
        "tls" => "tls events",
        "fileinfo" => "fileinfo events",
        "anomaly" => "anomaly events",
        "stats" => "stats events",
        _ => "other events",
    }
}

/// One flow event (values in [`RAW`] order) as ASIM values (in [`COLUMNS`]
/// order), or why it cannot be a session: no readable `flow.end`.
fn map<'a>(
    raw: &[Option<Cow<'a, str>>],
    issues: &mut FieldIssues,
) -> Result<Vec<Option<Cow<'a, str>>>, String> {
    let field = |name: &str| raw_field(&RAW, raw, name);
    let flow = flow(field("flow").ok_or("flow: missing")?).map_err(|why| format!("flow: {why}"))?;
    let end = time::parse(flow.end.as_deref().ok_or("flow.end: missing")?)
        .map_err(|why| format!("flow.end: {why}"))?;
    let start = flow.start.as_deref().map(time::parse).transpose();
    let start = start.unwrap_or_else(|_| {
        issues.count("EventStartTime");
        None
    });
    let src = issues.address(field("src_ip"), "SrcIpAddr");
    let dst = issues.address(field("dest_ip"), "DstIpAddr");
    let src_port = issues.port(field("src_port"), "SrcPortNumber");
    let dst_port = issues.port(field("dest_port"), "DstPortNumber");
    let end_text = Some(Cow::Owned(time::format(end)));
    // `failed`: Suricata could not tell the application protocol.
    let application = field("app_proto").filter(|proto| *proto != "failed");
    let details = match (&flow.state, &flow.reason) {
        (Some(state), Some(reason)) => Some(Cow::Owned(format!("{state}, {reason}"))),
        (Some(only), None) | (None, Some(only)) => Some(Cow::Owned(only.clone())),
        (None, None) => None,
    };
    Ok(vec![
        end_text.clone(),
        start.map(|start| Cow::Owned(time::format(start))),
        end_text,
        fixed("1"),
        fixed("Flow"),
        fixed("Suricata"),
        fixed("OISF"),
        fixed("NetworkSession"),
        fixed("0.2.4"),
        // A flow event says what was seen, not whether it succeeded; it is
        // no threat in itself (alert events are).
        fixed("NA"),
        fixed("Informational"),
        details,
        src,
        number(src_port),
        dst,
        number(dst_port),
        field("proto").map(|proto| Cow::Owned(proto.to_ascii_uppercase())),
        owned(application),
        start.map(|start| Cow::Owned(((end - start) / 1000).to_string())),
        number(flow.bytes_toserver),
        number(flow.bytes_toclient),
        number(sum(flow.bytes_toserver, flow.bytes_toclient)),
        number(flow.pkts_toserver),
        number(flow.pkts_toclient),
        number(sum(flow.pkts_toserver, flow.pkts_toclient)),
        owned(field("flow_id")),
        owned(field("host")),
        owned(field("in_iface")),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_is_read_as_from_the_text_the_record_reader_prints() {
        let printed = |text: &str| {
            let value: serde_json::Value = serde_json::from_str(text).unwrap();
            serde_json::from_str::<Flow>(&value.to_string()).map_err(|error| error.to_string())
        };
        for text in [
            r#"{"end":"2021-06-06T15:57:37.272281+0200","bytes_toserver":10,"x":[1,{"y":null}]}"#,
            r#"{"end":"a","end":"b","pkts_toserver":1}"#,
            r#"{"bytes_toserver":1.5}"#,
            r#"{"bytes_toserver":-1}"#,
            r#"{"state":"new","reason":"timeout","state":"closed"}"#,
        ] {
            let read = flow(text).map_err(|error| error.to_string());
            let printed = printed(text);
            assert_eq!(
                read.as_ref()
                    .map(|flow| (&flow.end, flow.bytes_toserver, &flow.state)),
                printed
                    .as_ref()
                    .map(|flow| (&flow.end, flow.bytes_toserver, &flow.state)),
                "{text}"
            );
        }
    }

    #[test]
    fn eve_is_recognised_from_its_first_record() {
        assert!(looks_like(
            r#"{"timestamp":"2021-06-06T15:57:37.272281+0200","event_type":"flow","src_ip":"192.168.1.132"}"#
        ));
        assert!(!looks_like(r#"{"ts":1.0,"id.orig_h":"10.0.0.1"}"#));
    }
}
