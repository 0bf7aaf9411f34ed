//! Sentinel's vendor tables in: `CommonSecurityLog` (FortiGate, Cisco ASA,
//! Palo Alto) and `NTANetAnalytics`, on the samples Microsoft ships with the
//! ASIM parsers (`tests/data/sentinel-samples/`) and on hand-made
//! records for what the samples lack. Expected values are worked out from the
//! sample rows and the parsers' logic, as each comment says.

use std::fs;

use serde_json::Value;

use crate::{
    normalize::normalize,
    support::{asim_rules, component, data, json_lines},
};

const FORTIGATE: &str = "sentinel-samples/Fortinet_Fortigate_NetworkSession_IngestedLogs.csv";
const CISCO_ASA: &str = "sentinel-samples/Cisco_ASA_NetworkSession_IngestedLogs.csv";
const PALO_ALTO_CDL: &str =
    "sentinel-samples/PaloAlto_CortexDataLake_ASimNetworkSession_IngestedLogs.csv";
const NSG_FLOWS: &str = "sentinel-samples/Microsoft_NSGFlow_NetworkSession_IngestedLogs.csv";

fn expect(row: &Value, expected: &[(&str, Value)]) {
    for (column, value) in expected {
        assert_eq!(&row[column], value, "{column} of {row}");
    }
}

#[test]
fn fortigate_traffic_maps_as_the_sentinel_parser_maps_it() {
    let (rows, stderr) = normalize(&[&data(FORTIGATE)], &[]);
    assert_eq!(rows.len(), 10, "{stderr}");
    assert!(
        stderr.contains("CommonSecurityLog: 10 records, 0 rejected\n"),
        "{stderr}"
    );
    // Row 1: accept → Allow/Success; LogSeverity 4 → Low; FTNTFGT* keys:
    // start, roles → zones, externalID → session, policyid → rule, duration
    // 120 s (→ ms), packets 10/15; SentBytes 4096 is the source's.
    expect(
        &rows[0],
        &[
            ("TimeGenerated", "2025-11-05T10:30:00Z".into()),
            ("EventStartTime", "2025-11-05T10:29:58Z".into()),
            ("EventEndTime", "2025-11-05T10:30:00Z".into()),
            ("EventVendor", "Fortinet".into()),
            ("EventProduct", "Fortigate".into()),
            ("DvcAction", "Allow".into()),
            ("DvcOriginalAction", "accept".into()),
            ("EventResult", "Success".into()),
            ("EventSeverity", "Low".into()),
            ("SrcIpAddr", "192.168.1.100".into()),
            ("SrcPortNumber", 45123.into()),
            ("DstIpAddr", "203.0.113.50".into()),
            ("DstPortNumber", 443.into()),
            ("NetworkProtocol", "TCP".into()),
            ("NetworkProtocolVersion", "IPv4".into()),
            ("SrcZone", "lan".into()),
            ("DstZone", "wan".into()),
            ("NetworkSessionId", "12345".into()),
            ("NetworkRuleNumber", 1.into()),
            ("NetworkDuration", 120_000.into()),
            ("SrcBytes", 4096.into()),
            ("DstBytes", 2048.into()),
            ("NetworkBytes", 6144.into()),
            ("NetworkPackets", 25.into()),
            ("Dvc", "FortiGate-VM64".into()),
            ("DvcId", "FG-VM64-001".into()),
        ],
    );
    // Row 2: deny, severity 6 → Medium (the parser's table says Critical, no
    // ASIM value; docs/NORMALIZERS.md).
    expect(
        &rows[1],
        &[
            ("DvcAction", "Deny".into()),
            ("EventResult", "Failure".into()),
            ("EventSeverity", "Medium".into()),
        ],
    );
    // Row 3: close has no DvcAction but is a success.
    assert!(rows[2].get("DvcAction").is_none());
    assert_eq!(rows[2]["EventResult"], "Success");
    // Row 7: ICMP ip-conn, ports empty: no ports, a failure whose details
    // ASIM's list has no word for (the parser's "IP connection error").
    expect(
        &rows[6],
        &[
            ("NetworkProtocol", "ICMP".into()),
            ("EventResult", "Failure".into()),
            ("EventResultDetails", "Unknown".into()),
            ("DvcOriginalAction", "ip-conn".into()),
        ],
    );
    assert!(rows[6].get("SrcPortNumber").is_none() && rows[6].get("DvcAction").is_none());
    // Row 8: IPv6, FortiAnalyzer's plain keys (start=, srcintfrole=).
    expect(
        &rows[7],
        &[
            ("SrcIpAddr", "fd12:3456:789a:1::100".into()),
            ("DstIpAddr", "2001:db8:85a3::8a2e:370:7334".into()),
            ("NetworkProtocolVersion", "IPv6".into()),
            ("EventStartTime", "2025-11-05T10:36:55Z".into()),
            ("SrcZone", "internal".into()),
        ],
    );
}

