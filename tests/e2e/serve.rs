//! `serve`: tenants from a config, spools played in name order each exactly
//! once, event-time evaluation equal to `replay`'s, a hostile rule contained
//! to its tenant, and a restart that resumes from the checkpoint.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use crate::support::{asim_rules, component, generated, hostile, success};

/// Generated data cut into spool files of six hours each
/// (`NNNN-indicators.jsonl`, `NNNN-sessions.jsonl`, in time order by name),
/// and a last file with one session far later, whose time moves the
/// watermark past the data's end. Returns the files in name order.
fn spool_files() -> Vec<(String, String)> {
    let origin = asim_rules_time("2026-03-01T00:00:00Z");
    let mut chunks: BTreeMap<String, String> = BTreeMap::new();
    for table in ["indicators", "sessions"] {
        let text = fs::read_to_string(generated().join(format!("{table}.jsonl"))).unwrap();
        for line in text.lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let time = asim_rules_time(row["TimeGenerated"].as_str().unwrap());
            let chunk = (time - origin).max(0) / (6 * 3600);
            let file = chunks
                .entry(format!("{chunk:04}-{table}.jsonl"))
                .or_default();
            file.push_str(line);
            file.push('\n');
        }
    }
    chunks.insert(
        "9999-sessions.jsonl".into(),
        r#"{"TimeGenerated":"2026-03-12T08:00:00Z","SrcIpAddr":"10.0.0.1","DstIpAddr":"10.0.0.2","DvcAction":"Allow","NetworkDirection":"Outbound","NetworkProtocol":"TCP","EventProduct":"Demo","EventVendor":"Demo","Dvc":"fw"}"#.to_owned() + "\n",
    );
    chunks.into_iter().collect()
}

/// Seconds since the epoch of an RFC 3339 time (whole seconds suffice here).
fn asim_rules_time(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp()
}

/// A config with tenant `acme` (both rules) and tenant `evil` (both rules
/// and the hostile one, looping), spools under `dir`.
fn config(dir: &Path) -> PathBuf {
    let (ti, anomaly, hostile) = (
        component("ti-map-ip"),
        component("network-session-anomaly"),
        hostile(),
    );
    let rule = |path: &Path, parameters: &str| {
        format!(
            "[[tenant.rule]]\ncomponent = {:?}\n{parameters}\n",
            path.to_str().unwrap()
        )
    };
    let tenant = |name: &str, budgets: &str, rules: &str| {
        format!(
            "[[tenant]]\nname = \"{name}\"\nspool = \"spool/{name}\"\nalerts = \"alerts/{name}.jsonl\"\n\
             from = \"2026-03-10T18:00:00Z\"\nlateness = \"7h\"\n{budgets}\n{rules}\n"
        )
    };
    let both = rule(&ti, "") + &rule(&anomaly, "");
    let text = format!(
        "state = \"state\"\n\n{}{}",
        tenant("acme", "", &both),
        tenant(
            "evil",
            "budgets = { memory_mib = 512, call_ms = 2000 }",
            &(both.clone() + &rule(&hostile, "parameters = { mode = \"loop\" }"))
        ),
    );
    for name in ["acme", "evil"] {
        fs::create_dir_all(dir.join("spool").join(name)).unwrap();
    }
    fs::create_dir_all(dir.join("alerts")).unwrap();
    let path = dir.join("serve.toml");
    fs::write(&path, text).unwrap();
    path
}

fn drop_files(dir: &Path, files: &[(String, String)]) {
    for name in ["acme", "evil"] {
        for (file, text) in files {
            fs::write(dir.join("spool").join(name).join(file), text).unwrap();
        }
    }
}

fn serve(config: &Path) -> String {
    let output = asim_rules(&[
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--until-idle",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    stderr
}

/// A tenant's alert lines, without the tenant's name, sorted.
fn alerts(dir: &Path, tenant: &str) -> Vec<String> {
    let text = fs::read_to_string(dir.join("alerts").join(format!("{tenant}.jsonl"))).unwrap();
    let mut lines: Vec<String> = text
        .lines()
        .map(|line| line.replace(&format!("\"Tenant\":\"{tenant}\""), "\"Tenant\":\"T\""))
        .collect();
    lines.sort();
    lines
}

#[test]
fn tenants_alert_as_replay_does_and_a_hostile_rule_stays_in_its_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    drop_files(dir.path(), &spool_files());
    let stderr = serve(&config);
    assert!(
        stderr.contains("tenant evil: rule hostile quarantined: evaluate: exceeded the CPU budget (2000 ms per call)"),
        "{stderr}"
    );

    // `replay` over the same data and range, as tenant T.
    let data = generated();
    let (ti, anomaly) = (component("ti-map-ip"), component("network-session-anomaly"));
    let replayed = success(&[
        "replay",
        "--rule",
        ti.to_str().unwrap(),
        "--rule",
        anomaly.to_str().unwrap(),
        "--sessions",
        data.join("sessions.jsonl").to_str().unwrap(),
        "--indicators",
        data.join("indicators.jsonl").to_str().unwrap(),
        "--from",
        "2026-03-10T18:00:00Z",
        "--to",
        "2026-03-12T01:00:00Z",
        "--tenant",
        "T",
    ]);
    let mut expected: Vec<String> = replayed.lines().map(str::to_owned).collect();
    expected.sort();
    assert!(expected.len() > 5, "the planted incidents alert");
    assert_eq!(alerts(dir.path(), "acme"), expected);
    // The hostile rule's tenant gets the real rules' alerts all the same.
    assert_eq!(alerts(dir.path(), "evil"), expected);

    // Status: per tenant and rule, with the quarantine and its reason.
    let state = dir.path().join("state");
    let status: serde_json::Value = serde_json::from_str(&success(&[
        "status",
        "--state",
        state.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    let evil = &status["tenants"][1];
    assert_eq!(evil["tenant"], "evil");
    assert_eq!(evil["rules"][2]["state"], "quarantined");
    assert_eq!(evil["rules"][0]["state"], "running");
    let table = success(&["status", "--state", state.to_str().unwrap()]);
    assert!(table.contains("quarantined"), "{table}");
    assert!(table.contains("acme"), "{table}");

    // Every file was played once: a second run finds nothing new.
    serve(&config);
    assert_eq!(alerts(dir.path(), "acme"), expected);
}

#[test]
fn a_restarted_serve_resumes_where_it_stopped() {
    let files = spool_files();
    let whole = tempfile::tempdir().unwrap();
    let config_whole = config(whole.path());
    drop_files(whole.path(), &files);
    serve(&config_whole);

    // The same files in two deliveries, serve stopped and started between.
    let parts = tempfile::tempdir().unwrap();
    let config_parts = config(parts.path());
    let (first, second) = files.split_at(files.len() / 2);
    drop_files(parts.path(), first);
    serve(&config_parts);
    drop_files(parts.path(), second);
    serve(&config_parts);
    for tenant in ["acme", "evil"] {
        assert_eq!(
            alerts(parts.path(), tenant),
            alerts(whole.path(), tenant),
            "{tenant}"
        );
    }
    // Alerts written after the last checkpoint of a killed serve are cut
    // away on restart, not written twice.
    let alerts_file = parts.path().join("alerts/acme.jsonl");
    let mut text = fs::read_to_string(&alerts_file).unwrap();
    text.push_str("{\"written after the checkpoint\":true}\n");
    fs::write(&alerts_file, text).unwrap();
    serve(&config_parts);
    assert_eq!(alerts(parts.path(), "acme"), alerts(whole.path(), "acme"));
}
