//! Raw logs in: the Zeek normalizer on the real captures in `../shared/data`
//! (`make test-real`), `normalize`, format recognition, bad records, and the
//! TI rule on a capture.

use std::{collections::HashSet, fs, net::IpAddr};

use serde_json::Value;

use crate::{
    raw_logs::zeek_tsv,
    support::{asim_rules, component, json_lines, shared},
};

/// `normalize` of `files`: the records and stderr.
pub fn normalize(files: &[&str], extra: &[&str]) -> (Vec<Value>, String) {
    let mut args = vec!["normalize"];
    args.extend(files);
    args.extend(extra);
    let output = asim_rules(&args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    (
        json_lines(&String::from_utf8(output.stdout).unwrap()),
        stderr,
    )
}

#[test]
#[ignore = "reads ../shared/data: make test-real"]
fn every_zeek_capture_normalizes_whole() {
    // Record counts from SOURCES.md (data lines, without `#` header lines).
    for (file, records) in [
        ("zeek/stratosphere-001-njrat-ipv6.conn.log.labeled", 992),
        ("zeek/stratosphere-002-portscan.conn.json", 4504),
        ("zeek/stratosphere-008-mixed.conn.log.labeled", 5663),
        ("zeek/stratosphere-010-mixed.conn.log.labeled", 5347),
        ("zeek/stratosphere-011-mixed.conn.log.labeled", 9048),
        ("zeek/stratosphere-012-mixed.conn.log.labeled", 4740),
    ] {
        let (rows, stderr) = normalize(&[&shared(file)], &[]);
        assert_eq!(rows.len(), records, "{file}");
        let kind = if file.ends_with(".json") {
            "JSON"
        } else {
            "TSV"
        };
        assert!(
            stderr.contains(&format!(
                "Zeek conn.log ({kind}): {records} records, 0 rejected"
            )),
            "{stderr}"
        );
    }
}

#[test]
#[ignore = "reads ../shared/data: make test-real"]
fn chosen_zeek_records_map_as_the_sentinel_parser_maps_them() {
    // 008, first record: ts 1655071198.444458 (2022-06-12T21:59:58.444458Z),
    // duration 1.135424 s, tcp/ssl, SF, local_orig T, local_resp F, bytes
    // 1596/4039, packets 14/16. The parser: EventStartTime = ts; proto upper
    // case; SF → Success/Terminated/Informational; (T, F) → Outbound; sums.
    // Ours on top: TimeGenerated = EventEndTime = ts + duration (plain Zeek
    // has no _write_ts), NetworkDuration in milliseconds (1135).
    let (rows, _) = normalize(
        &[&shared("zeek/stratosphere-008-mixed.conn.log.labeled")],
        &[],
    );
    let first = &rows[0];
    for (column, value) in [
        ("TimeGenerated", Value::from("2022-06-12T21:59:59.579882Z")),
        ("EventStartTime", "2022-06-12T21:59:58.444458Z".into()),
        ("EventEndTime", "2022-06-12T21:59:59.579882Z".into()),
        ("EventProduct", "Zeek".into()),
        ("EventVendor", "Corelight".into()),
        ("EventType", "Flow".into()),
        ("EventResult", "Success".into()),
        ("EventResultDetails", "Terminated".into()),
        ("EventSeverity", "Informational".into()),
        ("EventOriginalUid", "CHLXQF2OBY4onAR0Ug".into()),
        ("SrcIpAddr", "147.32.81.167".into()),
        ("SrcPortNumber", 62771.into()),
        ("DstIpAddr", "40.74.108.123".into()),
        ("DstPortNumber", 443.into()),
        ("NetworkProtocol", "TCP".into()),
        ("NetworkApplicationProtocol", "ssl".into()),
        ("NetworkDirection", "Outbound".into()),
        ("NetworkDuration", 1135.into()),
        ("SrcBytes", 1596.into()),
        ("DstBytes", 4039.into()),
        ("NetworkBytes", 5635.into()),
        ("SrcPackets", 14.into()),
        ("DstPackets", 16.into()),
        ("NetworkPackets", 30.into()),
    ] {
        assert_eq!(first[column], value, "{column}");
    }
    // 002 (JSON), first record: udp/dns to 8.8.8.8, SHR → Failure/Timeout/Low,
    // local_orig true, local_resp false → Outbound, duration 0.01217 s → 12 ms,
    // orig_bytes 0 + resp_bytes 111.
    let (rows, _) = normalize(&[&shared("zeek/stratosphere-002-portscan.conn.json")], &[]);
    let first = &rows[0];
    assert_eq!(first["EventResult"], "Failure");
    assert_eq!(first["EventResultDetails"], "Timeout");
    assert_eq!(first["EventSeverity"], "Low");
    assert_eq!(first["NetworkDirection"], "Outbound");
    assert_eq!(first["NetworkDuration"], 12);
    assert_eq!(first["NetworkBytes"], 111);
    assert_eq!(first["NetworkProtocol"], "UDP");
    assert_eq!(first["EventStartTime"], "2022-09-29T14:40:56.755299Z");
    // 001, first record: IPv6 ULA addresses, local F/F → Local (the parser's
    // lookup), timestamps relative to capture start (1970-01-01).
    let (rows, _) = normalize(
        &[&shared("zeek/stratosphere-001-njrat-ipv6.conn.log.labeled")],
        &[],
    );
    let first = &rows[0];
    assert_eq!(first["SrcIpAddr"], "fd2d:ab8c:225:0:81d3:fd3e:7f62:aec8");
    assert_eq!(first["DstIpAddr"], "fd2d:ab8c:225::1");
    assert_eq!(first["NetworkDirection"], "Local");
    assert_eq!(first["TimeGenerated"], "1970-01-01T00:00:20.118466Z");
}

#[test]
fn the_format_is_recognised_and_a_wrong_one_is_refused() {
    let rule = component("ti-map-ip");
    let dir = tempfile::tempdir().unwrap();
    let capture = zeek_tsv(dir.path());
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--rule",
            rule.to_str().unwrap(),
            "--at",
            "2023-11-15T00:00:00Z",
        ];
        args.extend(["--sessions", &capture]);
        args.extend(extra);
        asim_rules(&args)
    };
    let recognised = run(&[]);
    let stderr = String::from_utf8_lossy(&recognised.stderr);
    assert!(recognised.status.success(), "{stderr}");
    assert!(
        stderr.contains("Zeek conn.log (TSV): 3 records, 0 rejected"),
        "{stderr}"
    );
    for wrong in ["zeek-json", "asim"] {
        let refused = run(&["--sessions-format", wrong]);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "--sessions-format {wrong} does not fit: the file looks like Zeek conn.log (TSV)"
            )),
            "{stderr}"
        );
    }
}

