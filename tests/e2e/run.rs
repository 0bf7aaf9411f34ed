//! `asim-rules run` on generated and hand-made files.

use std::{fs, io::Write, process::Stdio};

use crate::support::{asim_rules, component, generated, json_lines, success, GENERATED_AT};

fn ti_run(sessions: &str, indicators: &str, extra: &[&str]) -> Vec<String> {
    let rule = component("ti-map-ip");
    let mut args = vec![
        "run",
        "--rule",
        rule.to_str().unwrap(),
        "--at",
        GENERATED_AT,
    ];
    args.extend(["--sessions", sessions, "--indicators", indicators]);
    args.extend(extra);
    success(&args).lines().map(str::to_owned).collect()
}

fn generated_file(name: &str) -> String {
    generated().join(name).to_str().unwrap().to_owned()
}

/// `run` at the generated data's end with `threads` threads, `rules`, and
/// `sessions` (and `indicators`, if any).
fn run_on_threads(
    threads: &str,
    rules: &[&std::path::Path],
    sessions: &std::path::Path,
    indicators: Option<&str>,
) -> std::process::Output {
    let mut args = vec!["run", "--at", GENERATED_AT, "--threads", threads];
    for rule in rules {
        args.extend(["--rule", rule.to_str().unwrap()]);
    }
    args.extend(["--sessions", sessions.to_str().unwrap()]);
    if let Some(indicators) = indicators {
        args.extend(["--indicators", indicators]);
    }
    asim_rules(&args)
}

/// Both Sentinel rules `run` on `sessions` and the generated indicators
/// with `threads` threads, successful: the alerts, and the stderr lines
/// but the timings of the last.
fn both_rules_on(threads: &str, sessions: &std::path::Path) -> (String, Vec<String>) {
    let rules = [component("ti-map-ip"), component("network-session-anomaly")];
    let rules = rules.each_ref().map(|rule| rule.as_path());
    let indicators = generated_file("indicators.jsonl");
    let output = run_on_threads(threads, &rules, sessions, Some(&indicators));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    let stderr: Vec<String> = stderr
        .lines()
        .map(|line| line.split("; load").next().unwrap_or_default().to_owned())
        .collect();
    (String::from_utf8(output.stdout).unwrap(), stderr)
}

#[test]
fn json_lines_and_csv_of_the_same_data_give_identical_alerts() {
    let from_json = ti_run(
        &generated_file("sessions.jsonl"),
        &generated_file("indicators.jsonl"),
        &[],
    );
    let from_csv = ti_run(
        &generated_file("sessions.csv"),
        &generated_file("indicators.csv"),
        &[],
    );
    assert!(!from_json.is_empty());
    assert_eq!(from_json, from_csv);
}

#[test]
fn every_planted_incident_alerts_and_the_silent_ones_do_not() {
    let alerts = json_lines(
        &ti_run(
            &generated_file("sessions.jsonl"),
            &generated_file("indicators.jsonl"),
            &[],
        )
        .join("\n"),
    );
    let planted = json_lines(&fs::read_to_string(generated().join("planted.jsonl")).unwrap());
    let planted: Vec<_> = planted
        .into_iter()
        .filter(|p| p["Rule"] == "ti-map-ip")
        .collect();
    assert!(planted.len() >= 8);
    for incident in planted {
        let address = incident["Address"].as_str().unwrap();
        let matching: Vec<_> = alerts
            .iter()
            .filter(|alert| alert["CustomDetails"]["IoCIP"] == address)
            .collect();
        if incident["ExpectAlert"] == true {
            assert!(!matching.is_empty(), "no alert for {incident}");
            for alert in matching {
                assert_eq!(
                    alert["CustomDetails"]["IndicatorId"], incident["IndicatorId"],
                    "{incident}"
                );
            }
        } else {
            assert!(
                matching.is_empty(),
                "unexpected alert for {incident}: {matching:?}"
            );
        }
    }
}

