//! Rules written in Python (`guest-rules/python-sdk`, built by componentize-py
//! into `target/rules/*-py.wasm` by `make python-rules`): the Python
//! port-scan alerts as the Rust one, byte for byte, and its WASI makes it
//! deterministic: the same snapshot in every instance, restored elsewhere.

use asim_rule_core::{schema::session_column, Rule};
use asim_rules::{
    engine::{Budgets, RuleHost},
    serve::status::{RuleState, Status},
    time,
};
use port_scan::PortScan;

use crate::{
    parity::batches,
    support::{
        asim_rules, component, generated, json_lines, serve_until_idle, shared, status_of, success,
    },
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
#[ignore = "reads ../shared/data: make test-real"]
fn the_python_port_scan_alerts_as_the_rust_one_on_a_real_port_scan() {
    // Stratosphere's capture of a port scan, as Zeek wrote it (JSON).
    let capture = shared("zeek/stratosphere-002-portscan.conn.json");
    let replay = |rule: &str| {
        let rule = component(rule);
        success(&[
            "replay",
            "--rule",
            rule.to_str().unwrap(),
            "--sessions",
            &capture,
            "--from",
            "2022-09-29T14:40:00Z",
            "--to",
            "2022-09-29T16:00:00Z",
        ])
    };
    let rust = replay("port-scan");
    assert!(!rust.is_empty());
    assert_eq!(replay("port-scan-py"), rust);
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

/// A tenant of [`serve_hour`]: its name, its rule and the TOML lines of that
/// rule's parameters and of the tenant's budgets.
type Tenant<'a> = (&'a str, &'a str, &'a str);

/// `serve --until-idle` of `tenants`, each fed the generated data's last
/// hour: each tenant's alerts (the tenant and the id made with it taken out),
/// the status and what `status` prints of it.
fn serve_hour(tenants: &[Tenant]) -> (Vec<Vec<serde_json::Value>>, Status, String) {
    let dir = tempfile::tempdir().unwrap();
    let hour: String = std::fs::read_to_string(generated().join("sessions.jsonl"))
        .unwrap()
        .lines()
        .filter(|line| line.contains(r#""TimeGenerated":"2026-03-11T23"#))
        .map(|line| format!("{line}\n"))
        .collect();
    let mut config = String::from("state = \"state\"\n");
    for (tenant, rule, lines) in tenants {
        let spool = dir.path().join("spool").join(tenant);
        std::fs::create_dir_all(&spool).unwrap();
        std::fs::write(spool.join("0001-sessions.jsonl"), &hour).unwrap();
        let component = match *rule {
            "hostile-python" => crate::support::hostile_python(),
            rule => component(rule),
        };
        config += &format!(
            "\n[[tenant]]\nname = \"{tenant}\"\nspool = \"spool/{tenant}\"\nalerts = \
             \"{tenant}.jsonl\"\nfrom = \"2026-03-11T23:00:00Z\"\n[[tenant.rule]]\ncomponent = \
             {:?}\n{lines}\n",
            component.to_str().unwrap()
        );
    }
    let path = dir.path().join("serve.toml");
    std::fs::write(&path, config).unwrap();
    serve_until_idle(&path);
    let alerts = tenants
        .iter()
        .map(|(tenant, _, _)| {
            let path = dir.path().join(format!("{tenant}.jsonl"));
            let mut alerts = json_lines(&std::fs::read_to_string(path).unwrap_or_default());
            for alert in &mut alerts {
                let alert = alert.as_object_mut().unwrap();
                assert_eq!(alert.remove("Tenant").unwrap(), *tenant);
                alert.remove("AlertId").unwrap();
            }
            alerts
        })
        .collect();
    let state = dir.path().join("state");
    let printed = success(&["status", "--state", state.to_str().unwrap()]);
    (alerts, status_of(dir.path()), printed)
}

#[test]
fn python_tenants_are_served_beside_a_rust_one_with_its_alerts() {
    let tenants = [
        ("rust", "port-scan", ""),
        ("py1", "port-scan-py", ""),
        ("py2", "port-scan-py", ""),
        ("py3", "port-scan-py", ""),
    ];
    let (alerts, _, _) = serve_hour(&tenants);
    assert!(alerts[0].len() >= 3, "{alerts:?}");
    for (tenant, got) in tenants.iter().zip(&alerts).skip(1) {
        assert_eq!(got, &alerts[0], "{}", tenant.0);
    }
}

#[test]
fn hostile_python_tenants_leave_their_neighbours_alerts_unchanged_in_serve() {
    let good = [("rust", "port-scan", ""), ("python", "port-scan-py", "")];
    let (alone, _, _) = serve_hour(&good);
    let hostile = |mode: &str| format!("parameters = {{ mode = \"{mode}\" }}");
    let budgets = "[tenant.budgets]\ncall_ms = 2000\nmemory_mib = 256";
    let (noisy, spin, allocate) = (
        hostile("print"),
        format!("{}\n{budgets}", hostile("spin")),
        format!("{}\n{budgets}", hostile("allocate")),
    );
    let mut tenants = good.to_vec();
    tenants.extend([
        ("noisy", "hostile-python", noisy.as_str()),
        ("spinning", "hostile-python", spin.as_str()),
        ("hoarding", "hostile-python", allocate.as_str()),
    ]);
    let (alerts, status, shown) = serve_hour(&tenants);
    assert_eq!(alerts[..2], alone[..]);
    let rule = |tenant: usize| &status.tenants[tenant].rules[0];
    assert_eq!(rule(2).state, RuleState::Running);
    // One alert per evaluation, saying what it got.
    assert!(rule(2).evaluations > 0, "{:?}", rule(2));
    assert_eq!(alerts[2].len() as u64, rule(2).evaluations);
    // What the noisy rule printed: the first 64 KiB kept, the rest counted,
    // the last lines kept shown by `status`.
    let printed = rule(2).printed.as_ref().unwrap();
    assert_eq!(printed.bytes, 65_536);
    // Each evaluation prints 328 890 bytes.
    assert_eq!(printed.dropped, rule(2).evaluations * 328_890 - 65_536);
    assert_eq!(printed.last_lines.len(), 10);
    assert_eq!(printed.last_lines[8], "line 2018 of what a rule printed");
    let dropped = format!("printed 65536 bytes ({} more dropped)", printed.dropped);
    assert!(
        shown.contains(&dropped) && shown.contains("| line 2018 of what a rule printed\n"),
        "{shown}"
    );
    for (tenant, reason) in [
        (3, "evaluate: exceeded the CPU budget (2000 ms per call)"),
        (4, "evaluate: failed: MemoryError"),
    ] {
        assert_eq!(rule(tenant).state, RuleState::Quarantined);
        let got = rule(tenant).reason.as_deref().unwrap();
        assert!(got.contains(reason), "{got}");
    }
    assert!(rule(0).printed.is_none() && rule(1).printed.is_none());
}

/// `run` of the Rust port-scan beside the hostile Python rule in `mode`
/// (none: the port-scan alone), at the end of the generated data: its stdout
/// and stderr.
fn beside_hostile(mode: Option<&str>) -> (String, String, bool) {
    beside_hostile_with(mode, &[])
}

fn beside_hostile_with(mode: Option<&str>, extra: &[&str]) -> (String, String, bool) {
    let port_scan = component("port-scan");
    let hostile = crate::support::hostile_python();
    let sessions = generated().join("sessions.jsonl");
    let parameter = format!("hostile-python.mode={}", mode.unwrap_or_default());
    let mut args = vec![
        "run",
        "--rule",
        port_scan.to_str().unwrap(),
        "--sessions",
        sessions.to_str().unwrap(),
        "--at",
        "2026-03-11T23:40:00Z",
        "--max-call-ms",
        "2000",
        "--max-memory-mib",
        "256",
    ];
    if mode.is_some() {
        args.extend(["--rule", hostile.to_str().unwrap(), "--param", &parameter]);
    }
    args.extend(extra);
    let output = asim_rules(&args);
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        output.status.success(),
    )
}

#[test]
fn a_hostile_python_rule_gets_nothing_and_its_neighbour_is_unchanged() {
    let (alone, _, ok) = beside_hostile(None);
    assert!(ok && !alone.is_empty());
    // What each attempt got, as the rule reports it.
    for (mode, outcome) in [
        ("files", "FileNotFoundError"),
        ("listdir", "FileNotFoundError"),
        ("environment", "ok: ({}, [])"),
        ("socket", "PermissionError"),
        // The clocks read the evaluation's time.
        ("clock", "ok: 1773272400000000 1773272400000000000 "),
        ("print", "ok: printed"),
    ] {
        let (stdout, stderr, ok) = beside_hostile(Some(mode));
        assert!(ok, "{mode}: {stderr}");
        let alerts = json_lines(&stdout);
        let (hostile, neighbour): (Vec<_>, Vec<_>) = alerts
            .into_iter()
            .partition(|alert| alert["RuleName"] == "Hostile Python rule (tests only)");
        let got = hostile[0]["CustomDetails"]["Outcome"].as_str().unwrap();
        assert!(got.starts_with(outcome), "{mode}: {got}");
        assert_eq!(neighbour, json_lines(&alone), "{mode}");
    }
    // What it printed: counted, and with --verbose shown, up to the log's size.
    let (_, stderr, _) = beside_hostile(Some("print"));
    assert!(
        stderr.contains("hostile-python printed 65536 bytes (263354 more dropped"),
        "{stderr}"
    );
    let (_, stderr, _) = beside_hostile_with(Some("print"), &["--verbose"]);
    assert!(
        stderr.contains("hostile-python| line 2018 of what a rule printed\n"),
        "{stderr}"
    );
    assert!(!stderr.contains("line 2020 of"), "{stderr}");
    // Random numbers are the same in every run of a deployment.
    let clock = |_| json_lines(&beside_hostile(Some("clock")).0);
    assert_eq!(clock(1), clock(2));
    // The rest are quarantined with their reason.
    for (mode, reason) in [
        (
            "spin",
            "evaluate: exceeded the CPU budget (2000 ms per call)",
        ),
        ("allocate", "evaluate: failed: MemoryError"),
        ("exit", "evaluate: called exit("),
    ] {
        let (stdout, stderr, ok) = beside_hostile(Some(mode));
        assert!(!ok, "{mode}: {stderr}");
        assert!(
            stderr.contains(&format!("rule hostile-python quarantined: {reason}")),
            "{mode}: {stderr}"
        );
        assert_eq!(stdout, alone, "{mode}");
    }
}
