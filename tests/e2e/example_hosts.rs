//! The Python (wasmtime from PyPI) and Node (jco) example hosts print, alert
//! for alert, what `asim-rules run` prints on the same generated inputs, and
//! report a bad row by file and line as it does; the Python host runs rules
//! written in Python too, with WASI as capability-free as `asim-rules`
//! gives it. `make example-hosts` and `make python-rules` (which `make test`
//! runs) build what they need.

use std::{
    collections::BTreeSet,
    path::PathBuf,
    process::{Command, Output},
    sync::OnceLock,
};

use crate::support::{component, json_lines, root, success, GENERATED_AT};

const RULES: [&str; 3] = ["ti-map-ip", "network-session-anomaly", "port-scan"];

/// Indicators and sessions of fifteen generated days, the sessions with two
/// bad rows appended (lines 1 and 2 after the generated ones), then three
/// copies of the last session, each with a cell that does not parse.
struct Inputs {
    _dir: tempfile::TempDir,
    indicators: String,
    sessions: String,
    bad_lines: [usize; 2],
}

/// The cells planted, as (column, text); reported in this (name) order.
const BAD_CELLS: [(&str, &str); 3] = [
    ("DstIpAddr", "not-an-ip"),
    ("DstPortNumber", "https"),
    ("SrcIpAddr", "10.0.0.0/24"),
];

fn inputs() -> &'static Inputs {
    static INPUTS: OnceLock<Inputs> = OnceLock::new();
    INPUTS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().to_str().unwrap();
        success(&["generate", "--out", out, "--sessions-per-day", "20000"]);
        let sessions = dir.path().join("sessions.jsonl");
        let mut text = std::fs::read_to_string(&sessions).unwrap();
        let generated = text.lines().count();
        let last = text.lines().last().unwrap().to_owned();
        text.push_str("{\"TimeGenerated\": \"yesterday\", \"SrcIpAddr\": \"10.0.0.1\"}\n");
        text.push_str("{\"TimeGenerated\": \"2026-03-11T23:30:00Z\", \"SrcIpAddr\n");
        for (column, bad) in BAD_CELLS {
            let mut row: serde_json::Value = serde_json::from_str(&last).unwrap();
            row[column] = bad.into();
            text.push_str(&format!("{row}\n"));
        }
        std::fs::write(&sessions, text).unwrap();
        let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
        Inputs {
            indicators: path("indicators.jsonl"),
            sessions: path("sessions.jsonl"),
            bad_lines: [generated + 1, generated + 2],
            _dir: dir,
        }
    })
}

/// `asim-rules run`'s alerts on [`inputs`] of the components `rules`, with
/// `extra` arguments.
fn run_alerts(rules: &[String], extra: &[&str]) -> Vec<serde_json::Value> {
    let inputs = inputs();
    let mut args = vec!["run", "--at", GENERATED_AT];
    args.extend(["--indicators", &inputs.indicators]);
    args.extend(["--sessions", &inputs.sessions]);
    rules.iter().for_each(|rule| args.extend(["--rule", rule]));
    args.extend(extra);
    json_lines(&success(&args))
}

fn components(rules: &[&str]) -> Vec<String> {
    rules
        .iter()
        .map(|rule| component(rule).to_str().unwrap().to_owned())
        .collect()
}

/// `asim-rules run`'s alerts on [`inputs`], every rule at once.
fn expected() -> &'static Vec<serde_json::Value> {
    static EXPECTED: OnceLock<Vec<serde_json::Value>> = OnceLock::new();
    EXPECTED.get_or_init(|| {
        let alerts = run_alerts(&components(&RULES), &[]);
        let alerting: BTreeSet<&str> = alerts
            .iter()
            .map(|alert| alert["RuleId"].as_str().unwrap())
            .collect();
        assert_eq!(
            alerting.len(),
            RULES.len(),
            "the planted incidents make every rule alert"
        );
        alerts
    })
}

/// Something an example host needs, or how to get it.
fn installed(path: PathBuf) -> String {
    assert!(
        path.exists(),
        "{} is missing: run `make example-hosts` (`make test` does), which installs \
         wasmtime from PyPI and jco from npm",
        path.display()
    );
    path.to_str().unwrap().to_owned()
}

/// Starts an example host: `program args... AT INDICATORS SESSIONS rules...`.
fn start_host(program: &str, args: &[String], rules: &[String]) -> Output {
    let inputs = inputs();
    Command::new(program)
        .args(args)
        .args([GENERATED_AT, &inputs.indicators, &inputs.sessions])
        .args(rules)
        .output()
        .unwrap_or_else(|error| panic!("{program} does not start: {error}"))
}

