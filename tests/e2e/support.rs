//! What every end-to-end test needs: the binary, the built components,
//! and generated data.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::OnceLock,
};

use asim_rules::serve::status::Status;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A file the Makefile builds, at `path` under the root; says which
/// target builds it when it is missing.
fn built(path: &str, target: &str) -> PathBuf {
    let path = root().join(path);
    assert!(
        path.exists(),
        "{} is missing: build it with `make {target}` (or run `make test`)",
        path.display()
    );
    path
}

/// A built rule component.
pub fn component(name: &str) -> PathBuf {
    built(&format!("target/rules/{name}.wasm"), "components")
}

/// The rule that misbehaves on purpose (`tests/hostile-rule`).
pub fn hostile() -> PathBuf {
    built("target/hostile/hostile-rule.wasm", "hostile")
}

/// The Python rule that misbehaves on purpose (`tests/hostile-python`).
pub fn hostile_python() -> PathBuf {
    built("target/hostile/hostile-python.wasm", "python-rules")
}

/// A real sample copied into the repository (`tests/data`, see its SOURCES.md).
pub fn data(path: &str) -> String {
    let path = root().join("tests/data").join(path);
    assert!(path.exists(), "{} is missing", path.display());
    path.to_str().expect("UTF-8 path").to_owned()
}

/// A file of the team's shared real data, `../shared/data` beside the
/// repository (CI has it there; `ASIM_SHARED_DATA` names another folder),
/// whose licence keeps it out of the repository. Tests that read one are
/// `#[ignore = "reads ../shared/data: make test-real"]`: `make test` skips
/// them, `make test-real` runs them.
pub fn shared(path: &str) -> String {
    let folder = std::env::var_os("ASIM_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/data"));
    let path = folder.join(path);
    assert!(
        path.exists(),
        "{} is missing: this test reads ../shared/data beside the repository (make test-real)",
        path.display()
    );
    path.to_str().expect("UTF-8 path").to_owned()
}

/// Runs `asim-rules` with `args`.
pub fn asim_rules(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_asim-rules"))
        .args(args)
        .output()
        .expect("the asim-rules binary runs")
}

/// stdout of a run that must succeed.
pub fn success(args: &[&str]) -> String {
    let output = asim_rules(args);
    assert!(
        output.status.success(),
        "asim-rules {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// The evaluation time of generated data (its default end).
pub const GENERATED_AT: &str = "2026-03-12T00:00:00Z";

/// Fifteen days of generated data with CSV copies, made once per test
/// process. A static is never dropped, so the data (half a GiB) is not in a
/// temporary folder that would outlive the process: it is in the target's
/// scratch folder, named by the process id, and the copies of processes no
/// longer running are removed before it is made.
pub fn generated() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let parent = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-generated");
        for entry in fs::read_dir(&parent).into_iter().flatten().flatten() {
            if !Path::new("/proc").join(entry.file_name()).exists() {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
        let dir = parent.join(std::process::id().to_string());
        fs::create_dir_all(&dir).expect("the target's scratch folder");
        let out = dir.to_str().expect("UTF-8 path").to_owned();
        success(&[
            "generate",
            "--out",
            &out,
            "--csv",
            "--sessions-per-day",
            "50000",
        ]);
        dir
    })
}

/// `replay` of both Sentinel rules over `data`'s generated sessions and
/// indicators from 2026-03-10T18:00 to `to`, as tenant T: its alert lines,
/// sorted (the planted incidents among them).
pub fn replayed_sentinel(data: &Path, to: &str) -> Vec<String> {
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
        to,
        "--tenant",
        "T",
    ]);
    let mut expected: Vec<String> = replayed.lines().map(str::to_owned).collect();
    expected.sort();
    assert!(expected.len() > 5, "the planted incidents alert");
    expected
}

