//! Rules written in Python (`guest-rules/python-sdk`, built by componentize-py
//! into `target/rules/*-py.wasm` by `make python-rules`): the Python
//! port-scan alerts as the Rust one, byte for byte, and its WASI makes it
//! deterministic: the same snapshot in every instance, restored elsewhere.

use asim_rule_core::{schema::session_column, Rule};
use asim_rules::{
    engine::{Budgets, RuleHost},
    time,
};
use port_scan::PortScan;

use crate::{
    parity::batches,
    support::{component, generated, success},
};

/// Both port-scans over the generated data's last four hours (24 ticks).
fn replay(rule: &str, parameters: &[&str]) -> String {
    let rule = component(rule);
    let sessions = generated().join("sessions.jsonl");
    let mut args = vec![
        "replay",
        "--rule",
        rule.to_str().unwrap(),
        "--sessions",
        sessions.to_str().unwrap(),
        "--from",
        "2026-03-11T20:00:00Z",
        "--to",
        "2026-03-12T00:00:00Z",
    ];
    args.extend(parameters);
    success(&args)
}

#[test]
fn the_python_port_scan_alerts_as_the_rust_one() {
    let rust = replay("port-scan", &[]);
    assert!(rust.lines().count() >= 10, "{rust}");
    assert_eq!(replay("port-scan-py", &[]), rust);
    // Parameters reach it as they reach the Rust rule.
    let rust = replay("port-scan", &["--param", "port-scan.hosts=5"]);
    let python = replay("port-scan-py", &["--param", "port-scan-py.hosts=5"]);
    assert_eq!(python, rust);
}

#[test]
fn a_python_rule_snapshots_the_same_in_every_instance_and_restores() {
    let sessions = batches(
        "sessions.jsonl",
        &PortScan::metadata().session_columns,
        session_column,
    );
    let at = time::parse("2026-03-11T23:40:00Z").unwrap();
    let host = RuleHost::new(Budgets::default()).unwrap();
    let rule = host.load(&component("port-scan-py")).unwrap();
    let mut native = PortScan::configure(&[]).unwrap();
    let mut first = rule.instantiate(&host, &[]).unwrap();
    let mut second = rule.instantiate(&host, &[]).unwrap();
    for batch in sessions.iter().rev().take(8) {
        native.ingest_sessions(batch.clone()).unwrap();
        first.ingest_sessions(batch.clone()).unwrap();
        second.ingest_sessions(batch.clone()).unwrap();
    }
    let snapshot = first.snapshot().unwrap();
    assert_eq!(second.snapshot().unwrap(), snapshot);
    let mut restored = rule.instantiate(&host, &[]).unwrap();
    restored.restore(&snapshot).unwrap();
    let expected = native.evaluate(at).unwrap();
    assert!(!expected.is_empty());
    assert_eq!(first.evaluate(at).unwrap(), expected);
    assert_eq!(restored.evaluate(at).unwrap(), expected);
    // Another rule's state is refused with the reason, not taken.
    let error = restored.restore(&native.snapshot()).unwrap_err();
    assert!(
        error.to_string().contains("not a state of a Python rule"),
        "{error}"
    );
}
