//! `serve`: tenants from a config, spools played in name order each exactly
//! once, event-time evaluation equal to `replay`'s, a hostile rule contained
//! to its tenant, and a restart that resumes from the checkpoint.

use std::{
    fs,
    path::{Path, PathBuf},
};

use asim_rules::serve::status::{RuleState, Status};

use crate::support::{
    alert_lines_as_t, asim_rules, component, generated, hostile, json_lines, late_session,
    replayed_sentinel, serve_failing, serve_until_idle, six_hour_spool, status_of, success,
    versioned,
};

/// Generated data cut into spool files of six hours each
/// (`NNNN-indicators.jsonl`, `NNNN-sessions.jsonl`, in time order by name),
/// an empty one, and a last file with one session far later, whose time moves the
/// watermark past the data's end. Returns the files in name order.
fn spool_files() -> Vec<(String, String)> {
    let mut chunks = six_hour_spool(generated(), "2026-03-01T00:00:00Z");
    // A file with no rows is played (and checkpointed) like any other.
    chunks.insert("0040-sessions-empty.jsonl".into(), String::new());
    chunks.insert(
        "9999-sessions.jsonl".into(),
        late_session("2026-03-12T08:00:00Z"),
    );
    chunks.into_iter().collect()
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

/// A tenant's alert lines, without the tenant's name and the `AlertId`
/// `serve` adds (each one distinct), sorted.
fn alerts(dir: &Path, tenant: &str) -> Vec<String> {
    let text = fs::read_to_string(dir.join("alerts").join(format!("{tenant}.jsonl"))).unwrap();
    alert_lines_as_t(&text, tenant)
}

#[test]
fn tenants_alert_as_replay_does_and_a_hostile_rule_stays_in_its_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    drop_files(dir.path(), &spool_files());
    let stderr = serve_until_idle(&config);
    assert!(
        stderr.contains("tenant evil: rule hostile quarantined: evaluate: exceeded the CPU budget (2000 ms per call)"),
        "{stderr}"
    );

    // `replay` over the same data and range, as tenant T.
    let expected = replayed_sentinel(generated(), "2026-03-12T01:00:00Z");
    assert_eq!(alerts(dir.path(), "acme"), expected);
    // The hostile rule's tenant gets the real rules' alerts all the same.
    assert_eq!(alerts(dir.path(), "evil"), expected);

    // Status: per tenant and rule, with the quarantine and its reason.
    let status = status_of(dir.path());
    let evil = &status.tenants[1];
    assert_eq!(evil.tenant, "evil");
    assert_eq!(evil.rules[2].state, RuleState::Quarantined);
    assert_eq!(evil.rules[0].state, RuleState::Running);
    let state = dir.path().join("state");
    let table = success(&["status", "--state", state.to_str().unwrap()]);
    assert!(table.contains("quarantined"), "{table}");
    assert!(table.contains("acme"), "{table}");

    // Every file was played once: a second run finds nothing new.
    serve_until_idle(&config);
    assert_eq!(alerts(dir.path(), "acme"), expected);
}

#[test]
fn a_restarted_serve_resumes_where_it_stopped() {
    let files = spool_files();
    let whole = tempfile::tempdir().unwrap();
    let config_whole = config(whole.path());
    drop_files(whole.path(), &files);
    serve_until_idle(&config_whole);

    // The same files in two deliveries, serve stopped and started between.
    let parts = tempfile::tempdir().unwrap();
    let config_parts = config(parts.path());
    let (first, second) = files.split_at(files.len() / 2);
    drop_files(parts.path(), first);
    serve_until_idle(&config_parts);
    drop_files(parts.path(), second);
    serve_until_idle(&config_parts);
    for tenant in ["acme", "evil"] {
        assert_eq!(
            alerts(parts.path(), tenant),
            alerts(whole.path(), tenant),
            "{tenant}"
        );
        // A file is played whole or still has rows waiting, never both.
        let checkpoint = parts
            .path()
            .join("state")
            .join(tenant)
            .join("checkpoint.json");
        let checkpoint: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(checkpoint).unwrap()).unwrap();
        let done: Vec<_> = checkpoint["done"].as_array().unwrap().iter().collect();
        let waiting = checkpoint["open"].as_array().unwrap();
        assert!(
            !waiting.is_empty(),
            "the lateness keeps the last files' rows waiting"
        );
        assert!(
            waiting.iter().all(|file| !done.contains(&file)),
            "{checkpoint}"
        );
    }
    // Alerts written after the last checkpoint of a killed serve are cut
    // away on restart, not written twice.
    let alerts_file = parts.path().join("alerts/acme.jsonl");
    let mut text = fs::read_to_string(&alerts_file).unwrap();
    text.push_str("{\"written after the checkpoint\":true}\n");
    fs::write(&alerts_file, text).unwrap();
    serve_until_idle(&config_parts);
    assert_eq!(alerts(parts.path(), "acme"), alerts(whole.path(), "acme"));
}

