//! Indicator sources: real lists and STIX bundles (`tests/data`, and in
//! `make test-real` the lists of `../shared/data`),
//! the same indicators in every format, and the edge cases of matching.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use serde_json::{json, Value};

use crate::support::{asim_rules, component, data, generated, json_lines, shared, GENERATED_AT};

/// Runs the TI rule at `at` over `sessions` and every `--indicators` file;
/// returns the alerts and stderr.
fn ti(at: &str, sessions: &Path, indicators: &[&str], extra: &[&str]) -> (Vec<Value>, String) {
    let rule = component("ti-map-ip");
    let mut args = vec!["run", "--rule", rule.to_str().unwrap(), "--at", at];
    args.extend(["--sessions", sessions.to_str().unwrap()]);
    for file in indicators {
        args.extend(["--indicators", file]);
    }
    args.extend(extra);
    let output = asim_rules(&args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "asim-rules {args:?}: {stderr}");
    (
        json_lines(&String::from_utf8(output.stdout).unwrap()),
        stderr,
    )
}

/// A session source on no list used here (public, IPv6 documentation space).
const SOURCE: &str = "2001:db8:ffff::10";

/// Writes sessions at `time` from [`SOURCE`], one per destination address,
/// to a file in `dir`.
fn sessions_to(dir: &Path, time: &str, destinations: &[&str]) -> PathBuf {
    let path = dir.join("sessions.jsonl");
    let mut file = fs::File::create(&path).unwrap();
    for destination in destinations {
        let row = json!({"TimeGenerated": time, "SrcIpAddr": SOURCE,
            "DstIpAddr": destination, "Dvc": "fw01", "EventProduct": "Test", "EventVendor": "Test"});
        writeln!(file, "{row}").unwrap();
    }
    path
}

/// The summary line `asim-rules` printed for the indicator file `name`.
fn summary<'a>(stderr: &'a str, name: &str) -> &'a str {
    stderr
        .lines()
        .find(|line| line.starts_with("asim-rules: ") && line.contains(name))
        .unwrap_or_else(|| panic!("no summary line for {name} in:\n{stderr}"))
}

fn detail<'a>(alert: &'a Value, name: &str) -> &'a Value {
    &alert["CustomDetails"][name]
}

#[test]
#[ignore = "reads ../shared/data: make test-real"]
fn real_ip_lists_load_and_match_with_their_comments_as_descriptions() {
    let dir = tempfile::tempdir().unwrap();
    // 1.10.16.0/20 ; SBL256894 is the first entry of spamhaus_drop.txt,
    // 2001:678:254::/48 ; SBL697648 the first of spamhaus_dropv6.txt.
    let sessions = sessions_to(
        dir.path(),
        "2026-08-22T10:00:00Z",
        &["1.10.20.30", "2001:678:254::99", "192.0.2.200"],
    );
    let (drop, dropv6) = (
        shared("ti/spamhaus_drop.txt"),
        shared("ti/spamhaus_dropv6.txt"),
    );
    let (alerts, stderr) = ti(
        "2026-08-22T11:00:00Z",
        &sessions,
        &[&drop, &dropv6],
        &[
            "--list-published",
            "2026-08-21T00:00:00Z",
            "--list-threat-type",
            "Botnet",
        ],
    );
    // Counted by hand: every line of drop.txt that is not a `;` comment holds
    // one CIDR (`grep -c '^[0-9]' spamhaus_drop.txt` = 1699, dropv6: 91).
    assert!(summary(&stderr, "spamhaus_drop.txt")
        .ends_with("IP list: 1699 entries, 1699 indicators, 0 rejected, 0 skipped"));
    assert!(summary(&stderr, "spamhaus_dropv6.txt")
        .ends_with("IP list: 91 entries, 91 indicators, 0 rejected, 0 skipped"));
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    let v4 = &alerts[0];
    assert_eq!(detail(v4, "IoCIP"), "1.10.20.30");
    assert_eq!(detail(v4, "IndicatorId"), "spamhaus_drop.txt:1.10.16.0/20");
    assert_eq!(detail(v4, "IoCDescription"), "spamhaus_drop.txt: SBL256894");
    assert_eq!(detail(v4, "ThreatType"), "Botnet");
    // Published 2026-08-21, valid 30 days by default.
    assert_eq!(detail(v4, "IoCExpirationTime"), "2026-09-20T00:00:00Z");
    let v6 = &alerts[1];
    assert_eq!(detail(v6, "IoCIP"), "2001:678:254::99");
    assert_eq!(
        detail(v6, "IndicatorId"),
        "spamhaus_dropv6.txt:2001:678:254::/48"
    );
}

