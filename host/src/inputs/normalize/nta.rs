//! Azure NSG / VNet flow logs as traffic analytics enriches them: Sentinel's
//! `NTANetAnalytics` table, exported as CSV or JSON lines, mapped as
//! `ASimNetworkSessionNTANetAnalytics` (v0.1.1) does; docs/NORMALIZERS.md
//! has the table. Records other than `SubType == FlowLog` are skipped.

use anyhow::Result;

use super::{read_table, time_generated, FieldIssues, Mapping, Session};
use crate::inputs::{
    records::{Fields, OnRecord},
    InputFile,
};

indexed_names! {
    /// The `NTANetAnalytics` columns the parser reads.
    enum Raw,
    const RAW = [
        TimeGenerated, SubType, FlowStartTime, FlowEndTime, FlowType, SrcIp, DestIp,
        SrcPorts, DestPort, L4Protocol, L7Protocol, FlowDirection, FlowStatus, SrcPublicIps,
        DestPublicIps, SrcVm, DestVm, SrcNic, DestNic, Country, AclRule, CompletedFlows,
        PacketsSrcToDest, PacketsDestToSrc, BytesSrcToDest, BytesDestToSrc, SrcSubscription,
        DestSubscription, MacAddress, TargetResourceId, _ItemId,
    ]
}

indexed_names! {
    /// The ASIM columns a flow record gives.
    enum Column,
    pub const COLUMNS = [
        TimeGenerated, EventStartTime, EventEndTime, EventCount, EventType, EventProduct,
        EventVendor, EventSchema, EventSchemaVersion, EventResult, EventSeverity,
        EventOriginalResultDetails, EventUid, DvcAction, Dvc, SrcIpAddr, SrcPortNumber,
        SrcHostname, SrcInterfaceName, SrcZone, SrcGeoCountry, SrcMacAddr, SrcDvcId,
        SrcDvcIdType, SrcSubscriptionId, SrcBytes, SrcPackets, DstIpAddr, DstPortNumber,
        DstHostname, DstInterfaceName, DstMacAddr, DstDvcId, DstDvcIdType, DstSubscriptionId,
        DstBytes, DstPackets, NetworkProtocol, NetworkDirection, NetworkApplicationProtocol,
        NetworkRuleName, NetworkBytes, NetworkPackets,
    ]
}

/// Whether the first line (a CSV header or a JSON record) is the table's.
pub fn looks_like(line: &str) -> bool {
    line.contains("FlowStatus") && line.contains("L4Protocol")
}

/// Reads `NTANetAnalytics` records, handing each flow record over as ASIM.
pub fn read(
    input: &InputFile,
    reader: Box<dyn std::io::BufRead>,
    wanted: &[&str],
    issues: &mut FieldIssues,
    on_record: &mut OnRecord,
) -> Result<()> {
    read_table(
        input,
        reader,
        (RAW, COLUMNS),
        wanted,
        issues,
        on_record,
        map_record,
    )
}

/// A flow record into `session`; records of other kinds are skipped.
fn map_record<'r>(raw: &'r Fields, session: &mut Session<'_, 'r>) -> Mapping {
    // Exports write `-` for an empty value.
    let field = |column: Raw| {
        raw[column as usize]
            .as_deref()
            .filter(|value| !value.is_empty() && *value != "-")
    };
    if field(Raw::SubType) != Some("FlowLog") {
        return Mapping::Skip("records other than FlowLog");
    }
    if let Err(reason) = time_generated(field(Raw::TimeGenerated), session, Column::TimeGenerated) {
        return Mapping::Reject(reason);
    }
    map(&field, session);
    Mapping::Session
}