/// A small spool for tenant `name`: one listed address, sessions to it in
/// the hour before 12:00, and a later row that moves the watermark past 12:00.
pub fn small_spool(dir: &Path, name: &str) {
    let spool = dir.join("spool").join(name);
    fs::create_dir_all(&spool).unwrap();
    let indicator = r#"{"TimeGenerated":"2026-03-01T00:00:00Z","IndicatorId":"ioc-1","ExpirationDateTime":"2026-04-01T00:00:00Z","Active":true,"NetworkIP":"203.0.113.9","ThreatType":"Botnet","ConfidenceScore":80}"#;
    fs::write(
        spool.join("0001-indicators.jsonl"),
        format!("{indicator}\n"),
    )
    .unwrap();
    let session = |time: &str, src: &str| {
        format!(
            r#"{{"TimeGenerated":"{time}","SrcIpAddr":"{src}","DstIpAddr":"203.0.113.9","DvcAction":"Allow","NetworkDirection":"Outbound","NetworkProtocol":"TCP","EventProduct":"Demo","EventVendor":"Demo","Dvc":"fw"}}"#
        )
    };
    let sessions = [
        session("2026-03-02T11:10:00Z", "10.0.0.1"),
        session("2026-03-02T11:20:00Z", "10.0.0.2"),
        session("2026-03-02T11:30:00Z", "10.0.0.1"),
    ];
    fs::write(
        spool.join("0002-sessions.jsonl"),
        sessions.join("\n") + "\n",
    )
    .unwrap();
    let later = session("2026-03-02T13:00:00Z", "10.0.0.3");
    fs::write(spool.join("0003-sessions.jsonl"), later + "\n").unwrap();
}

/// Runs `serve` over tenant `good` (the TI rule) and, when given, tenant
/// `bad` (the TI rule and the hostile one in `mode`); `good`'s alerts and
/// the `serve` stderr.
fn good_beside(bad_mode: Option<&str>, budgets: &str) -> (Vec<String>, String, Status) {
    good_with(bad_mode, budgets, "")
}

/// [`good_beside`], with `extra` lines at the end of `good`'s first sessions.
fn good_with(bad_mode: Option<&str>, budgets: &str, extra: &str) -> (Vec<String>, String, Status) {
    let dir = tempfile::tempdir().unwrap();
    let ti = component("ti-map-ip");
    let rule = |path: &Path, parameters: &str| {
        format!(
            "[[tenant.rule]]\ncomponent = {:?}\n{parameters}\n",
            path.to_str().unwrap()
        )
    };
    let tenant = |name: &str, budgets: &str| {
        format!(
            "[[tenant]]\nname = \"{name}\"\nspool = \"spool/{name}\"\nalerts = \"{name}.jsonl\"\n\
             from = \"2026-03-02T00:00:00Z\"\nlateness = \"5m\"\n{budgets}\n"
        )
    };
    let mut text = format!(
        "state = \"state\"\n\n{}{}",
        tenant("good", ""),
        rule(&ti, "")
    );
    small_spool(dir.path(), "good");
    let first_sessions = dir.path().join("spool/good/0002-sessions.jsonl");
    let text_before = fs::read_to_string(&first_sessions).unwrap();
    fs::write(&first_sessions, text_before + extra).unwrap();
    if let Some(mode) = bad_mode {
        let parameters = format!("parameters = {{ mode = \"{mode}\" }}");
        text += &(tenant("bad", budgets) + &rule(&ti, "") + &rule(&hostile(), &parameters));
        small_spool(dir.path(), "bad");
    }
    let config = dir.path().join("serve.toml");
    fs::write(&config, text).unwrap();
    let stderr = serve_until_idle(&config);
    let good = fs::read_to_string(dir.path().join("good.jsonl")).unwrap();
    let status = status_of(dir.path());
    (good.lines().map(str::to_owned).collect(), stderr, status)
}

