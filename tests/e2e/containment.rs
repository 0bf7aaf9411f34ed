//! Hostile rules are contained: the rule in `tests/hostile-rule` misbehaves
//! one way per `mode`; beside the two real rules it is quarantined with the
//! reason naming the budget or fault, the host survives within its memory,
//! and the real rules' alerts are those of a run without it.

use asim_rules::engine::{Budgets, EngineOptions, RuleHost};

use crate::support::{asim_rules, component, generated, hostile, json_lines};

/// `replay` of the evening before the generated data's end (both rules
/// evaluate: TI hourly, the anomaly rule at midnight), with `extra` rules and
/// options: exit code, alerts, stderr.
fn replay(extra: &[&str]) -> (Option<i32>, Vec<serde_json::Value>, String) {
    let dir = generated();
    let (ti, anomaly) = (component("ti-map-ip"), component("network-session-anomaly"));
    let sessions = dir.join("sessions.jsonl");
    let indicators = dir.join("indicators.jsonl");
    let mut args = vec![
        "replay",
        "--rule",
        ti.to_str().unwrap(),
        "--rule",
        anomaly.to_str().unwrap(),
        "--sessions",
        sessions.to_str().unwrap(),
        "--indicators",
        indicators.to_str().unwrap(),
        "--from",
        "2026-03-11T18:00:00Z",
        "--to",
        "2026-03-12T00:00:00Z",
    ];
    args.extend(extra);
    let output = asim_rules(&args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let alerts = json_lines(&String::from_utf8(output.stdout).unwrap());
    (output.status.code(), alerts, stderr)
}

/// Peak memory in MiB from the last summary line (`peak memory N MiB`).
fn peak_memory_mib(stderr: &str) -> u64 {
    let summary = stderr
        .lines()
        .rfind(|line| line.starts_with("asim-rules replay:"))
        .unwrap();
    let (_, after) = summary.split_once("peak memory ").unwrap();
    after.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn every_hostile_mode_is_quarantined_and_the_real_rules_alert_as_without_it() {
    let (code, expected, stderr) = replay(&[]);
    assert_eq!(code, Some(0), "{stderr}");
    let rule_names = |alerts: &[serde_json::Value]| -> Vec<String> {
        let mut names: Vec<String> = alerts
            .iter()
            .map(|alert| alert["RuleName"].as_str().unwrap().to_owned())
            .collect();
        names.dedup();
        names
    };
    assert_eq!(rule_names(&expected).len(), 2, "both real rules alert");

    let hostile = hostile();
    let hostile = hostile.to_str().unwrap();
    // (mode, budgets, what the quarantine must say)
    let cases: [(&str, &[&str], &str); 8] = [
        (
            "loop",
            &["--max-call-ms", "2000"],
            "evaluate: exceeded the CPU budget (2000 ms per call)",
        ),
        (
            "slow",
            &["--max-call-ms", "300"],
            "evaluate: exceeded the CPU budget (300 ms per call)",
        ),
        (
            "memory",
            &["--max-memory-mib", "512"],
            "evaluate: exceeded the memory budget (512 MiB)",
        ),
        (
            "recursion",
            &[],
            "evaluate: trapped: wasm trap: call stack exhausted",
        ),
        (
            "trap",
            &[],
            "evaluate: trapped: wasm trap: wasm `unreachable`",
        ),
        (
            "flood",
            &["--max-alerts", "10000"],
            "evaluate: returned 1000000 alerts, over the budget of 10000 per evaluation",
        ),
        // wasmtime stops copying at the output budget: the alerts never
        // reach the host.
        (
            "flood",
            &["--max-output-mib", "16"],
            "evaluate: handed the host more than its output budget (16 MiB)",
        ),
        (
            "huge-alert",
            &["--max-alert-kib", "64"],
            "evaluate: returned an alert of 67108884 bytes, over the budget of 65536 bytes",
        ),
    ];
    for (mode, budgets, reason) in cases {
        let parameter = format!("hostile.mode={mode}");
        let mut extra = vec!["--rule", hostile, "--param", &parameter];
        extra.extend(budgets);
        let (code, alerts, stderr) = replay(&extra);
        assert_eq!(code, Some(1), "{mode}: {stderr}");
        assert!(
            stderr.contains(&format!("rule hostile quarantined: {reason}")),
            "{mode}: {stderr}"
        );
        assert!(stderr.contains("hostile 0 evaluations"), "{mode}: {stderr}");
        assert_eq!(alerts, expected, "{mode}: the real rules' alerts");
        // The host holds what the budgets allow and little more.
        assert!(peak_memory_mib(&stderr) < 2048, "{mode}: {stderr}");
    }
}

#[test]
fn a_rule_within_its_budgets_runs_beside_the_real_ones() {
    let (_, expected, _) = replay(&[]);
    let hostile = hostile();
    let (code, alerts, stderr) = replay(&[
        "--rule",
        hostile.to_str().unwrap(),
        "--param",
        "hostile.mode=fine",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    // One alert per hourly evaluation: 18:00 (exclusive) to 00:00.
    let (own, real): (Vec<_>, Vec<_>) = alerts
        .into_iter()
        .partition(|alert| alert["RuleName"] == "Hostile rule (containment tests)");
    assert_eq!(own.len(), 6);
    assert_eq!(real, expected);
}

#[test]
fn a_snapshot_over_its_budget_quarantines_the_rule() {
    let budgets = Budgets {
        snapshot_bytes: 64 << 20,
        ..Budgets::default()
    };
    let host = RuleHost::new(budgets).unwrap();
    let rule = host.load(&hostile()).unwrap();
    let parameters = [("mode".to_owned(), "snapshot-bomb".to_owned())];
    let mut bomb = rule.instantiate(&host, &parameters).unwrap();
    let quarantine = bomb.snapshot().unwrap_err();
    assert_eq!(
        quarantine.to_string(),
        "rule hostile quarantined: snapshot: handed the host more than its output budget (64 MiB)"
    );
    // Quarantined for good: its instance is gone, later calls are refused.
    assert!(bomb.evaluate(0).is_err());
    assert!(bomb.quarantine().is_some());
    // wasmtime stopped copying at the budget: the 256 MiB never reached the
    // host. A well-behaved deployment of the same component snapshots and
    // restores.
    let mut fine = rule.instantiate(&host, &[]).unwrap();
    let state = fine.snapshot().unwrap();
    fine.restore(&state).unwrap();
}

#[test]
fn a_pooled_host_holds_many_tenants_and_contains_one_of_them() {
    let host = RuleHost::with_options(
        Budgets {
            memory_bytes: 256 << 20,
            time_per_call: std::time::Duration::from_millis(500),
            ..Budgets::default()
        },
        &EngineOptions {
            cpu_deadline: true,
            pooled_instances: Some(2 * 50),
            ..EngineOptions::default()
        },
    )
    .unwrap();
    let ti = host.load(&component("ti-map-ip")).unwrap();
    let hostile = host.load(&hostile()).unwrap();
    let looping = [("mode".to_owned(), "loop".to_owned())];
    let mut tenants: Vec<_> = (0..50)
        .map(|tenant| {
            let second = if tenant == 7 {
                hostile.instantiate(&host, &looping).unwrap()
            } else {
                hostile.instantiate(&host, &[]).unwrap()
            };
            [ti.instantiate(&host, &[]).unwrap(), second]
        })
        .collect();
    for (tenant, rules) in tenants.iter_mut().enumerate() {
        assert!(rules[0].evaluate(3_600_000_000).unwrap().is_empty());
        let second = rules[1].evaluate(3_600_000_000);
        assert_eq!(second.is_err(), tenant == 7, "tenant {tenant}");
    }
    // The pool is full, but the quarantined instance gave its slot back: one
    // new instance fits, a second does not.
    let again = hostile.instantiate(&host, &[]).unwrap();
    assert!(again.quarantine().is_none());
    assert!(hostile.instantiate(&host, &[]).is_err());
}
