//! `serve` restarted on a damaged checkpoint. A real checkpoint is made once
//! (two spool files played, rows still waiting); each input edits its fields
//! (or replaces it with raw bytes), then `serve` resumes from it and plays a
//! third file. It must refuse the checkpoint with a message naming it, or
//! resume without panicking or hanging; and a checkpoint it accepted and
//! rewrote must be accepted again.

#![no_main]

use std::{
    fs,
    path::{Path, PathBuf},
};

use asim_rules::{
    generate::{generate, Plan},
    serve,
};
use libfuzzer_sys::{
    arbitrary::{Result, Unstructured},
    fuzz_target,
};
use serde_json::{json, Value};

const HOUR: i64 = 3_600_000_000;

struct Layout {
    _dir: tempfile::TempDir,
    config: PathBuf,
    state: PathBuf,
    pristine: PathBuf,
    checkpoint: Value,
}

/// The rules' spool, config and a state made by `serve`, kept aside.
fn layout() -> Layout {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let root = dir.path();
    let plan = Plan {
        end: 1_773_489_600_000_000,
        days: 2,
        sessions_per_day: 200,
        indicators: 200,
        seed: 7,
        csv: false,
    };
    generate(&plan, &root.join("gen")).expect("generated data");
    let spool = root.join("spool");
    fs::create_dir_all(&spool).unwrap();
    let sessions = fs::read_to_string(root.join("gen/sessions.jsonl")).unwrap();
    let lines: Vec<&str> = sessions.lines().collect();
    let (early, late) = lines.split_at(lines.len() * 2 / 3);
    fs::copy(
        root.join("gen/indicators.jsonl"),
        spool.join("0001-indicators.jsonl"),
    )
    .unwrap();
    fs::write(spool.join("0002-sessions.jsonl"), early.join("\n")).unwrap();
    let rules: String = ["ti-map-ip", "network-session-anomaly"]
        .iter()
        .map(|rule| {
            let path = std::env::current_dir()
                .unwrap()
                .join(format!("target/rules/{rule}.wasm"));
            assert!(
                path.exists(),
                "{}: run from the repository after `make components`",
                path.display()
            );
            format!(
                "[[tenant.rule]]\ncomponent = {:?}\n",
                path.to_str().unwrap()
            )
        })
        .collect();
    let config = root.join("serve.toml");
    fs::write(
        &config,
        format!(
            "state = \"state\"\n[[tenant]]\nname = \"t\"\nspool = \"spool\"\nalerts = \"alerts.jsonl\"\nlateness = \"7h\"\n{rules}"
        ),
    )
    .unwrap();
    serve::run(&config, &serve::Io::Files, true, None).expect("serve on the generated spool");
    fs::write(spool.join("0003-sessions.jsonl"), late.join("\n")).unwrap();
    let state = root.join("state");
    let pristine = root.join("pristine");
    copy_dir(&state, &pristine);
    fs::copy(root.join("alerts.jsonl"), pristine.join("alerts.jsonl")).unwrap();
    let checkpoint = serde_json::from_slice(&fs::read(state.join("t/checkpoint.json")).unwrap())
        .expect("serve's own checkpoint");
    Layout {
        _dir: dir,
        config,
        state,
        pristine,
        checkpoint,
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A time: one of the checkpoint's own, moved by whole or odd hours, or any.
fn time(u: &mut Unstructured, near: i64) -> Result<Value> {
    Ok(match u.int_in_range(0..=4)? {
        0 => Value::Null,
        1 => json!(near + i64::from(u.int_in_range(-48i8..=48)?) * HOUR),
        2 => json!(near.saturating_add(u.arbitrary::<i32>()?.into())),
        _ => json!(u.arbitrary::<i64>()?),
    })
}

/// A count: small, huge or any.
fn count(u: &mut Unstructured) -> Result<Value> {
    Ok(match u.int_in_range(0..=2)? {
        0 => json!(u.int_in_range(0u64..=10)?),
        1 => json!(u64::MAX - u64::from(u.int_in_range(0u8..=2)?)),
        _ => json!(u.arbitrary::<u64>()?),
    })
}

/// A file name the spool may or may not hold.
fn name(u: &mut Unstructured) -> Result<Value> {
    const NAMES: [&str; 8] = [
        "0001-indicators.jsonl",
        "0002-sessions.jsonl",
        "0003-sessions.jsonl",
        "../serve.toml",
        "/etc/hostname",
        "",
        ".",
        "missing-sessions.jsonl",
    ];
    Ok(json!(u.choose(&NAMES)?))
}

/// A list of none to three elements made by `element`.
fn list(
    u: &mut Unstructured,
    mut element: impl FnMut(&mut Unstructured) -> Result<Value>,
) -> Result<Value> {
    let length = u.int_in_range(0..=3)?;
    (0..length)
        .map(|_| element(u))
        .collect::<Result<Vec<_>>>()
        .map(Value::Array)
}

/// Edits one field of the checkpoint.
fn edit(u: &mut Unstructured, checkpoint: &mut Value) -> Result<()> {
    let near = checkpoint["watermark"].as_i64().unwrap_or(0);
    let rule = u.int_in_range(0usize..=2)?;
    match u.int_in_range(0..=16)? {
        0 => checkpoint["generation"] = count(u)?,
        1 => checkpoint["from"] = time(u, near)?,
        2 => checkpoint["latest"] = time(u, near)?,
        3 => checkpoint["watermark"] = time(u, near)?,
        4 => set(checkpoint, "next_ticks", rule, time(u, near)?),
        5 => set(checkpoint, "last_evaluated", rule, time(u, near)?),
        6 => set(
            checkpoint,
            "evaluations",
            rule,
            json!([count(u)?, count(u)?]),
        ),
        7 => set(
            checkpoint,
            "quarantines",
            rule,
            json!({"rule": "ti-map-ip", "call": "evaluate", "reason": "a\u{1b}[2J\u{0}"}),
        ),
        8 => checkpoint["done"] = list(u, name)?,
        9 => checkpoint["open"] = list(u, name)?,
        10 => checkpoint["alert_bytes"] = count(u)?,
        11 => {
            let key = *u.choose(&[
                "rows_in",
                "late_rows",
                "rejected_rows",
                "rows_too_far_ahead",
            ])?;
            checkpoint[key] = count(u)?;
        }
        12 => {
            let key = *u.choose(&[
                "next_ticks",
                "last_evaluated",
                "evaluations",
                "quarantines",
                "records",
            ])?;
            if let Some(list) = checkpoint[key].as_array_mut() {
                list.truncate(rule);
            }
        }
        13 => {
            if let Some(record) = checkpoint["records"].get_mut(rule) {
                record["entry"] = count(u)?;
            }
        }
        14 => {
            let digest = *u.choose(&["", "../../serve", "0123456789abcdef", "/etc/passwd"])?;
            if let Some(record) = checkpoint["records"].get_mut(rule) {
                record["current"]["digest"] = json!(digest);
            }
        }
        15 => {
            if let Some(record) = checkpoint["records"].get_mut(rule) {
                record["probation_until"] = count(u)?;
                record["previous"] = record["current"].clone();
            }
        }
        _ => {
            let key = *u.choose(&["records", "done", "quarantines", "next_ticks"])?;
            checkpoint[key] = Value::Null;
        }
    }
    Ok(())
}

/// Sets element `index` of the list `key`, if there is one.
fn set(checkpoint: &mut Value, key: &str, index: usize, value: Value) {
    if let Some(slot) = checkpoint[key].get_mut(index) {
        *slot = value;
    }
}

thread_local! {
    static LAYOUT: Layout = layout();
}

fuzz_target!(|data: &[u8]| {
    LAYOUT.with(|layout| {
        let mut u = Unstructured::new(data);
        let bytes = if u.ratio(1u8, 8).unwrap_or(false) {
            u.take_rest().to_vec()
        } else {
            let mut checkpoint = layout.checkpoint.clone();
            for _ in 0..u.int_in_range(1..=4).unwrap_or(1) {
                if edit(&mut u, &mut checkpoint).is_err() {
                    break;
                }
            }
            serde_json::to_vec_pretty(&checkpoint).unwrap()
        };
        let _ = fs::remove_dir_all(&layout.state);
        copy_dir(&layout.pristine, &layout.state);
        let alerts = layout.config.with_file_name("alerts.jsonl");
        fs::copy(layout.state.join("alerts.jsonl"), &alerts).unwrap();
        let checkpoint = layout.state.join("t/checkpoint.json");
        fs::write(&checkpoint, &bytes).unwrap();
        match serve::run(&layout.config, &serve::Io::Files, true, None) {
            Ok(()) => {
                // What it wrote, it must read again.
                if let Err(error) = serve::run(&layout.config, &serve::Io::Files, true, None) {
                    panic!("a checkpoint serve wrote is refused: {error:#}");
                }
            }
            Err(error) => {
                let message = format!("{error:#}");
                assert!(
                    message.contains("checkpoint") || message.contains(".state"),
                    "a refusal that does not name the checkpoint: {message}"
                );
            }
        }
    });
});
