//! Alert shapes and Parquet: each shape's Parquet file, read back by DuckDB,
//! holds the rows of its JSON lines; OCSF findings validate against the OCSF
//! schema; the Security Lake layout; normalize to Parquet. The second readers
//! (tests/e2e/outputs.py) run in `target/py-tools`, which `make test` installs.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use crate::support::{asim_rules, component, generated, root, success, GENERATED_AT};

const RULES: [&str; 3] = ["ti-map-ip", "network-session-anomaly", "port-scan"];

/// Runs tests/e2e/outputs.py with `args`; its one-line report.
fn second_reader(args: &[&str]) -> String {
    let python = root().join("target/py-tools/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make target/py-tools/installed` (`make test` does), which installs \
         DuckDB and the OCSF schema from PyPI",
        python.display()
    );
    let output = Command::new(python)
        .arg(root().join("tests/e2e/outputs.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "outputs.py {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// `replay` of every rule over the last two generated days, alerts to `out`.
fn replay_to(format: &str, out: &[&str]) -> std::process::Output {
    let data = generated();
    let components: Vec<String> = RULES
        .iter()
        .map(|rule| component(rule).to_str().unwrap().to_owned())
        .collect();
    let mut args = vec!["replay"];
    for rule in &components {
        args.extend(["--rule", rule]);
    }
    let indicators = data.join("indicators.jsonl");
    let sessions = data.join("sessions.jsonl");
    args.extend([
        "--indicators",
        indicators.to_str().unwrap(),
        "--sessions",
        sessions.to_str().unwrap(),
        "--from",
        "2026-03-10T00:00:00Z",
        "--to",
        GENERATED_AT,
        "--alert-format",
        format,
    ]);
    args.extend(out);
    asim_rules(&args)
}

fn replay_ok(format: &str, out: &[&str]) {
    let output = replay_to(format, out);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn rows(report: &str) -> usize {
    report
        .split_whitespace()
        .next()
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("a count first: {report}"))
}

#[test]
fn parquet_alerts_read_back_by_duckdb_equal_the_json_lines_in_every_shape() {
    let dir = tempfile::tempdir().unwrap();
    for format in ["jsonl", "ocsf", "sentinel"] {
        let lines = dir.path().join(format!("{format}.jsonl"));
        let parquet = dir.path().join(format!("{format}.parquet"));
        replay_ok(format, &["--out", lines.to_str().unwrap()]);
        replay_ok(format, &["--out", parquet.to_str().unwrap()]);
        let report = second_reader(&[
            "same-rows",
            lines.to_str().unwrap(),
            parquet.to_str().unwrap(),
        ]);
        // Two days of hourly TI, daily anomaly and ten-minute port-scan alerts.
        assert!(rows(&report) > 20, "{format}: {report}");
        assert!(!dir
            .path()
            .join(format!("{format}.parquet.partial"))
            .exists());
    }
}

#[test]
fn ocsf_findings_are_valid_detection_findings_and_name_their_alert() {
    let dir = tempfile::tempdir().unwrap();
    let findings = dir.path().join("findings.jsonl");
    replay_ok("ocsf", &["--out", findings.to_str().unwrap()]);
    let report = second_reader(&["ocsf-valid", findings.to_str().unwrap()]);
    assert!(rows(&report) > 20, "{report}");

    // Each finding is one alert of the JSON lines, in the same order.
    let alerts = dir.path().join("alerts.jsonl");
    replay_ok("jsonl", &["--out", alerts.to_str().unwrap()]);
    let read = |path: &Path| crate::support::json_lines(&std::fs::read_to_string(path).unwrap());
    let (findings, alerts) = (read(&findings), read(&alerts));
    assert_eq!(findings.len(), alerts.len());
    for (finding, alert) in findings.iter().zip(&alerts) {
        assert_eq!(finding["finding_info"]["title"], alert["AlertName"]);
        assert_eq!(finding["finding_info"]["analytic"]["uid"], alert["RuleId"]);
        assert_eq!(finding["severity"], alert["Severity"]);
        assert_eq!(finding["unmapped"], alert["CustomDetails"]);
    }
    // The TI alerts' IoC IP is an observable of its finding.
    let ti = findings
        .iter()
        .zip(&alerts)
        .find(|(_, alert)| alert["RuleId"] == "e2399891-383c-4caf-ae67-68a008b9f89e")
        .expect("a TI alert");
    let observed: Vec<&str> = ti.0["observables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|observable| observable["value"].as_str().unwrap())
        .collect();
    assert!(observed.contains(&ti.1["CustomDetails"]["IoCIP"].as_str().unwrap()));
}

#[test]
fn sentinel_rows_carry_the_alert_id_serve_would_give() {
    let dir = tempfile::tempdir().unwrap();
    let rows = dir.path().join("rows.jsonl");
    replay_ok("sentinel", &["--out", rows.to_str().unwrap()]);
    let rows = crate::support::json_lines(&std::fs::read_to_string(&rows).unwrap());
    let ids: std::collections::HashSet<&str> = rows
        .iter()
        .map(|row| row["SystemAlertId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), rows.len(), "one id per alert");
    for row in &rows {
        let extended: serde_json::Value =
            serde_json::from_str(row["ExtendedProperties"].as_str().unwrap()).unwrap();
        assert_eq!(extended["Tenant"], "default");
        let entities: serde_json::Value =
            serde_json::from_str(row["Entities"].as_str().unwrap()).unwrap();
        assert!(entities.is_array());
    }
}

/// Every Parquet file under `dir`, sorted by path.
fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![dir.to_owned()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn a_security_lake_gets_one_ocsf_parquet_file_per_event_day_in_its_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    replay_ok(
        "ocsf",
        &[
            "--security-lake",
            lake.to_str().unwrap(),
            "--lake-region",
            "eu-west-1",
            "--lake-account-id",
            "123456789012",
        ],
    );
    let files = parquet_files(&lake);
    let partition = lake.join("ext/asim-rules/region=eu-west-1/accountId=123456789012");
    // Evaluations at ticks in (03-10, 03-12]: the last (midnight) is 03-12's.
    let days: Vec<String> = files
        .iter()
        .map(|file| {
            let day = file.parent().unwrap();
            assert_eq!(day.parent().unwrap(), partition, "{}", file.display());
            assert_eq!(file.extension().unwrap(), "parquet");
            day.file_name().unwrap().to_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        days,
        [
            "eventDay=20260310",
            "eventDay=20260311",
            "eventDay=20260312"
        ]
    );

    let findings = dir.path().join("findings.jsonl");
    replay_ok("ocsf", &["--out", findings.to_str().unwrap()]);
    let mut args = vec!["same-rows", findings.to_str().unwrap()];
    args.extend(files.iter().map(|file| file.to_str().unwrap()));
    second_reader(&args);
}

#[test]
fn shapes_that_do_not_fit_the_destination_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let parquet = dir.path().join("alerts.parquet");
    let output = replay_to("table", &["--out", parquet.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("a table is for a terminal"));
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());

    let lake = dir.path().join("lake");
    let lake_args = [
        "--security-lake",
        lake.to_str().unwrap(),
        "--lake-region",
        "eu-west-1",
        "--lake-account-id",
        "1",
    ];
    let output = replay_to("jsonl", &lake_args);
    assert!(String::from_utf8_lossy(&output.stderr).contains("--security-lake holds OCSF"));
    // The partition is a usage error when incomplete.
    let output = replay_to("ocsf", &lake_args[..2]);
    assert_eq!(output.status.code(), Some(2));
    // Its names become folders: nothing that could climb out of the lake.
    let mut climbing = lake_args;
    climbing[3] = "../../x";
    let output = replay_to("ocsf", &climbing);
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not letters, digits"));
    assert!(!lake.exists());
}

#[test]
fn normalize_writes_typed_parquet_equal_to_its_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let zeek = crate::raw_logs::zeek_tsv(dir.path());
    let json = crate::raw_logs::zeek_json(dir.path());
    let lines = dir.path().join("sessions.jsonl");
    let parquet = dir.path().join("sessions.parquet");
    success(&["normalize", &zeek, &json, "--out", lines.to_str().unwrap()]);
    success(&[
        "normalize",
        &zeek,
        &json,
        "--out",
        parquet.to_str().unwrap(),
    ]);
    let report = second_reader(&[
        "same-rows",
        lines.to_str().unwrap(),
        parquet.to_str().unwrap(),
    ]);
    assert_eq!(report, "4 rows equal");

    // From standard input too, where no file's name tells which columns come.
    let raw = std::fs::read(&zeek).unwrap();
    let zeek_lines = dir.path().join("zeek.jsonl");
    let piped = dir.path().join("piped.parquet");
    for out in [&zeek_lines, &piped] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_asim-rules"))
            .args(["normalize", "-", "--out", out.to_str().unwrap()])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&raw).unwrap();
        assert!(child.wait().unwrap().success());
    }
    let report = second_reader(&[
        "same-rows",
        zeek_lines.to_str().unwrap(),
        piped.to_str().unwrap(),
    ]);
    let rows = std::fs::read_to_string(&zeek_lines)
        .unwrap()
        .lines()
        .count();
    assert!(rows > 0);
    assert_eq!(report, format!("{rows} rows equal"));
}
