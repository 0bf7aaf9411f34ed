//! Palo Alto traffic logs in `CommonSecurityLog`: PAN-OS firewalls' CEF
//! (`ASimNetworkSessionPaloAltoCEF`, v0.7.1) and Cortex Data Lake's
//! (`ASimNetworkSessionPaloAltoCortexDataLake`, v0.1.1); docs/NORMALIZERS.md
//! has both tables.

use super::{fqdn_and_host, Column, Raw, Record, Session};

/// `DeviceAction` → DvcAction, both spellings PAN-OS versions use.
const ACTIONS: [(&str, &str); 11] = [
    ("allow", "Allow"),
    ("deny", "Deny"),
    ("drop", "Drop"),
    ("drop ICMP", "Drop ICMP"),
    ("drop-icmp", "Drop ICMP"),
    ("reset client", "Reset Source"),
    ("reset-client", "Reset Source"),
    ("reset server", "Reset Destination"),
    ("reset-server", "Reset Destination"),
    ("reset both", "Reset"),
    ("reset-both", "Reset"),
];

/// Cortex Data Lake's `Reason` → EventResultDetails.
const REASONS: [(&str, &str); 14] = [
    ("threat", "Reset"),
    ("policy-deny", "Unknown"),
    ("decrypt-cert-validation", "Terminated"),
    ("decrypt-unsupport-param", "Terminated"),
    ("decrypt-error", "Terminated"),
    ("tcp-rst-from-client", "Reset"),
    ("tcp-rst-from-server", "Reset"),
    ("resources-unavailable", "Unknown"),
    ("tcp-fin", "Unknown"),
    ("tcp-reuse", "Unknown"),
    ("decoder", "Unknown"),
    ("aged-out", "Unknown"),
    ("unknown", "Unknown"),
    ("n/a", "NA"),
];

fn dvc_action(action: Option<&str>) -> Option<&'static str> {
    let action = action?;
    ACTIONS
        .iter()
        .find(|(original, _)| *original == action)
        .map(|(_, normalized)| *normalized)
}

/// What both Palo Alto parsers map alike.
fn map_common<'r>(record: &Record<'r, '_>, session: &mut Session<'_, 'r>) {
    use Column::*;
    session.port(SrcPortNumber, record.get(Raw::SourcePort));
    session.port(DstPortNumber, record.get(Raw::DestinationPort));
    session.address(SrcNatIpAddr, record.get(Raw::SourceTranslatedAddress));
    session.port(SrcNatPortNumber, record.get(Raw::SourceTranslatedPort));
    session.address(DstNatIpAddr, record.get(Raw::DestinationTranslatedAddress));
    session.port(DstNatPortNumber, record.get(Raw::DestinationTranslatedPort));
    session.username(
        SrcUsername,
        SrcUsernameType,
        record.get(Raw::SourceUserName),
    );
    session.username(
        DstUsername,
        DstUsernameType,
        record.get(Raw::DestinationUserName),
    );
    session.text(NetworkRuleName, record.get(Raw::DeviceCustomString1));
    session.text(SrcZone, record.get(Raw::DeviceCustomString4));
    session.text(DstZone, record.get(Raw::DeviceCustomString5));
    session.text(DvcInboundInterface, record.get(Raw::DeviceInboundInterface));
    session.text(
        DvcOutboundInterface,
        record.get(Raw::DeviceOutboundInterface),
    );
    session.text(DvcOriginalAction, record.get(Raw::DeviceAction));
    session.text(DvcAction, dvc_action(record.get(Raw::DeviceAction)));
    session.text(EventOriginalSeverity, record.get(Raw::LogSeverity));
    session.text(EventProductVersion, record.get(Raw::DeviceVersion));
    session.text(EventUid, record.get(Raw::_ItemId));
    let protocol = record.get(Raw::Protocol).map(str::to_ascii_uppercase);
    session.owned_text(NetworkProtocol, protocol);
    session.fixed(EventType, "NetworkSession");
    session.fixed(EventSchema, "NetworkSession");
    session.fixed(EventVendor, "Palo Alto");
}

/// The first of two columns that holds a number (the parsers' `coalesce` of
/// the old `DeviceCustomNumberN` and the new `FieldDeviceCustomNumberN`).
fn either<'r>(record: &Record<'r, '_>, new: Raw, old: Raw) -> Option<&'r str> {
    record.get(new).or_else(|| record.get(old))
}

