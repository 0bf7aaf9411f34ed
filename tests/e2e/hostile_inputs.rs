//! Input files an attacker can shape (logs of their own connections, feeds
//! from others): whatever a line holds, it is named `file:line` and skipped,
//! and every other row of the file still counts.

use std::{fs, io::Write, path::Path};

use flate2::{write::GzEncoder, Compression};
use serde_json::{json, Value};

use crate::support::{asim_rules, component, json_lines};

/// The session time, the evaluation time and the listed address.
const TIME: &str = "2026-03-01T10:00:00Z";
const AT: &str = "2026-03-01T11:00:00Z";
const LISTED: &str = "198.51.100.7";

/// One session line to [`LISTED`] from `10.0.N.N`.
fn session(n: usize) -> String {
    json!({"TimeGenerated": TIME, "SrcIpAddr": format!("10.0.{}.{}", n / 256 % 256, n % 256),
        "DstIpAddr": LISTED, "Dvc": "fw01"})
    .to_string()
}

/// Runs the TI rule over `sessions` with `indicators` (published at the
/// start of the day) and `extra` arguments; returns the sources alerted on
/// and stderr. The run must succeed.
fn sources_alerted(sessions: &Path, indicators: &Path, extra: &[&str]) -> (Vec<String>, String) {
    let rule = component("ti-map-ip");
    let mut args = vec!["run", "--rule", rule.to_str().unwrap(), "--at", AT];
    args.extend(["--sessions", sessions.to_str().unwrap()]);
    args.extend(["--indicators", indicators.to_str().unwrap()]);
    args.extend(["--list-published", "2026-03-01T00:00:00Z"]);
    args.extend(extra);
    let output = asim_rules(&args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "asim-rules {args:?}: {stderr}");
    let alerts = json_lines(&String::from_utf8(output.stdout).unwrap());
    let mut sources: Vec<String> = alerts
        .iter()
        .map(|alert: &Value| {
            alert["CustomDetails"]["SrcIpAddr"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    sources.sort();
    (sources, stderr)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn list(dir: &Path, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join("list.txt");
    fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn a_line_longer_than_the_limit_is_refused_without_being_held_and_the_rest_is_read() {
    let dir = tempfile::tempdir().unwrap();
    // 3 MiB without a line end between two sessions, gzipped to a few KiB,
    // and the same in an IP list.
    let endless = format!("{{\"Dvc\":\"{}", "x".repeat(3 << 20));
    let text = format!("{}\n{endless}\n{}\n", session(1), session(2));
    let sessions = dir.path().join("sessions.jsonl.gz");
    fs::write(&sessions, gzip(text.as_bytes())).unwrap();
    let ips = list(
        dir.path(),
        format!("{}\n{LISTED}\n", "1".repeat(3 << 20)).as_bytes(),
    );
    for threads in ["1", "2"] {
        let extra = ["--max-line-mib", "1", "--threads", threads];
        let (sources, stderr) = sources_alerted(&sessions, &ips, &extra);
        assert_eq!(sources, ["10.0.0.1", "10.0.0.2"], "{stderr}");
        for (file, length) in [
            ("sessions.jsonl.gz:2", endless.len()),
            ("list.txt:1", 3 << 20),
        ] {
            let refused = format!(
                "{file}: a line of {length} bytes, longer than the limit of 1048576 (--max-line-mib)"
            );
            assert!(stderr.contains(&refused), "{refused}: {stderr}");
        }
    }
    // A CSV record may span lines, so after one too long nothing more of
    // the file can be told apart: the rows before it are kept.
    let csv = dir.path().join("sessions.csv");
    let row = |n: usize| format!("{TIME},10.0.0.{n},{LISTED}\n");
    let text = format!(
        "TimeGenerated,SrcIpAddr,DstIpAddr\n{}{}\n{}",
        row(1),
        "x".repeat(3 << 20),
        row(2)
    );
    fs::write(&csv, text).unwrap();
    let (sources, stderr) = sources_alerted(&csv, &ips, &["--max-line-mib", "1"]);
    assert_eq!(sources, ["10.0.0.1"], "{stderr}");
    let stopped = "sessions.csv:3: reading stopped: a line longer than the limit of 1048576 bytes";
    assert!(stderr.contains(stopped), "{stderr}");
    // The default limit (16 MiB) holds a line of 3 MiB: the row is read.
    let (sources, stderr) = sources_alerted(&sessions, &list(dir.path(), LISTED.as_bytes()), &[]);
    assert_eq!(sources, ["10.0.0.1", "10.0.0.2"]);
    assert!(!stderr.contains("longer than"), "{stderr}");
}

#[test]
fn a_line_that_is_not_utf8_is_refused_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = format!("{}\n", session(1)).into_bytes();
    text.extend_from_slice(b"{\"TimeGenerated\":\"2026-03-01T10:00:00Z\",\"Dvc\":\"caf\xe9\"}\n");
    text.extend_from_slice(format!("{}\n", session(2)).as_bytes());
    let sessions = dir.path().join("sessions.jsonl");
    fs::write(&sessions, &text).unwrap();
    // A Latin-1 comment in an IP list.
    let ips = list(
        dir.path(),
        &[b"# caf\xe9 list\n", LISTED.as_bytes()].concat(),
    );
    for threads in ["1", "2"] {
        let (sources, stderr) = sources_alerted(&sessions, &ips, &["--threads", threads]);
        assert_eq!(sources, ["10.0.0.1", "10.0.0.2"], "{stderr}");
        assert!(
            stderr.contains("sessions.jsonl:2: not UTF-8 text (a bad byte at column 51)"),
            "{stderr}"
        );
        assert!(
            stderr.contains("list.txt:1: not UTF-8 text (a bad byte at column 6)"),
            "{stderr}"
        );
    }
}

#[test]
fn a_truncated_gzip_keeps_the_rows_read_before_it() {
    let dir = tempfile::tempdir().unwrap();
    // Enough sessions that the first half of the compressed file holds many.
    let text: String = (0..100_000).map(|n| session(n) + "\n").collect();
    let whole = gzip(text.as_bytes());
    let sessions = dir.path().join("sessions.jsonl.gz");
    fs::write(&sessions, &whole[..whole.len() / 2]).unwrap();
    let ips = list(dir.path(), LISTED.as_bytes());
    let mut alerted = Vec::new();
    for threads in ["1", "2"] {
        let (sources, stderr) = sources_alerted(&sessions, &ips, &["--threads", threads]);
        let stopped = stderr
            .lines()
            .find(|line| line.contains("reading stopped"))
            .unwrap_or_else(|| panic!("no read error reported: {stderr}"));
        // The line named is the first one not read.
        let line: usize = stopped
            .strip_prefix(&format!("warning: {}:", sessions.display()))
            .and_then(|rest| rest.split(':').next())
            .and_then(|number| number.parse().ok())
            .unwrap_or_else(|| panic!("{stopped}"));
        assert!(
            stopped.contains("the rest of the file is lost"),
            "{stopped}"
        );
        // Rows 1..line-1 were read: one alert per distinct source among them.
        let expected: std::collections::BTreeSet<String> = (0..line - 1)
            .map(|n| format!("10.0.{}.{}", n / 256 % 256, n % 256))
            .collect();
        assert!(line > 10_000, "{stopped}");
        let got: std::collections::BTreeSet<String> = sources.iter().cloned().collect();
        assert_eq!(got, expected);
        alerted.push(sources);
    }
    assert_eq!(alerted[0], alerted[1]);
}

#[test]
fn a_pattern_nested_beyond_reason_refuses_its_indicator_only() {
    let dir = tempfile::tempdir().unwrap();
    let deep = format!(
        "{}[ipv4-addr:value = '203.0.113.1']{}",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    let indicator = |id: &str, pattern: &str| {
        json!({"type": "indicator", "id": id, "pattern": pattern,
            "pattern_type": "stix", "modified": "2026-03-01T00:00:00Z"})
    };
    let bundle = json!({"type": "bundle", "id": "bundle--deep", "objects": [
        indicator("indicator--deep", &deep),
        indicator("indicator--plain", &format!("[ipv4-addr:value = '{LISTED}']")),
    ]});
    let bundle_path = dir.path().join("deep.json");
    fs::write(&bundle_path, bundle.to_string()).unwrap();
    let sessions = dir.path().join("sessions.jsonl");
    fs::write(&sessions, session(1) + "\n").unwrap();
    let (sources, stderr) = sources_alerted(&sessions, &bundle_path, &[]);
    assert_eq!(sources, ["10.0.0.1"], "{stderr}");
    assert!(
        stderr.contains("indicator--deep: pattern: nested more than 64 levels deep"),
        "{stderr}"
    );
}

#[test]
fn times_and_durations_out_of_range_are_bad_values_not_overflows() {
    let dir = tempfile::tempdir().unwrap();
    let zeek_fields = "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tduration";
    let zeek =
        |ts: &str, duration: &str| format!("{ts}\tC1\t192.0.2.1\t1\t192.0.2.2\t2\ttcp\t{duration}");
    let tsv = dir.path().join("conn.log");
    fs::write(
        &tsv,
        format!(
            "#separator \\x09\n#fields\t{zeek_fields}\n{}\n{}\n{}\n",
            zeek("9223372036854.775", "1e300"),
            zeek("1700000000.5", "1e300"),
            zeek("99999999999999", "1"),
        ),
    )
    .unwrap();
    let json_record = |ts: &str, duration: &str| {
        format!(
            r#"{{"ts":{ts},"uid":"C1","id.orig_h":"192.0.2.1","id.orig_p":1,"id.resp_h":"192.0.2.2","id.resp_p":2,"proto":"tcp","duration":{duration}}}"#
        )
    };
    let json_log = dir.path().join("conn.json");
    fs::write(
        &json_log,
        [
            json_record("9223372036854.775", "1e300"),
            json_record("1700000000.5", "1e300"),
        ]
        .join("\n"),
    )
    .unwrap();
    let vpc = dir.path().join("vpc.log");
    fs::write(
        &vpc,
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n\
         2 1 eni-1 192.0.2.1 192.0.2.2 1 2 6 1 1 99999999999999 99999999999999 ACCEPT OK\n\
         2 1 eni-1 192.0.2.1 192.0.2.2 1 2 6 1 1 1700000000 99999999999999 ACCEPT OK\n",
    )
    .unwrap();
    for file in [&tsv, &json_log, &vpc] {
        let output = asim_rules(&["normalize", file.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{}: {stderr}", file.display());
        let rows = json_lines(&String::from_utf8(output.stdout).unwrap());
        // The row whose own time is out of range is refused, named; the other
        // keeps its time, and its duration or end is a counted bad value.
        assert_eq!(rows.len(), 1, "{}: {stderr}", file.display());
        let refused = format!("{}:", file.display());
        assert!(
            stderr.contains(&refused) && stderr.contains("out of range"),
            "{stderr}"
        );
        let bad_value = ["NetworkDuration 1", "EventEndTime 1"];
        assert!(
            bad_value.iter().any(|count| stderr.contains(count)),
            "{stderr}"
        );
        let row = &rows[0];
        for column in ["EventStartTime", "EventEndTime", "TimeGenerated"] {
            // An end that is a bad value is left empty.
            let time = row[column].as_str().unwrap_or_default();
            let empty_end = column == "EventEndTime" && row[column].is_null();
            assert!(
                time.starts_with("2023-11-14T22:13:20") || empty_end,
                "{column}: {row}"
            );
        }
        assert!(
            row.get("NetworkDuration").is_none_or(Value::is_null),
            "{row}"
        );
    }
}

/// The last line of stderr of `asim-rules serve --until-idle --config` on
/// `text`, which must fail.
fn serve_config_error(dir: &Path, text: &str) -> String {
    let config = dir.join("serve.toml");
    fs::write(&config, text).unwrap();
    let stderr = crate::support::serve_failing(&config);
    stderr.lines().last().unwrap().to_owned()
}

#[test]
fn messages_quote_control_bytes_and_cut_what_an_input_makes_long() {
    let dir = tempfile::tempdir().unwrap();
    let rule = component("ti-map-ip");
    let tenant = |name: &str, budgets: &str| {
        format!(
            "state = \"state\"\n[[tenant]]\nname = \"{name}\"\nspool = \"spool\"\nalerts = \"a.jsonl\"\n{budgets}\
             [[tenant.rule]]\ncomponent = {:?}\n",
            rule.to_str().unwrap()
        )
    };
    // A NUL and an escape sequence in a tenant's name.
    let error = serve_config_error(dir.path(), &tenant("a\\u0000b\\u001b[2J", ""));
    assert!(!error.contains(['\0', '\x1b']), "{error:?}");
    assert!(
        error.contains(r#"tenant name "a\0b\u{1b}[2J" cannot name a directory"#),
        "{error}"
    );
    // A budget that does not fit in bytes names the config and the tenant.
    let budgets = "budgets = { memory_mib = 9223372036854775807 }\n";
    let error = serve_config_error(dir.path(), &tenant("t", budgets));
    assert!(
        error.contains(
            "serve.toml: tenant t: budgets: memory_mib = 9223372036854775807 is more bytes"
        ),
        "{error}"
    );
    // TOML nested beyond reason, on one long line: the error is cut.
    let nested = format!("x = {}1{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let error = serve_config_error(dir.path(), &nested);
    assert!(error.contains("not a serve config"), "{error}");
    assert!(
        error.len() < 2 * asim_rules::limits::MESSAGE_CHARS,
        "{} bytes",
        error.len()
    );
    // A 4 MiB value in a row: its warning is cut, the row still named.
    let sessions = dir.path().join("sessions.jsonl");
    let huge = "1".repeat(4 << 20);
    fs::write(
        &sessions,
        format!("{{\"TimeGenerated\":\"{huge}\"}}\n{}\n", session(1)),
    )
    .unwrap();
    let ips = list(dir.path(), format!("{huge}\n{LISTED}\n").as_bytes());
    let (sources, stderr) = sources_alerted(&sessions, &ips, &[]);
    assert_eq!(sources, ["10.0.0.1"]);
    assert!(
        stderr.len() < 8 * asim_rules::limits::MESSAGE_CHARS,
        "{} bytes",
        stderr.len()
    );
    for file in [
        "sessions.jsonl:1: TimeGenerated: not a time",
        "list.txt:1: not an IP address",
    ] {
        assert!(stderr.contains(file), "{file}: {stderr}");
    }
    assert!(stderr.contains("bytes in all)"), "{stderr}");
}

#[test]
fn a_file_recognised_as_no_indicator_source_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let sessions = dir.path().join("sessions.jsonl");
    fs::write(&sessions, session(1) + "\n").unwrap();
    let bundle = json!({"type": "bundle", "id": "bundle--x", "objects": [
        {"type": "indicator", "id": "indicator--a", "pattern": format!("[ipv4-addr:value = '{LISTED}']"),
         "pattern_type": "stix", "modified": "2026-03-01T00:00:00Z"}]});
    let wrapped = dir.path().join("wrapped.json");
    fs::write(&wrapped, json!([bundle]).to_string()).unwrap();
    let words = dir.path().join("words.txt");
    fs::write(&words, "these are\nnot addresses\n").unwrap();
    let rule = component("ti-map-ip");
    for (file, reason) in [
        (&wrapped, "wrapped.json: a JSON array, which is no indicator source"),
        (&words, "words.txt: recognised as no indicator source: read as an IP list, none of its 2 entries"),
    ] {
        let output = asim_rules(&[
            "run", "--rule", rule.to_str().unwrap(), "--at", AT,
            "--sessions", sessions.to_str().unwrap(), "--indicators", file.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(reason), "{stderr}");
    }
}

#[test]
fn a_stix_object_longer_than_the_limit_is_not_held() {
    let dir = tempfile::tempdir().unwrap();
    let sessions = dir.path().join("sessions.jsonl");
    fs::write(&sessions, session(1) + "\n").unwrap();
    let indicator = |padding: &str| {
        json!({"type": "indicator", "id": "indicator--a", "pattern": format!("[ipv4-addr:value = '{LISTED}']"),
            "pattern_type": "stix", "modified": "2026-03-01T00:00:00Z", "x_padding": padding})
    };
    let bundle = |padding: &str| {
        json!({"type": "bundle", "id": "bundle--x", "objects": [indicator(padding)]}).to_string()
    };
    let path = dir.path().join("bundle.json.gz");
    fs::write(&path, gzip(bundle(&"d".repeat(3 << 20)).as_bytes())).unwrap();
    let rule = component("ti-map-ip");
    let run = |limit: &str| {
        asim_rules(&[
            "run",
            "--rule",
            rule.to_str().unwrap(),
            "--at",
            AT,
            "--max-line-mib",
            limit,
            "--sessions",
            sessions.to_str().unwrap(),
            "--indicators",
            path.to_str().unwrap(),
        ])
    };
    let output = run("1");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("bundle.json.gz:1: not a readable STIX bundle: a STIX object longer than the limit of 1048576 bytes"),
        "{stderr}"
    );
    // Within the limit, the same bundle is read.
    let output = run("4");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        json_lines(&String::from_utf8(output.stdout).unwrap()).len(),
        1
    );
}