#[test]
#[ignore = "reads ../shared/data: make test-real"]
fn firehol_sets_count_their_entries_and_expire_as_told() {
    let dir = tempfile::tempdir().unwrap();
    // 0.0.0.0/8 is firehol_level1's first entry (fullbogons), so 0.1.2.3 is in
    // it; 10.0.0.0/8 is in it too.
    let sessions = sessions_to(dir.path(), "2026-08-22T10:00:00Z", &["0.1.2.3", "10.9.9.9"]);
    // dshield as a gzip copy: any source may be compressed.
    let dshield = dir.path().join("firehol_dshield.netset.gz");
    let mut gzip = flate2::write::GzEncoder::new(
        fs::File::create(&dshield).unwrap(),
        flate2::Compression::fast(),
    );
    gzip.write_all(&fs::read(shared("ti/firehol_dshield.netset")).unwrap())
        .unwrap();
    gzip.finish().unwrap();
    let files = [
        shared("ti/firehol_level1.netset"),
        shared("ti/firehol_tor_exits.ipset"),
        dshield.to_str().unwrap().to_owned(),
    ];
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let published = ["--list-published", "2026-08-22T06:00:00Z"];
    let types = [
        "--list-threat-type",
        "Proxy",
        "--list-threat-type",
        "firehol_level1.netset=Bogon",
    ];
    let (alerts, stderr) = ti(
        "2026-08-22T11:00:00Z",
        &sessions,
        &files,
        &[published.as_slice(), &types].concat(),
    );
    // Entries = lines not starting with `#` (`grep -vc '^#'`): level1 4631,
    // tor_exits 1370, dshield 20; SOURCES.md gives the same counts.
    for (name, entries) in [
        ("firehol_level1.netset", 4631),
        ("firehol_tor_exits.ipset", 1370),
        ("firehol_dshield.netset", 20),
    ] {
        assert!(
            summary(&stderr, name).ends_with(&format!(
                "IP list: {entries} entries, {entries} indicators, 0 rejected, 0 skipped"
            )),
            "{stderr}"
        );
    }
    assert_eq!(alerts.len(), 2);
    assert_eq!(
        detail(&alerts[0], "IndicatorId"),
        "firehol_level1.netset:0.0.0.0/8"
    );
    assert_eq!(detail(&alerts[0], "ThreatType"), "Bogon");
    // Valid for one hour only: expired before the evaluation.
    let (expired, _) = ti(
        "2026-08-22T11:00:00Z",
        &sessions,
        &files,
        &[published[0], published[1], "--list-valid-for", "1h"],
    );
    assert!(expired.is_empty(), "{expired:?}");
}

