//! What a hot swap costs a tenant in `serve`: the pause from taking the
//! request to playing on (p50, p99), with both rules' state built over 14
//! days, and each rule's snapshot size per day of history. The first swap
//! to each build is to a build never seen (the disk compile cache is off):
//! it compiles beside the tenant before its pause.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use asim_rules::time;

use super::root;

/// A rule's swap pauses (ms): all of them, those of the first swap to a
/// build, and how long those builds compiled beside the tenant.
#[derive(Default)]
struct Pauses {
    all: Vec<f64>,
    first: Vec<f64>,
    compiles: Vec<f64>,
}

/// Swaps measured, alternating between two builds of each rule.
const SWAPS: usize = 40;

pub fn report(report: &mut String, binary: &Path, dir: &Path) {
    let per_day = std::env::var("ASIM_BENCH_SWAP_PER_DAY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000u64);
    let data = dir.join("swap-data");
    let generated = Command::new(binary)
        .args(["generate", "--out", data.to_str().unwrap(), "--days", "15"])
        .args(["--sessions-per-day", &per_day.to_string()])
        .output()
        .unwrap();
    assert!(generated.status.success());
    let days = spool_days(&data);

    let rules = ["ti-map-ip", "network-session-anomaly"]
        .map(|name| root().join(format!("target/rules/{name}.wasm")));
    let next = [("1.2.2", "1.2.9"), ("1.3.0", "1.3.9")];
    let builds: Vec<[PathBuf; 2]> = rules
        .iter()
        .zip(next)
        .map(|(rule, (from, to))| [rule.clone(), versioned(rule, from, to, dir)])
        .collect();
    let tenant = dir.join("swap-tenant");
    let spool = tenant.join("spool");
    fs::create_dir_all(&spool).unwrap();
    let config = tenant.join("serve.toml");
    let mut text = String::from(
        "state = \"state\"\npoll_ms = 10\n\n[[tenant]]\nname = \"t\"\nspool = \"spool\"\n\
         alerts = \"alerts.jsonl\"\nlateness = \"5m\"\n",
    );
    for rule in &rules {
        text += &format!(
            "\n[[tenant.rule]]\ncomponent = {:?}\n",
            rule.to_str().unwrap()
        );
    }
    fs::write(&config, text).unwrap();

    writeln!(
        report,
        "\nHot swaps in `serve` (one tenant, both rules, {} k sessions a day).\n",
        per_day / 1000
    )
    .unwrap();
    writeln!(report, "| days of history | ti-map-ip snapshot | per day | network-session-anomaly snapshot | per day |").unwrap();
    writeln!(report, "|---|---|---|---|---|").unwrap();
    for (day, files) in days.iter().enumerate() {
        for (name, text) in files {
            fs::write(spool.join(name), text).unwrap();
        }
        let played = Command::new(binary)
            .args([
                "serve",
                "--config",
                config.to_str().unwrap(),
                "--until-idle",
            ])
            .output()
            .unwrap();
        assert!(
            played.status.success(),
            "{}",
            String::from_utf8_lossy(&played.stderr)
        );
        let history = day as u64 + 1;
        if [1, 7, 14].contains(&history) {
            let sizes = [0, 1].map(|rule| snapshot_bytes(&tenant.join("state/t"), rule));
            writeln!(
                report,
                "| {history} | {} | {} | {} | {} |",
                kib(sizes[0]),
                kib(sizes[0] / history),
                kib(sizes[1]),
                kib(sizes[1] / history)
            )
            .unwrap();
        }
        if history == 14 {
            break;
        }
    }

    let mut serve = Command::new(binary)
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("ASIM_RULES_COMPILE_CACHE", "off")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let state = tenant.join("state");
    // Per rule: every pause, the first swaps' pauses, and compile times.
    let mut pauses: BTreeMap<&str, Pauses> = BTreeMap::new();
    for swap in 0..SWAPS {
        let rule = swap % 2;
        let name = ["ti-map-ip", "network-session-anomaly"][rule];
        let component = &builds[rule][(swap / 2 + 1) % 2];
        let output = Command::new(binary)
            .args(["swap", "--state", state.to_str().unwrap(), "--tenant", "t"])
            .args(["--rule", name, "--component", component.to_str().unwrap()])
            .output()
            .unwrap();
        let outcome = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{outcome}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let paused: f64 = outcome
            .rsplit("paused ")
            .next()
            .and_then(|ms| ms.trim().trim_end_matches(" ms").parse().ok())
            .unwrap_or_else(|| panic!("no pause in {outcome}"));
        let compiled: Option<f64> = outcome
            .split("compiled in ")
            .nth(1)
            .and_then(|ms| ms.split(" ms").next())
            .and_then(|ms| ms.parse().ok());
        let rule = pauses.entry(name).or_default();
        rule.all.push(paused);
        if let Some(ms) = compiled {
            rule.first.push(paused);
            rule.compiles.push(ms);
        }
    }
    serve.kill().unwrap();
    serve.wait().unwrap();
    writeln!(report).unwrap();
    for (name, rule) in pauses {
        let Pauses {
            all: mut pauses,
            first,
            compiles,
        } = rule;
        pauses.sort_by(f64::total_cmp);
        let at = |quantile: f64| pauses[((pauses.len() - 1) as f64 * quantile).round() as usize];
        let ms = |list: &[f64]| {
            let list: Vec<String> = list.iter().map(|ms| format!("{ms:.1} ms")).collect();
            list.join(", ")
        };
        writeln!(
            report,
            "Swap of {name} with 14 days of state, {} swaps: the tenant paused p50 {:.1} ms, p99 {:.1} ms (validation with a smoke evaluation, snapshot and restore, checkpoint); the first swap to each build, never seen before, compiled it beside the tenant in {} and then paused {}",
            pauses.len(),
            at(0.5),
            at(0.99),
            ms(&compiles),
            ms(&first)
        )
        .unwrap();
    }
    fs::remove_dir_all(&tenant).unwrap();
    fs::remove_dir_all(&data).unwrap();
}

/// The generated files cut into six-hour spool files, grouped by day.
fn spool_days(data: &Path) -> Vec<Vec<(String, String)>> {
    let origin = time::parse("2026-02-25T00:00:00Z").unwrap();
    let mut chunks: BTreeMap<String, String> = BTreeMap::new();
    for table in ["indicators", "sessions"] {
        let text = fs::read_to_string(data.join(format!("{table}.jsonl"))).unwrap();
        for line in text.lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let at = time::parse(row["TimeGenerated"].as_str().unwrap()).unwrap();
            let chunk = (at - origin).max(0) / (6 * 3_600_000_000);
            let file = chunks
                .entry(format!("{chunk:04}-{table}.jsonl"))
                .or_default();
            file.push_str(line);
            file.push('\n');
        }
    }
    let mut days: Vec<Vec<(String, String)>> = Vec::new();
    for (name, text) in chunks {
        let day: usize = name[..4].parse::<usize>().unwrap() / 4;
        days.resize_with(days.len().max(day + 1), Vec::new);
        days[day].push((name, text));
    }
    days
}

/// Bytes of rule `rule`'s snapshot in the tenant's latest checkpoint.
fn snapshot_bytes(tenant: &Path, rule: usize) -> u64 {
    fs::read_dir(tenant)
        .unwrap()
        .filter_map(|entry| entry.ok())
        .filter(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.starts_with(&format!("rule-{rule}-")) && name.ends_with(".state")
        })
        .map(|entry| entry.metadata().unwrap().len())
        .max()
        .unwrap_or(0)
}

fn kib(bytes: u64) -> String {
    format!("{:.0} KiB", bytes as f64 / 1024.0)
}

/// A copy of `component` whose version `from` reads `to`: the same build
/// but for its version number.
fn versioned(component: &Path, from: &str, to: &str, dir: &Path) -> PathBuf {
    let bytes = fs::read(component).unwrap();
    let at = bytes
        .windows(from.len())
        .position(|window| window == from.as_bytes())
        .unwrap_or_else(|| panic!("{from} not in {}", component.display()));
    let mut patched = bytes;
    patched[at..at + to.len()].copy_from_slice(to.as_bytes());
    let out = dir.join(format!("{to}.wasm"));
    fs::write(&out, patched).unwrap();
    out
}