#[test]
fn unmappable_records_are_named_and_unmappable_fields_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conn.log");
    let header = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n\
        #fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\n\
        #types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\n";
    let records = [
        "1655071198.5\tC1\t10.0.0.1\t5000\t192.0.2.9\t443\ttcp\t-\t1.0\t10\t20\tSF\tT\tF",
        "-\tC2\t10.0.0.1\t5000\t192.0.2.9\t443\ttcp\t-\t1.0\t10\t20\tSF\tT\tF",
        "1655071199.5\tC3\t10.0.0.999\tx\t192.0.2.9\t443\ttcp\t-\t1.0\t10\t20\tXX\tT\tF",
        "1655071200.5\tC4\t10.0.0.1",
    ];
    fs::write(
        &path,
        format!(
            "{header}{}\n#close\t2022-06-13-00-00-00\n",
            records.join("\n")
        ),
    )
    .unwrap();
    let (rows, stderr) = normalize(&[path.to_str().unwrap()], &[]);
    assert_eq!(rows.len(), 2, "{stderr}");
    assert!(stderr.contains("conn.log:9: ts: missing"), "{stderr}");
    assert!(
        stderr.contains("conn.log:11: 3 fields where the header names 14"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "4 records, 2 rejected; fields left empty: EventResult 1, SrcIpAddr 1, SrcPortNumber 1"
        ),
        "{stderr}"
    );
    assert!(rows[1].get("SrcIpAddr").is_none() && rows[1].get("EventResult").is_none());
}

