//! Hot swaps in `serve`: builds and parameters changed while it runs (by
//! `asim-rules swap`, an edited config, a replaced component file), state
//! carried or rebuilt, a failing build rolled back, and kills at random
//! moments: the alerts stay those of a run with no swap and no kill.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::OnceLock,
    thread::sleep,
    time::{Duration, Instant},
};

use asim_rules::serve::status::{RuleState, Status};

use crate::support::{
    asim_rules, component, hostile, late_session, seconds, serve_until_idle, six_hour_spool,
    status_of, success, versioned,
};

/// Generated days cut into spool files of six hours each, in time order by
/// name, and a last session far later that moves the watermark past the end.
fn stream() -> &'static [(String, String)] {
    static FILES: OnceLock<Vec<(String, String)>> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().to_str().unwrap();
        success(&["generate", "--out", out, "--sessions-per-day", "8000"]);
        let mut chunks = six_hour_spool(dir.path(), "2026-02-25T00:00:00Z");
        chunks.insert(
            "9999-sessions.jsonl".into(),
            late_session("2026-03-13T08:00:00Z"),
        );
        chunks.into_iter().collect()
    })
}

/// A small deterministic generator for the random points (no dependency).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound
    }
}

/// A config for tenant `t` with `rules` (component, TOML parameters) under `dir`.
fn config(dir: &Path, rules: &[(&Path, &str)]) -> PathBuf {
    let mut text = String::from(
        "state = \"state\"\npoll_ms = 20\n\n[[tenant]]\nname = \"t\"\nspool = \"spool\"\n\
         alerts = \"alerts.jsonl\"\nfrom = \"2026-02-26T00:00:00Z\"\nlateness = \"7h\"\n",
    );
    for (component, parameters) in rules {
        text += &format!(
            "\n[[tenant.rule]]\ncomponent = {:?}\n{parameters}\n",
            component.to_str().unwrap()
        );
    }
    fs::create_dir_all(dir.join("spool")).unwrap();
    let path = dir.join("serve.toml");
    replace_file(&path, text.as_bytes());
    path
}

/// Writes a file as writers are told to: aside, then renamed into place.
fn replace_file(path: &Path, bytes: &[u8]) {
    let temporary = path.with_extension("tmp");
    fs::write(&temporary, bytes).unwrap();
    fs::rename(&temporary, path).unwrap();
}

fn deliver(dir: &Path, files: &[(String, String)]) {
    for (name, text) in files {
        replace_file(&dir.join("spool").join(name), text.as_bytes());
    }
}

/// `serve` watching, its stderr in `dir/serve.log`.
fn spawn_serve(config: &Path, dir: &Path, until_idle: bool) -> Child {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("serve.log"))
        .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_asim-rules"));
    command.args(["serve", "--config", config.to_str().unwrap()]);
    if until_idle {
        command.arg("--until-idle");
    }
    command.stdout(Stdio::null()).stderr(log).spawn().unwrap()
}

fn stop(mut serve: Child) {
    serve.kill().unwrap();
    serve.wait().unwrap();
}

fn swap(dir: &Path, rule: &str, component: Option<&Path>, parameters: &[&str]) -> Output {
    let state = dir.join("state");
    let mut args = vec!["swap", "--state", state.to_str().unwrap(), "--tenant", "t"];
    args.extend(["--rule", rule, "--wait", "120"]);
    if let Some(component) = component {
        args.extend(["--component", component.to_str().unwrap()]);
    }
    for parameter in parameters {
        args.extend(["--param", parameter]);
    }
    asim_rules(&args)
}

/// The outcome of a swap that must be applied; on failure, what serve logged.
fn swapped(dir: &Path, output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}\nserve's log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
    );
    stdout
}

/// Waits until `done` holds of the status (`serve` runs meanwhile).
fn wait_for(dir: &Path, what: &str, done: impl Fn(&Status) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if dir.join("state/status.json").exists() && done(&status_of(dir)) {
            return;
        }
        sleep(Duration::from_millis(50));
    }
    panic!("{what}: not within 120 s: {:?}", status_of(dir));
}

/// Waits until `serve` has played every file delivered so far.
fn wait_played(dir: &Path, files: usize) {
    wait_for(dir, "files played", |status| {
        status.tenants[0].files_played + status.tenants[0].files_waiting >= files
    });
}

fn alert_lines(dir: &Path) -> Vec<String> {
    fs::read_to_string(dir.join("alerts.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The alerts of the TI and anomaly rules over [`stream`] with no swap and
/// no kill.
fn baseline() -> &'static [String] {
    static ALERTS: OnceLock<Vec<String>> = OnceLock::new();
    ALERTS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (ti, anomaly) = (component("ti-map-ip"), component("network-session-anomaly"));
        let config = config(dir.path(), &[(&ti, ""), (&anomaly, "")]);
        deliver(dir.path(), stream());
        serve_until_idle(&config);
        let alerts = alert_lines(dir.path());
        assert!(alerts.len() > 10, "the planted incidents alert");
        alerts
    })
}

