//! Every normalizer's output judged as Microsoft's ASIM schema tester judges a
//! parser, with ASIM's own lists (`tests/data/asim/ASimNetworkSession_schema.csv`,
//! from ASimTester.csv): mandatory columns present, enumerated columns within
//! their lists, a conditional type beside its value, hostnames and MAC
//! addresses well formed, and no column that is neither in the schema nor in
//! the `ASimNetworkSessionLogs` table (`tests/data/tables/`). Rows are judged
//! in the shape of that table, so aliases and `Type` (the table's name) are
//! not required.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use serde_json::Value;

use crate::{
    normalize::normalize,
    raw_logs,
    support::{data, json_lines, shared, success},
};

/// The NetworkSession schema: class and list of values per column, and the
/// columns of the table that holds it.
struct Schema {
    columns: BTreeMap<String, (String, Vec<String>)>,
    table: BTreeSet<String>,
}

/// Values outside ASIM's lists, each for its source and why: the lists name
/// the products Microsoft ships parsers for (docs/NORMALIZERS.md).
const KNOWN_OUTSIDE_LISTS: [(&str, &str); 2] = [
    // Suricata has no Sentinel parser; these are its and its maker's names.
    ("EventProduct", "Suricata"),
    ("EventVendor", "OISF"),
];

fn schema() -> Schema {
    let mut reader = csv::Reader::from_path(data("asim/ASimNetworkSession_schema.csv")).unwrap();
    let header = reader.headers().unwrap().clone();
    let at = |name: &str| {
        header
            .iter()
            .position(|column| column.trim_start_matches('\u{feff}') == name)
            .unwrap()
    };
    let (name, class, values) = (at("ColumnName"), at("Class"), at("ListOfValues"));
    let columns = reader
        .records()
        .map(|record| {
            let record = record.unwrap();
            let list = record[values]
                .split('|')
                .map(str::trim)
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
                .collect();
            (record[name].to_owned(), (record[class].to_owned(), list))
        })
        .collect();
    let table = csv::Reader::from_path(data("tables/asimnetworksessionlogs_table_columns.csv"))
        .unwrap()
        .records()
        .map(|record| record.unwrap()[0].to_owned())
        .collect();
    Schema { columns, table }
}

/// Columns whose type must be given beside them.
const CONDITIONAL_TYPES: [(&str, &str); 10] = [
    ("DvcId", "DvcIdType"),
    ("SrcDvcId", "SrcDvcIdType"),
    ("DstDvcId", "DstDvcIdType"),
    ("SrcUsername", "SrcUsernameType"),
    ("DstUsername", "DstUsernameType"),
    ("SrcUserId", "SrcUserIdType"),
    ("DstUserId", "DstUserIdType"),
    ("SrcDomain", "SrcDomainType"),
    ("DstDomain", "DstDomainType"),
    ("DvcDomain", "DvcDomainType"),
];