/// `serve`'s alert lines of `tenant`, each `AlertId` checked distinct and
/// left out, the tenant's name as T (as `replay --tenant T` writes it), sorted.
pub fn alert_lines_as_t(text: &str, tenant: &str) -> Vec<String> {
    let mut ids = std::collections::BTreeSet::new();
    let mut lines: Vec<String> = text
        .lines()
        .map(|line| {
            let (line, id) = line
                .split_once(",\"AlertId\":")
                .expect("serve's alerts have an id");
            assert!(ids.insert(id.to_owned()), "alert {id} written twice");
            format!("{line}}}").replace(&format!("\"Tenant\":\"{tenant}\""), "\"Tenant\":\"T\"")
        })
        .collect();
    lines.sort();
    lines
}

/// Parses JSON lines.
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect()
}

/// The generated `indicators.jsonl` and `sessions.jsonl` in `dir` cut into
/// spool files of six hours counted from `origin` (earlier rows in the first):
/// `NNNN-indicators.jsonl`, `NNNN-sessions.jsonl`, in time order by name.
pub fn six_hour_spool(dir: &Path, origin: &str) -> std::collections::BTreeMap<String, String> {
    let origin = seconds(origin);
    let mut chunks = std::collections::BTreeMap::<String, String>::new();
    for table in ["indicators", "sessions"] {
        let text = std::fs::read_to_string(dir.join(format!("{table}.jsonl"))).unwrap();
        for line in text.lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let time = seconds(row["TimeGenerated"].as_str().unwrap());
            let chunk = (time - origin).max(0) / (6 * 3600);
            let file = chunks
                .entry(format!("{chunk:04}-{table}.jsonl"))
                .or_default();
            file.push_str(line);
            file.push('\n');
        }
    }
    chunks
}

/// One session row at `time`, to move a watermark past the data.
pub fn late_session(time: &str) -> String {
    format!(
        r#"{{"TimeGenerated":"{time}","SrcIpAddr":"10.0.0.1","DstIpAddr":"10.0.0.2","DvcAction":"Allow","NetworkDirection":"Outbound","NetworkProtocol":"TCP","EventProduct":"Demo","EventVendor":"Demo","Dvc":"fw"}}"#
    ) + "\n"
}

/// Seconds since the epoch of an RFC 3339 time (whole seconds suffice here).
pub fn seconds(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp()
}

/// `serve --until-idle` on `config`, which must fail; its stderr.
pub fn serve_failing(config: &Path) -> String {
    serve_idle(config, false)
}

/// `serve --until-idle` on `config`, which must succeed; its stderr.
pub fn serve_until_idle(config: &Path) -> String {
    serve_idle(config, true)
}

/// `serve --until-idle` on `config`, which must succeed or fail as `succeeds`
/// says; its stderr.
fn serve_idle(config: &Path, succeeds: bool) -> String {
    let output = asim_rules(&[
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--until-idle",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.success(), succeeds, "{stderr}");
    stderr
}

/// What `status --json` says of the state in `dir/state`.
pub fn status_of(dir: &Path) -> Status {
    let state = dir.join("state");
    serde_json::from_str(&success(&[
        "status",
        "--state",
        state.to_str().unwrap(),
        "--json",
    ]))
    .unwrap()
}

/// A copy of `component` whose version string `from` reads `to` (same
/// length): a build that differs from it only in its version number.
pub fn versioned(component: &Path, from: &str, to: &str, out: &Path) -> PathBuf {
    assert_eq!(from.len(), to.len());
    let bytes = std::fs::read(component).unwrap();
    let at: Vec<usize> = bytes
        .windows(from.len())
        .enumerate()
        .filter(|(_, window)| *window == from.as_bytes())
        .map(|(at, _)| at)
        .collect();
    assert_eq!(at.len(), 1, "{from} occurs once in {}", component.display());
    let mut patched = bytes;
    patched[at[0]..at[0] + to.len()].copy_from_slice(to.as_bytes());
    std::fs::write(out, patched).unwrap();
    out.to_owned()
}
