//! A rule's results never depend on which other rules run beside it: a cell
//! that does not parse for its column (an address `not-an-ip`, a network in
//! an address column, a port `https`) reaches every rule as unparsable, so
//! no rule's column decides whether another rule sees the row. Checked in
//! `run`, `replay` and `serve`; the example hosts equal `run` on such a file
//! (`example_hosts.rs`).

use std::{collections::BTreeMap, fs, path::PathBuf, sync::OnceLock};

use serde_json::Value;

use crate::support::{
    asim_rules, component, json_lines, late_session, serve_until_idle, six_hour_spool, success,
};

const RULES: [&str; 3] = ["ti-map-ip", "network-session-anomaly", "port-scan"];
const AT: &str = "2026-03-12T00:00:00Z";

/// Each of the three kinds of bad cell, and how often it is planted.
const BAD_CELLS: [(&str, &str, usize); 3] = [
    ("DstIpAddr", "not-an-ip", 23),
    ("SrcIpAddr", "10.0.0.0/24", 29),
    ("DstPortNumber", "https", 31),
];

/// Fifteen generated days whose sessions carry [`BAD_CELLS`]; the number of
/// rows that carry each.
struct Inputs {
    dir: tempfile::TempDir,
    planted: BTreeMap<&'static str, usize>,
}

fn inputs() -> &'static Inputs {
    static INPUTS: OnceLock<Inputs> = OnceLock::new();
    INPUTS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().to_str().unwrap();
        success(&["generate", "--out", out, "--sessions-per-day", "20000"]);
        let path = dir.path().join("sessions.jsonl");
        let mut planted = BTreeMap::new();
        let lines: Vec<String> = fs::read_to_string(&path)
            .unwrap()
            .lines()
            .enumerate()
            .map(|(at, line)| {
                let mut row: Value = serde_json::from_str(line).unwrap();
                for (column, bad, every) in BAD_CELLS {
                    if at % every == 0 {
                        row[column] = bad.into();
                        *planted.entry(column).or_default() += 1;
                    }
                }
                row.to_string()
            })
            .collect();
        fs::write(&path, lines.join("\n") + "\n").unwrap();
        Inputs { dir, planted }
    })
}

fn file(name: &str) -> String {
    inputs().dir.path().join(name).to_str().unwrap().to_owned()
}

/// `command` (`run` or `replay`) with `rules` and `extra`; alerts by rule
/// name, and stderr.
fn alerts_by_rule(
    command: &str,
    rules: &[&str],
    extra: &[&str],
) -> (BTreeMap<String, Vec<String>>, String) {
    let paths: Vec<String> = rules
        .iter()
        .map(|rule| component(rule).to_str().unwrap().to_owned())
        .collect();
    let (sessions, indicators) = (file("sessions.jsonl"), file("indicators.jsonl"));
    let mut args = vec![
        command,
        "--sessions",
        &sessions,
        "--indicators",
        &indicators,
    ];
    paths.iter().for_each(|path| args.extend(["--rule", path]));
    args.extend(extra);
    let output = asim_rules(&args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    let mut by_rule = BTreeMap::<String, Vec<String>>::new();
    for alert in json_lines(&String::from_utf8(output.stdout).unwrap()) {
        let rule = alert["RuleName"].as_str().unwrap().to_owned();
        by_rule.entry(rule).or_default().push(alert.to_string());
    }
    by_rule.values_mut().for_each(|alerts| alerts.sort());
    (by_rule, stderr)
}

/// Every rule alone, then all three together: the same alerts per rule.
fn same_alone_and_together(command: &str, extra: &[&str]) {
    let (together, stderr) = alerts_by_rule(command, &RULES, extra);
    // Counted per column, with the first line of each.
    for (column, _, _) in BAD_CELLS {
        let count = inputs().planted[column];
        assert!(
            stderr.contains(&format!("{column} {count} (first at line 1)")),
            "{column} {count} not in {stderr}"
        );
    }
    same_per_rule(command, &together, |rule| {
        alerts_by_rule(command, &[rule], extra).0
    });
}

/// Every rule alerts beside the others, and alone (`alone(rule)`) exactly as
/// it did beside them.
fn same_per_rule(
    how: &str,
    together: &BTreeMap<String, Vec<String>>,
    alone: impl Fn(&str) -> BTreeMap<String, Vec<String>>,
) {
    let rules: Vec<&String> = together.keys().collect();
    assert_eq!(rules.len(), RULES.len(), "every rule alerts: {rules:?}");
    for rule in RULES {
        let alone = alone(rule);
        assert_eq!(alone.len(), 1, "{rule} alone");
        let (name, alerts) = alone.into_iter().next().unwrap();
        assert_eq!(
            alerts, together[&name],
            "{how}: {rule} alone and beside the others"
        );
    }
}

#[test]
fn run_gives_each_rule_the_same_alerts_alone_and_beside_the_others() {
    same_alone_and_together("run", &["--at", AT]);
}

#[test]
fn replay_gives_each_rule_the_same_alerts_alone_and_beside_the_others() {
    same_alone_and_together("replay", &["--from", "2026-03-11T18:00:00Z", "--to", AT]);
}

#[test]
fn serve_gives_each_rule_the_same_alerts_alone_and_beside_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let mut chunks = six_hour_spool(inputs().dir.path(), "2026-03-01T00:00:00Z");
    chunks.insert(
        "9999-sessions.jsonl".into(),
        late_session("2026-03-12T08:00:00Z"),
    );
    // One tenant per rule alone, and one with all three.
    let mut tenants: Vec<(&str, Vec<&str>)> =
        RULES.iter().map(|rule| (*rule, vec![*rule])).collect();
    tenants.push(("all", RULES.to_vec()));
    let mut config = String::from("state = \"state\"\n\n");
    for (tenant, rules) in &tenants {
        let spool = dir.path().join("spool").join(tenant);
        fs::create_dir_all(&spool).unwrap();
        for (name, text) in &chunks {
            fs::write(spool.join(name), text).unwrap();
        }
        config += &format!(
            "[[tenant]]\nname = \"{tenant}\"\nspool = \"spool/{tenant}\"\nalerts = \"alerts/{tenant}.jsonl\"\n\
             from = \"2026-03-11T18:00:00Z\"\nlateness = \"7h\"\n"
        );
        for rule in rules {
            config += &format!(
                "[[tenant.rule]]\ncomponent = {:?}\n",
                component(rule).to_str().unwrap()
            );
        }
        config += "\n";
    }
    fs::create_dir_all(dir.path().join("alerts")).unwrap();
    let config_path = dir.path().join("serve.toml");
    fs::write(&config_path, config).unwrap();
    serve_until_idle(&config_path);
    let alerts = |tenant: &str| -> BTreeMap<String, Vec<String>> {
        let path: PathBuf = dir.path().join("alerts").join(format!("{tenant}.jsonl"));
        let mut by_rule = BTreeMap::<String, Vec<String>>::new();
        for mut alert in json_lines(&fs::read_to_string(path).unwrap()) {
            // Tenant and AlertId name the tenant; the rest must be equal.
            let object = alert.as_object_mut().unwrap();
            object.remove("Tenant");
            object.remove("AlertId");
            let rule = alert["RuleName"].as_str().unwrap().to_owned();
            by_rule.entry(rule).or_default().push(alert.to_string());
        }
        by_rule.values_mut().for_each(|alerts| alerts.sort());
        by_rule
    };
    same_per_rule("serve", &alerts("all"), alerts);
}
