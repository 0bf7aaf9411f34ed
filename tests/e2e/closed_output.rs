//! Output that cannot be written: a pipe whose reader has gone (`| head`)
//! ends a command quietly with success, and a full disk (`/dev/full`) with
//! one line naming what failed and exit status 1; never a panic.

use std::{
    fs::File,
    process::{Command, Output, Stdio},
};

use crate::support::{component, data, generated, GENERATED_AT};

/// `asim-rules args` with stdout going to `stdout`.
fn run_into(args: &[&str], stdout: Stdio) -> Output {
    Command::new(env!("CARGO_BIN_EXE_asim-rules"))
        .args(args)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

/// The commands that write to stdout, each with enough to write.
fn commands() -> Vec<Vec<String>> {
    let rule = component("ti-map-ip").to_str().unwrap().to_owned();
    let file = |name: &str| generated().join(name).to_str().unwrap().to_owned();
    let sample = data("sentinel-samples/Cisco_ASA_NetworkSession_IngestedLogs.csv");
    let tables = |command: &str, extra: &[&str]| {
        let mut args: Vec<String> = [command, "--rule", &rule, "--format", "table"]
            .iter()
            .map(|arg| arg.to_string())
            .collect();
        args.extend(["--sessions".into(), file("sessions.jsonl")]);
        args.extend(["--indicators".into(), file("indicators.jsonl")]);
        args.extend(extra.iter().map(|arg| arg.to_string()));
        args
    };
    vec![
        vec!["inspect".into(), rule.clone()],
        tables("run", &["--at", GENERATED_AT]),
        tables(
            "replay",
            &["--from", "2026-03-11T20:00:00Z", "--to", GENERATED_AT],
        ),
        vec!["normalize".into(), sample],
    ]
}

#[test]
fn a_closed_pipe_ends_every_command_quietly() {
    for args in commands() {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = run_into(&args, Stdio::from(writer));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn a_full_disk_is_one_line_and_exit_status_one() {
    for args in commands() {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let full = File::options().write(true).open("/dev/full").unwrap();
        let output = run_into(&args, Stdio::from(full));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("error: writing") && last.contains("No space left on device"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
