//! Golden outputs: the alert records (JSON lines) and the table `run` prints
//! for the generated data, compared byte for byte with `tests/golden/`. Users
//! and scripts read both formats, so any change to them shows as a diff of
//! those files. After a deliberate change, rewrite them with
//! `ASIM_UPDATE_GOLDEN=1 cargo test -p asim-rules --test e2e golden` and
//! review the diff.

use std::{fs, path::PathBuf};

use crate::support::{component, generated, root, success, GENERATED_AT};

/// `run` of the three rules on the generated data, in `format`.
fn run(format: &str) -> String {
    let (indicators, sessions) = (
        generated().join("indicators.jsonl"),
        generated().join("sessions.jsonl"),
    );
    let rules = ["ti-map-ip", "network-session-anomaly", "port-scan"].map(component);
    let mut args = vec!["run", "--at", GENERATED_AT, "--format", format];
    for rule in &rules {
        args.extend(["--rule", rule.to_str().unwrap()]);
    }
    args.extend([
        "--indicators",
        indicators.to_str().unwrap(),
        "--sessions",
        sessions.to_str().unwrap(),
    ]);
    success(&args)
}

/// Compares `output` with the golden file `name`, or rewrites it when asked.
fn check(name: &str, output: &str) {
    let path: PathBuf = root().join("tests/golden").join(name);
    if std::env::var_os("ASIM_UPDATE_GOLDEN").is_some() {
        fs::write(&path, output).unwrap();
        return;
    }
    let golden =
        fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    if output != golden {
        let line = output
            .lines()
            .zip(golden.lines())
            .position(|(got, want)| got != want)
            .unwrap_or_else(|| output.lines().count().min(golden.lines().count()));
        panic!(
            "{} differs from the output at line {}:\n  golden: {}\n  output: {}\n\
             (after a deliberate change: ASIM_UPDATE_GOLDEN=1 cargo test -p asim-rules --test e2e golden)",
            path.display(),
            line + 1,
            golden.lines().nth(line).unwrap_or("(end)"),
            output.lines().nth(line).unwrap_or("(end)"),
        );
    }
}

#[test]
fn alert_records_are_the_golden_json_lines() {
    let output = run("jsonl");
    assert!(output.lines().count() >= 10, "{output}");
    check("run-alerts.jsonl", &output);
}

#[test]
fn the_alert_table_is_the_golden_table() {
    check("run-alerts.txt", &run("table"));
}