fn without_version(line: &str) -> serde_json::Value {
    let mut alert: serde_json::Value = serde_json::from_str(line).unwrap();
    alert.as_object_mut().unwrap().remove("RuleVersion");
    alert
}

#[test]
fn a_hundred_swaps_between_two_versions_change_no_alert() {
    let dir = tempfile::tempdir().unwrap();
    let (ti, anomaly) = (component("ti-map-ip"), component("network-session-anomaly"));
    let builds = [
        [
            ti.clone(),
            versioned(&ti, "1.2.2", "1.2.9", &dir.path().join("ti-next.wasm")),
        ],
        [
            anomaly.clone(),
            versioned(
                &anomaly,
                "1.3.0",
                "1.3.9",
                &dir.path().join("anomaly-next.wasm"),
            ),
        ],
    ];
    let config = config(dir.path(), &[(&ti, ""), (&anomaly, "")]);
    let files = stream();
    let mut random = Lcg(7);
    let mut swaps_after: Vec<u64> = vec![0; files.len()];
    for _ in 0..100 {
        swaps_after[random.below(files.len() as u64) as usize] += 1;
    }
    let mut running = [0, 0];
    let mut swaps = [0u64, 0];
    // Builds first swapped to: each compiled beside the tenant, once.
    let mut compiled_once = std::collections::BTreeSet::new();
    let serve = spawn_serve(&config, dir.path(), false);
    for (index, file) in files.iter().enumerate() {
        deliver(dir.path(), std::slice::from_ref(file));
        if swaps_after[index] > 0 {
            wait_played(dir.path(), index + 1);
        }
        for _ in 0..swaps_after[index] {
            let rule = random.below(2) as usize;
            running[rule] = 1 - running[rule];
            swaps[rule] += 1;
            let name = ["ti-map-ip", "network-session-anomaly"][rule];
            let outcome = swapped(
                dir.path(),
                &swap(dir.path(), name, Some(&builds[rule][running[rule]]), &[]),
            );
            assert!(outcome.contains("state carried over"), "{outcome}");
            let first = running[rule] == 1 && compiled_once.insert(rule);
            assert_eq!(
                outcome.contains("before the pause"),
                first,
                "only the first swap to a build compiles it, before the pause: {outcome}"
            );
        }
    }
    assert_eq!(compiled_once.len(), 2);
    wait_played(dir.path(), files.len());
    // Each swap counted once, its pause timed once (the status of a pass
    // after the last answer).
    wait_for(dir.path(), "every swap counted", |status| {
        status.tenants[0]
            .rules
            .iter()
            .enumerate()
            .all(|(rule, status)| {
                status.swaps == swaps[rule] && status.swap_pause_seconds.count == swaps[rule]
            })
    });
    stop(serve);
    // A restart finishes anything left and changes nothing.
    serve_until_idle(&config);

    let alerts = alert_lines(dir.path());
    let versions: std::collections::BTreeSet<String> = alerts
        .iter()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["RuleVersion"].to_string()
        })
        .collect();
    assert!(
        versions.len() >= 3,
        "alerts from both builds of a rule: {versions:?}"
    );
    let expected: Vec<_> = baseline()
        .iter()
        .map(|line| without_version(line))
        .collect();
    let got: Vec<_> = alerts.iter().map(|line| without_version(line)).collect();
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "alerts differ from the run with no swap");
    let rules = &status_of(dir.path()).tenants[0].rules;
    assert!(rules[0].previous_version.is_some(), "{rules:?}");
    assert!(rules[0].swapped_at.is_some(), "{rules:?}");
}