/// Runs an example host on `rules`: it reports the bad rows and cells of
/// [`inputs`] and prints [`expected`].
fn run_host(program: &str, args: &[String], rules: &[String]) {
    let inputs = inputs();
    let output = start_host(program, args, rules);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {stderr}"
    );
    for line in inputs.bad_lines {
        let place = format!("{}:{line}:", inputs.sessions);
        assert!(stderr.contains(&place), "{place} reported: {stderr}");
    }
    let counted: Vec<String> = BAD_CELLS
        .iter()
        .map(|(column, _)| format!("{column} 1"))
        .collect();
    let unparsable = format!(
        "{}: cells that do not parse, passed to the rules as unparsable: {}",
        inputs.sessions,
        counted.join(", ")
    );
    assert!(stderr.contains(&unparsable), "{unparsable} not in {stderr}");
    let alerts = json_lines(&String::from_utf8(output.stdout).unwrap());
    assert_eq!(alerts.len(), expected().len());
    for (alert, expected) in alerts.iter().zip(expected()) {
        assert_eq!(alert, expected);
    }
}

/// The Python host's interpreter and script.
fn python_host() -> (String, String) {
    let python = installed(root().join("target/python-host/bin/python"));
    let script = root().join("examples/python-host/asim_host.py");
    (python, script.to_str().unwrap().to_owned())
}

#[test]
fn the_python_host_alerts_as_run_does() {
    let (python, script) = python_host();
    run_host(&python, &[script], &components(&RULES));
}

/// The Python host's alerts (and stderr) for `rules`; it must succeed.
fn python_host_alerts(rules: &[String], params: &[&str]) -> (Vec<serde_json::Value>, String) {
    let (python, script) = python_host();
    let mut args = vec![script];
    params
        .iter()
        .for_each(|param| args.extend(["--param".to_owned(), param.to_string()]));
    let output = start_host(&python, &args, rules);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    (
        json_lines(&String::from_utf8(output.stdout).unwrap()),
        stderr,
    )
}

#[test]
fn the_python_host_runs_a_python_rule_as_run_does() {
    // The Python port-scan beside the Rust one, which alerts the same.
    let rules = components(&["port-scan-py", "port-scan"]);
    let alerts = run_alerts(&rules, &[]);
    let (python, rust) = alerts.split_at(alerts.len() / 2);
    assert!(!python.is_empty());
    assert_eq!(python, rust);
    assert_eq!(python_host_alerts(&rules, &[]).0, alerts);
}

#[test]
fn the_python_host_refuses_a_parameter_for_a_rule_it_does_not_run() {
    let (python, script) = python_host();
    let args = [script, "--param".into(), "port-scan.hosts=5".into()];
    let output = start_host(&python, &args, &components(&["port-scan-py"]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("--param port-scan.hosts: no rule port-scan is loaded"),
        "{stderr}"
    );
}

#[test]
fn the_python_host_gives_a_python_rule_what_run_gives_it() {
    let hostile = crate::support::hostile_python();
    let rules = [
        hostile.to_str().unwrap().to_owned(),
        component("port-scan").to_str().unwrap().to_owned(),
    ];
    // No files, environment or network, and what it printed kept as `run`
    // keeps it; the clocks are not frozen in wasmtime-py, so "clock" differs.
    for mode in ["files", "listdir", "environment", "socket", "print"] {
        let param = format!("hostile-python.mode={mode}");
        let expected = run_alerts(&rules, &["--param", &param]);
        let name = format!("hostile {mode}");
        assert!(expected.iter().any(|alert| alert["AlertName"] == name));
        let (alerts, stderr) = python_host_alerts(&rules, &[&param]);
        assert_eq!(alerts, expected, "{mode}");
        if mode == "print" {
            assert!(
                stderr.contains("hostile-python printed 65536 bytes (263354 more dropped")
                    && stderr.contains("hostile-python| line 2018 of what a rule printed\n"),
                "{stderr}"
            );
        }
    }
}

#[test]
fn the_node_host_alerts_as_run_does() {
    let rules: Vec<String> = RULES
        .iter()
        .map(|rule| installed(transpiled(rule)))
        .collect();
    let script = root().join("examples/js-host/host.mjs");
    run_host("node", &[script.to_str().unwrap().to_owned()], &rules);
}

/// A rule as `jco transpile` wrote it.
fn transpiled(rule: &str) -> PathBuf {
    root()
        .join("target/js-rules")
        .join(rule)
        .join(format!("{rule}.js"))
}