/// Fills `session` from a PAN-OS CEF `TRAFFIC` record.
pub(super) fn map_cef<'r>(record: &Record<'r, '_>, session: &mut Session<'_, 'r>) {
    use Column::*;
    map_common(record, session);
    session.address(SrcIpAddr, record.get(Raw::SourceIP));
    session.address(DstIpAddr, record.get(Raw::DestinationIP));
    let result = match record.get(Raw::DeviceAction) {
        Some("allow") => "Success",
        _ => "Failure",
    };
    session.fixed(EventResult, result);
    session.fixed(EventSeverity, "Informational");
    session.fixed(EventCount, "1");
    session.fixed(EventProduct, "PanOS");
    session.fixed(EventSchemaVersion, "0.2.1");
    session.text(EventMessage, record.get(Raw::Message));
    session.text(
        NetworkApplicationProtocol,
        record.get(Raw::ApplicationProtocol),
    );
    session.mac(SrcMacAddr, record.get(Raw::SourceMACAddress));
    session.mac(DstMacAddr, record.get(Raw::DestinationMACAddress));
    if let Some(name) = record.get(Raw::DeviceName) {
        session.text(Dvc, Some(name));
        session.text(DvcHostname, Some(fqdn_and_host(name).1));
    }
    let start = record
        .get(Raw::StartTime)
        .or_else(|| record.extension("start"));
    session.time(EventStartTime, start);
    session.copy(EventStartTime, EventEndTime);
    let reason = record
        .get(Raw::Reason)
        .or_else(|| record.extension("reason"));
    session.text(EventOriginalResultDetails, reason);
    session.whole(SrcBytes, record.get(Raw::SentBytes));
    session.whole(DstBytes, record.get(Raw::ReceivedBytes));
    session.whole(NetworkBytes, record.get(Raw::FlexNumber1));
    session.whole(SrcPackets, record.extension("PanOSPacketsSent"));
    session.whole(DstPackets, record.extension("PanOSPacketsReceived"));
    let packets = either(
        record,
        Raw::FieldDeviceCustomNumber2,
        Raw::DeviceCustomNumber2,
    );
    session.whole(NetworkPackets, packets);
    let id = either(
        record,
        Raw::FieldDeviceCustomNumber1,
        Raw::DeviceCustomNumber1,
    );
    session.text(NetworkSessionId, id);
    let seconds = either(
        record,
        Raw::FieldDeviceCustomNumber3,
        Raw::DeviceCustomNumber3,
    );
    session.seconds_as_milliseconds(NetworkDuration, seconds);
}

/// Fills `session` from a Cortex Data Lake `TRAFFIC` record.
pub(super) fn map_cdl<'r>(record: &Record<'r, '_>, session: &mut Session<'_, 'r>) {
    use Column::*;
    map_common(record, session);
    // IPv6 sessions leave SourceIP/DestinationIP empty.
    let src = record
        .get(Raw::SourceIP)
        .or_else(|| record.get(Raw::DeviceCustomIPv6Address2));
    let dst = record
        .get(Raw::DestinationIP)
        .or_else(|| record.get(Raw::DeviceCustomIPv6Address3));
    session.address(SrcIpAddr, src);
    session.address(DstIpAddr, dst);
    session.protocol_version(NetworkProtocolVersion, DstIpAddr);
    let action = record.get(Raw::DeviceAction);
    let result = match action {
        Some("allow") => Some("Success"),
        _ if dvc_action(action).is_some() => Some("Failure"),
        _ => None,
    };
    session.text(EventResult, result);
    let severity = record
        .get(Raw::LogSeverity)
        .and_then(|level| level.parse::<u8>().ok())
        .map(|level| match level {
            0..=5 => "Low",
            6..=8 => "Medium",
            _ => "High",
        });
    session.text(EventSeverity, severity);
    let reason = record.get(Raw::Reason);
    session.text(EventOriginalResultDetails, reason);
    let details = REASONS
        .iter()
        .find(|(original, _)| Some(*original) == reason)
        .map(|(_, details)| *details);
    session.text(EventResultDetails, details);
    session.text(EventCount, record.get(Raw::EventCount));
    session.text(EventOriginalType, record.get(Raw::DeviceEventClassID));
    session.text(EventOriginalSubType, record.get(Raw::Activity));
    session.text(EventOriginalUid, record.get(Raw::ExtID));
    session.fixed(EventProduct, "Cortex Data Lake");
    session.fixed(EventSchemaVersion, "0.2.6");
    session.text(SrcAppName, record.get(Raw::ApplicationProtocol));

    // Dvc: the device's FQDN, else its id, else its host name, else address.
    session.address(DvcIpAddr, record.get(Raw::Computer));
    let name = record.get(Raw::DeviceName).map(fqdn_and_host);
    let id = record.get(Raw::DeviceExternalID);
    session.text(DvcId, id);
    if id.is_some() {
        session.fixed(DvcIdType, "Other");
    }
    session.text(DvcHostname, name.map(|(_, host)| host));
    let dvc = name
        .and_then(|(fqdn, _)| fqdn)
        .or(id)
        .or(name.map(|(_, host)| host))
        .or_else(|| record.get(Raw::Computer));
    session.text(Dvc, dvc);

    let start = record.extension("PanOSSessionStartTime");
    session.time(EventStartTime, start);
    session.copy(EventStartTime, EventEndTime);
    let direction = match record.extension("PanOSIsClienttoServer") {
        Some("true") => "Outbound",
        _ => "Inbound",
    };
    session.fixed(NetworkDirection, direction);
    session.text(SrcGeoCountry, record.extension("PanOSSourceLocation"));
    session.text(DstGeoCountry, record.extension("PanOSDestinationLocation"));
    session.text(
        ThreatOriginalRiskLevel,
        record.extension("PanOSApplicationRisk"),
    );
    let src_bytes = session.whole(SrcBytes, record.get(Raw::SentBytes));
    let dst_bytes = session.whole(DstBytes, record.get(Raw::ReceivedBytes));
    session.sum(NetworkBytes, src_bytes, dst_bytes);
    session.whole(SrcPackets, record.extension("PanOSPacketsSent"));
    session.whole(DstPackets, record.extension("PanOSPacketsReceived"));
    session.whole(NetworkPackets, record.get(Raw::FieldDeviceCustomNumber2));
    session.text(NetworkSessionId, record.get(Raw::FieldDeviceCustomNumber1));
    session.seconds_as_milliseconds(NetworkDuration, record.get(Raw::FieldDeviceCustomNumber3));
}
