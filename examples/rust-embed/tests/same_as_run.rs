//! The example prints, alert for alert, what `asim-rules run` prints on the
//! same generated inputs (the binary `make build` puts in target/debug).

use std::{path::Path, process::Command};

#[test]
fn the_example_alerts_as_asim_rules_run_does() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let binary = root.join("target/debug/asim-rules");
    assert!(
        binary.exists(),
        "{} is missing: run `make build` first (or `make test`)",
        binary.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let generated = Command::new(&binary)
        .args(["generate", "--out", out, "--sessions-per-day", "20000"])
        .output()
        .unwrap();
    assert!(generated.status.success());
    let (indicators, sessions) = (
        dir.path().join("indicators.jsonl"),
        dir.path().join("sessions.jsonl"),
    );
    let rules: Vec<String> = ["ti-map-ip", "network-session-anomaly"]
        .iter()
        .map(|name| {
            root.join(format!("target/rules/{name}.wasm"))
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let at = "2026-03-12T00:00:00Z";

    let mut run = Command::new(&binary);
    run.args([
        "run",
        "--at",
        at,
        "--indicators",
        indicators.to_str().unwrap(),
    ])
    .args(["--sessions", sessions.to_str().unwrap()]);
    for rule in &rules {
        run.args(["--rule", rule]);
    }
    let expected = run.output().unwrap();
    assert!(
        expected.status.success(),
        "{}",
        String::from_utf8_lossy(&expected.stderr)
    );

    let embedded = Command::new(env!("CARGO_BIN_EXE_rust-embed-example"))
        .args([at, indicators.to_str().unwrap(), sessions.to_str().unwrap()])
        .args(&rules)
        .output()
        .unwrap();
    assert!(
        embedded.status.success(),
        "{}",
        String::from_utf8_lossy(&embedded.stderr)
    );
    let expected = String::from_utf8(expected.stdout).unwrap();
    assert!(expected.lines().count() > 3, "the planted incidents alert");
    assert_eq!(String::from_utf8(embedded.stdout).unwrap(), expected);
}
