//! Fortinet FortiGate traffic logs, as `ASimNetworkSessionFortinetFortiGate`
//! (v0.6.0) maps them; docs/NORMALIZERS.md has the table.

use super::{resolve_protocol, Column, Raw, Record, Session};

/// `DeviceAction` → DvcAction, EventResult, EventResultDetails. The parser
/// gives `ip-conn` the details "IP connection error", no ASIM value; the
/// action itself stays in `DvcOriginalAction`.
const ACTIONS: [(&str, &str, &str, &str); 7] = [
    ("accept", "Allow", "Success", ""),
    ("client-rst", "Reset Source", "Failure", ""),
    ("close", "", "Success", ""),
    ("deny", "Deny", "Failure", ""),
    ("ip-conn", "", "Failure", "Unknown"),
    ("server-rst", "Reset Destination", "Failure", ""),
    ("timeout", "", "Failure", ""),
];

/// CEF priority (`LogSeverity`) → EventSeverity. The parser's table has
/// `Critical` for 6 and `Alert` for 7 (syslog level names, no ASIM values):
/// between its `Low` at 5 and `High` at 8 they are `Medium` and `High`.
const SEVERITIES: [(&str, &str); 8] = [
    ("1", "Informational"),
    ("2", "Informational"),
    ("3", "Informational"),
    ("4", "Low"),
    ("5", "Low"),
    ("6", "Medium"),
    ("7", "High"),
    ("8", "High"),
];

/// Fills `session` from a FortiGate traffic record.
pub(super) fn map<'r>(record: &Record<'r, '_>, session: &mut Session<'_, 'r>) {
    use Column::*;
    // `traffic:forward deny` says the action when `DeviceAction` does not.
    let action = record.get(Raw::DeviceAction).or_else(|| {
        record
            .get(Raw::Activity)?
            .strip_prefix("traffic:forward ")
            .filter(|action| !action.is_empty())
    });
    let (mut result, mut details) = ("", "");
    if let Some((_, dvc_action, event_result, event_details)) = ACTIONS
        .iter()
        .find(|(original, ..)| Some(*original) == action)
    {
        session.text(DvcAction, Some(dvc_action));
        (result, details) = (event_result, event_details);
    }
    // FortiGate logs carry `FTNTFGTname=`; FortiAnalyzer forwards `name=`.
    let extension = |fortigate: &str, plain: &str| {
        record
            .extension(fortigate)
            .or_else(|| record.extension(plain))
    };
    // A UTM verdict of `allow` makes the session a success.
    if extension("FTNTFGTutmaction", "utmaction") == Some("allow") {
        (result, details) = ("Success", "");
    }
    session.text(EventResult, Some(result));
    session.text(EventResultDetails, Some(details));
    session.text(DvcOriginalAction, action);

    session.address(SrcIpAddr, record.get(Raw::SourceIP));
    session.port(SrcPortNumber, record.get(Raw::SourcePort));
    session.address(DstIpAddr, record.get(Raw::DestinationIP));
    session.port(DstPortNumber, record.get(Raw::DestinationPort));
    session.text(SrcInterfaceName, record.get(Raw::DeviceInboundInterface));
    session.text(DstInterfaceName, record.get(Raw::DeviceOutboundInterface));
    let src_bytes = session.whole(SrcBytes, record.get(Raw::SentBytes));
    let dst_bytes = session.whole(DstBytes, record.get(Raw::ReceivedBytes));
    session.sum(NetworkBytes, src_bytes, dst_bytes);
    session.set(NetworkProtocol, resolve_protocol(record.get(Raw::Protocol)));
    session.protocol_version(NetworkProtocolVersion, DstIpAddr);

    session.text(Dvc, record.get(Raw::Computer));
    session.text(DvcId, record.get(Raw::DeviceExternalID));
    session.fixed(DvcIdType, "Other");
    session.text(EventMessage, record.get(Raw::Activity));
    session.text(EventOriginalSeverity, record.get(Raw::LogSeverity));
    let severity = record.get(Raw::LogSeverity).and_then(|original| {
        SEVERITIES
            .iter()
            .find(|(level, _)| *level == original)
            .map(|(_, severity)| *severity)
    });
    session.text(EventSeverity, severity);
    session.text(EventProductVersion, record.get(Raw::DeviceVersion));
    session.text(EventUid, record.get(Raw::_ItemId));

    // The session's start when the log has it; the log's time otherwise.
    session.time(EventStartTime, extension("FTNTFGTstart", "start"));
    if session.is_empty(EventStartTime) {
        session.copy(TimeGenerated, EventStartTime);
    }
    session.copy(TimeGenerated, EventEndTime);
    session.text(SrcZone, extension("FTNTFGTsrcintfrole", "srcintfrole"));
    session.text(DstZone, extension("FTNTFGTdstintfrole", "dstintfrole"));
    session.text(
        NetworkSessionId,
        extension("FTNTFGTexternalID", "externalID"),
    );
    session.whole(NetworkRuleNumber, extension("FTNTFGTpolicyid", "policyid"));
    session.seconds_as_milliseconds(NetworkDuration, extension("FTNTFGTduration", "duration"));
    session.text(SrcGeoCountry, extension("FTNTFGTsrccountry", "srccountry"));
    session.text(DstGeoCountry, extension("FTNTFGTdstcountry", "dstcountry"));
    session.text(
        ThreatOriginalRiskLevel,
        extension("FTNTFGTcrscore", "crscore"),
    );
    let src_packets = session.whole(SrcPackets, extension("FTNTFGTsentpkt", "sentpkt"));
    let dst_packets = session.whole(DstPackets, extension("FTNTFGTrcvdpkt", "rcvdpkt"));
    session.sum(NetworkPackets, src_packets, dst_packets);

    session.fixed(EventCount, "1");
    session.fixed(EventType, "NetworkSession");
    session.fixed(EventSchema, "NetworkSession");
    session.fixed(EventSchemaVersion, "0.2.3");
    session.fixed(EventVendor, "Fortinet");
    session.fixed(EventProduct, "Fortigate");
}