/// Fills `session` from a flow record.
fn map<'r>(field: &dyn Fn(Raw) -> Option<&'r str>, session: &mut Session<'_, 'r>) {
    use Column::*;
    let (action, result, severity) = match field(Raw::FlowStatus) {
        Some("Allowed") => (Some("Allow"), Some("Success"), Some("Informational")),
        Some("Denied") => (Some("Deny"), Some("Failure"), Some("Low")),
        _ => (None, None, None),
    };
    session.text(DvcAction, action);
    session.text(EventResult, result);
    session.text(EventSeverity, severity);
    let protocol = match field(Raw::L4Protocol) {
        Some("T" | "TCP") => Some("TCP"),
        Some("U" | "UDP") => Some("UDP"),
        Some("ICMP") => Some("ICMP"),
        _ => None,
    };
    session.text(NetworkProtocol, protocol);
    let application = field(Raw::L7Protocol).map(str::to_uppercase);
    session.owned_text(NetworkApplicationProtocol, application);

    // A flow to or from the internet names the far end only among the public
    // addresses, `address|flows…` tuples separated by spaces: the first one.
    let first_public = |column| {
        field(column)
            .and_then(|tuples| tuples.split_whitespace().next())
            .and_then(|tuple| tuple.split('|').next())
    };
    let src = field(Raw::SrcIp).or_else(|| first_public(Raw::SrcPublicIps));
    let dst = field(Raw::DestIp).or_else(|| first_public(Raw::DestPublicIps));
    session.address(SrcIpAddr, src);
    session.address(DstIpAddr, dst);
    // Several source ports are `|`-separated; the parser keeps the first.
    let src_port = field(Raw::SrcPorts).and_then(|ports| ports.split('|').next());
    session.port(SrcPortNumber, src_port);
    session.port(DstPortNumber, field(Raw::DestPort));
    // A host is the VM's name (`resource-group/vm`), else its address. A VM
    // name that is no hostname (`-1234567-vmss_4`) is not used, and counted.
    for (vm, address, hostname) in [
        (Raw::SrcVm, SrcIpAddr, SrcHostname),
        (Raw::DestVm, DstIpAddr, DstHostname),
    ] {
        let name = field(vm).and_then(|vm: &str| vm.rsplit('/').next());
        let name = name.filter(|name| {
            let usable = super::is_hostname(name);
            if !usable {
                session.issues.derive(match hostname {
                    SrcHostname => "SrcHostname from the address, the VM name being no hostname",
                    _ => "DstHostname from the address, the VM name being no hostname",
                });
            }
            usable
        });
        match name {
            Some(name) => session.text(hostname, Some(name)),
            None => session.copy(address, hostname),
        }
    }

    let direction = field(Raw::FlowDirection);
    session.text(NetworkDirection, direction);
    // The NIC the flow log is for is the inbound flow's destination, the
    // outbound flow's source.
    let logged_side = match direction {
        Some("Inbound") => Some((DstDvcId, DstDvcIdType, DstMacAddr)),
        Some("Outbound") => Some((SrcDvcId, SrcDvcIdType, SrcMacAddr)),
        _ => None,
    };
    if let Some((id, id_type, mac)) = logged_side {
        session.text(id, field(Raw::TargetResourceId));
        session.fixed(id_type, "AzureResourceId");
        session.mac(mac, field(Raw::MacAddress));
    }
    let zone = match field(Raw::FlowType) {
        Some("IntraVNet" | "InterVNet") => "Internal",
        Some("ExternalPublic") => "Internet",
        Some("AzurePublic") => "Azure",
        Some("S2S") => "S2S",
        Some("P2S") => "P2S",
        _ => "Unknown",
    };
    session.fixed(SrcZone, zone);
    let details = match field(Raw::FlowType) {
        Some("Malicious") => Some("Malicious"),
        Some("Unknown" | "Unknown Private") => Some("Unknown"),
        _ => None,
    };
    session.text(EventOriginalResultDetails, details);

    session.time(EventStartTime, field(Raw::FlowStartTime));
    session.time(EventEndTime, field(Raw::FlowEndTime));
    let flows = session.whole(EventCount, field(Raw::CompletedFlows));
    if flows.unwrap_or(0) == 0 {
        session.fixed(EventCount, "1");
    }
    let src_bytes = session.whole(SrcBytes, field(Raw::BytesSrcToDest));
    let dst_bytes = session.whole(DstBytes, field(Raw::BytesDestToSrc));
    session.sum(NetworkBytes, src_bytes, dst_bytes);
    let src_packets = session.whole(SrcPackets, field(Raw::PacketsSrcToDest));
    let dst_packets = session.whole(DstPackets, field(Raw::PacketsDestToSrc));
    session.sum(NetworkPackets, src_packets, dst_packets);
    session.text(SrcInterfaceName, field(Raw::SrcNic));
    session.text(DstInterfaceName, field(Raw::DestNic));
    session.text(SrcGeoCountry, field(Raw::Country));
    session.text(NetworkRuleName, field(Raw::AclRule));
    session.text(SrcSubscriptionId, field(Raw::SrcSubscription));
    session.text(DstSubscriptionId, field(Raw::DestSubscription));
    session.text(EventUid, field(Raw::_ItemId));
    session.fixed(EventType, "Flow");
    session.fixed(EventSchema, "NetworkSession");
    session.fixed(EventSchemaVersion, "0.2.6");
    // The parser writes `Azure NSG flows`, which ASIM's list does not have;
    // `NSGFlow` is the list's name for NSG flow logs.
    session.fixed(EventProduct, "NSGFlow");
    session.fixed(EventVendor, "Microsoft");
    session.fixed(Dvc, "Azure NSG flows");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_recognised_by_its_columns() {
        assert!(looks_like(
            "TenantId,TimeGenerated,SubType,L4Protocol,FlowDirection,FlowStatus"
        ));
        assert!(!looks_like("TenantId,DeviceVendor,DeviceProduct"));
    }
}
