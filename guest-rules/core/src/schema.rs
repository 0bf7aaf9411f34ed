//! The one place that knows the type of every column a rule may ask for.
//!
//! Sessions follow the ASIM NetworkSession schema, indicators Sentinel's
//! `ThreatIntelligenceIndicator` table. A rule declares column names in its
//! metadata; the host looks their kinds up here and refuses names it does not
//! know, so a misspelt column fails at load instead of reading as empty.

/// How a column's values are typed in a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    /// A string, dictionary-coded.
    Text,
    /// An IP address; a text that is not one (a network too) matches nothing.
    IpAddress,
    /// An IP address or CIDR network.
    IpNetwork,
    /// A whole number.
    Integer,
    /// A real number.
    Real,
    /// true or false.
    Boolean,
    /// An instant.
    Time,
}

/// ASIM NetworkSession columns (besides `TimeGenerated`, always present).
pub const SESSION_COLUMNS: &[(&str, ColumnKind)] = {
    use ColumnKind::*;
    &[
        ("SrcIpAddr", IpAddress),
        ("DstIpAddr", IpAddress),
        ("DvcIpAddr", IpAddress),
        ("SrcNatIpAddr", IpAddress),
        ("DstNatIpAddr", IpAddress),
        ("Dvc", Text),
        ("DvcHostname", Text),
        ("DvcId", Text),
        ("DvcAction", Text),
        ("DvcOriginalAction", Text),
        ("DvcInboundInterface", Text),
        ("DvcOutboundInterface", Text),
        ("EventProduct", Text),
        ("EventVendor", Text),
        ("EventType", Text),
        ("EventResult", Text),
        ("EventResultDetails", Text),
        ("EventSeverity", Text),
        ("EventSchema", Text),
        ("EventSchemaVersion", Text),
        ("EventUid", Text),
        ("NetworkProtocol", Text),
        ("NetworkProtocolVersion", Text),
        ("NetworkDirection", Text),
        ("NetworkApplicationProtocol", Text),
        ("NetworkRuleName", Text),
        ("NetworkSessionId", Text),
        ("DstAppName", Text),
        ("SrcAppName", Text),
        ("SrcHostname", Text),
        ("DstHostname", Text),
        ("SrcDomain", Text),
        ("DstDomain", Text),
        ("SrcUsername", Text),
        ("DstUsername", Text),
        ("SrcZone", Text),
        ("DstZone", Text),
        ("SrcGeoCountry", Text),
        ("DstGeoCountry", Text),
        ("SrcPortNumber", Integer),
        ("DstPortNumber", Integer),
        ("SrcNatPortNumber", Integer),
        ("DstNatPortNumber", Integer),
        ("EventCount", Integer),
        ("NetworkBytes", Integer),
        ("SrcBytes", Integer),
        ("DstBytes", Integer),
        ("NetworkPackets", Integer),
        ("SrcPackets", Integer),
        ("DstPackets", Integer),
        ("NetworkDuration", Integer),
        ("NetworkIcmpCode", Integer),
        ("NetworkRuleNumber", Integer),
        ("EventStartTime", Time),
        ("EventEndTime", Time),
    ]
};

/// Sentinel `ThreatIntelligenceIndicator` columns (besides `TimeGenerated`).
pub const INDICATOR_COLUMNS: &[(&str, ColumnKind)] = {
    use ColumnKind::*;
    &[
        ("IndicatorId", Text),
        ("ExpirationDateTime", Time),
        ("Active", Boolean),
        ("NetworkIP", IpNetwork),
        ("NetworkDestinationIP", IpNetwork),
        ("NetworkSourceIP", IpNetwork),
        ("EmailSourceIpAddress", IpNetwork),
        ("NetworkCidrBlock", IpNetwork),
        ("ThreatType", Text),
        ("Description", Text),
        ("ActivityGroupNames", Text),
        ("ConfidenceScore", Real),
        ("ThreatSeverity", Integer),
        ("IndicatorProvider", Text),
        ("Tags", Text),
        ("TrafficLightProtocolLevel", Text),
        ("ExternalIndicatorId", Text),
        ("SourceSystem", Text),
    ]
};

/// Summary columns: Sentinel's `NetworkSummary_Protocol_CL` (besides
/// `TimeGenerated`, which holds `EventTime`), plus the bin the host tags each
/// row with.
pub const SUMMARY_COLUMNS: &[(&str, ColumnKind)] = {
    use ColumnKind::*;
    &[
        ("NetworkProtocol", Text),
        ("DstPortNumber", Integer),
        ("DstAppName", Text),
        ("NetworkDirection", Text),
        ("DvcAction", Text),
        ("count_", Integer),
        ("SummaryBinMinutes", Integer),
    ]
};

/// The kind of a summary column, or none when there is no such column.
pub fn summary_column(name: &str) -> Option<ColumnKind> {
    lookup(SUMMARY_COLUMNS, name)
}

/// The kind of a session column, or none when the schema has no such column.
pub fn session_column(name: &str) -> Option<ColumnKind> {
    lookup(SESSION_COLUMNS, name)
}

/// The kind of an indicator column, or none when the table has no such column.
pub fn indicator_column(name: &str) -> Option<ColumnKind> {
    lookup(INDICATOR_COLUMNS, name)
}

fn lookup(table: &[(&str, ColumnKind)], name: &str) -> Option<ColumnKind> {
    table
        .iter()
        .find(|(column, _)| *column == name)
        .map(|(_, kind)| *kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kind's name in docs/CONTRACT.md.
    fn documented(kind: ColumnKind) -> &'static str {
        match kind {
            ColumnKind::Text => "text",
            ColumnKind::IpAddress => "ip-address",
            ColumnKind::IpNetwork => "ip-network",
            ColumnKind::Integer => "integer",
            ColumnKind::Real => "real",
            ColumnKind::Boolean => "boolean",
            ColumnKind::Time => "time",
        }
    }

    #[test]
    fn the_contract_lists_every_column_with_its_kind() {
        let contract = include_str!("../../../docs/CONTRACT.md");
        for (heading, columns) in [
            ("### Sessions", SESSION_COLUMNS),
            ("### Indicators", INDICATOR_COLUMNS),
            ("### Summaries", SUMMARY_COLUMNS),
        ] {
            let start = contract
                .find(heading)
                .unwrap_or_else(|| panic!("{heading}"));
            let section = &contract[start + heading.len()..];
            let section = &section[..section.find("\n#").unwrap_or(section.len())];
            let listed: Vec<(&str, &str)> = section
                .lines()
                .filter_map(|line| {
                    let mut cells = line.split('|').map(str::trim).filter(|c| !c.is_empty());
                    let name = cells.next()?.strip_prefix('`')?.strip_suffix('`')?;
                    Some((name, cells.next()?))
                })
                .collect();
            let expected: Vec<(&str, &str)> = columns
                .iter()
                .map(|(name, kind)| (*name, documented(*kind)))
                .collect();
            assert_eq!(listed, expected, "{heading}");
        }
    }
}
