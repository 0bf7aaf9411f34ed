//! Sentinel's `CommonSecurityLog` table (CEF), exported as CSV or JSON lines:
//! one table, many vendors. As Sentinel's `imNetworkSession` unions its
//! parsers, each record goes to the parser of its `DeviceVendor` and
//! `DeviceProduct`, which keeps it or says why it is no session: FortiGate
//! (`fortigate.rs`), Cisco ASA (`cisco_asa.rs`), Palo Alto PAN-OS CEF and
//! Cortex Data Lake (`palo_alto.rs`). Records of other sources are counted and
//! skipped.

mod cisco_asa;
mod fortigate;
mod palo_alto;

use std::borrow::Cow;

use anyhow::Result;

use super::{read_table, time_generated, FieldIssues, Mapping, Session, Slot};
use crate::inputs::{
    records::{recycle, OnRecord},
    InputFile,
};

indexed_names! {
    /// The `CommonSecurityLog` columns the parsers read.
    enum Raw,
    const RAW = [
        TimeGenerated, DeviceVendor, DeviceProduct, DeviceVersion, DeviceEventClassID,
        DeviceEventCategory, Activity, LogSeverity, OriginalLogSeverity, DeviceAction,
        Protocol, ApplicationProtocol, SourceIP, SourcePort, DestinationIP,
        DestinationPort, SourceTranslatedAddress, SourceTranslatedPort,
        DestinationTranslatedAddress, DestinationTranslatedPort, SentBytes, ReceivedBytes,
        DeviceInboundInterface, DeviceOutboundInterface, DeviceExternalID, DeviceName,
        Computer, CommunicationDirection, Message, AdditionalExtensions, Reason, StartTime,
        EventCount, ExtID, SourceUserName, DestinationUserName, SourceMACAddress,
        DestinationMACAddress, DeviceCustomString1, DeviceCustomString2,
        DeviceCustomString4, DeviceCustomString5, DeviceCustomNumber1, DeviceCustomNumber2,
        DeviceCustomNumber3, FieldDeviceCustomNumber1, FieldDeviceCustomNumber2,
        FieldDeviceCustomNumber3, DeviceCustomIPv6Address2, DeviceCustomIPv6Address3,
        FlexNumber1, _ItemId,
    ]
}

indexed_names! {
    /// The ASIM columns the parsers give (each parser fills some of them).
    enum Column,
    pub const COLUMNS = [
        TimeGenerated, EventStartTime, EventEndTime, EventCount, EventType, EventSubType,
        EventProduct, EventProductVersion, EventVendor, EventSchema, EventSchemaVersion,
        EventResult, EventResultDetails, EventOriginalResultDetails, EventSeverity,
        EventOriginalSeverity, EventOriginalType, EventOriginalSubType, EventOriginalUid,
        EventUid, EventMessage, DvcAction, DvcOriginalAction, Dvc, DvcHostname, DvcId,
        DvcIdType, DvcIpAddr, DvcInboundInterface, DvcOutboundInterface, SrcIpAddr,
        SrcPortNumber, SrcNatIpAddr, SrcNatPortNumber, SrcInterfaceName, SrcZone,
        SrcGeoCountry, SrcUsername, SrcUsernameType, SrcMacAddr, SrcAppName, SrcBytes, SrcPackets, DstIpAddr,
        DstPortNumber, DstNatIpAddr, DstNatPortNumber, DstInterfaceName, DstZone,
        DstGeoCountry, DstUsername, DstUsernameType, DstMacAddr, DstAppName, DstBytes, DstPackets,
        NetworkProtocol, NetworkProtocolVersion, NetworkDirection,
        NetworkApplicationProtocol, NetworkDuration, NetworkSessionId, NetworkRuleName,
        NetworkRuleNumber, NetworkBytes, NetworkPackets, NetworkIcmpType, NetworkIcmpCode,
        ThreatName, ThreatOriginalRiskLevel,
    ]
}

/// Whether the first line (a CSV header or a JSON record) is the table's.
pub fn looks_like(line: &str) -> bool {
    line.contains("DeviceVendor") && line.contains("DeviceProduct")
}

/// Reads `CommonSecurityLog` records, handing each session over as ASIM.
pub fn read(
    input: &InputFile,
    reader: Box<dyn std::io::BufRead>,
    wanted: &[&str],
    issues: &mut FieldIssues,
    on_record: &mut OnRecord,
) -> Result<()> {
    // The record before's extension pairs' allocation, reused.
    let mut spare_extensions: Vec<(&str, &str)> = Vec::new();
    read_table(
        input,
        reader,
        (RAW, COLUMNS),
        wanted,
        issues,
        on_record,
        |fields, session| {
            let record = Record::new(fields, recycle(std::mem::take(&mut spare_extensions)));
            let mapping = map(&record, session);
            spare_extensions = recycle(record.extensions);
            mapping
        },
    )
}

/// A record to its parser, which fills `session`; or why it is no session.
fn map<'r>(record: &Record<'r, '_>, session: &mut Session<'_, 'r>) -> Mapping {
    let parser = match Parser::of(record) {
        Ok(parser) => parser,
        Err(reason) => return Mapping::Skip(reason),
    };
    if let Err(reason) = time_generated(
        record.get(Raw::TimeGenerated),
        session,
        Column::TimeGenerated,
    ) {
        return Mapping::Reject(reason);
    }
    match parser {
        Parser::FortiGate => fortigate::map(record, session),
        Parser::CiscoAsa => cisco_asa::map(record, session),
        Parser::PaloAltoCef => palo_alto::map_cef(record, session),
        Parser::PaloAltoCortexDataLake => palo_alto::map_cdl(record, session),
    }
    Mapping::Session
}

