//! AWS VPC flow logs (space-separated; the default v2 format, or any custom
//! format named by a header line, v2 to v5 fields), mapped as Sentinel's
//! `ASimNetworkSessionAWSVPC` parser maps its `AWSVPCFlow` table. As there,
//! only `log-status` OK records are sessions: NODATA and SKIPDATA records are
//! counted and skipped.

use std::borrow::Cow;

use super::{fixed, number, protocol_name, FieldIssues, Mapped};
use crate::inputs::{records::OnRecord, InputFile};
use crate::time;
use anyhow::Result;

/// The default (v2) format's fields, for files without a header line.
const DEFAULT_FIELDS: [&str; 14] = [
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
];

/// The ASIM columns a flow record gives, in the order `map` fills them.
pub const COLUMNS: [&str; 31] = [
    "TimeGenerated",
    "EventStartTime",
    "EventEndTime",
    "EventCount",
    "EventType",
    "EventProduct",
    "EventVendor",
    "EventProductVersion",
    "EventSchema",
    "EventSchemaVersion",
    "EventResult",
    "EventSeverity",
    "EventOriginalResultDetails",
    "DvcAction",
    "DvcOriginalAction",
    "SrcIpAddr",
    "SrcPortNumber",
    "DstIpAddr",
    "DstPortNumber",
    "SrcNatIpAddr",
    "DstNatIpAddr",
    "NetworkProtocol",
    "NetworkProtocolVersion",
    "NetworkDirection",
    "NetworkBytes",
    "NetworkPackets",
    "DvcInboundInterface",
    "DvcSubscriptionId",
    "DvcId",
    "DvcIdType",
    "Dvc",
];

/// Whether `line` looks like a flow log: a header naming `srcaddr` and
/// `log-status`, or a default-format record.
pub fn looks_like(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.contains(&"srcaddr") && words.contains(&"log-status") {
        return true;
    }
    words.len() == DEFAULT_FIELDS.len()
        && matches!(words[0], "2" | "3" | "4" | "5")
        && matches!(words[13], "OK" | "NODATA" | "SKIPDATA")
}

/// Reads a flow log; a first line of field names sets the format.
pub fn read(
    input: &InputFile,
    reader: Box<dyn std::io::BufRead>,
    wanted: &[&str],
    issues: &mut FieldIssues,
    on_record: &mut OnRecord,
) -> Result<()> {
    let mapped = Mapped::new(&COLUMNS, wanted);
    let mut fields: Vec<String> = DEFAULT_FIELDS.map(String::from).to_vec();
    crate::inputs::records::for_each_line(input, reader, |number, line| {
        let line = match line {
            Ok(line) => line,
            Err(reason) => return on_record(number, Err(reason)),
        };
        let values: Vec<&str> = line.split_whitespace().collect();
        if values.is_empty() {
            return Ok(());
        }
        if values.contains(&"srcaddr") && values.contains(&"log-status") {
            fields = values.iter().map(|name| (*name).to_owned()).collect();
            return Ok(());
        }
        if values.len() != fields.len() {
            let reason = format!(
                "{} fields where the format has {}",
                values.len(),
                fields.len()
            );
            return on_record(number, Err(reason));
        }
        let field = |name: &str| {
            fields
                .iter()
                .position(|field| field == name)
                .map(|at| values[at])
                .filter(|value| *value != "-")
        };
        let skipped = match field("log-status") {
            Some("OK") | None => None,
            Some("NODATA") => Some("NODATA"),
            Some("SKIPDATA") => Some("SKIPDATA"),
            Some(_) => Some("log-status not OK"),
        };
        if let Some(reason) = skipped {
            issues.skip(reason);
            return Ok(());
        }
        match map(&field, issues) {
            Ok(mut mapped_values) => on_record(number, Ok(&mapped.pick(&mut mapped_values))),
            Err(reason) => on_record(number, Err(reason)),
        }
    })
}

/// One OK record as ASIM values (in [`COLUMNS`] order), or why it cannot be
/// a session: no readable `start`.
fn map<'a>(
    field: &dyn Fn(&str) -> Option<&'a str>,
    issues: &mut FieldIssues,
) -> Result<Vec<Option<Cow<'a, str>>>, String> {
    let seconds = |name: &str| -> Result<Option<i64>, String> {
        field(name)
            .map(|text| {
                let seconds = text
                    .parse::<i64>()
                    .map_err(|_| format!("{name}: not a time: {text:?}"))?;
                time::from_seconds(seconds, 0)
                    .ok_or_else(|| format!("{name}: out of range: {text:?}"))
            })
            .transpose()
    };
    let start = seconds("start")?.ok_or("start: missing")?;
    // The row's time is its start; a bad end is a bad value of its own.
    let end = seconds("end").unwrap_or_else(|_| {
        issues.count("EventEndTime");
        None
    });
    let time = |time: i64| Some(Cow::Owned(time::format(time)));
    let src = issues.address(field("srcaddr"), "SrcIpAddr");
    let dst = issues.address(field("dstaddr"), "DstIpAddr");
    let src_nat = issues.address(field("pkt-srcaddr"), "SrcNatIpAddr");
    let dst_nat = issues.address(field("pkt-dstaddr"), "DstNatIpAddr");
    let src_port = issues.port(field("srcport"), "SrcPortNumber");
    let dst_port = issues.port(field("dstport"), "DstPortNumber");
    let bytes = issues.whole(field("bytes"), "NetworkBytes");
    let packets = issues.whole(field("packets"), "NetworkPackets");
    let protocol = field("protocol").and_then(|text| {
        let known = protocol_name(text);
        if known.is_none() {
            issues.count("NetworkProtocol");
        }
        known.map(Cow::Borrowed)
    });
    let action = field("action");
    let accepted = action == Some("ACCEPT");
    let dvc_action = match action {
        Some("ACCEPT") => Some("Allow"),
        Some("REJECT") => Some("Deny"),
        _ => None,
    };
    let direction = match field("flow-direction") {
        Some("ingress") => Some("Inbound"),
        Some("egress") => Some("Outbound"),
        _ => None,
    };
    let raw = |name: &str| field(name).map(Cow::Borrowed);
    Ok(vec![
        time(start),
        time(start),
        end.and_then(time),
        fixed("1"),
        fixed("NetworkSession"),
        fixed("VPC"),
        fixed("AWS"),
        raw("version"),
        fixed("NetworkSession"),
        fixed("0.2.2"),
        action.map(|_| Cow::Borrowed(if accepted { "Success" } else { "Failure" })),
        action.map(|_| Cow::Borrowed(if accepted { "Informational" } else { "Low" })),
        raw("log-status"),
        dvc_action.map(Cow::Borrowed),
        action.map(Cow::Borrowed),
        src,
        number(src_port),
        dst,
        number(dst_port),
        src_nat,
        dst_nat,
        protocol,
        raw("type"),
        direction.map(Cow::Borrowed),
        number(bytes),
        number(packets),
        raw("interface-id"),
        raw("account-id"),
        raw("vpc-id"),
        field("vpc-id").map(|_| Cow::Borrowed("AwsVpcId")),
        // The default format names no VPC: the network interface that
        // recorded the flow is the device then.
        raw("vpc-id").or_else(|| raw("interface-id")),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_logs_are_recognised_by_header_or_default_record() {
        assert!(looks_like("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"));
        assert!(looks_like(
            "2 123456789010 eni-1 - - - - - - - 1431280876 1431280934 - NODATA"
        ));
        assert!(!looks_like("#separator \\x09"));
        assert!(!looks_like("TimeGenerated,SrcIpAddr"));
    }
}