/// IPv4 networks of a list file (`#`/`;` comments), as (network, prefix length).
fn v4_networks(path: &str) -> Vec<(u32, u32)> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|line| line.split(['#', ';']).next()?.split_whitespace().next())
        .filter_map(|entry| {
            let (address, len) = entry.split_once('/').unwrap_or((entry, "32"));
            let address: std::net::Ipv4Addr = address.parse().ok()?;
            Some((u32::from(address), len.parse().ok()?))
        })
        .collect()
}

#[test]
#[ignore = "reads ../shared/data: make test-real"]
fn the_ti_rule_on_a_real_capture_finds_what_the_lists_name() {
    let capture = shared("zeek/stratosphere-011-mixed.conn.log.labeled");
    let lists = [
        shared("ti/firehol_level1.netset"),
        shared("ti/spamhaus_drop.txt"),
    ];
    // Expected, worked out here without the host: sessions ending in
    // [12:00, 13:00) of 2022-06-13, summarised per (source, destination),
    // whose source or else destination lies in a listed IPv4 network.
    let networks: Vec<(u32, u32)> = lists.iter().flat_map(|list| v4_networks(list)).collect();
    let listed = |address: &str| match address.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => networks.iter().any(|&(network, len)| {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(v4) & mask == network & mask
        }),
        _ => false,
    };
    let (from, to) = (1_655_121_600.0, 1_655_125_200.0);
    let mut expected = HashSet::new();
    for line in fs::read_to_string(&capture)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
    {
        let fields: Vec<&str> = line.split('\t').collect();
        let end = fields[0].parse::<f64>().unwrap() + fields[8].parse::<f64>().unwrap_or(0.0);
        if end >= from && end < to && (listed(fields[2]) || listed(fields[4])) {
            expected.insert((fields[2].to_owned(), fields[4].to_owned()));
        }
    }
    assert!(!expected.is_empty());
    let rule = component("ti-map-ip");
    let mut args = vec![
        "run",
        "--rule",
        rule.to_str().unwrap(),
        "--at",
        "2022-06-13T13:00:00Z",
    ];
    args.extend([
        "--sessions",
        &capture,
        "--list-published",
        "2022-06-12T00:00:00Z",
    ]);
    for list in &lists {
        args.extend(["--indicators", list]);
    }
    let output = asim_rules(&args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let alerts = json_lines(&String::from_utf8(output.stdout).unwrap());
    let found: HashSet<(String, String)> = alerts
        .iter()
        .map(|alert| {
            let detail = |name: &str| alert["CustomDetails"][name].as_str().unwrap().to_owned();
            (detail("SrcIpAddr"), detail("DstIpAddr"))
        })
        .collect();
    assert_eq!(found.len(), alerts.len(), "one alert per summary");
    assert_eq!(found, expected);
}