#[test]
fn a_failing_build_is_rolled_back_and_refused_builds_never_run() {
    let files = stream();
    let (ti, bad) = (component("ti-map-ip"), hostile());
    let fine = "parameters = { mode = \"fine\" }";
    let reference = tempfile::tempdir().unwrap();
    let reference_config = config(reference.path(), &[(&ti, ""), (&bad, fine)]);
    deliver(reference.path(), files);
    serve_until_idle(&reference_config);

    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &[(&ti, ""), (&bad, fine)]);
    let serve = spawn_serve(&config, dir.path(), false);
    let (first, rest) = files.split_at(files.len() / 2);
    deliver(dir.path(), first);
    wait_played(dir.path(), first.len());

    // Refused: a build that traps on its smoke evaluation, another rule.
    let trap = swap(dir.path(), "hostile", None, &["mode=trap"]);
    assert!(!trap.status.success());
    assert!(String::from_utf8_lossy(&trap.stdout).contains("smoke evaluation"));
    let scan = component("port-scan");
    let other = swap(dir.path(), "hostile", Some(&scan), &[]);
    assert!(!other.status.success());
    assert!(String::from_utf8_lossy(&other.stdout).contains("is rule"));

    // Applied, then failing on real data: rolled back, files played again.
    swapped(
        dir.path(),
        &swap(dir.path(), "hostile", None, &["mode=trap-on-data"]),
    );
    deliver(dir.path(), &rest[..4]);
    wait_for(dir.path(), "the rollback", |status| {
        status.tenants[0].rules[1]
            .last_swap
            .as_ref()
            .is_some_and(|swap| swap.contains("rolled back"))
    });
    let rules = &status_of(dir.path()).tenants[0].rules;
    assert_eq!(rules[1].parameters["mode"], "fine", "{rules:?}");
    assert_eq!(rules[1].state, RuleState::Running, "{rules:?}");

    // A build whose state format differs: its state is rebuilt from the spool.
    let rebuilt = swapped(
        dir.path(),
        &swap(
            dir.path(),
            "hostile",
            None,
            &["mode=fine", "state-format=2"],
        ),
    );
    assert!(rebuilt.contains("state rebuilt from"), "{rebuilt}");
    assert!(rebuilt.contains("snapshot format version 1"), "{rebuilt}");
    deliver(dir.path(), &rest[4..]);
    wait_played(dir.path(), files.len());
    stop(serve);
    serve_until_idle(&config);
    let log = fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(log.contains("rolled back from"), "{log}");
    assert_eq!(alert_lines(dir.path()), alert_lines(reference.path()));
}

#[test]
fn a_longer_lookback_is_given_the_state_rebuilt_from_the_spool() {
    let files = stream();
    let anomaly = component("network-session-anomaly");
    let run = |parameters: &str| {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), &[(&anomaly, parameters)]);
        deliver(dir.path(), files);
        serve_until_idle(&config);
        alert_lines(dir.path())
    };
    let (short, long) = (run(""), run("parameters = { lookback-days = \"21\" }"));
    assert_ne!(short, long, "the lookback changes the scores");

    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &[(&anomaly, "")]);
    let serve = spawn_serve(&config, dir.path(), false);
    let (first, rest) = files.split_at(files.len() * 2 / 3);
    deliver(dir.path(), first);
    wait_played(dir.path(), first.len());
    let watermark = status_of(dir.path()).tenants[0].watermark.clone().unwrap();
    let outcome = swapped(
        dir.path(),
        &swap(
            dir.path(),
            "network-session-anomaly",
            None,
            &["lookback-days=21"],
        ),
    );
    assert!(outcome.contains("state rebuilt from"), "{outcome}");
    deliver(dir.path(), rest);
    wait_played(dir.path(), files.len());
    stop(serve);
    serve_until_idle(&config);

    // Ticks up to the swap's watermark had the 14-day build, later ones
    // the 21-day build with a state as if it had run from the start.
    let evaluated = |line: &String| {
        let alert: serde_json::Value = serde_json::from_str(line).unwrap();
        seconds(alert["EvaluatedAt"].as_str().unwrap()) <= seconds(&watermark)
    };
    let expected: Vec<String> = short
        .iter()
        .filter(|line| evaluated(line))
        .chain(long.iter().filter(|line| !evaluated(line)))
        .cloned()
        .collect();
    let got = alert_lines(dir.path());
    assert!(
        got.iter().any(|line| !evaluated(line)),
        "alerts after the swap"
    );
    assert_eq!(got, expected);
}

#[test]
fn twenty_kills_at_random_moments_lose_and_double_no_alert() {
    let dir = tempfile::tempdir().unwrap();
    let (ti, anomaly) = (component("ti-map-ip"), component("network-session-anomaly"));
    // How long one uninterrupted `serve` takes here: the kills fall within
    // its first tenth, so that most land while it works however fast the
    // machine (each restart resumes from a checkpoint, with less to do).
    let whole_run = {
        let probe = tempfile::tempdir().unwrap();
        let config = config(probe.path(), &[(&ti, ""), (&anomaly, "")]);
        deliver(probe.path(), stream());
        let started = Instant::now();
        serve_until_idle(&config);
        started.elapsed()
    };
    let config = config(dir.path(), &[(&ti, ""), (&anomaly, "")]);
    deliver(dir.path(), stream());
    let mut random = Lcg(11);
    let mut interrupted = 0;
    for _ in 0..20 {
        let mut serve = spawn_serve(&config, dir.path(), true);
        let permille = 10 + random.below(90);
        sleep(whole_run * u32::try_from(permille).unwrap() / 1000);
        if serve.try_wait().unwrap().is_none() {
            interrupted += 1;
        }
        stop(serve);
    }
    assert!(
        interrupted >= 10,
        "most kills land while serve works ({interrupted}; a whole run takes {whole_run:?})"
    );
    // And not all before it starts: the killed runs played part of the spool.
    let played = status_of(dir.path()).tenants[0].files_played;
    assert!(
        played > 0 && played < stream().len(),
        "{played} of {} files played by the killed runs",
        stream().len()
    );
    serve_until_idle(&config);
    assert_eq!(alert_lines(dir.path()), baseline());
}

