//! Zeek, Suricata and AWS VPC normalizers on hand-written records, so that
//! `make test` covers them without the real captures (GPL-2.0 and Elastic
//! License files that stay in `../shared/data`; `make test-real` runs those).
//! Each record is made up; expected values follow the Sentinel parsers'
//! mappings, as in the real-capture tests of `normalize.rs`.

use std::{fs, path::Path};

use serde_json::Value;

use crate::normalize::normalize;

const ZEEK_HEADER: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#open\t2023-11-15-00-00-00\n\
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n\
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\n";

/// A Zeek TSV conn.log of three records: TCP outbound, IPv6 local, UDP.
pub fn zeek_tsv(dir: &Path) -> String {
    let records = [
        "1700000000.123456\tCfix1\t192.0.2.10\t50000\t198.51.100.20\t443\ttcp\tssl\t1.111111\t100\t200\tSF\tT\tF\t0\tShADadFf\t3\t260\t4\t360\t(empty)",
        "1700000005.000001\tCfix2\tfd00:1::10\t50001\tfd00:1::1\t53\tudp\tdns\t0.010000\t40\t80\tSF\tF\tF\t0\tDd\t1\t88\t1\t128\t(empty)",
        "1700000006.000001\tCfix3\t192.0.2.10\t50002\t203.0.113.5\t123\tudp\t-\t-\t-\t-\tS0\tT\tF\t0\tD\t1\t76\t0\t0\t(empty)",
    ];
    let path = dir.join("conn.log");
    fs::write(
        &path,
        format!(
            "{ZEEK_HEADER}{}\n#close\t2023-11-15-00-00-10\n",
            records.join("\n")
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

/// A Corelight-style JSON record: UDP, SHR, a sensor name, MAC addresses.
pub fn zeek_json(dir: &Path) -> String {
    write(
        dir,
        "conn.json",
        &[
            r#"{"ts":1700000100.500001,"uid":"Cjson1","id.orig_h":"10.9.8.7","id.orig_p":40042,"id.resp_h":"192.0.2.53","id.resp_p":53,"proto":"udp","service":"dns","duration":0.0121,"orig_bytes":0,"resp_bytes":90,"conn_state":"SHR","local_orig":true,"local_resp":false,"missed_bytes":0,"history":"Cd","orig_pkts":0,"orig_ip_bytes":0,"resp_pkts":1,"resp_ip_bytes":118,"orig_l2_addr":"00:0c:29:aa:bb:cc","resp_l2_addr":"00-50-56-DD-EE-FF","_system_name":"sensor-7"}"#,
        ],
    )
}

/// Suricata EVE: one flow event, one alert and one DNS event.
pub fn suricata_eve(dir: &Path) -> String {
    write(
        dir,
        "eve.json",
        &[
            r#"{"timestamp":"2023-11-14T23:00:05.000000+0100","flow_id":1234567890,"event_type":"flow","src_ip":"192.0.2.50","src_port":5353,"dest_ip":"192.0.2.60","dest_port":40000,"proto":"UDP","app_proto":"failed","flow":{"pkts_toserver":5,"pkts_toclient":0,"bytes_toserver":1500,"bytes_toclient":0,"start":"2023-11-14T23:00:01.250001+0100","end":"2023-11-14T23:00:03.500003+0100","age":2,"state":"new","reason":"timeout","alerted":false},"host":"sensor.example"}"#,
            r#"{"timestamp":"2023-11-14T23:00:06.000000+0100","flow_id":1234567891,"event_type":"alert","src_ip":"203.0.113.9","src_port":51698,"dest_ip":"192.0.2.60","dest_port":445,"proto":"TCP","alert":{"action":"allowed","signature_id":1,"signature":"test"},"host":"sensor.example"}"#,
            r#"{"timestamp":"2023-11-14T23:00:07.000000+0100","flow_id":1234567892,"event_type":"dns","src_ip":"192.0.2.60","src_port":5000,"dest_ip":"192.0.2.1","dest_port":53,"proto":"UDP","dns":{"type":"query"},"host":"sensor.example"}"#,
        ],
    )
}

/// An AWS VPC flow log in the default (v2) format with its header line:
/// ACCEPT, REJECT, ICMP, NODATA.
pub fn aws_v2(dir: &Path) -> String {
    write(
        dir,
        "v2.log",
        &[
            "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status",
            "2 111122223333 eni-0a1b2c3d4e5f60718 203.0.113.7 10.1.2.3 51515 22 6 10 840 1700000000 1700000060 ACCEPT OK",
            "2 111122223333 eni-0a1b2c3d4e5f60718 203.0.113.7 10.1.2.3 51516 3389 6 3 180 1700000010 1700000070 REJECT OK",
            "2 111122223333 eni-0a1b2c3d4e5f60718 10.1.2.3 203.0.113.7 0 0 1 2 168 1700000020 1700000080 ACCEPT OK",
            "2 111122223333 eni-0a1b2c3d4e5f60718 - - - - - - - 1700000000 1700000060 - NODATA",
        ],
    )
}

/// An AWS VPC flow log in a v3 custom format.
pub fn aws_v3(dir: &Path) -> String {
    write(
        dir,
        "v3.log",
        &[
            "version vpc-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status",
            "3 vpc-0123456789abcdef0 eni-0a1b2c3d4e5f60718 111122223333 IPv4 198.51.100.9 10.1.2.4 443 40001 198.51.100.9 10.1.2.4 6 900 9 1700000000 1700000030 ACCEPT 19 OK",
        ],
    )
}

/// Every fixture above, written to `dir`.
pub fn every_fixture(dir: &Path) -> Vec<String> {
    vec![
        zeek_tsv(dir),
        zeek_json(dir),
        suricata_eve(dir),
        aws_v2(dir),
        aws_v3(dir),
    ]
}

fn write(dir: &Path, name: &str, lines: &[&str]) -> String {
    let path = dir.join(name);
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    path.to_str().unwrap().to_owned()
}

fn expect(row: &Value, expected: &[(&str, Value)]) {
    for (column, value) in expected {
        assert_eq!(&row[column], value, "{column} of {row}");
    }
}

#[test]
fn zeek_records_map_as_the_sentinel_parser_maps_them() {
    let dir = tempfile::tempdir().unwrap();
    let (rows, stderr) = normalize(&[&zeek_tsv(dir.path())], &[]);
    // Plain Zeek names no sensor: Dvc is the log file's name, and says so.
    assert!(
        stderr.contains("Zeek conn.log (TSV): 3 records, 0 rejected; Dvc from the file name 3"),
        "{stderr}"
    );
    assert_eq!(rows[0]["Dvc"], "conn.log");
    // SF → Success/Terminated/Informational; (T, F) → Outbound; the end is
    // ts + duration (plain Zeek has no _write_ts); sums of both directions.
    expect(
        &rows[0],
        &[
            ("TimeGenerated", "2023-11-14T22:13:21.234567Z".into()),
            ("EventStartTime", "2023-11-14T22:13:20.123456Z".into()),
            ("EventProduct", "Zeek".into()),
            ("EventVendor", "Corelight".into()),
            ("EventType", "Flow".into()),
            ("EventResult", "Success".into()),
            ("EventResultDetails", "Terminated".into()),
            ("EventSeverity", "Informational".into()),
            ("EventOriginalUid", "Cfix1".into()),
            ("SrcIpAddr", "192.0.2.10".into()),
            ("DstPortNumber", 443.into()),
            ("NetworkProtocol", "TCP".into()),
            ("NetworkApplicationProtocol", "ssl".into()),
            ("NetworkDirection", "Outbound".into()),
            ("NetworkDuration", 1111.into()),
            ("NetworkBytes", 300.into()),
            ("NetworkPackets", 7.into()),
        ],
    );
    // (F, F) → Local, IPv6 as written.
    expect(
        &rows[1],
        &[
            ("SrcIpAddr", "fd00:1::10".into()),
            ("NetworkDirection", "Local".into()),
            ("NetworkDuration", 10.into()),
        ],
    );
    // S0: an attempt with no reply, a success in the parser's table.
    assert_eq!(rows[2]["EventResult"], "Success", "{}", rows[2]);
    assert_eq!(
        rows[2]["EventOriginalResultDetails"],
        "Connection attempt seen, no reply"
    );
    // The same records as Zeek JSON.
    let json = zeek_json(dir.path());
    let (rows, stderr) = normalize(&[&json], &[]);
    assert!(
        stderr.contains("Zeek conn.log (JSON): 1 records, 0 rejected"),
        "{stderr}"
    );
    // SHR → Failure/Timeout/Low.
    expect(
        &rows[0],
        &[
            ("EventResult", "Failure".into()),
            ("EventResultDetails", "Timeout".into()),
            ("EventSeverity", "Low".into()),
            ("NetworkDirection", "Outbound".into()),
            ("NetworkDuration", 12.into()),
            ("NetworkBytes", 90.into()),
            ("NetworkProtocol", "UDP".into()),
            ("EventStartTime", "2023-11-14T22:15:00.500001Z".into()),
            // Corelight names its sensor; layer-2 addresses in ASIM's form.
            ("Dvc", "sensor-7".into()),
            ("SrcMacAddr", "00:0c:29:aa:bb:cc".into()),
            ("DstMacAddr", "00:50:56:DD:EE:FF".into()),
        ],
    );
}

#[test]
fn suricata_flow_events_are_sessions_and_other_events_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let eve = suricata_eve(dir.path());
    let (rows, stderr) = normalize(&[&eve], &[]);
    assert_eq!(rows.len(), 1, "{stderr}");
    assert!(
        stderr
            .contains("Suricata EVE: 1 records, 0 rejected; skipped: alert events 1, dns events 1"),
        "{stderr}"
    );
    // The flow's end is TimeGenerated, in UTC; app_proto `failed` is unknown.
    expect(
        &rows[0],
        &[
            ("TimeGenerated", "2023-11-14T22:00:03.500003Z".into()),
            ("EventStartTime", "2023-11-14T22:00:01.250001Z".into()),
            ("NetworkDuration", 2250.into()),
            ("SrcIpAddr", "192.0.2.50".into()),
            ("DstPortNumber", 40000.into()),
            ("NetworkProtocol", "UDP".into()),
            ("SrcPackets", 5.into()),
            ("NetworkBytes", 1500.into()),
            ("EventOriginalResultDetails", "new, timeout".into()),
            ("NetworkSessionId", "1234567890".into()),
            ("Dvc", "sensor.example".into()),
            ("EventProduct", "Suricata".into()),
        ],
    );
    assert!(rows[0].get("NetworkApplicationProtocol").is_none());
}

#[test]
fn aws_vpc_flow_logs_map_as_the_sentinel_parser_maps_them() {
    let dir = tempfile::tempdir().unwrap();
    let v2 = aws_v2(dir.path());
    let (rows, stderr) = normalize(&[&v2], &[]);
    // NODATA and SKIPDATA are no sessions (the parser keeps `LogStatus == "OK"`).
    assert_eq!(rows.len(), 3, "{stderr}");
    assert!(stderr.contains("skipped: NODATA 1"), "{stderr}");
    // REJECT → Deny, Failure, Low; protocol 6 → TCP; start is TimeGenerated.
    expect(
        &rows[1],
        &[
            ("TimeGenerated", "2023-11-14T22:13:30Z".into()),
            ("EventEndTime", "2023-11-14T22:14:30Z".into()),
            ("DvcAction", "Deny".into()),
            ("EventResult", "Failure".into()),
            ("EventSeverity", "Low".into()),
            ("NetworkProtocol", "TCP".into()),
            ("SrcIpAddr", "203.0.113.7".into()),
            ("DstPortNumber", 3389.into()),
            ("NetworkBytes", 180.into()),
            ("NetworkPackets", 3.into()),
            ("DvcInboundInterface", "eni-0a1b2c3d4e5f60718".into()),
            ("EventProduct", "VPC".into()),
            ("EventVendor", "AWS".into()),
        ],
    );
    assert_eq!(rows[2]["NetworkProtocol"], "ICMP");
    // A v3 custom format names its fields (bytes before packets here).
    let v3 = aws_v3(dir.path());
    let (rows, stderr) = normalize(&[&v3], &[]);
    expect(
        &rows[0],
        &[
            ("NetworkBytes", 900.into()),
            ("NetworkPackets", 9.into()),
            ("Dvc", "vpc-0123456789abcdef0".into()),
            ("NetworkProtocolVersion", "IPv4".into()),
            ("SrcNatIpAddr", "198.51.100.9".into()),
        ],
    );
    assert!(stderr.contains("AWS VPC flow log: 1 records"), "{stderr}");
}