#[test]
fn stix_bundles_yield_the_addresses_their_patterns_name() {
    let dir = tempfile::tempdir().unwrap();
    // apt1.json: four indicators are /15 netblocks, modified
    // 2015-05-15T09:12:16.432Z, e.g. [ipv4-addr:value = '223.166.0.0/15'].
    // poisonivy.json: `[domain-name:value = … OR ipv4-addr:value = …]`.
    let sessions = sessions_to(
        dir.path(),
        "2015-05-20T10:00:00Z",
        &["223.167.1.1", "8.8.8.8"],
    );
    let bundles = [
        "stix/oasis-examples_apt1.json",
        "stix/oasis-examples_poisonivy.json",
        "stix/oasis-elevator_composite.json",
        "stix/oasis-examples_indicators-for-C2-with-COA.json",
    ]
    .map(data);
    let files: Vec<&str> = bundles.iter().map(String::as_str).collect();
    let (alerts, stderr) = ti("2015-05-20T11:00:00Z", &sessions, &files, &[]);
    // Worked out once with a short script over each bundle (`objects` of
    // type indicator; distinct ipv4-addr values per pattern; patterns
    // checked by eye for AND), and they agree with SOURCES.md:
    // - apt1: 12 indicators, 4 name one CIDR each, 8 name no address.
    // - poisonivy: 25 indicators, 20 name addresses (40 distinct per
    //   pattern, joined by OR with domains), 5 name none.
    // - composite: 5 indicators, two single addresses; `[a] AND [b]` and
    //   `([a] AND [b]) OR [file]` need more than an address; one is a hash.
    // - C2-with-COA: 2 indicators, one address, one file hash.
    for (name, expected) in [
        ("apt1.json", "12 indicator objects, 4 indicators, 0 rejected, 8 skipped (8 no IPv4/IPv6 address comparison)"),
        ("poisonivy.json", "25 indicator objects, 40 indicators, 0 rejected, 5 skipped (5 no IPv4/IPv6 address comparison)"),
        ("composite.json", "5 indicator objects, 2 indicators, 0 rejected, 3 skipped (2 address joined by AND or FOLLOWEDBY; 1 no IPv4/IPv6 address comparison)"),
        ("C2-with-COA.json", "2 indicator objects, 1 indicators, 0 rejected, 1 skipped (1 no IPv4/IPv6 address comparison)"),
    ] {
        let line = summary(&stderr, name);
        assert!(line.ends_with(&format!("STIX bundle: {expected}")), "{line}");
    }
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    assert_eq!(detail(alert, "IoCIP"), "223.167.1.1");
    assert_eq!(
        detail(alert, "IndicatorId"),
        "indicator--031778a4-057f-48e6-9db9-c8d72b81ccd5"
    );
    assert_eq!(detail(alert, "ThreatType"), "malicious-activity");
    assert_eq!(detail(alert, "IoCDescription"), "Test description.");
    // No valid_until: it never expires.
    assert_eq!(detail(alert, "IoCExpirationTime"), "9999-12-31T23:59:59Z");
}

#[test]
#[ignore = "reads ../shared/data: make test-real"]
fn a_large_elevated_stix_report_reads_whole() {
    let dir = tempfile::tempdir().unwrap();
    let sessions = sessions_to(dir.path(), "2015-05-20T10:00:00Z", &["8.8.8.8"]);
    let report = shared("stix/oasis-elevator_fireeye-pivy-report-with-indicators.json");
    let (_, stderr) = ti("2015-05-20T11:00:00Z", &sessions, &[&report], &[]);
    // FireEye PIVY (elevated): 1029 indicators, 314 with ipv4 terms giving
    // 822 distinct (indicator, address) pairs, all reachable by OR only (ANDs
    // there join `resolves_to_refs` terms, not addresses); 715 name no address.
    let line = summary(&stderr, "pivy-report-with-indicators.json");
    assert!(
        line.ends_with("STIX bundle: 1029 indicator objects, 822 indicators, 0 rejected, 715 skipped (715 no IPv4/IPv6 address comparison)"),
        "{line}"
    );
}

#[test]
fn a_pattern_with_several_addresses_gives_one_indicator_each() {
    let dir = tempfile::tempdir().unwrap();
    // poisonivy.json's first address indicator joins a domain and addresses by OR.
    let bundle = data("stix/oasis-examples_poisonivy.json");
    let text = fs::read_to_string(&bundle).unwrap();
    let parsed: Value = serde_json::from_str(&text).unwrap();
    let indicator = parsed["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| {
            o["type"] == "indicator"
                && o["pattern"].as_str().unwrap().matches("ipv4-addr").count() >= 2
        })
        .unwrap();
    let pattern = indicator["pattern"].as_str().unwrap();
    let addresses: Vec<&str> = pattern
        .split("ipv4-addr:value = '")
        .skip(1)
        .map(|rest| rest.split('\'').next().unwrap())
        .collect();
    // Others in the bundle share its addresses and time (and would win by a
    // smaller id): the indicator alone goes in a bundle of its own.
    let bundle = write(
        dir.path(),
        "one.json",
        &[&json!({"type": "bundle", "id": "bundle--1", "objects": [indicator]}).to_string()],
    );
    let time = indicator["modified"].as_str().unwrap();
    let sessions = sessions_to(dir.path(), time, &addresses);
    let id = indicator["id"].as_str().unwrap();
    // Sessions at the indicator's own time are in the hour before `--at`.
    let at = chrono::DateTime::parse_from_rfc3339(time).unwrap() + chrono::Duration::hours(1);
    let (alerts, _) = ti(&at.to_rfc3339(), &sessions, &[&bundle], &[]);
    let mut ids: Vec<String> = alerts
        .iter()
        .map(|alert| detail(alert, "IndicatorId").as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    let mut expected: Vec<String> = addresses.iter().map(|a| format!("{id}#{a}")).collect();
    expected.sort();
    expected.dedup();
    assert!(expected.len() >= 2);
    assert_eq!(ids, expected);
}