#[test]
fn an_edited_config_or_replaced_component_file_is_swapped_in() {
    let dir = tempfile::tempdir().unwrap();
    let (ti, anomaly) = (component("ti-map-ip"), component("network-session-anomaly"));
    let deployed = dir.path().join("ti.wasm");
    fs::copy(&ti, &deployed).unwrap();
    let next = versioned(&ti, "1.2.2", "1.2.9", &dir.path().join("ti-next.wasm"));
    let config_path = config(dir.path(), &[(&deployed, ""), (&anomaly, "")]);
    let serve = spawn_serve(&config_path, dir.path(), false);
    let files = stream();
    deliver(dir.path(), &files[..8]);
    wait_played(dir.path(), 8);

    // The component file replaced in place.
    replace_file(&deployed, &fs::read(&next).unwrap());
    wait_for(dir.path(), "the replaced file", |status| {
        status.tenants[0].rules[0].version == "1.2.9"
    });
    // A parameter edited in the config.
    config(
        dir.path(),
        &[
            (&deployed, ""),
            (&anomaly, "parameters = { threshold = \"3\" }"),
        ],
    );
    wait_for(dir.path(), "the edited parameter", |status| {
        status.tenants[0].rules[1]
            .parameters
            .get("threshold")
            .map(String::as_str)
            == Some("3")
    });
    // A value the rule refuses: the running build stays, the refusal is shown.
    config(
        dir.path(),
        &[
            (&deployed, ""),
            (&anomaly, "parameters = { threshold = \"-1\" }"),
        ],
    );
    wait_for(dir.path(), "the refusal", |status| {
        status.tenants[0].rules[1]
            .last_swap
            .as_ref()
            .is_some_and(|swap| swap.contains("refused"))
    });
    let rules = &status_of(dir.path()).tenants[0].rules;
    assert_eq!(rules[1].parameters["threshold"], "3", "{rules:?}");
    stop(serve);
    let state = dir.path().join("state");
    let table = success(&["status", "--state", state.to_str().unwrap()]);
    assert!(table.contains("swapped"), "{table}");
}

#[test]
fn a_rust_rule_is_swapped_for_its_python_twin_and_back_with_the_same_alerts() {
    let files = stream();
    let (rust, python) = (component("port-scan"), component("port-scan-py"));
    let alone = tempfile::tempdir().unwrap();
    let config_alone = config(alone.path(), &[(&rust, "")]);
    deliver(alone.path(), files);
    serve_until_idle(&config_alone);
    let expected = alert_lines(alone.path());
    assert!(expected.len() >= 3, "the planted scans alert");

    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &[(&rust, "")]);
    let serve = spawn_serve(&config, dir.path(), false);
    let third = files.len() / 3;
    // After which file, the rule as named then, the build, the parameters,
    // and how the new build gets its state: neither build reads the other's
    // snapshot, so the window is rebuilt from the retained rows.
    let swaps = [
        (
            third,
            "port-scan",
            Some(python.as_path()),
            &[][..],
            "state rebuilt",
        ),
        (
            third + 1,
            "port-scan-py",
            None,
            &["hosts=25"][..],
            "state carried over",
        ),
        (
            2 * third,
            "port-scan-py",
            Some(rust.as_path()),
            &[][..],
            "state rebuilt",
        ),
    ];
    for (index, file) in files.iter().enumerate() {
        deliver(dir.path(), std::slice::from_ref(file));
        for (_, rule, build, parameters, how) in swaps.iter().filter(|swap| swap.0 == index) {
            wait_played(dir.path(), index + 1);
            let outcome = swapped(dir.path(), &swap(dir.path(), rule, *build, parameters));
            assert!(outcome.contains(how), "{rule}: {outcome}");
        }
    }
    wait_played(dir.path(), files.len());
    stop(serve);
    serve_until_idle(&config);
    assert!(
        alert_lines(dir.path()) == expected,
        "alerts differ from the Rust rule's alone"
    );
}