#[test]
fn alert_records_carry_every_documented_field_in_order() {
    let lines = ti_run(
        &generated_file("sessions.jsonl"),
        &generated_file("indicators.jsonl"),
        &["--tenant", "acme"],
    );
    let first = &lines[0];
    let keys = [
        "RuleId",
        "RuleName",
        "RuleVersion",
        "AlertName",
        "Description",
        "Severity",
        "Tactics",
        "Techniques",
        "StartTime",
        "EndTime",
        "EvaluatedAt",
        "Entities",
        "CustomDetails",
        "Tenant",
    ];
    let positions: Vec<usize> = keys
        .iter()
        .map(|key| {
            first
                .find(&format!("\"{key}\":"))
                .unwrap_or_else(|| panic!("{key} missing"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|pair| pair[0] < pair[1]),
        "{first}"
    );
    let alert = &json_lines(first)[0];
    assert_eq!(alert["Tenant"], "acme");
    assert_eq!(alert["EvaluatedAt"], GENERATED_AT);
    assert_eq!(alert["Entities"][0]["Type"], "ip");
    assert_eq!(
        alert["Entities"][0]["Address"],
        alert["CustomDetails"]["IoCIP"]
    );
    assert!(alert["CustomDetails"]["IoCConfidenceScore"].is_number());
    assert!(alert["StartTime"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn the_table_format_is_for_people() {
    let lines = ti_run(
        &generated_file("sessions.jsonl"),
        &generated_file("indicators.jsonl"),
        &["--format", "table"],
    );
    assert!(
        lines[0].contains("Medium") && lines[0].contains("matched an IoC."),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with("    "), "{}", lines[1]);
}

#[test]
fn bad_rows_are_named_and_skipped_and_bad_cells_counted_and_passed_on() {
    let dir = tempfile::tempdir().unwrap();
    let at = "2026-03-12T00:00:00Z";
    let good = |src: &str| {
        format!(
            r#"{{"TimeGenerated":"2026-03-11T23:30:00Z","SrcIpAddr":"{src}","DstIpAddr":"198.51.100.7","Dvc":"fw","EventProduct":"P","EventVendor":"V"}}"#
        )
    };
    let sessions = dir.path().join("bad.jsonl");
    let lines = [
        good("10.0.0.1"),
        "{not json".to_owned(),
        r#"{"TimeGenerated":"yesterday","SrcIpAddr":"10.0.0.2"}"#.to_owned(),
        r#"{"SrcIpAddr":"10.0.0.3"}"#.to_owned(),
        good("10.0.0.300"),
        "[1,2,3]".to_owned(),
        good("10.0.0.4"),
    ];
    fs::write(&sessions, lines.join("\n")).unwrap();
    let indicators = dir.path().join("ti.csv");
    let rows = [
        "TimeGenerated,IndicatorId,ExpirationDateTime,Active,NetworkIP,ConfidenceScore",
        "2026-03-10T00:00:00Z,ind-1,2026-04-01T00:00:00Z,true,198.51.100.7,80",
        "2026-03-10T00:00:00Z,ind-2,2026-04-01T00:00:00Z,maybe,198.51.100.8,80",
        "2026-03-10T00:00:00Z,ind-3",
    ];
    let rule = component("ti-map-ip");
    // A Windows export's `\r\n` ends name the same lines.
    for ends in ["\n", "\r\n"] {
        fs::write(&indicators, rows.join(ends) + ends).unwrap();
        let output = asim_rules(&[
            "run",
            "--rule",
            rule.to_str().unwrap(),
            "--at",
            at,
            "--sessions",
            sessions.to_str().unwrap(),
            "--indicators",
            indicators.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        for expected in [
            "bad.jsonl:2: bad JSON",
            "bad.jsonl:3: TimeGenerated: not a time",
            "bad.jsonl:4: TimeGenerated: missing",
            "bad.jsonl:6: bad JSON",
            "ti.csv:4: bad CSV record: CSV error: record 3 (line: 4,",
            // A cell that does not parse is no reason to drop its row.
            "bad.jsonl: cells that do not parse, passed to the rules as unparsable: SrcIpAddr 1 (first at line 5)",
            "ti.csv: cells that do not parse, passed to the rules as unparsable: Active 1 (first at line 3)",
            "3 indicator rows (1 rejected",
            "7 session rows (4 rejected",
        ] {
            assert!(stderr.contains(expected), "{expected:?} not in:\n{stderr}");
        }
        let alerts = json_lines(&String::from_utf8_lossy(&output.stdout));
        let sources: Vec<_> = alerts
            .iter()
            .map(|a| a["CustomDetails"]["SrcIpAddr"].clone())
            .collect();
        // The session from "10.0.0.300" went to the listed 198.51.100.7, as the
        // others did: Sentinel would alert on it too.
        assert_eq!(sources, ["10.0.0.1", "10.0.0.300", "10.0.0.4"]);
    }
}

#[test]
fn gzip_and_standard_input_read_like_plain_files() {
    let plain = ti_run(
        &generated_file("sessions.jsonl"),
        &generated_file("indicators.jsonl"),
        &[],
    );
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("sessions.jsonl.gz");
    let mut encoder =
        flate2::write::GzEncoder::new(fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    encoder
        .write_all(&fs::read(generated().join("sessions.jsonl")).unwrap())
        .unwrap();
    encoder.finish().unwrap();
    assert_eq!(
        ti_run(
            gz.to_str().unwrap(),
            &generated_file("indicators.jsonl"),
            &[]
        ),
        plain
    );

    let rule = component("ti-map-ip");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_asim-rules"))
        .args([
            "run",
            "--rule",
            rule.to_str().unwrap(),
            "--at",
            GENERATED_AT,
            "--sessions",
            "-",
        ])
        .args(["--indicators", &generated_file("indicators.jsonl")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let sessions = fs::read(generated().join("sessions.jsonl")).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&sessions));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    let from_stdin: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(from_stdin, plain);
}

#[test]
fn alerts_can_go_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("alerts.jsonl");
    let printed = ti_run(
        &generated_file("sessions.jsonl"),
        &generated_file("indicators.jsonl"),
        &["--out", out.to_str().unwrap()],
    );
    assert!(printed.is_empty());
    let written = fs::read_to_string(&out).unwrap();
    assert_eq!(
        written.lines().collect::<Vec<_>>(),
        ti_run(
            &generated_file("sessions.jsonl"),
            &generated_file("indicators.jsonl"),
            &[]
        )
    );
}

#[test]
fn usage_errors_exit_2_and_failures_exit_1_with_one_line() {
    let rule = component("ti-map-ip");
    let rule = rule.to_str().unwrap();
    let usage = [
        vec!["run", "--rule", rule],
        vec!["run", "--rule", rule, "--at", "yesterday"],
        vec!["run", "--at", GENERATED_AT],
        vec!["frobnicate"],
    ];
    for args in usage {
        assert_eq!(asim_rules(&args).status.code(), Some(2), "{args:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let not_wasm = dir.path().join("rule.wasm");
    fs::write(&not_wasm, "not a component").unwrap();
    let failures = [
        vec!["run", "--rule", "missing.wasm", "--at", GENERATED_AT],
        vec![
            "run",
            "--rule",
            not_wasm.to_str().unwrap(),
            "--at",
            GENERATED_AT,
        ],
        vec![
            "run",
            "--rule",
            rule,
            "--at",
            GENERATED_AT,
            "--sessions",
            "absent.jsonl",
        ],
        vec![
            "run",
            "--rule",
            rule,
            "--at",
            GENERATED_AT,
            "--sessions",
            "data.parquet",
        ],
        vec![
            "run",
            "--rule",
            rule,
            "--at",
            GENERATED_AT,
            "--param",
            "ti-map-ip.threshold=3",
        ],
        vec![
            "run",
            "--rule",
            rule,
            "--at",
            GENERATED_AT,
            "--param",
            "other-rule.x=1",
        ],
    ];
    for args in failures {
        let output = asim_rules(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(last.starts_with("error: "), "{args:?}: {stderr}");
    }
}

#[test]
fn a_component_that_imports_what_the_host_does_not_give_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    // `run`'s stderr for the component `text`, which it must refuse.
    let refused = |name: &str, text: &str| {
        let path = dir.path().join(name);
        fs::write(&path, wat::parse_str(text).unwrap()).unwrap();
        let args = [
            "run",
            "--rule",
            path.to_str().unwrap(),
            "--at",
            GENERATED_AT,
        ];
        let output = asim_rules(&args);
        assert_eq!(output.status.code(), Some(1));
        (path, String::from_utf8_lossy(&output.stderr).into_owned())
    };
    // WASI 0.2 is given (without capabilities); anything else is not.
    let (path, stderr) = refused(
        "wants-http.wasm",
        r#"(component
            (import "wasi:cli/environment@0.2.0" (instance
                (export "get-arguments" (func (result (list string))))))
            (import "wasi:http/outgoing-handler@0.2.0" (instance
                (export "handle" (func (result u32)))))
        )"#,
    );
    assert!(
        stderr.contains(
            "imports wasi:http/outgoing-handler@0.2.0, which asim-rules does not provide"
        ),
        "{stderr}"
    );
    let inspected = success(&["inspect", path.to_str().unwrap()]);
    assert!(
        inspected
            .contains("not read: asim-rules does not provide wasi:http/outgoing-handler@0.2.0\n"),
        "{inspected}"
    );
    // An allowed interface, but not as WASI defines it.
    let (_, stderr) = refused(
        "odd-wasi.wasm",
        r#"(component (import "wasi:cli/environment@0.2.0" (instance
            (export "get-arguments" (func (result u32))))))"#,
    );
    assert!(
        stderr.contains(
            "odd-wasi.wasm: its imports are not those of WASI 0.2 as asim-rules gives it"
        ),
        "{stderr}"
    );
}

#[test]
fn a_component_without_the_contract_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.wasm");
    fs::write(&path, wat::parse_str("(component)").unwrap()).unwrap();
    let output = asim_rules(&[
        "run",
        "--rule",
        path.to_str().unwrap(),
        "--at",
        GENERATED_AT,
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("does not implement asim:rules/rule@0.1.0"),
        "{stderr}"
    );
}

#[test]
fn a_parameter_that_lengthens_the_lookback_is_fed_the_longer_window() {
    // Fifteen generated days: a 14-day lookback leaves the first day out, a
    // 21-day one (the metadata read after configure) takes every row.
    let outside = |days: &str| {
        let param = format!("network-session-anomaly.lookback-days={days}");
        let anomaly = component("network-session-anomaly");
        let sessions = generated_file("sessions.jsonl");
        let output = asim_rules(&[
            "run",
            "--rule",
            anomaly.to_str().unwrap(),
            "--param",
            &param,
            "--sessions",
            &sessions,
            "--at",
            GENERATED_AT,
        ]);
        assert!(output.status.success());
        let stderr = String::from_utf8(output.stderr).unwrap();
        let (_, after) = stderr.split_once("session rows (").unwrap();
        let count = after.split(", ").nth(1).unwrap().split(' ').next().unwrap();
        count.parse::<u64>().unwrap()
    };
    assert!(outside("14") > 10_000);
    assert_eq!(outside("21"), 0);
}

#[test]
fn any_number_of_threads_reads_a_file_as_one_does() {
    // Generated sessions (tens of MiB: many blocks) with bad lines, bad
    // cells, blank lines, CRLF ends and escaped strings spread through them.
    let dir = tempfile::tempdir().unwrap();
    let text = fs::read_to_string(generated_file("sessions.jsonl")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let count = lines.len();
    for (at, every) in [
        (0, 9_973),
        (1, 19_997),
        (2, 29_989),
        (3, 39_989),
        (4, 49_999),
    ] {
        for line in lines.iter_mut().skip(at).step_by(every) {
            *line = match at {
                0 => "{not json".to_owned(),
                1 => line.replace("\"DstIpAddr\":\"", "\"DstIpAddr\":\"x"),
                2 => String::new(),
                3 => format!("{line}\r"),
                _ => line.replace("\"Dvc\":\"", "\"Dvc\":\"esc\\\"aped "),
            };
        }
    }
    let sessions = dir.path().join("sessions.jsonl");
    fs::write(&sessions, lines.join("\n")).unwrap();
    let run = |threads: &str| both_rules_on(threads, &sessions);
    let one = run("1");
    assert!(
        one.1.iter().any(|line| line.contains(":1: bad JSON")),
        "{:?}",
        one.1
    );
    assert!(
        one.1
            .iter()
            .any(|line| line.contains("passed to the rules as unparsable: DstIpAddr")),
        "{:?}",
        one.1
    );
    assert!(count > 200_000 && !one.0.is_empty());
    for threads in ["2", "3"] {
        assert_eq!(run(threads), one, "--threads {threads}");
    }
}

#[test]
fn any_number_of_threads_reads_a_csv_file_as_one_does() {
    // The generated sessions as CSV, with records too narrow, not UTF-8,
    // blank lines and CRLF ends spread through them, and a quoted record
    // late in the file (the record reader reads the rest from its block).
    let dir = tempfile::tempdir().unwrap();
    let bytes = fs::read(generated_file("sessions.csv")).unwrap();
    let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    let count = lines.len();
    for (at, every) in [(1, 9_973), (2, 19_997), (3, 29_989), (4, 39_989)] {
        for line in lines.iter_mut().skip(at).step_by(every) {
            match at {
                1 => *line = b"too,few".to_vec(),
                2 => line.insert(line.len() / 2, 0xff),
                3 => line.clear(),
                _ => line.push(b'\r'),
            }
        }
    }
    let late = count * 4 / 5;
    lines[late] = [b"\"", &lines[late][..], b"\""].concat();
    let sessions = dir.path().join("sessions.csv");
    fs::write(&sessions, lines.join(&b'\n')).unwrap();
    let run = |threads: &str| both_rules_on(threads, &sessions);
    let one = run("1");
    let said = |words: &str| one.1.iter().filter(|line| line.contains(words)).count();
    assert!(said("found record with 2 fields") > 10, "{:?}", one.1);
    assert!(said("invalid utf-8") > 5, "{:?}", one.1);
    assert!(count > 200_000 && !one.0.is_empty());
    for threads in ["2", "3"] {
        assert_eq!(run(threads), one, "--threads {threads}");
    }
}

#[test]
fn a_line_that_is_not_utf8_is_refused_alone_at_the_same_line_with_threads() {
    let dir = tempfile::tempdir().unwrap();
    let text = fs::read_to_string(generated_file("sessions.jsonl")).unwrap();
    let (mut clean, mut latin1) = (Vec::new(), Vec::new());
    // The last rows: those in the rule's window at the evaluation time.
    let lines: Vec<&str> = text.lines().collect();
    for (at, line) in lines[lines.len() - 50_000..].iter().enumerate() {
        if at == 30_000 {
            latin1.extend_from_slice(b"{\"Dvc\":\"\xff\"}\n");
        }
        for bytes in [&mut clean, &mut latin1] {
            bytes.extend_from_slice(line.as_bytes());
            bytes.push(b'\n');
        }
    }
    let sessions = dir.path().join("latin1.jsonl");
    fs::write(&sessions, latin1).unwrap();
    let clean_sessions = dir.path().join("clean.jsonl");
    fs::write(&clean_sessions, clean).unwrap();
    let rule = component("ti-map-ip");
    let indicators = generated_file("indicators.jsonl");
    let alerts_of = |sessions: &std::path::Path, threads: &str| {
        let output = run_on_threads(threads, &[&rule], sessions, Some(&indicators));
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(0), "{stderr}");
        (String::from_utf8(output.stdout).unwrap(), stderr)
    };
    let (expected, _) = alerts_of(&clean_sessions, "1");
    assert!(!expected.is_empty());
    for threads in ["1", "2"] {
        let (alerts, stderr) = alerts_of(&sessions, threads);
        assert_eq!(alerts, expected, "--threads {threads}");
        let refused = "latin1.jsonl:30001: not UTF-8 text (a bad byte at column 9); row skipped";
        assert!(stderr.contains(refused), "{stderr}");
    }
}

#[test]
fn gzip_read_on_threads_gives_what_one_thread_gives_and_stops_at_the_same_line() {
    let dir = tempfile::tempdir().unwrap();
    // The last day first: the rows in the rule's window come before any cut.
    let text = fs::read_to_string(generated_file("sessions.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (before, last_day) = lines.split_at(lines.len() - lines.len() / 15);
    let plain: Vec<u8> = last_day
        .iter()
        .chain(before)
        .flat_map(|line| [line.as_bytes(), b"\n"].concat())
        .collect();
    let gzip = |bytes: &[u8]| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    };
    let whole = gzip(&plain);
    let gz = dir.path().join("sessions.jsonl.gz");
    fs::write(&gz, &whole).unwrap();
    // Cut off mid-stream: reading fails part way through the file.
    let cut = dir.path().join("cut.jsonl.gz");
    fs::write(&cut, &whole[..whole.len() * 2 / 3]).unwrap();
    let rule = component("ti-map-ip");
    let indicators = generated_file("indicators.jsonl");
    // Exit code, alerts, warnings and the summary without its timings.
    let run = |file: &std::path::Path, threads: &str| {
        let output = run_on_threads(threads, &[&rule], file, Some(&indicators));
        let stderr = String::from_utf8_lossy(&output.stderr);
        let warnings: Vec<String> = stderr
            .lines()
            .filter(|line| line.starts_with("warning:"))
            .map(str::to_owned)
            .collect();
        let last = stderr.lines().last().unwrap_or_default();
        let last = last.split("; load").next().unwrap_or_default().to_owned();
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap(),
            warnings,
            last,
        )
    };
    let one = run(&gz, "1");
    assert_eq!(one.0, Some(0));
    assert!(!one.1.is_empty());
    assert_eq!(run(&gz, "2"), one);
    // The rows before the cut are used; the cut is named where it happened.
    let cut_one = run(&cut, "1");
    assert_eq!(cut_one.0, Some(0), "{}", cut_one.3);
    assert!(!cut_one.1.is_empty());
    let stopped: Vec<&String> = cut_one
        .2
        .iter()
        .filter(|line| line.contains("reading stopped"))
        .collect();
    assert_eq!(stopped.len(), 1, "{:?}", cut_one.2);
    assert!(stopped[0].contains("cut.jsonl.gz:"), "{}", stopped[0]);
    assert_eq!(run(&cut, "2"), cut_one);
    // Its alerts are those of the lines before the one named.
    let line: usize = stopped[0]
        .split("cut.jsonl.gz:")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|number| number.parse().ok())
        .unwrap();
    let read = dir.path().join("read.jsonl");
    let read_lines: Vec<u8> = plain
        .split_inclusive(|&byte| byte == b'\n')
        .take(line - 1)
        .flatten()
        .copied()
        .collect();
    fs::write(&read, read_lines).unwrap();
    assert_eq!(run(&read, "1").1, cut_one.1);
}

#[test]
fn compiled_components_are_kept_and_used_again_unless_the_cache_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("compiled");
    let rule = component("ti-map-ip");
    let (sessions, indicators) = (
        generated_file("sessions.jsonl"),
        generated_file("indicators.jsonl"),
    );
    // A run whose compile cache setting is `setting`, HOME `home`.
    let run = |setting: &std::ffi::OsStr, home: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_asim-rules"))
            .env("ASIM_RULES_COMPILE_CACHE", setting)
            .env("HOME", home)
            .env_remove("XDG_CACHE_HOME")
            .args([
                "run",
                "--rule",
                rule.to_str().unwrap(),
                "--at",
                GENERATED_AT,
            ])
            .args(["--sessions", &sessions, "--indicators", &indicators])
            .output()
            .unwrap()
    };
    let home = dir.path().join("home");
    let entries = |dir: &std::path::Path| {
        walk(dir)
            .into_iter()
            .filter(|path| path.extension().is_none())
            .collect::<Vec<_>>()
    };
    let compiled = run(cache.as_os_str(), &home);
    assert!(
        compiled.status.success(),
        "{}",
        String::from_utf8_lossy(&compiled.stderr)
    );
    let kept = entries(&cache);
    assert_eq!(kept.len(), 1, "{kept:?}");
    let stamp = fs::metadata(&kept[0]).unwrap().modified().unwrap();
    assert_eq!(run(cache.as_os_str(), &home).stdout, compiled.stdout);
    assert_eq!(entries(&cache), kept);
    assert_eq!(fs::metadata(&kept[0]).unwrap().modified().unwrap(), stamp);
    // `off` keeps nothing anywhere (HOME is where the default would go).
    assert_eq!(run("off".as_ref(), &home).stdout, compiled.stdout);
    assert!(!home.exists());
    // A folder that cannot be made is a warning, and the run goes on.
    let blocked = dir.path().join("a-file");
    fs::write(&blocked, "").unwrap();
    let output = run(blocked.join("cache").as_os_str(), &home);
    assert_eq!(output.stdout, compiled.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("warning: compile cache") && stderr.contains("compiled at every load"),
        "{stderr}"
    );
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        match path.is_dir() {
            true => files.extend(walk(&path)),
            false => files.push(path),
        }
    }
    files
}