/// Which Sentinel parser takes a record.
enum Parser {
    FortiGate,
    CiscoAsa,
    PaloAltoCef,
    PaloAltoCortexDataLake,
}

impl Parser {
    /// The parser whose filter keeps `record`, or why none does (each
    /// parser's `where` clauses).
    fn of(record: &Record) -> Result<Parser, &'static str> {
        let field = |raw| record.get(raw).unwrap_or("");
        match (field(Raw::DeviceVendor), field(Raw::DeviceProduct)) {
            ("Fortinet", product) if product.starts_with("FortiGate") => {
                let traffic = has_term(field(Raw::DeviceEventCategory), "traffic")
                    || field(Raw::AdditionalExtensions).contains("cat=traffic");
                let dns =
                    field(Raw::DeviceAction) == "dns" || has_term(field(Raw::Activity), "dns");
                if traffic && !dns {
                    Ok(Parser::FortiGate)
                } else {
                    Err("FortiGate events other than traffic")
                }
            }
            ("Cisco", "ASA") if cisco_asa::is_session(field(Raw::DeviceEventClassID)) => {
                Ok(Parser::CiscoAsa)
            }
            ("Cisco", "ASA") => Err("Cisco ASA events of no session"),
            ("Palo Alto Networks", "PAN-OS") if field(Raw::Activity) == "TRAFFIC" => {
                Ok(Parser::PaloAltoCef)
            }
            ("Palo Alto Networks", "LF") if field(Raw::DeviceEventClassID) == "TRAFFIC" => {
                Ok(Parser::PaloAltoCortexDataLake)
            }
            ("Palo Alto Networks", _) => Err("Palo Alto events other than TRAFFIC"),
            _ => Err("other CommonSecurityLog sources"),
        }
    }
}

/// One record's raw values, in [`RAW`] order, and its extensions.
struct Record<'r, 'a> {
    fields: &'r [Option<Cow<'a, str>>],
    /// `AdditionalExtensions` as Kusto's `parse-kv` with `;` and `=` reads
    /// it, split once per record: parsers look up a dozen keys.
    extensions: Vec<(&'r str, &'r str)>,
}

impl<'r, 'a> Record<'r, 'a> {
    /// The record of `fields`, its extensions split into `extensions`
    /// (empty, kept for its allocation).
    fn new(
        fields: &'r [Option<Cow<'a, str>>],
        mut extensions: Vec<(&'r str, &'r str)>,
    ) -> Record<'r, 'a> {
        let pairs = fields[Raw::AdditionalExtensions as usize]
            .as_deref()
            .unwrap_or("")
            .split(';')
            .filter_map(|pair| pair.split_once('='));
        extensions.extend(pairs);
        Record { fields, extensions }
    }

    /// The non-empty value of a column.
    fn get(&self, column: Raw) -> Option<&'r str> {
        self.fields[column as usize]
            .as_deref()
            .filter(|value| !value.is_empty())
    }

    /// The value of extension `key`; none when absent or empty.
    fn extension(&self, key: &str) -> Option<&'r str> {
        self.extensions
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, value)| value.trim())
            .filter(|value| !value.is_empty())
    }
}

/// `_ASIM_ResolveNetworkProtocol`: an IANA number named, a name upper-cased.
fn resolve_protocol(protocol: Option<&str>) -> Slot<'_> {
    let Some(protocol) = protocol else {
        return Slot::Empty;
    };
    Slot::Text(match super::protocol_name(protocol) {
        Some(name) => Cow::Borrowed(name),
        None if protocol.bytes().any(|b| b.is_ascii_lowercase()) => {
            Cow::Owned(protocol.to_ascii_uppercase())
        }
        None => Cow::Borrowed(protocol),
    })
}

/// Kusto's `has`: `term` as a whole word of `text`, ignoring case.
fn has_term(text: &str, term: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric())
        .any(|word| word.eq_ignore_ascii_case(term))
}

/// A name, with its host name (the first label) when it is a FQDN, as
/// `_ASIM_ResolveDvcFQDN` splits it: (FQDN, host name).
fn fqdn_and_host(name: &str) -> (Option<&str>, &str) {
    match name.split_once('.') {
        Some((host, _)) => (Some(name), host),
        None => (None, name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_recognised_by_its_columns() {
        assert!(looks_like(
            "TenantId,DeviceVendor,DeviceProduct,DeviceVersion"
        ));
        assert!(looks_like(
            r#"{"DeviceVendor":"Fortinet","DeviceProduct":"FortiGate"}"#
        ));
        assert!(!looks_like("TimeGenerated,SrcIpAddr,DstIpAddr"));
    }

    #[test]
    fn has_matches_whole_words_only() {
        assert!(has_term("traffic:forward accept", "traffic"));
        assert!(has_term("Deny udp ... denied udp", "DENIED"));
        assert!(!has_term("undenied", "denied"));
    }

    #[test]
    fn extensions_are_read_by_exact_key() {
        let raw: Vec<Option<Cow<str>>> = RAW
            .iter()
            .map(|name| {
                (*name == "AdditionalExtensions").then_some({
                    Cow::Borrowed("FTNTFGTstart=2025-11-05T10:29:58Z;start=x;cat=traffic;empty=")
                })
            })
            .collect();
        let record = Record::new(&raw, Vec::new());
        assert_eq!(record.extension("start"), Some("x"));
        assert_eq!(
            record.extension("FTNTFGTstart"),
            Some("2025-11-05T10:29:58Z")
        );
        assert_eq!(record.extension("empty"), None);
        assert_eq!(record.extension("missing"), None);
    }
}
