//! A rule in Python against the same rule in Rust (`ASIM_BENCH_ONLY=python`):
//! the port-scan rule natively, as a Rust component and as a Python component
//! (componentize-py, `make python-rules`), on identical in-memory batches:
//! sessions/s, instantiation, memory per instance after a window's data,
//! snapshot size, and what a 24 GiB host holds of each.

use std::{
    fmt::Write as _,
    time::{Duration, Instant},
};

use asim_rule_core::{
    batch::Cell, schema::ColumnKind, time::MINUTE, Batch, BatchBuilder, Rule, Timestamp,
};
use asim_rules::engine::{Budgets, LoadedRule, RuleHost};
use port_scan::PortScan;

use super::{root, Random};

/// Sessions in one 10-minute window: a busy network's.
const SESSIONS: usize = 200_000;
/// The evaluation, at the window's end.
const AT: Timestamp = 1_773_273_600_000_000;

fn sessions() -> Vec<Batch> {
    let mut random = Random(7);
    let mut builder = BatchBuilder::new(&[
        ("SrcIpAddr", ColumnKind::IpAddress),
        ("DstIpAddr", ColumnKind::IpAddress),
        ("DstPortNumber", ColumnKind::Integer),
    ]);
    let mut batches = Vec::new();
    for row in 0..SESSIONS {
        // 2 000 sources reaching 20 servers on 5 ports; 5 of them scanners.
        let source = random.below(2_000);
        let src = format!("10.1.{}.{}", source / 250, source % 250);
        let dst = format!("192.0.2.{}", random.below(20));
        let port = match source < 5 {
            true => 1 + random.below(60_000),
            false => [53, 80, 443, 22, 8080][random.below(5)],
        };
        let time = AT - 10 * MINUTE + (row as i64 * 10 * MINUTE) / SESSIONS as i64;
        let cells = [
            Cell::Text(&src),
            Cell::Text(&dst),
            Cell::Integer(port as i64),
        ];
        builder.push_row(time, &cells).unwrap();
        if builder.rows() == 65_536 {
            batches.push(builder.take());
        }
    }
    batches.push(builder.take());
    batches
}

/// Best of three: the time to ingest `batches` and evaluate once, and the
/// alerts.
fn best(mut run: impl FnMut() -> usize) -> (Duration, usize) {
    (0..3)
        .map(|_| {
            let started = Instant::now();
            let alerts = run();
            (started.elapsed(), alerts)
        })
        .min()
        .unwrap()
}

pub fn report(report: &mut String) {
    let batches = sessions();
    let host = RuleHost::new(Budgets::default()).unwrap();
    let load = |name: &str| -> LoadedRule {
        let path = root().join(format!("target/rules/{name}.wasm"));
        assert!(path.exists(), "run `make components python-rules` first");
        host.load(&path).unwrap()
    };
    writeln!(
        report,
        "\nPort-scan in Rust and in Python ({SESSIONS} sessions in one 10-minute window, \
         batches of 65 536, one evaluation; best of 3):\n"
    )
    .unwrap();
    writeln!(
        report,
        "| build | sessions/s | / native | instantiate | memory after the window | snapshot | instances in 24 GiB | alerts |"
    )
    .unwrap();
    writeln!(report, "|---|---|---|---|---|---|---|---|").unwrap();
    let (native, alerts) = best(|| {
        let mut rule = PortScan::configure(&[]).unwrap();
        for batch in &batches {
            rule.ingest_sessions(batch.clone()).unwrap();
        }
        rule.evaluate(AT).unwrap().len()
    });
    let rate = |time: Duration| SESSIONS as f64 / time.as_secs_f64();
    writeln!(
        report,
        "| native Rust | {:.2} M | 1.00x | - | - | - | - | {alerts} |",
        rate(native) / 1e6
    )
    .unwrap();
    for (label, name) in [
        ("Rust component", "port-scan"),
        ("Python component", "port-scan-py"),
    ] {
        let rule = load(name);
        let instantiated = (0..5)
            .map(|_| {
                let started = Instant::now();
                drop(rule.instantiate(&host, &[]).unwrap());
                started.elapsed()
            })
            .min()
            .unwrap();
        let mut memory = 0;
        let mut snapshot = 0;
        let (time, alerts) = best(|| {
            let mut instance = rule.instantiate(&host, &[]).unwrap();
            for batch in &batches {
                instance.ingest_sessions(batch.clone()).unwrap();
            }
            let alerts = instance.evaluate(AT).unwrap().len();
            memory = instance.memory_bytes();
            snapshot = instance.snapshot().unwrap().len();
            alerts
        });
        writeln!(
            report,
            "| {label} | {:.2} M | {:.2}x | {:.1} ms | {} MiB | {:.1} MiB | {} | {alerts} |",
            rate(time) / 1e6,
            native.as_secs_f64() / time.as_secs_f64(),
            instantiated.as_secs_f64() * 1e3,
            memory >> 20,
            snapshot as f64 / f64::from(1 << 20),
            (24usize << 30) / memory.max(1)
        )
        .unwrap();
    }
}
