//! The third rule, written only against the SDK (`examples/port-scan`): its
//! component alerts as its library does, and `run` finds exactly the sources
//! that reached more than 25 ports or hosts in the 10 minutes before `--at`.

use std::collections::{BTreeMap, BTreeSet};

use asim_rule_core::{schema::session_column, Rule};
use asim_rules::{
    engine::{Budgets, RuleHost},
    time,
};
use port_scan::PortScan;

use crate::{
    parity::batches,
    support::{component, generated, json_lines, success},
};

/// 20 minutes before the generated data's end: a busy hour.
const AT: &str = "2026-03-11T23:40:00Z";

#[test]
fn run_finds_the_sources_that_reached_too_many_ports_or_hosts() {
    // Worked out here from the file, without the rule.
    let at = time::parse(AT).unwrap();
    let sessions = generated().join("sessions.jsonl");
    let mut reach: BTreeMap<String, (BTreeSet<i64>, BTreeSet<String>)> = BTreeMap::new();
    for row in json_lines(&std::fs::read_to_string(&sessions).unwrap()) {
        let when = time::parse(row["TimeGenerated"].as_str().unwrap()).unwrap();
        if when < at - 600_000_000 || when >= at {
            continue;
        }
        let (ports, hosts) = reach
            .entry(row["SrcIpAddr"].as_str().unwrap().to_owned())
            .or_default();
        ports.extend(row["DstPortNumber"].as_i64());
        hosts.insert(row["DstIpAddr"].as_str().unwrap().to_owned());
    }
    let expected: Vec<&String> = reach
        .iter()
        .filter(|(_, (ports, hosts))| ports.len() > 25 || hosts.len() > 25)
        .map(|(src, _)| src)
        .collect();
    assert!(!expected.is_empty(), "the generated traffic has a scanner");

    let rule = component("port-scan");
    let alerts = json_lines(&success(&[
        "run",
        "--rule",
        rule.to_str().unwrap(),
        "--sessions",
        sessions.to_str().unwrap(),
        "--at",
        AT,
    ]));
    let found: Vec<&str> = alerts
        .iter()
        .map(|alert| alert["CustomDetails"]["SrcIpAddr"].as_str().unwrap())
        .collect();
    assert_eq!(found, expected);
    let (ports, hosts) = &reach[expected[0]];
    assert_eq!(alerts[0]["CustomDetails"]["DistinctPorts"], ports.len());
    assert_eq!(alerts[0]["CustomDetails"]["DistinctHosts"], hosts.len());
    assert_eq!(alerts[0]["Tactics"][0], "Discovery");
}

#[test]
fn the_component_alerts_as_the_library_does() {
    let metadata = PortScan::metadata();
    let sessions = batches("sessions.jsonl", &metadata.session_columns, session_column);
    let at = time::parse(AT).unwrap();
    let mut native = PortScan::configure(&[]).unwrap();
    let host = RuleHost::new(Budgets::default()).unwrap();
    let mut wasm = host
        .load(&component("port-scan"))
        .unwrap()
        .instantiate(&host, &[])
        .unwrap();
    assert_eq!(wasm.metadata(), &metadata);
    for batch in &sessions {
        native.ingest_sessions(batch.clone()).unwrap();
        wasm.ingest_sessions(batch.clone()).unwrap();
    }
    let expected = native.evaluate(at).unwrap();
    assert!(!expected.is_empty());
    assert_eq!(wasm.evaluate(at).unwrap(), expected);
    // Snapshots interchange both ways.
    let mut restored = PortScan::configure(&[]).unwrap();
    restored.restore(&wasm.snapshot().unwrap()).unwrap();
    assert_eq!(restored.snapshot(), native.snapshot());
}
