//! How soon rules are ready: `asim-rules run` from process start to the end
//! of a run on one row (an upper bound of start-up to the first ingest),
//! with components taken from the compile cache and without it; and `serve`
//! with 1 000 tenants of both rules, started afresh and restarted (every
//! rule instantiated and restored from its checkpoint).

use std::{
    fmt::Write as _,
    fs,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use super::root;

/// Tenants of the `serve` figure, each with both rules.
const TENANTS: usize = 1000;

/// Runs `command` and returns its wall time; it must succeed.
fn timed(command: &mut Command) -> Duration {
    let started = Instant::now();
    let output = command.output().unwrap();
    let elapsed = started.elapsed();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    elapsed
}

/// The median of `runs` wall times of `command`.
fn median(runs: usize, mut command: impl FnMut() -> Command) -> Duration {
    let mut times: Vec<Duration> = (0..runs).map(|_| timed(&mut command())).collect();
    times.sort();
    times[runs / 2]
}

pub fn report(report: &mut String, binary: &Path, dir: &Path) {
    let rules = ["ti-map-ip", "network-session-anomaly"]
        .map(|name| root().join(format!("target/rules/{name}.wasm")));
    let one_row = dir.join("startup-one-row.jsonl");
    fs::write(
        &one_row,
        r#"{"TimeGenerated":"2026-03-11T23:30:00Z","SrcIpAddr":"10.0.0.1","DstIpAddr":"203.0.113.9","DvcAction":"Allow","NetworkDirection":"Outbound","NetworkProtocol":"TCP"}"#,
    )
    .unwrap();
    let cache = dir.join("startup-cache");
    writeln!(
        report,
        "\nStart-up (`run` on one row, process start to exit, median of 9):\n"
    )
    .unwrap();
    writeln!(report, "| rules | compile cache | no cache (Cranelift) |").unwrap();
    writeln!(report, "|---|---|---|").unwrap();
    for count in [1, 2] {
        let run = |cache: &Path| {
            let mut command = Command::new(binary);
            command
                .env("ASIM_RULES_COMPILE_CACHE", cache)
                .args(["run", "--at", "2026-03-12T00:00:00Z", "--sessions"])
                .arg(&one_row);
            for rule in &rules[..count] {
                command.arg("--rule").arg(rule);
            }
            command
        };
        timed(&mut run(&cache));
        let cached = median(9, || run(&cache));
        let compiled = median(3, || run(Path::new("off")));
        writeln!(
            report,
            "| {count} | {:.1} ms ({:.1} ms a rule) | {:.0} ms |",
            cached.as_secs_f64() * 1e3,
            cached.as_secs_f64() * 1e3 / count as f64,
            compiled.as_secs_f64() * 1e3
        )
        .unwrap();
    }

    // serve: TENANTS tenants, one small spool file each.
    let root_dir = dir.join("startup-serve");
    let mut config = String::from("state = \"state\"\n");
    for tenant in 0..TENANTS {
        let spool = root_dir.join(format!("spool/t{tenant}"));
        fs::create_dir_all(&spool).unwrap();
        fs::copy(&one_row, spool.join("0001-sessions.jsonl")).unwrap();
        config += &format!(
            "\n[[tenant]]\nname = \"t{tenant}\"\nspool = \"spool/t{tenant}\"\nalerts = \"alerts/t{tenant}.jsonl\"\n"
        );
        for rule in &rules {
            config += &format!(
                "[[tenant.rule]]\ncomponent = {:?}\n",
                rule.to_str().unwrap()
            );
        }
    }
    fs::create_dir_all(root_dir.join("alerts")).unwrap();
    let path = root_dir.join("serve.toml");
    fs::write(&path, config).unwrap();
    let serve = || {
        let mut command = Command::new(binary);
        command
            .env("ASIM_RULES_COMPILE_CACHE", &cache)
            .args(["serve", "--until-idle", "--config"])
            .arg(&path);
        command
    };
    let fresh = timed(&mut serve());
    let restarted = timed(&mut serve());
    writeln!(
        report,
        "\n`serve --until-idle` with {TENANTS} tenants of both rules ({} instances), compile cache warm: \
         started afresh (instantiated, one row each played and checkpointed) {:.2} s; \
         restarted (every rule instantiated and restored from its checkpoint, nothing to play) {:.2} s",
        TENANTS * 2,
        fresh.as_secs_f64(),
        restarted.as_secs_f64()
    )
    .unwrap();
    fs::remove_dir_all(&root_dir).unwrap();
}