#[test]
fn every_hostile_mode_is_contained_to_its_tenant_by_serve() {
    let (expected, _, _) = good_beside(None, "");
    assert_eq!(expected.len(), 2, "two sources met the listed address");
    let cases = [
        (
            "loop",
            "budgets = { call_ms = 500 }",
            "exceeded the CPU budget (500 ms per call)",
        ),
        (
            "slow",
            "budgets = { call_ms = 300 }",
            "exceeded the CPU budget (300 ms per call)",
        ),
        (
            "memory",
            "budgets = { memory_mib = 256 }",
            "exceeded the memory budget (256 MiB)",
        ),
        ("recursion", "", "trapped: wasm trap: call stack exhausted"),
        ("trap", "", "trapped: wasm trap: wasm `unreachable`"),
        (
            "flood",
            "budgets = { alerts = 1000 }",
            "returned 1000000 alerts, over the budget of 1000",
        ),
        (
            "huge-alert",
            "budgets = { alert_kib = 16 }",
            "over the budget of 16384 bytes",
        ),
        // Checkpoints snapshot every rule.
        (
            "snapshot-bomb",
            "budgets = { snapshot_mib = 64 }",
            "snapshot: handed the host more than its output budget (64 MiB)",
        ),
    ];
    for (mode, budgets, reason) in cases {
        let (good, stderr, status) = good_beside(Some(mode), budgets);
        assert_eq!(good, expected, "{mode}: {stderr}");
        assert!(
            stderr.contains("tenant bad: rule hostile quarantined: "),
            "{mode}: {stderr}"
        );
        let hostile = &status.tenants[1].rules[1];
        assert_eq!(hostile.state, RuleState::Quarantined, "{mode}");
        assert!(
            hostile.reason.as_deref().unwrap().contains(reason),
            "{mode}: {hostile:?}"
        );
        // The bad tenant's own TI rule went on.
        assert_eq!(status.tenants[1].rules[0].alerts, 2, "{mode}");
        // The host held what the budgets allow (4 GiB where none is set) and
        // little more: the flood and the bomb stayed in the guest.
        let peak: u64 = stderr
            .rsplit("peak memory ")
            .next()
            .and_then(|rest| rest.split(' ').next())
            .and_then(|mib| mib.parse().ok())
            .unwrap_or_else(|| panic!("{mode}: no peak memory in {stderr}"));
        assert!(peak < 1024, "{mode}: peak memory {peak} MiB");
    }
}

#[test]
fn a_component_asking_for_host_capabilities_is_refused_for_its_tenant_alone() {
    let dir = tempfile::tempdir().unwrap();
    small_spool(dir.path(), "good");
    // Each a component importing what the host does not give: HTTP, a
    // host's own interface, a WASI of another version, and a WASI 0.2
    // interface with a function WASI does not have.
    let mut text = String::from("state = \"state\"\n\n");
    text += "[[tenant]]\nname = \"good\"\nspool = \"spool/good\"\nalerts = \"good.jsonl\"\nfrom = \"2026-03-02T00:00:00Z\"\n";
    let refused = [
        ("http.wasm", "wasi:http/outgoing-handler@0.2.0"),
        ("secrets.wasm", "host:secrets/vault@1.0.0"),
        ("environment.wasm", "wasi:cli/environment@0.3.0"),
        ("files.wasm", "wasi:filesystem/preopens@0.2.0"),
    ];
    for (file, import) in refused {
        let bytes = wat::parse_str(format!(
            r#"(component (import "{import}" (instance (export "f" (func (result u32))))))"#
        ))
        .unwrap();
        fs::write(dir.path().join(file), bytes).unwrap();
        text += &format!("[[tenant.rule]]\ncomponent = \"{file}\"\n");
    }
    text += &format!(
        "[[tenant.rule]]\ncomponent = {:?}\n",
        component("ti-map-ip").to_str().unwrap()
    );
    let config = dir.path().join("serve.toml");
    fs::write(&config, text).unwrap();
    let stderr = serve_until_idle(&config);
    for (_, import) in &refused[..3] {
        assert!(
            stderr.contains(&format!("imports {import}, which")),
            "{import}: {stderr}"
        );
    }
    assert!(
        stderr.contains(
            "its imports are not those of WASI 0.2 as asim-rules gives it: component imports \
             instance `wasi:filesystem/preopens@0.2.0`"
        ),
        "{stderr}"
    );
    let status = status_of(dir.path());
    assert_eq!(status.tenants[0].refused.len(), refused.len());
    // The tenant's real rule runs all the same.
    assert_eq!(status.tenants[0].rules[0].alerts, 2);
}