#[test]
fn cisco_asa_events_map_as_the_sentinel_parser_maps_them() {
    let (rows, stderr) = normalize(&[&data(CISCO_ASA)], &[]);
    // The last two rows are the same session twice: Sentinel keeps both.
    assert_eq!(rows.len(), 9, "{stderr}");
    assert_eq!(rows[7], rows[8]);
    // Row 2: id 106100 with a 106100 message: "denied" → Deny/Failure/Low;
    // interfaces and hit count from the message; addresses, ports and the
    // rule (DeviceCustomString2) from the CEF columns.
    expect(
        &rows[1],
        &[
            ("TimeGenerated", "2024-06-03T11:14:22.987Z".into()),
            ("EventStartTime", "2024-06-03T11:14:22.987Z".into()),
            ("EventOriginalType", "106100".into()),
            ("DvcAction", "Deny".into()),
            ("EventResult", "Failure".into()),
            ("EventSeverity", "Low".into()),
            ("SrcIpAddr", "10.10.30.3".into()),
            ("SrcPortNumber", 63421.into()),
            ("DstIpAddr", "8.8.8.8".into()),
            ("DstPortNumber", 53.into()),
            ("SrcInterfaceName", "inside".into()),
            ("DstInterfaceName", "outside".into()),
            ("EventCount", 1.into()),
            ("NetworkRuleName", "Rule-DNSBlock".into()),
            ("NetworkProtocol", "UDP".into()),
            ("NetworkDirection", "Outbound".into()),
            ("EventVendor", "Cisco".into()),
            ("EventProduct", "ASA".into()),
        ],
    );
    // Row 1: id 106100 with a 302013 text: not "denied" → Allow/Success; the
    // access-list pattern does not fit, so no interfaces.
    expect(
        &rows[0],
        &[
            ("DvcAction", "Allow".into()),
            ("EventResult", "Success".into()),
            ("EventSeverity", "Informational".into()),
            ("DstIpAddr", "52.183.101.11".into()),
        ],
    );
    assert!(rows[0].get("SrcInterfaceName").is_none());
}

#[test]
fn palo_alto_cortex_data_lake_maps_as_the_sentinel_parser_maps_it() {
    let (rows, stderr) = normalize(&[&data(PALO_ALTO_CDL)], &[]);
    assert_eq!(rows.len(), 2, "{stderr}");
    // Row 1: the portal's `9/25/2023, 11:40:20.066 AM`; deny → Deny/Failure;
    // reason unknown → Unknown; severity 3 → Low; PanOSIsClienttoServer
    // false → Inbound; Dvc: DeviceName has no dot, so the device id; session
    // duration 56 s (→ ms); packets from PanOSPacketsSent/Received.
    expect(
        &rows[0],
        &[
            ("TimeGenerated", "2023-09-25T11:40:20.066Z".into()),
            ("EventStartTime", "2021-02-27T20:15:48Z".into()),
            ("EventProduct", "Cortex Data Lake".into()),
            ("DvcAction", "Deny".into()),
            ("EventResult", "Failure".into()),
            ("EventResultDetails", "Unknown".into()),
            ("EventSeverity", "Low".into()),
            ("NetworkDirection", "Inbound".into()),
            ("Dvc", "007051000184334".into()),
            ("DvcHostname", "AFW1-UNKNOWN-FL1-CLZ".into()),
            ("SrcIpAddr", "198.51.100.4".into()),
            ("DstIpAddr", "198.51.100.6".into()),
            ("SrcNatIpAddr", "198.51.100.8".into()),
            ("NetworkRuleName", "deny-attackers".into()),
            ("SrcZone", "untrust".into()),
            ("NetworkDuration", 56_000.into()),
            ("NetworkSessionId", "25596".into()),
            ("SrcPackets", 194.into()),
            ("DstPackets", 120.into()),
            ("NetworkPackets", 314.into()),
            ("NetworkBytes", 1_370_294.into()),
        ],
    );
    // Row 2: IPv6, SourceIP/DestinationIP empty: DeviceCustomIPv6Address2/3.
    expect(
        &rows[1],
        &[
            ("TimeGenerated", "2023-09-25T12:05:07.488Z".into()),
            ("SrcIpAddr", "2001:db8:3c4d:15::1a2f:1a2b".into()),
            ("DstIpAddr", "2001:db8:3c4d:15::1a2f:1a2b".into()),
            ("NetworkProtocolVersion", "IPv6".into()),
        ],
    );
}