#[test]
fn generated_indicators_give_identical_alerts_in_every_format() {
    let legacy = generated().join("indicators.jsonl");
    let sessions = generated().join("sessions.jsonl");
    let dir = tempfile::tempdir().unwrap();
    let rows = json_lines(&fs::read_to_string(&legacy).unwrap());
    let stix = dir.path().join("indicators.stix.json.gz");
    let intel_jsonl = dir.path().join("intel.jsonl");
    let intel_csv = dir.path().join("intel.csv");
    write_stix(&rows, &stix);
    write_intel_table(&rows, &intel_jsonl, &intel_csv);
    let run = |indicators: &Path| {
        ti(
            GENERATED_AT,
            &sessions,
            &[indicators.to_str().unwrap()],
            &[],
        )
        .0
    };
    let expected = run(&legacy);
    assert!(expected.len() >= 8);
    for other in [
        &generated().join("indicators.csv"),
        &stix,
        &intel_jsonl,
        &intel_csv,
    ] {
        assert_eq!(run(other), expected, "{}", other.display());
    }
}

#[test]
fn replay_sorts_indicator_files_that_are_not_in_time_order() {
    let legacy = generated().join("indicators.jsonl");
    let sessions = generated().join("sessions.jsonl");
    let dir = tempfile::tempdir().unwrap();
    let mut rows = json_lines(&fs::read_to_string(&legacy).unwrap());
    // Newest first, as feeds often list them.
    rows.reverse();
    let stix = dir.path().join("newest-first.json.gz");
    write_stix(&rows, &stix);
    let rule = component("ti-map-ip");
    let replay = |indicators: &Path| {
        let output = asim_rules(&[
            "replay",
            "--rule",
            rule.to_str().unwrap(),
            "--sessions",
            sessions.to_str().unwrap(),
            "--indicators",
            indicators.to_str().unwrap(),
            "--from",
            "2026-03-11T18:00:00Z",
            "--to",
            GENERATED_AT,
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{stderr}");
        (
            json_lines(&String::from_utf8(output.stdout).unwrap()),
            stderr,
        )
    };
    let (expected, _) = replay(&legacy);
    let (alerts, stderr) = replay(&stix);
    assert!(expected.len() >= 8);
    assert_eq!(alerts, expected);
    assert!(stderr.contains("(0 out of time order)"), "{stderr}");
}

/// The first non-empty IP column of a legacy row, as the rule reads it.
fn entity(row: &Value) -> Option<&str> {
    [
        "NetworkIP",
        "NetworkDestinationIP",
        "NetworkSourceIP",
        "EmailSourceIpAddress",
    ]
    .iter()
    .filter_map(|column| row[column].as_str())
    .find(|ip| !ip.is_empty())
}

/// The legacy rows as one gzip STIX 2.1 bundle, one indicator per row
/// (later versions of an id are later objects, as a feed would send them).
fn write_stix(rows: &[Value], path: &Path) {
    let objects: Vec<Value> = rows
        .iter()
        .filter_map(|row| {
            let ip = entity(row)?;
            let version = if ip.contains(':') { 6 } else { 4 };
            let mut object = json!({
                "type": "indicator",
                "spec_version": "2.1",
                "id": row["IndicatorId"],
                "created": row["TimeGenerated"],
                "modified": row["TimeGenerated"],
                "pattern": format!("[ipv{version}-addr:value = '{ip}']"),
                "pattern_type": "stix",
                "valid_from": row["TimeGenerated"],
                "valid_until": row["ExpirationDateTime"],
                "revoked": row["Active"] != true,
                "indicator_types": [row["ThreatType"]],
                "description": row["Description"],
            });
            if let Some(confidence) = row["ConfidenceScore"].as_f64() {
                object["confidence"] = json!(confidence);
            }
            if let Some(group) = row["ActivityGroupNames"].as_str().filter(|g| !g.is_empty()) {
                object["labels"] = json!([format!("ActivityGroup:{group}")]);
            }
            Some(object)
        })
        .collect();
    let bundle = json!({"type": "bundle", "id": "bundle--1", "objects": objects});
    let file = fs::File::create(path).unwrap();
    let mut gzip = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    serde_json::to_writer_pretty(&mut gzip, &bundle).unwrap();
    gzip.finish().unwrap();
}

/// The legacy rows as a `ThreatIntelIndicators` export, JSON lines and CSV.
fn write_intel_table(rows: &[Value], jsonl: &Path, csv_path: &Path) {
    let mut lines = fs::File::create(jsonl).unwrap();
    let mut csv = csv::Writer::from_path(csv_path).unwrap();
    csv.write_record([
        "TimeGenerated [UTC]",
        "Id",
        "ObservableKey",
        "ObservableValue",
        "IsActive",
        "ValidUntil [UTC]",
        "Confidence",
        "Data",
        "Pattern",
    ])
    .unwrap();
    for row in rows {
        let Some(ip) = entity(row) else { continue };
        let key = if ip.contains(':') {
            "ipv6-addr:value"
        } else {
            "ipv4-addr:value"
        };
        let mut data =
            json!({"indicator_types": [row["ThreatType"]], "description": row["Description"]});
        if let Some(group) = row["ActivityGroupNames"].as_str().filter(|g| !g.is_empty()) {
            data["labels"] = json!([format!("ActivityGroup:{group}")]);
        }
        let record = json!({
            "TimeGenerated": row["TimeGenerated"], "Id": row["IndicatorId"],
            "ObservableKey": key, "ObservableValue": ip, "IsActive": row["Active"],
            "ValidUntil": row["ExpirationDateTime"], "Confidence": row["ConfidenceScore"],
            "Data": data, "Pattern": format!("[{key} = '{ip}']"),
        });
        writeln!(lines, "{record}").unwrap();
        let text = |value: &Value| match value {
            Value::String(text) => text.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        csv.write_record([
            text(&record["TimeGenerated"]),
            text(&record["Id"]),
            key.into(),
            ip.into(),
            text(&record["IsActive"]),
            text(&record["ValidUntil"]),
            text(&record["Confidence"]),
            data.to_string(),
            text(&record["Pattern"]),
        ])
        .unwrap();
    }
    csv.flush().unwrap();
}

/// Writes `lines` to `dir/name` and returns the path.
fn write(dir: &Path, name: &str, lines: &[&str]) -> String {
    let path = dir.join(name);
    fs::write(&path, lines.join("\n")).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn the_most_specific_network_wins_across_sources_and_families() {
    let dir = tempfile::tempdir().unwrap();
    let wide = write(
        dir.path(),
        "wide.txt",
        &["198.51.100.0/24", "0.0.0.0/0 ; everything IPv4"],
    );
    let narrow = write(
        dir.path(),
        "narrow.netset",
        &[
            "# host routes",
            "198.51.100.7/32",
            "::ffff:203.0.113.0/120",
            "2001:db8::1/128",
            "198.51.100.0/24",
        ],
    );
    let sessions = sessions_to(
        dir.path(),
        "2026-03-01T10:00:00Z",
        &[
            "198.51.100.7",
            "198.51.100.9",
            "203.0.113.5",
            "2001:db8::1",
            "2001:db8::2",
            "192.0.2.1",
        ],
    );
    let (alerts, _) = ti(
        "2026-03-01T11:00:00Z",
        &sessions,
        &[&wide, &narrow],
        &["--list-published", "2026-03-01T00:00:00Z"],
    );
    let chosen: Vec<(&str, &str)> = alerts
        .iter()
        .map(|a| {
            (
                detail(a, "IoCIP").as_str().unwrap(),
                detail(a, "IndicatorId").as_str().unwrap(),
            )
        })
        .collect();
    // Alerts come in address order.
    assert_eq!(
        chosen,
        [
            // 0.0.0.0/0 is all of IPv4 and none of IPv6.
            ("192.0.2.1", "wide.txt:0.0.0.0/0"),
            // /32 beats /24 beats /0.
            ("198.51.100.7", "narrow.netset:198.51.100.7/32"),
            // The same /24 in both lists: the smaller id, deterministically.
            ("198.51.100.9", "narrow.netset:198.51.100.0/24"),
            ("2001:db8::1", "narrow.netset:2001:db8::1/128"),
            // An IPv4-mapped network covers the plain IPv4 address.
            ("203.0.113.5", "narrow.netset:::ffff:203.0.113.0/120"),
        ]
    );
}

#[test]
fn malformed_entries_are_named_by_file_and_line_and_the_rest_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let list = write(
        dir.path(),
        "bad.txt",
        &[
            "; header",
            "198.51.100.7",
            "not-an-ip",
            "10.0.0.0/33",
            "192.0.2.1 extra",
            "203.0.113.9 # ok",
        ],
    );
    let bundle = write(
        dir.path(),
        "bad.json",
        &[
            r#"{"type": "bundle", "id": "bundle--x", "objects": ["#,
            r#"  {"type": "indicator", "id": "indicator--a", "pattern": "[ipv4-addr:value = '198.51.100.8']", "modified": "2026-03-01T00:00:00Z"},"#,
            r#"  {"type": "indicator", "id": "indicator--b", "pattern": "[ipv4-addr:value = '198.51.100.9'", "modified": "2026-03-01T00:00:00Z"},"#,
            r#"  {"type": "indicator", "id": "indicator--c", "pattern": "[ipv4-addr:value = '198.51.100.10']", "modified": "yesterday"},"#,
            r#"  {"type": "indicator", "id": "indicator--d", "pattern": "[ipv4-addr:value = '999.1.1.1']", "modified": "2026-03-01T00:00:00Z"},"#,
            r#"  {"type": "indicator", "id": 7}"#,
            "]}",
        ],
    );
    let sessions = sessions_to(
        dir.path(),
        "2026-03-01T10:00:00Z",
        &["198.51.100.7", "198.51.100.8", "203.0.113.9"],
    );
    let (alerts, stderr) = ti(
        "2026-03-01T11:00:00Z",
        &sessions,
        &[&list, &bundle],
        &["--list-published", "2026-03-01T00:00:00Z"],
    );
    assert_eq!(alerts.len(), 3, "{stderr}");
    for expected in [
        "bad.txt:3: not an IP address or network: \"not-an-ip\"",
        "bad.txt:4: not an IP address or network: \"10.0.0.0/33\"",
        "bad.txt:5: \"extra\" after the address \"192.0.2.1\"",
        "bad.json:3: indicator--b: pattern: ",
        "bad.json:4: indicator--c: modified/created: not a time",
        "bad.json:5: indicator--d: pattern: not an IP address or network: \"999.1.1.1\"",
        "bad.json:6: unreadable STIX object",
    ] {
        assert!(stderr.contains(expected), "{expected} not in:\n{stderr}");
    }
    assert!(summary(&stderr, "bad.txt").ends_with("5 entries, 2 indicators, 3 rejected, 0 skipped"));
    assert!(summary(&stderr, "bad.json")
        .ends_with("5 indicator objects, 1 indicators, 4 rejected, 0 skipped"));
}

#[test]
fn a_file_that_is_no_bundle_or_broken_json_fails_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let sessions = sessions_to(dir.path(), "2026-03-01T10:00:00Z", &["198.51.100.7"]);
    let rule = component("ti-map-ip");
    for (name, text, reason) in [
        (
            "report.json",
            "{\n \"type\": \"report\",\n \"objects\": []\n}",
            "not a STIX bundle",
        ),
        (
            "cut.json",
            "{\n \"type\": \"bundle\",\n \"objects\": [\n",
            "cut.json:4: not a readable STIX bundle",
        ),
    ] {
        let file = write(dir.path(), name, &[text]);
        let output = asim_rules(&[
            "run",
            "--rule",
            rule.to_str().unwrap(),
            "--at",
            "2026-03-01T11:00:00Z",
            "--sessions",
            sessions.to_str().unwrap(),
            "--indicators",
            &file,
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(reason), "{reason} not in {stderr}");
    }
}

/// A C2 list in the shape of abuse.ch's Feodo `ipblocklist.csv`: a `#`
/// comment block, a quoted header, rows, and a closing `# END n entries`.
fn feodo_shaped(dir: &Path) -> String {
    write(
        dir,
        "feodo_ipblocklist.csv",
        &[
            "################################################################",
            "# A C2 IP blocklist (CSV)                                      #",
            "################################################################",
            "#",
            r#""first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware""#,
            r#""2024-02-08 19:20:49","198.51.100.155","5000","offline","2024-03-11","Pikabot""#,
            r#""2024-04-04 07:03:03","172.233.221.61","5938","offline","2024-04-04","Pikabot""#,
            "# END 2 entries",
        ],
    )
}

/// Runs the TI rule on the Microsoft IoC sheet and `c2_list` at a time both
/// cover; returns the alerts and the C2 list's summary line.
fn ioc_sheet_and_c2_list(dir: &Path, c2_list: &str) -> (Vec<Value>, String) {
    // Row 2 of IP_IOC_V1.csv: `9/16/2020,103.99.209.78,IP,1/21/21 13:34,…,Barium,…`.
    // The last row of the C2 list: 172.233.221.61, malware Pikabot.
    let sessions = sessions_to(
        dir,
        "2020-09-17T08:00:00Z",
        &["103.99.209.78", "172.233.221.61"],
    );
    let ioc_sheet = data("ti/azure-sentinel_IP_IOC_V1.csv");
    let (alerts, stderr) = ti(
        "2020-09-17T09:00:00Z",
        &sessions,
        &[&ioc_sheet, c2_list],
        &[
            "--list-published",
            "2020-09-17T00:00:00Z",
            "--list-threat-type",
            "Botnet",
        ],
    );
    // 423 data rows, all of Type IP (`csv.DictReader` agrees).
    assert!(summary(&stderr, "IP_IOC_V1.csv")
        .ends_with("CSV feed: 423 rows, 423 indicators, 0 rejected, 0 skipped"));
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    let sheet = &alerts[0];
    assert_eq!(
        detail(sheet, "IndicatorId"),
        "azure-sentinel_IP_IOC_V1.csv:103.99.209.78"
    );
    assert_eq!(detail(sheet, "ActivityGroupNames"), "Barium");
    assert_eq!(detail(sheet, "IoCExpirationTime"), "2021-01-21T13:34:00Z");
    let name = Path::new(c2_list).file_name().unwrap().to_str().unwrap();
    let c2 = &alerts[1];
    assert_eq!(*detail(c2, "IoCDescription"), format!("{name}: Pikabot"));
    assert_eq!(detail(c2, "ThreatType"), "Botnet");
    (alerts, summary(&stderr, name).to_owned())
}

#[test]
fn csv_feeds_take_their_own_dates_and_groups_when_they_have_them() {
    let dir = tempfile::tempdir().unwrap();
    let c2_list = feodo_shaped(dir.path());
    let (_, c2_summary) = ioc_sheet_and_c2_list(dir.path(), &c2_list);
    assert!(
        c2_summary.ends_with("CSV feed: 2 rows, 2 indicators, 0 rejected, 0 skipped"),
        "{c2_summary}"
    );
}

#[test]
#[ignore = "reads ../shared/data: make test-real"]
fn the_real_feodo_list_reads_whole() {
    let dir = tempfile::tempdir().unwrap();
    let feodo = shared("ti/abusech_feodo_ipblocklist.csv");
    // The file says `# END 28 entries` after its 28 rows.
    let (_, c2_summary) = ioc_sheet_and_c2_list(dir.path(), &feodo);
    assert!(
        c2_summary.ends_with("CSV feed: 28 rows, 28 indicators, 0 rejected, 0 skipped"),
        "{c2_summary}"
    );
}