/// RFC 1123: dot-separated labels of letters, digits and inner hyphens.
fn valid_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Six colon-separated pairs of hex digits.
fn valid_mac(text: &str) -> bool {
    let pairs: Vec<&str> = text.split(':').collect();
    pairs.len() == 6
        && pairs
            .iter()
            .all(|pair| pair.len() == 2 && pair.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// What the tester would report on `rows`, each finding once with a count.
fn findings(rows: &[Value]) -> BTreeMap<String, usize> {
    let schema = schema();
    let mut found = BTreeMap::<String, usize>::new();
    let mut note = |finding: String| *found.entry(finding).or_default() += 1;
    for row in rows {
        let row = row.as_object().unwrap();
        for (column, (class, _)) in &schema.columns {
            if class == "Mandatory" && column != "Type" && !row.contains_key(column) {
                note(format!("mandatory {column} missing"));
            }
        }
        for (column, value) in row {
            let Some((_, list)) = schema.columns.get(column) else {
                if !schema.table.contains(column) {
                    note(format!(
                        "{column} is neither in the schema nor in ASimNetworkSessionLogs"
                    ));
                }
                continue;
            };
            let text = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            let known = KNOWN_OUTSIDE_LISTS.contains(&(column.as_str(), text.as_str()));
            if !list.is_empty() && !list.contains(&text) && !known {
                note(format!("{column} {text:?} is not in ASIM's list"));
            }
            if column.ends_with("Hostname") && !valid_hostname(&text) {
                note(format!("{column} {text:?} is not a valid hostname"));
            }
            if column.ends_with("MacAddr") && !valid_mac(&text) {
                note(format!("{column} {text:?} is not a MAC address"));
            }
        }
        for (column, kind) in CONDITIONAL_TYPES {
            if row.contains_key(column) && !row.contains_key(kind) {
                note(format!("{column} without {kind}"));
            }
        }
    }
    found
}

fn assert_clean(name: &str, rows: &[Value]) {
    assert!(!rows.is_empty(), "{name}: no rows");
    let found = findings(rows);
    assert!(found.is_empty(), "{name}: {found:#?}");
}

#[test]
fn the_tester_finds_what_it_should() {
    // The checks themselves: each kind of finding on a row made to fail it.
    let row = serde_json::json!({
        "TimeGenerated": "2026-01-01T00:00:00Z", "EventCount": 1,
        "EventStartTime": "2026-01-01T00:00:00Z", "EventEndTime": "2026-01-01T00:00:00Z",
        "EventType": "Flow", "EventProduct": "Zeek", "EventVendor": "Corelight",
        "EventSchema": "NetworkSession", "EventSchemaVersion": "0.2.6",
        "EventResult": "Rejected", "DstHostname": "-1234567-vmss_4",
        "SrcMacAddr": "00-0D-3A-1B-2C-3D", "DvcId": "vpc-1", "Bogus": 1,
    });
    let found = findings(&[row]);
    let expected: BTreeSet<&str> = [
        "mandatory Dvc missing",
        "EventResult \"Rejected\" is not in ASIM's list",
        "DstHostname \"-1234567-vmss_4\" is not a valid hostname",
        "SrcMacAddr \"00-0D-3A-1B-2C-3D\" is not a MAC address",
        "DvcId without DvcIdType",
        "Bogus is neither in the schema nor in ASimNetworkSessionLogs",
    ]
    .into();
    assert_eq!(
        found.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        expected
    );
    assert!(valid_hostname("fw1.example.net") && valid_mac("00:0d:3a:1b:2c:3d"));
}

#[test]
fn every_vendor_table_normalizes_to_asim_values() {
    for sample in [
        "sentinel-samples/Fortinet_Fortigate_NetworkSession_IngestedLogs.csv",
        "sentinel-samples/Cisco_ASA_NetworkSession_IngestedLogs.csv",
        "sentinel-samples/PaloAlto_CortexDataLake_ASimNetworkSession_IngestedLogs.csv",
        "sentinel-samples/Microsoft_NSGFlow_NetworkSession_IngestedLogs.csv",
    ] {
        let (rows, _) = normalize(&[&data(sample)], &[]);
        assert_clean(sample, &rows);
    }
}

#[test]
fn zeek_suricata_and_aws_records_normalize_to_asim_values() {
    let dir = tempfile::tempdir().unwrap();
    for file in raw_logs::every_fixture(dir.path()) {
        let (rows, _) = normalize(&[&file], &[]);
        assert_clean(&file, &rows);
    }
}

#[test]
fn generated_sessions_are_asim_values() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    success(&[
        "generate",
        "--out",
        out,
        "--days",
        "1",
        "--sessions-per-day",
        "2000",
    ]);
    let text = std::fs::read_to_string(Path::new(out).join("sessions.jsonl")).unwrap();
    assert_clean("generated sessions", &json_lines(&text));
}

#[test]
#[ignore = "reads ../shared/data: make test-real"]
fn the_real_captures_normalize_to_asim_values() {
    for capture in [
        "zeek/stratosphere-001-njrat-ipv6.conn.log.labeled",
        "zeek/stratosphere-002-portscan.conn.json",
        "zeek/stratosphere-008-mixed.conn.log.labeled",
        "zeek/stratosphere-012-mixed.conn.log.labeled",
        "suricata/stratosphere-slips-test6-malicious.eve.json",
        "flows/aws-vpcflow_accept-reject-traffic.log",
        "flows/aws-vpcflow_v3-tcp-flag-sequence.log",
        "flows/aws-vpcflow_ipv6.log",
    ] {
        let (rows, _) = normalize(&[&shared(capture)], &[]);
        assert_clean(capture, &rows);
    }
}