#[test]
fn nsg_flow_analytics_map_as_the_sentinel_parser_maps_them() {
    let (rows, stderr) = normalize(&[&data(NSG_FLOWS)], &[]);
    assert_eq!(rows.len(), 9, "{stderr}");
    // Five public addresses are no IPs (33.778.136.777 twice, 33.876.136.777
    // as destinations; 18.345.68.169, 99.890.68.169 as sources) and one MAC
    // address is none (77-32-33-48-A6-PP): left empty. Three destination VMs
    // are named `-1234567-vmss_4`, no hostname: their address stands in.
    assert!(
        stderr.contains(
            "NTANetAnalytics: 9 records, 0 rejected; fields left empty: DstIpAddr 3, DstMacAddr 1, SrcIpAddr 2; \
             DstHostname from the address, the VM name being no hostname 3"
        ),
        "{stderr}"
    );
    // MAC addresses written with colons, as ASIM does.
    assert_eq!(rows[0]["SrcMacAddr"], "77:32:33:48:A5:CC");
    // Row 1: outbound from 10.123.33.4, the far end the first public tuple
    // (11.210.68.169|0|1|…); two-space `06-14-2025  07:17:00` times;
    // Allowed → Allow/Success; AzurePublic → zone Azure; 48 completed flows.
    expect(
        &rows[0],
        &[
            ("TimeGenerated", "2025-06-14T07:17:00Z".into()),
            ("EventStartTime", "2025-06-15T03:59:00Z".into()),
            ("EventEndTime", "2025-06-15T04:56:00Z".into()),
            ("SrcIpAddr", "10.123.33.4".into()),
            ("DstIpAddr", "11.210.68.169".into()),
            ("DstPortNumber", 120.into()),
            ("NetworkDirection", "Outbound".into()),
            ("NetworkProtocol", "TCP".into()),
            ("NetworkApplicationProtocol", "HTTP".into()),
            ("DvcAction", "Allow".into()),
            ("EventResult", "Success".into()),
            ("SrcZone", "Azure".into()),
            ("EventCount", 48.into()),
            ("SrcHostname", "unknown-vm".into()),
            ("EventType", "Flow".into()),
        ],
    );
    // Row 2: inbound, source from the public list; `-` is no value.
    expect(
        &rows[1],
        &[
            ("SrcIpAddr", "11.210.68.169".into()),
            ("DstIpAddr", "10.123.33.4".into()),
            ("NetworkDirection", "Inbound".into()),
            ("DstHostname", "unknown-vm".into()),
        ],
    );
    assert!(rows[1].get("SrcPortNumber").is_none());
    // Row 3: the destination 33.778.136.777 is no address.
    assert!(rows[2].get("DstIpAddr").is_none());
}

#[test]
fn every_sample_is_recognised_and_a_wrong_format_refused() {
    for (file, name) in [
        (FORTIGATE, "CommonSecurityLog"),
        (CISCO_ASA, "CommonSecurityLog"),
        (PALO_ALTO_CDL, "CommonSecurityLog"),
        (NSG_FLOWS, "NTANetAnalytics"),
    ] {
        let (rows, stderr) = normalize(&[&data(file)], &[]);
        assert!(stderr.contains(&format!(": {name}: ")), "{stderr}");
        // By content, whatever the file is called.
        let dir = tempfile::tempdir().unwrap();
        let renamed = dir.path().join("export");
        fs::copy(data(file), &renamed).unwrap();
        let (again, stderr) = normalize(&[renamed.to_str().unwrap()], &[]);
        assert_eq!(again, rows, "{stderr}");
        let wrong = if name == "NTANetAnalytics" {
            "common-security-log"
        } else {
            "nta-net-analytics"
        };
        let refused = asim_rules(&["normalize", &data(file), "--format", wrong]);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "--format {wrong} does not fit: the file looks like {name}"
            )),
            "{stderr}"
        );
    }
}