#[test]
fn a_row_dated_far_ahead_is_refused_and_moves_neither_watermark_nor_ticks() {
    let (expected, _, expected_status) = good_beside(None, "");
    assert!(!expected.is_empty());
    let (alerts, stderr, status) = good_with(None, "", &late_session("9999-12-31T23:59:59Z"));
    assert_eq!(alerts, expected, "{stderr}");
    let (tenant, expected_tenant) = (&status.tenants[0], &expected_status.tenants[0]);
    assert_eq!(tenant.rows_too_far_ahead, 1);
    assert_eq!(tenant.watermark, expected_tenant.watermark);
    assert_eq!(
        tenant.rules[0].evaluations,
        expected_tenant.rules[0].evaluations
    );
    assert!(
        stderr.contains("0002-sessions.jsonl: 1 rows dated after"),
        "{stderr}"
    );
}

/// A config of tenant `good` (its `small_spool`) with `extra` settings and
/// `rules`, written under `dir`.
fn good_config(dir: &Path, extra: &str, rules: &[&Path]) -> PathBuf {
    let mut text = format!(
        "state = \"state\"\n[[tenant]]\nname = \"good\"\nspool = \"spool/good\"\nalerts = \"good.jsonl\"\n\
         from = \"2026-03-02T00:00:00Z\"\n{extra}"
    );
    for rule in rules {
        text += &format!(
            "[[tenant.rule]]\ncomponent = {:?}\n",
            rule.to_str().unwrap()
        );
    }
    let config = dir.join("serve.toml");
    fs::write(&config, text).unwrap();
    config
}

#[test]
fn a_rule_refused_at_start_stays_out_of_a_running_tenant_and_one_gone_leaves_the_others_running() {
    let dir = tempfile::tempdir().unwrap();
    small_spool(dir.path(), "good");
    let anomaly = dir.path().join("anomaly.wasm");
    let config = good_config(
        dir.path(),
        "lateness = \"5m\"\n",
        &[&anomaly, &component("ti-map-ip")],
    );
    // The anomaly rule's file is not there yet: the tenant runs without it.
    serve_until_idle(&config);
    let alerted = || {
        let alerts = fs::read_to_string(dir.path().join("good.jsonl")).unwrap();
        alerts.matches("10.0.0.4").count()
    };
    assert_eq!(alerted(), 0);
    // Back, it cannot join mid-stream: it stays refused, the TI rule resumes.
    fs::copy(component("network-session-anomaly"), &anomaly).unwrap();
    let later = r#"{"TimeGenerated":"2026-03-02T14:10:00Z","SrcIpAddr":"10.0.0.4","DstIpAddr":"203.0.113.9","DvcAction":"Allow","NetworkDirection":"Outbound","NetworkProtocol":"TCP","EventProduct":"Demo","EventVendor":"Demo","Dvc":"fw"}"#;
    fs::write(
        dir.path().join("spool/good/0004-sessions.jsonl"),
        format!("{later}\n"),
    )
    .unwrap();
    fs::write(
        dir.path().join("spool/good/0005-sessions.jsonl"),
        late_session("2026-03-02T16:00:00Z"),
    )
    .unwrap();
    let stderr = serve_until_idle(&config);
    assert!(stderr.contains("cannot join mid-stream"), "{stderr}");
    let status = status_of(dir.path());
    let refused = &status.tenants[0].refused;
    assert!(
        refused
            .iter()
            .any(|refused| refused.reason.contains("cannot join mid-stream")),
        "{status:?}"
    );
    assert_eq!(
        alerted(),
        1,
        "the TI rule saw the session after the restart"
    );
    // Started afresh, it runs.
    fs::remove_dir_all(dir.path().join("state")).unwrap();
    fs::remove_file(dir.path().join("good.jsonl")).unwrap();
    serve_until_idle(&config);
    let status = status_of(dir.path());
    assert_eq!(status.tenants[0].rules.len(), 2, "{status:?}");
    // Its kept build gone, the tenant resumes with the TI rule alone.
    for kept in fs::read_dir(dir.path().join("state/good/components")).unwrap() {
        let kept = kept.unwrap().path();
        if fs::read(&kept).unwrap() == fs::read(&anomaly).unwrap() {
            fs::remove_file(kept).unwrap();
        }
    }
    fs::write(
        dir.path().join("spool/good/0006-sessions.jsonl"),
        late_session("2026-03-02T18:00:00Z"),
    )
    .unwrap();
    serve_until_idle(&config);
    let status = status_of(dir.path());
    let rules = &status.tenants[0].rules;
    assert_eq!(rules.len(), 1, "{status:?}");
    assert!(rules[0].evaluations > 0, "{status:?}");
}