#[test]
fn normalize_writes_to_a_file_and_refuses_asim_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("asim.jsonl");
    let capture = zeek_tsv(dir.path());
    let (stdout, _) = normalize(&[&capture], &["--out", out.to_str().unwrap()]);
    assert!(stdout.is_empty());
    let written = json_lines(&fs::read_to_string(&out).unwrap());
    assert_eq!(written.len(), 3);
    // The written file reads back as ASIM.
    let again = asim_rules(&["normalize", out.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already ASIM NetworkSession"));
}

#[test]
#[ignore = "reads ../shared/data: make test-real"]
fn aws_vpc_flow_logs_map_as_the_sentinel_parser_maps_them() {
    // Record counts: the OK records of each fixture; NODATA and SKIPDATA are
    // no sessions (the parser keeps `LogStatus == "OK"` only).
    let (rows, stderr) = normalize(
        &[&shared("flows/aws-vpcflow_accept-reject-traffic.log")],
        &[],
    );
    assert_eq!(rows.len(), 4, "{stderr}");
    // Second record: `… 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK`:
    // REJECT → DvcAction Deny, EventResult Failure, EventSeverity Low;
    // protocol 6 → TCP; start (epoch seconds) is TimeGenerated/EventStartTime.
    let rejected = &rows[1];
    for (column, value) in [
        ("TimeGenerated", Value::from("2014-12-14T04:06:50Z")),
        ("EventEndTime", "2014-12-14T04:07:50Z".into()),
        ("DvcAction", "Deny".into()),
        ("EventResult", "Failure".into()),
        ("EventSeverity", "Low".into()),
        ("NetworkProtocol", "TCP".into()),
        ("SrcIpAddr", "78.24.182.42".into()),
        ("DstPortNumber", 3389.into()),
        ("NetworkBytes", 4249.into()),
        ("NetworkPackets", 20.into()),
        ("DvcInboundInterface", "eni-1235b8ca123456789".into()),
        ("EventProduct", "VPC".into()),
        ("EventVendor", "AWS".into()),
    ] {
        assert_eq!(rejected[column], value, "{column}");
    }
    // ICMP (protocol 1) with ports 0.
    assert_eq!(rows[2]["NetworkProtocol"], "ICMP");
    // The v3 custom format names its fields, bytes before packets, and adds
    // vpc-id (→ DvcId and Dvc), type (→ NetworkProtocolVersion) and the
    // packet-level addresses (→ SrcNatIpAddr, DstNatIpAddr).
    let (rows, _) = normalize(
        &[&shared("flows/aws-vpcflow_v3-tcp-flag-sequence.log")],
        &[],
    );
    let v3 = &rows[0];
    assert_eq!(v3["NetworkBytes"], 568);
    assert_eq!(v3["NetworkPackets"], 8);
    assert_eq!(v3["Dvc"], "vpc-abcdefab012345678");
    assert_eq!(v3["NetworkProtocolVersion"], "IPv4");
    assert_eq!(v3["SrcNatIpAddr"], "52.213.180.42");
    // No header line: the default v2 format; IPv6 addresses as written.
    let (rows, _) = normalize(&[&shared("flows/aws-vpcflow_ipv6.log")], &[]);
    assert_eq!(
        rows[0]["SrcIpAddr"],
        "2001:db8:1234:a100:8d6e:3477:df66:f105"
    );
    // `-` placeholders: nothing to map, both records skipped by reason.
    let (rows, stderr) = normalize(&[&shared("flows/aws-vpcflow_no-data-skip-data.log")], &[]);
    assert!(rows.is_empty());
    assert!(
        stderr.contains("AWS VPC flow log: 0 records, 0 rejected; skipped: NODATA 1, SKIPDATA 1"),
        "{stderr}"
    );
}

#[test]
#[ignore = "reads ../shared/data: make test-real"]
fn suricata_flow_events_are_sessions_and_other_events_are_skipped() {
    let eve = shared("suricata/stratosphere-slips-test6-malicious.eve.json");
    let (rows, stderr) = normalize(&[&eve], &[]);
    // SOURCES.md: 5 000 events, 3 512 of them flow (745 alert, 680 dns, 56
    // http, 3 fileinfo, 3 anomaly, 1 tls).
    assert_eq!(rows.len(), 3512, "{stderr}");
    assert!(
        stderr.contains("Suricata EVE: 3512 records, 0 rejected; skipped: alert events 745, anomaly events 3, dns events 680, fileinfo events 3, http events 56, tls events 1"),
        "{stderr}"
    );
    // The first flow event: UDP 192.168.1.132:1900 → 192.168.1.129:44232,
    // flow.start 16:38:55.855844+0200, flow.end 16:38:56.963027+0200 (so
    // 14:38 UTC, 1 107 ms), 12 packets and 4 056 bytes to the server, none
    // back, state new, reason timeout, app_proto `failed` (unknown: empty).
    let first = &rows[0];
    for (column, value) in [
        ("TimeGenerated", Value::from("2021-06-06T14:38:56.963027Z")),
        ("EventStartTime", "2021-06-06T14:38:55.855844Z".into()),
        ("NetworkDuration", 1107.into()),
        ("SrcIpAddr", "192.168.1.132".into()),
        ("SrcPortNumber", 1900.into()),
        ("DstIpAddr", "192.168.1.129".into()),
        ("DstPortNumber", 44232.into()),
        ("NetworkProtocol", "UDP".into()),
        ("SrcPackets", 12.into()),
        ("NetworkBytes", 4056.into()),
        ("EventOriginalResultDetails", "new, timeout".into()),
        ("NetworkSessionId", "445348883402532".into()),
        ("Dvc", "stratosphere.org".into()),
        ("EventProduct", "Suricata".into()),
    ] {
        assert_eq!(first[column], value, "{column}");
    }
    assert!(first.get("NetworkApplicationProtocol").is_none());
}