#[test]
fn other_sources_are_skipped_and_bad_records_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("csl.csv");
    let header = "TimeGenerated,DeviceVendor,DeviceProduct,Activity,DeviceAction,SourceIP,SourcePort,DestinationIP,DestinationPort,Protocol,AdditionalExtensions";
    let records = [
        // A session.
        "2026-03-01T10:00:00Z,Fortinet,FortiGate,traffic:forward accept,accept,10.0.0.1,5000,192.0.2.9,443,6,cat=traffic",
        // No session: another vendor, a FortiGate DNS event, a non-traffic event.
        "2026-03-01T10:00:00Z,Check Point,VPN-1 & FireWall-1,Accept,Accept,10.0.0.1,5000,192.0.2.9,443,TCP,",
        "2026-03-01T10:00:00Z,Fortinet,FortiGate,traffic:forward dns,dns,10.0.0.1,5000,192.0.2.9,53,UDP,cat=traffic",
        "2026-03-01T10:00:00Z,Fortinet,FortiGate,event:system,,,,,,,cat=event",
        // Unreadable time: named with its line; bad address and port: counted.
        "yesterday,Fortinet,FortiGate,traffic:forward accept,accept,10.0.0.1,5000,192.0.2.9,443,TCP,cat=traffic",
        "2026-03-01T10:00:01Z,Fortinet,FortiGate,traffic:forward accept,accept,10.0.0.999,70000,192.0.2.9,443,TCP,cat=traffic",
    ];
    fs::write(&path, format!("{header}\n{}\n", records.join("\n"))).unwrap();
    let (rows, stderr) = normalize(&[path.to_str().unwrap()], &[]);
    assert_eq!(rows.len(), 2, "{stderr}");
    // Protocol 6 is IANA's TCP (`_ASIM_ResolveNetworkProtocol`).
    assert_eq!(rows[0]["NetworkProtocol"], "TCP");
    assert!(
        stderr.contains("csl.csv:6: TimeGenerated: not a time"),
        "{stderr}"
    );
    assert!(
        stderr.contains("CommonSecurityLog: 3 records, 1 rejected; skipped: FortiGate events other than traffic 2, other CommonSecurityLog sources 1; fields left empty: SrcIpAddr 1, SrcPortNumber 1"),
        "{stderr}"
    );

    // The same table as JSON lines reads the same.
    let json = dir.path().join("csl.json");
    let record = r#"{"TimeGenerated":"2026-03-01T10:00:00Z","DeviceVendor":"Fortinet","DeviceProduct":"FortiGate","Activity":"traffic:forward deny","SourceIP":"10.0.0.1","DestinationIP":"192.0.2.9","Protocol":"TCP","AdditionalExtensions":"cat=traffic"}"#;
    fs::write(&json, format!("{record}\n")).unwrap();
    let (rows, stderr) = normalize(&[json.to_str().unwrap()], &[]);
    assert_eq!(rows.len(), 1, "{stderr}");
    // `DeviceAction` empty: the action comes from `traffic:forward deny`.
    assert_eq!(rows[0]["DvcAction"], "Deny");
}