#[test]
fn tenants_with_copies_of_one_component_and_with_another_build_each_run_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let ti = component("ti-map-ip");
    let copy = dir.path().join("copy.wasm");
    fs::copy(&ti, &copy).unwrap();
    let other = versioned(&ti, "1.2.2", "1.2.9", &dir.path().join("other.wasm"));
    let mut text = String::from("state = \"state\"\n");
    for (name, rule) in [("a", &ti), ("b", &copy), ("c", &other), ("d", &ti)] {
        small_spool(dir.path(), name);
        text += &format!(
            "[[tenant]]\nname = \"{name}\"\nspool = \"spool/{name}\"\nalerts = \"{name}.jsonl\"\n\
             from = \"2026-03-02T00:00:00Z\"\nlateness = \"5m\"\n[[tenant.rule]]\ncomponent = {:?}\n",
            rule.to_str().unwrap()
        );
    }
    let config = dir.path().join("serve.toml");
    fs::write(&config, text).unwrap();
    // Fresh, then restarted from the checkpoints.
    for _ in 0..2 {
        serve_until_idle(&config);
        let status = status_of(dir.path());
        let versions: Vec<&str> = (0..4)
            .map(|tenant| status.tenants[tenant].rules[0].version.as_str())
            .collect();
        assert_eq!(versions, ["1.2.2", "1.2.2", "1.2.9", "1.2.2"], "{status:?}");
        let alerts = |name: &str| {
            let text = fs::read_to_string(dir.path().join(format!("{name}.jsonl"))).unwrap();
            text.lines()
                .map(|line| {
                    let mut alert: serde_json::Value = serde_json::from_str(line).unwrap();
                    for key in ["Tenant", "AlertId", "RuleVersion"] {
                        alert.as_object_mut().unwrap().remove(key);
                    }
                    alert
                })
                .collect::<Vec<_>>()
        };
        assert!(!alerts("a").is_empty());
        for name in ["b", "c", "d"] {
            assert_eq!(alerts(name), alerts("a"), "tenant {name}");
        }
    }
}

#[test]
fn a_damaged_checkpoint_stops_its_tenant_with_a_reason_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    small_spool(dir.path(), "good");
    let config = good_config(dir.path(), "", &[&component("ti-map-ip")]);
    serve_until_idle(&config);
    let path = dir.path().join("state/good/checkpoint.json");
    let written: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    let with = |key: &str, value: serde_json::Value| {
        let mut checkpoint = written.clone();
        checkpoint[key] = value;
        checkpoint.to_string()
    };
    for (damage, text, reason) in [
        (
            "no ticks",
            with("next_ticks", serde_json::json!([])),
            "next_ticks holds the state of 0 rules where it records 1",
        ),
        (
            "a tick before the watermark",
            with(
                "next_ticks",
                serde_json::json!([written["watermark"].as_i64().unwrap() - 3_600_000_000i64]),
            ),
            "a next tick lies at or before the watermark",
        ),
        (
            "a file outside the spool",
            with("open", serde_json::json!(["../serve.toml"])),
            "\"../serve.toml\" is not the name of a spool file",
        ),
        (
            "a component outside the store",
            {
                let mut checkpoint = written.clone();
                checkpoint["records"][0]["current"]["digest"] = serde_json::json!("../../serve");
                checkpoint.to_string()
            },
            "\"../../serve\" is not a component digest",
        ),
        (
            "a latest row years past the watermark",
            with(
                "latest",
                serde_json::json!(
                    written["watermark"].as_i64().unwrap() + 10 * 365 * 86_400_000_000i64
                ),
            ),
            "the watermark does not trail the latest row by the lateness",
        ),
        (
            "year 292277",
            with("latest", serde_json::json!(i64::MAX)),
            "latest lies outside the years 0001 to 9999",
        ),
        (
            "more rules",
            with("evaluations", serde_json::json!([[0, 0], [1, 1], [2, 2]])),
            "evaluations holds the state of 3 rules",
        ),
        (
            "cut short",
            written.to_string()[..40].to_owned(),
            "unreadable checkpoint",
        ),
    ] {
        fs::write(&path, text).unwrap();
        let output = crate::support::asim_rules(&[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--until-idle",
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{damage}: {stderr}");
        assert!(
            stderr.contains("checkpoint.json") && stderr.contains(reason),
            "{damage}: {stderr}"
        );
    }
}

#[test]
fn serve_logs_as_json_with_the_tenant_as_a_field_and_at_the_level_asked() {
    // Tenant `good` runs the TI rule; `bad` runs it beside a rule that traps.
    let serve = |flags: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let rule = |path: &Path, parameters: &str| {
            format!(
                "[[tenant.rule]]\ncomponent = {:?}\n{parameters}\n",
                path.to_str().unwrap()
            )
        };
        let mut text = String::from("state = \"state\"\n");
        for name in ["good", "bad"] {
            small_spool(dir.path(), name);
            text += &format!(
                "[[tenant]]\nname = \"{name}\"\nspool = \"spool/{name}\"\nalerts = \"{name}.jsonl\"\n\
                 from = \"2026-03-02T00:00:00Z\"\nlateness = \"5m\"\n{}",
                rule(&component("ti-map-ip"), "")
            );
        }
        text += &rule(&hostile(), "parameters = { mode = \"trap\" }");
        let config = dir.path().join("serve.toml");
        fs::write(&config, text).unwrap();
        let mut args = vec![
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--until-idle",
        ];
        args.extend_from_slice(flags);
        let output = asim_rules(&args);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{stderr}");
        let alerts = fs::read_to_string(dir.path().join("good.jsonl")).unwrap();
        (stderr, alerts)
    };
    let (_, expected) = serve(&[]);
    assert_eq!(
        expected.lines().count(),
        2,
        "two sources met the listed address"
    );

    let (stderr, alerts) = serve(&["--log-format", "json"]);
    assert_eq!(alerts, expected, "logging changes no output");
    let events = json_lines(&stderr);
    assert_eq!(
        events.len(),
        stderr.lines().count(),
        "one JSON object a line: {stderr}"
    );
    for event in &events {
        for key in ["timestamp", "level", "message", "target"] {
            assert!(event[key].is_string(), "{key} in {event}");
        }
    }
    let quarantined = events
        .iter()
        .find(|event| {
            event["message"]
                .as_str()
                .unwrap()
                .contains("rule hostile quarantined")
        })
        .unwrap_or_else(|| panic!("a quarantine event in {stderr}"));
    assert_eq!(quarantined["level"], "WARN");
    assert_eq!(quarantined["tenant"], "bad");
    assert!(
        events.iter().any(|event| event["level"] == "INFO"),
        "{stderr}"
    );

    // For a person, warnings only: the quarantine, and no line of progress.
    let (stderr, alerts) = serve(&["--log-level", "warn"]);
    assert_eq!(alerts, expected);
    assert!(
        stderr.contains("warning: tenant bad: rule hostile quarantined: "),
        "{stderr}"
    );
    assert!(
        stderr.lines().all(|line| line.starts_with("warning: ")),
        "{stderr}"
    );
}

#[test]
fn a_tenant_writes_the_alert_shape_its_configuration_names_with_the_same_ids() {
    let alerts_as = |format: &str| {
        let dir = tempfile::tempdir().unwrap();
        small_spool(dir.path(), "good");
        let extra = format!("lateness = \"5m\"\nalert_format = \"{format}\"\n");
        let config = good_config(dir.path(), &extra, &[&component("ti-map-ip")]);
        serve_until_idle(&config);
        json_lines(&fs::read_to_string(dir.path().join("good.jsonl")).unwrap())
    };
    let alerts = alerts_as("jsonl");
    let findings = alerts_as("ocsf");
    let rows = alerts_as("sentinel");
    assert!(!alerts.is_empty());
    assert_eq!(findings.len(), alerts.len());
    assert_eq!(rows.len(), alerts.len());
    for ((alert, finding), row) in alerts.iter().zip(&findings).zip(&rows) {
        assert_eq!(finding["class_uid"], 2004);
        assert_eq!(finding["finding_info"]["uid"], alert["AlertId"]);
        assert_eq!(finding["metadata"]["tenant_uid"], "good");
        assert_eq!(row["SystemAlertId"], alert["AlertId"]);
    }

    // A table is for a terminal, not an alert file.
    let dir = tempfile::tempdir().unwrap();
    small_spool(dir.path(), "good");
    let config = good_config(
        dir.path(),
        "alert_format = \"table\"\n",
        &[&component("ti-map-ip")],
    );
    assert!(serve_failing(&config).contains("not as a table"));
}