#[test]
fn palo_alto_pan_os_cef_maps_as_the_sentinel_parser_maps_it() {
    // No PAN-OS CEF sample ships with the parsers: a TRAFFIC record written
    // as the CEF connector fills the table (PAN-OS 10 CEF format).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("panos.json");
    let record = serde_json::json!({
        "TimeGenerated": "2026-03-01T10:05:00Z",
        "DeviceVendor": "Palo Alto Networks",
        "DeviceProduct": "PAN-OS",
        "DeviceVersion": "10.1.3",
        "Activity": "TRAFFIC",
        "DeviceEventClassID": "end",
        "DeviceAction": "reset-both",
        "SourceIP": "10.1.1.5",
        "SourcePort": "52100",
        "DestinationIP": "203.0.113.77",
        "DestinationPort": "443",
        "Protocol": "tcp",
        "ApplicationProtocol": "ssl",
        "DeviceName": "fw1.example.net",
        "DeviceCustomString1": "allow-web",
        "DeviceCustomString4": "trust",
        "DeviceCustomString5": "untrust",
        "FieldDeviceCustomNumber1": "881",
        "FieldDeviceCustomNumber2": "30",
        "FieldDeviceCustomNumber3": "12",
        "SentBytes": "1200",
        "ReceivedBytes": "5400",
        "FlexNumber1": "6600",
        "AdditionalExtensions": "PanOSPacketsReceived=18;PanOSPacketsSent=12;start=Mar 01 2026 10:04:48;reason=tcp-rst-from-server",
    });
    fs::write(&path, format!("{record}\n")).unwrap();
    let (rows, stderr) = normalize(&[path.to_str().unwrap()], &[]);
    assert_eq!(rows.len(), 1, "{stderr}");
    // reset-both → Reset, not allow → Failure; duration 12 s × 1000; start
    // and reason from the extensions; bytes total from FlexNumber1; Dvc the
    // device name, its host name the first label.
    expect(
        &rows[0],
        &[
            ("EventProduct", "PanOS".into()),
            ("DvcAction", "Reset".into()),
            ("EventResult", "Failure".into()),
            ("EventStartTime", "2026-03-01T10:04:48Z".into()),
            ("EventEndTime", "2026-03-01T10:04:48Z".into()),
            ("EventOriginalResultDetails", "tcp-rst-from-server".into()),
            ("NetworkDuration", 12_000.into()),
            ("NetworkSessionId", "881".into()),
            ("NetworkPackets", 30.into()),
            ("SrcPackets", 12.into()),
            ("DstPackets", 18.into()),
            ("NetworkBytes", 6600.into()),
            ("NetworkProtocol", "TCP".into()),
            ("NetworkApplicationProtocol", "ssl".into()),
            ("Dvc", "fw1.example.net".into()),
            ("DvcHostname", "fw1".into()),
            ("SrcZone", "trust".into()),
            ("NetworkRuleName", "allow-web".into()),
        ],
    );
}

#[test]
fn the_ti_rule_runs_on_vendor_tables() {
    // Listed: FortiGate row 1's destination, row 8's IPv6 destination and
    // NSG row 1's public far end. Sessions of 2025-11-05 10:30–10:39 and
    // 2025-06-14 07:17; each run looks back an hour from --at, the list
    // published a few days before (indicators count for 14 days).
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("listed.txt");
    fs::write(
        &list,
        "203.0.113.50\n2001:db8:85a3::8a2e:370:7334\n11.210.68.169\n",
    )
    .unwrap();
    let rule = component("ti-map-ip");
    let alerts = |table: &str, published: &str, at: &str| {
        let output = asim_rules(&[
            "run",
            "--rule",
            rule.to_str().unwrap(),
            "--sessions",
            &data(table),
            "--indicators",
            list.to_str().unwrap(),
            "--list-published",
            published,
            "--at",
            at,
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        let mut pairs: Vec<(String, String)> =
            json_lines(&String::from_utf8(output.stdout).unwrap())
                .iter()
                .map(|alert| {
                    let detail =
                        |name: &str| alert["CustomDetails"][name].as_str().unwrap().to_owned();
                    (detail("SrcIpAddr"), detail("DstIpAddr"))
                })
                .collect();
        pairs.sort();
        pairs
    };
    let pair = |src: &str, dst: &str| (src.to_owned(), dst.to_owned());
    assert_eq!(
        alerts(FORTIGATE, "2025-11-01T00:00:00Z", "2025-11-05T11:00:00Z"),
        [
            pair("192.168.1.100", "203.0.113.50"),
            pair("fd12:3456:789a:1::100", "2001:db8:85a3::8a2e:370:7334"),
        ]
    );
    // NSG rows 1 and 2: out to and in from 11.210.68.169.
    assert_eq!(
        alerts(NSG_FLOWS, "2025-06-10T00:00:00Z", "2025-06-14T08:00:00Z"),
        [
            pair("10.123.33.4", "11.210.68.169"),
            pair("11.210.68.169", "10.123.33.4"),
        ]
    );
}
