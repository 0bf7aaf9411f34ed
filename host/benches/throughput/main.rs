//! `make bench`: both rules natively and as components on identical in-memory
//! batches (phase by phase), the JSON lines reader, `run` and `replay` end to
//! end. Ratios are against baselines measured in the same run; each figure is
//! the best of three. DuckDB, when installed, runs the TI query as SQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod normalizers;
mod outputs;
mod peer;
mod python;
mod sandbox;
mod startup;
mod swaps;
mod threat_intel;

use std::{
    fmt::Write as _,
    fs,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use asim_rule_core::{
    batch::Cell,
    schema::{indicator_column, session_column, ColumnKind},
    time::{DAY, HOUR},
    Batch, BatchBuilder, Rule, Timestamp,
};
use asim_rules::{
    engine::{Budgets, LoadedRule, RuleHost, RuleInstance},
    inputs::{self, InputFile, Rejects},
    time,
};
use network_session_anomaly::NetworkSessionAnomaly;
use ti_map_ip::TiMapIp;

const SESSIONS: usize = 1_000_000;
const INDICATORS: usize = 100_000;
/// 2026-03-12T00:00:00Z
const AT: Timestamp = 20_524 * DAY;

struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let z = (self.0 ^ (self.0 >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
    fn v4(&mut self) -> String {
        let bits = self.next();
        format!(
            "{}.{}.{}.{}",
            11 + bits % 200,
            (bits >> 8) & 255,
            (bits >> 16) & 255,
            1 + (bits >> 24) % 254
        )
    }
}

/// A rule under test: the plain library or its component.
enum Deployment {
    Ti(TiMapIp),
    Anomaly(NetworkSessionAnomaly),
    Component(RuleInstance),
}

impl Deployment {
    fn sessions(&mut self, batch: Batch) {
        match self {
            Deployment::Ti(rule) => rule.ingest_sessions(batch).unwrap(),
            Deployment::Anomaly(rule) => rule.ingest_sessions(batch).unwrap(),
            Deployment::Component(rule) => rule.ingest_sessions(batch).unwrap(),
        }
    }
    fn indicators(&mut self, batch: Batch) {
        match self {
            Deployment::Ti(rule) => rule.ingest_indicators(batch).unwrap(),
            Deployment::Anomaly(rule) => rule.ingest_indicators(batch).unwrap(),
            Deployment::Component(rule) => rule.ingest_indicators(batch).unwrap(),
        }
    }
    fn stats(&mut self) -> Vec<(String, u64)> {
        match self {
            Deployment::Ti(rule) => rule.stats(),
            Deployment::Anomaly(rule) => rule.stats(),
            Deployment::Component(rule) => rule.stats().unwrap(),
        }
    }
    /// The component's linear memory; none natively.
    fn memory_bytes(&self) -> Option<usize> {
        match self {
            Deployment::Component(rule) => Some(rule.memory_bytes()),
            _ => None,
        }
    }
    fn evaluate(&mut self, at: Timestamp) -> usize {
        match self {
            Deployment::Ti(rule) => rule.evaluate(at).unwrap().len(),
            Deployment::Anomaly(rule) => rule.evaluate(at).unwrap().len(),
            Deployment::Component(rule) => rule.evaluate(at).unwrap().len(),
        }
    }
}

/// Best-of-three time of each phase: indicator ingest, session ingest, evaluation.
fn phases(
    fresh: &dyn Fn() -> Deployment,
    indicators: &[Batch],
    sessions: &[Batch],
) -> ([Duration; 3], usize) {
    let mut best = [Duration::MAX; 3];
    let mut alerts = 0;
    for _ in 0..3 {
        let mut deployment = fresh();
        let (indicators, sessions) = (indicators.to_vec(), sessions.to_vec());
        let started = Instant::now();
        indicators
            .into_iter()
            .for_each(|batch| deployment.indicators(batch));
        let loaded = Instant::now();
        sessions
            .into_iter()
            .for_each(|batch| deployment.sessions(batch));
        let ingested = Instant::now();
        alerts = deployment.evaluate(AT);
        let done = Instant::now();
        for (slot, elapsed) in
            best.iter_mut()
                .zip([loaded - started, ingested - loaded, done - ingested])
        {
            *slot = (*slot).min(elapsed);
        }
    }
    (best, alerts)
}

/// Best session ingest of `sessions` into one deployment that already took
/// and forgot the same rows: what a long-running host pays once the rule's
/// memory is in use (a fresh instance also pays the first touch of its pages).
fn warm_ingest(deployment: &mut Deployment, sessions: &[Batch]) -> Duration {
    let mut best = Duration::MAX;
    for round in 0..4 {
        let batches = sessions.to_vec();
        let started = Instant::now();
        batches
            .into_iter()
            .for_each(|batch| deployment.sessions(batch));
        if round > 0 {
            best = best.min(started.elapsed());
        }
        // A day later every row is past the lookback and forgotten.
        assert_eq!(deployment.evaluate(AT + DAY + round), 0);
    }
    best
}

fn builder(columns: &[String], kind: fn(&str) -> Option<ColumnKind>) -> BatchBuilder {
    let kinds: Vec<(&str, ColumnKind)> = columns
        .iter()
        .map(|name| (name.as_str(), kind(name).unwrap()))
        .collect();
    BatchBuilder::new(&kinds)
}

fn in_batches(
    rows: usize,
    batch_rows: usize,
    mut builder: BatchBuilder,
    mut push: impl FnMut(usize, &mut BatchBuilder),
) -> Vec<Batch> {
    let mut batches = Vec::new();
    for row in 0..rows {
        push(row, &mut builder);
        if builder.rows() == batch_rows {
            batches.push(builder.take());
        }
    }
    batches.push(builder.finish());
    batches
}

/// Session batches, indicator batches, and the same rows as text.
type TiData = (Vec<Batch>, Vec<Batch>, Vec<[String; 6]>, Vec<[String; 5]>);

/// One hour of TI traffic (5 000 internal hosts, 200 000 external addresses)
/// and 100 000 indicators (90% /32, 9% CIDR, 1% contacted).
fn ti_data(batch_rows: usize) -> TiData {
    let mut random = Random(42);
    let internal: Vec<String> = (0..5_000)
        .map(|n| format!("10.{}.{}.{}", n / 65536, (n / 256) % 256, 1 + n % 254))
        .collect();
    let external: Vec<String> = (0..200_000).map(|_| random.v4()).collect();
    let devices = [
        ("fgt-1", "FortiGate", "Fortinet"),
        ("pa-1", "PanOS", "Palo Alto"),
        ("asa-1", "ASA", "Cisco"),
    ];
    let rows: Vec<[String; 6]> = (0..SESSIONS)
        .map(|n| {
            let (dvc, product, vendor) = devices[random.below(3)];
            let time = AT - HOUR + (n as i64 * HOUR) / SESSIONS as i64;
            [
                time::format(time),
                internal[random.below(internal.len())].clone(),
                external[random.below(external.len())].clone(),
                dvc.into(),
                product.into(),
                vendor.into(),
            ]
        })
        .collect();
    let iocs: Vec<[String; 5]> = (0..INDICATORS)
        .map(|n| {
            let ip = match n % 100 {
                0 => external[random.below(external.len())].clone(),
                1..=9 => format!("{}/{}", random.v4(), [24, 28, 29][n % 3]),
                _ => random.v4(),
            };
            [
                format!("ioc-{n}"),
                time::format(AT - 2 * DAY),
                time::format(AT + 30 * DAY),
                ip,
                format!("{}", 30 + n % 70),
            ]
        })
        .collect();
    let metadata = TiMapIp::metadata();
    let sessions = in_batches(
        SESSIONS,
        batch_rows,
        builder(&metadata.session_columns, session_column),
        |n, b| {
            let cells: Vec<Cell> = rows[n][1..].iter().map(|text| Cell::Text(text)).collect();
            b.push_row(time::parse(&rows[n][0]).unwrap(), &cells)
                .unwrap();
        },
    );
    let indicators = in_batches(
        INDICATORS,
        INDICATORS,
        builder(&metadata.indicator_columns, indicator_column),
        |n, b| {
            let [id, published, expires, ip, confidence] = &iocs[n];
            let cells = [
                Cell::Text(id),
                Cell::Time(time::parse(expires).unwrap()),
                Cell::Boolean(true),
                Cell::Text(ip),
                Cell::Empty,
                Cell::Empty,
                Cell::Empty,
                Cell::Text("C2"),
                Cell::Text("bench"),
                Cell::Empty,
                Cell::Real(confidence.parse().unwrap()),
            ];
            b.push_row(time::parse(published).unwrap(), &cells).unwrap();
        },
    );
    (sessions, indicators, rows, iocs)
}

/// 14 days of rows for the anomaly rule, `values` distinct values per field.
fn anomaly_data(values: usize, batch_rows: usize) -> Vec<Batch> {
    let mut random = Random(7);
    let names: Vec<Vec<String>> = ["act", "dir", "proto"]
        .iter()
        .map(|field| (0..values).map(|n| format!("{field}-{n}")).collect())
        .collect();
    in_batches(
        SESSIONS,
        batch_rows,
        builder(
            &NetworkSessionAnomaly::metadata().session_columns,
            session_column,
        ),
        |n, b| {
            let time = AT - 14 * DAY + (n as i64 * 14 * DAY) / SESSIONS as i64;
            let cells: Vec<Cell> = names
                .iter()
                .map(|values| Cell::Text(&values[random.below(values.len())]))
                .collect();
            b.push_row(time, &cells).unwrap();
        },
    )
}

fn rate(rows: usize, elapsed: Duration) -> String {
    format!("{:.1} M/s", rows as f64 / elapsed.as_secs_f64() / 1e6)
}

fn ms(elapsed: Duration) -> String {
    format!("{:.1} ms", elapsed.as_secs_f64() * 1e3)
}

fn compare(
    report: &mut String,
    label: &str,
    native: ([Duration; 3], usize),
    wasm: ([Duration; 3], usize),
    rows: usize,
) {
    assert_eq!(
        native.1, wasm.1,
        "{label}: native and component disagree on the alerts"
    );
    let total = |d: &[Duration; 3]| d[1] + d[2];
    writeln!(
        report,
        "| {label} | {} / {} | {} / {} | {} / {} | {} / {} | {:.2}x | {} |",
        ms(native.0[0]),
        ms(wasm.0[0]),
        ms(native.0[1]),
        ms(wasm.0[1]),
        ms(native.0[2]),
        ms(wasm.0[2]),
        rate(rows, total(&native.0)),
        rate(rows, total(&wasm.0)),
        total(&native.0).as_secs_f64() / total(&wasm.0).as_secs_f64(),
        native.1
    )
    .unwrap();
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The TI rule's session columns, typed.
fn ti_session_columns() -> Vec<(String, ColumnKind)> {
    TiMapIp::metadata()
        .session_columns
        .iter()
        .map(|name| (name.clone(), session_column(name).unwrap()))
        .collect()
}

fn main() {
    let mut report = String::new();
    // `ASIM_BENCH_ONLY=swaps make bench` (or `startup`, or `rules` below):
    // those figures alone.
    let only = std::env::var("ASIM_BENCH_ONLY").unwrap_or_default();
    let figures: Option<fn(&mut String, &Path, &Path)> = match only.as_str() {
        "swaps" => Some(swaps::report),
        "startup" => Some(startup::report),
        "outputs" => Some(outputs::report),
        _ => None,
    };
    if let Some(figures) = figures {
        let dir = tempfile::tempdir().unwrap();
        figures(
            &mut report,
            &root().join("target/release/asim-rules"),
            dir.path(),
        );
        print!("{report}");
        return;
    }
    // `ASIM_BENCH_ONLY=python make bench`: the Python rule's table alone.
    if only == "python" {
        python::report(&mut report);
        print!("{report}");
        return;
    }
    // `ASIM_BENCH_ONLY=normalizers make bench`: the normalizers' table alone.
    if only == "normalizers" {
        let dir = tempfile::tempdir().unwrap();
        let binary = root().join("target/release/asim-rules");
        let ti_path = root().join("target/rules/ti-map-ip.wasm");
        let columns = ti_session_columns();
        normalizers::report(&mut report, &columns, dir.path(), &binary, &ti_path);
        print!("{report}");
        return;
    }
    // `ASIM_BENCH_ONLY=peer make bench`: the table against DuckDB alone.
    if std::env::var("ASIM_BENCH_ONLY").as_deref() == Ok("peer") {
        let dir = tempfile::tempdir().unwrap();
        let (_, _, rows, iocs) = ti_data(SESSIONS);
        let (sessions, indicators) = write_jsonl(&rows, &iocs, dir.path());
        let binary = root().join("target/release/asim-rules");
        let jobs = peer_jobs(&binary, &sessions, &indicators, dir.path());
        peer::report(&mut report, &binary, &jobs);
        print!("{report}");
        return;
    }
    let host = RuleHost::new(Budgets::default()).unwrap();
    let load = |name: &str| -> LoadedRule {
        let path = root().join(format!("target/rules/{name}.wasm"));
        assert!(path.exists(), "run `make components` first");
        host.load(&path).unwrap()
    };
    let (ti, anomaly) = (load("ti-map-ip"), load("network-session-anomaly"));
    let component =
        |rule: &LoadedRule| Deployment::Component(rule.instantiate(&host, &[]).unwrap());

    writeln!(
        report,
        "Rules on identical in-memory batches, one core; each cell native / component."
    )
    .unwrap();
    writeln!(report, "Session rate = sessions / (ingest + evaluation).\n").unwrap();
    writeln!(report, "| case | indicator ingest | session ingest | evaluation | sessions/s | component / native | alerts |").unwrap();
    writeln!(report, "|---|---|---|---|---|---|---|").unwrap();
    let mut jsonl_rows = None;
    let mut session_batches = Vec::new();
    let mut indicator_batches = Vec::new();
    for batch_rows in [65_536, SESSIONS] {
        let (sessions, indicators, rows, iocs) = ti_data(batch_rows);
        if batch_rows == 65_536 {
            session_batches = sessions.clone();
            indicator_batches = indicators.clone();
        }
        let label = format!("TI, 1 M sessions in 1 h, 100 k indicators, batches of {batch_rows}");
        let native = phases(
            &|| Deployment::Ti(TiMapIp::configure(&[]).unwrap()),
            &indicators,
            &sessions,
        );
        let wasm = phases(&|| component(&ti), &indicators, &sessions);
        compare(&mut report, &label, native, wasm, SESSIONS);
        jsonl_rows = Some((rows, iocs));
    }
    let warm = [
        Deployment::Ti(TiMapIp::configure(&[]).unwrap()),
        component(&ti),
    ]
    .map(|mut deployment| warm_ingest(&mut deployment, &session_batches));
    let mut warm_report = String::new();
    writeln!(
        warm_report,
        "\nTI session ingest, 1 M sessions in batches of 65536, into an instance that already \
         took and forgot them (its memory in use): {} / {}.",
        ms(warm[0]),
        ms(warm[1])
    )
    .unwrap();
    let mut anomaly_batches = Vec::new();
    for values in [5, 1000] {
        let sessions = anomaly_data(values, 65_536);
        if values == 5 {
            anomaly_batches = sessions.clone();
        }
        let label = format!("anomaly, 1 M sessions over 14 days, {values} values per field");
        let native = phases(
            &|| Deployment::Anomaly(NetworkSessionAnomaly::configure(&[]).unwrap()),
            &[],
            &sessions,
        );
        let wasm = phases(&|| component(&anomaly), &[], &sessions);
        compare(&mut report, &label, native, wasm, SESSIONS);
    }
    report.push_str(&warm_report);
    // `ASIM_BENCH_ONLY=rules make bench`: the table above alone.
    if only == "rules" {
        print!("{report}");
        return;
    }
    python::report(&mut report);

    let dir = tempfile::tempdir().unwrap();
    let (rows, iocs) = jsonl_rows.unwrap();
    let contacted: Vec<&str> = rows.iter().map(|row| row[2].as_str()).collect();
    threat_intel::report(
        &mut report,
        &ti,
        &component,
        &session_batches,
        &contacted,
        dir.path(),
    );
    let (sessions, indicators) = write_jsonl(&rows, &iocs, dir.path());
    let bytes = fs::metadata(&sessions).unwrap().len();
    let columns = ti_session_columns();
    let input = InputFile::new(&sessions).unwrap();
    let read = (0..3)
        .map(|_| {
            let started = Instant::now();
            inputs::read_table(
                &input,
                &columns,
                &mut Rejects::default(),
                &mut |_, _| Ok(()),
            )
            .unwrap();
            started.elapsed()
        })
        .min()
        .unwrap();
    writeln!(report).unwrap();
    writeln!(
        report,
        "JSON lines reader, 1 M rows of 16 columns ({:.0} MB), 6 read and typed: {} rows/s, {:.0} MB/s",
        bytes as f64 / 1e6,
        rate(SESSIONS, read),
        bytes as f64 / read.as_secs_f64() / 1e6
    )
    .unwrap();

    let binary = root().join("target/release/asim-rules");
    let at = time::format(AT);
    let ti_path = root().join("target/rules/ti-map-ip.wasm");
    peer::report(
        &mut report,
        &binary,
        &peer_jobs(&binary, &sessions, &indicators, dir.path()),
    );

    writeln!(report).unwrap();
    let per_day = std::env::var("ASIM_BENCH_REPLAY_PER_DAY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400_000u64);
    for days in [5, 15] {
        let out = dir.path().join(format!("replay-{days}"));
        let generated = Command::new(&binary)
            .args([
                "generate",
                "--out",
                out.to_str().unwrap(),
                "--days",
                &days.to_string(),
                "--sessions-per-day",
                &per_day.to_string(),
            ])
            .output()
            .unwrap();
        assert!(generated.status.success());
        let (sessions, indicators) = (out.join("sessions.jsonl"), out.join("indicators.jsonl"));
        let from = time::format(AT - days * DAY);
        let anomaly_path = root().join("target/rules/network-session-anomaly.wasm");
        let started = Instant::now();
        let output = Command::new(&binary)
            .args([
                "replay",
                "--rule",
                ti_path.to_str().unwrap(),
                "--rule",
                anomaly_path.to_str().unwrap(),
            ])
            .args([
                "--sessions",
                sessions.to_str().unwrap(),
                "--indicators",
                indicators.to_str().unwrap(),
            ])
            .args(["--from", &from, "--to", &at])
            .output()
            .unwrap();
        let elapsed = started.elapsed();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let summary = String::from_utf8_lossy(&output.stderr)
            .lines()
            .last()
            .unwrap_or_default()
            .to_owned();
        let played: f64 = summary
            .split(" rows played")
            .next()
            .and_then(|s| s.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0.0);
        writeln!(
            report,
            "`replay` both rules, {days} days ({:.1} M rows, every tick evaluated): {:.1} s, {:.0} k rows/s; {}",
            played / 1e6,
            elapsed.as_secs_f64(),
            played / elapsed.as_secs_f64() / 1e3,
            summary.rsplit(", ").next().unwrap_or_default()
        )
        .unwrap();
        fs::remove_dir_all(&out).unwrap();
    }
    normalizers::report(&mut report, &columns, dir.path(), &binary, &ti_path);
    sandbox::report(
        &mut report,
        (&indicator_batches, &session_batches),
        &anomaly_batches,
    );
    swaps::report(&mut report, &binary, dir.path());
    startup::report(&mut report, &binary, dir.path());
    outputs::report(&mut report, &binary, dir.path());
    print!("{report}");
}

/// Both jobs against DuckDB: TI on the files above; the anomaly job on 15
/// generated days (`ASIM_BENCH_ANOMALY_PER_DAY` weekday sessions, 200 000 by
/// default: about 2.7 M rows). Each from JSON lines, CSV and gzipped JSON lines.
fn peer_jobs(binary: &Path, sessions: &str, indicators: &str, dir: &Path) -> Vec<peer::Job> {
    let (sessions, indicators) = (PathBuf::from(sessions), PathBuf::from(indicators));
    let (sessions_csv, sessions_gz) = (peer::csv_of(&sessions), peer::gzip_of(&sessions));
    let indicators_csv = peer::csv_of(&indicators);
    let ti = peer::Job {
        label: "TI, 1 M sessions + 100 k indicators".into(),
        rule: "ti-map-ip",
        at: time::format(AT),
        inputs: vec![
            peer::Inputs {
                format: "JSON lines",
                sessions: sessions.clone(),
                indicators: Some(indicators.clone()),
            },
            peer::Inputs {
                format: "CSV",
                sessions: sessions_csv,
                indicators: Some(indicators_csv),
            },
            peer::Inputs {
                format: "JSON lines, gzip",
                sessions: sessions_gz,
                indicators: Some(indicators),
            },
        ],
    };
    let per_day = std::env::var("ASIM_BENCH_ANOMALY_PER_DAY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000u64);
    let out = dir.join("anomaly");
    let generated = Command::new(binary)
        .args([
            "generate",
            "--csv",
            "--days",
            "15",
            "--out",
            out.to_str().unwrap(),
        ])
        .args(["--sessions-per-day", &per_day.to_string()])
        .output()
        .unwrap();
    assert!(generated.status.success());
    let rows = fs::read(out.join("sessions.jsonl"))
        .unwrap()
        .iter()
        .filter(|&&byte| byte == b'\n')
        .count();
    let gzip = peer::gzip_of(&out.join("sessions.jsonl"));
    let anomaly = peer::Job {
        label: format!("anomaly, {:.1} M sessions over 15 days", rows as f64 / 1e6),
        rule: "network-session-anomaly",
        at: time::format(AT),
        inputs: vec![
            peer::Inputs {
                format: "JSON lines",
                sessions: out.join("sessions.jsonl"),
                indicators: None,
            },
            peer::Inputs {
                format: "CSV",
                sessions: out.join("sessions.csv"),
                indicators: None,
            },
            peer::Inputs {
                format: "JSON lines, gzip",
                sessions: gzip,
                indicators: None,
            },
        ],
    };
    vec![ti, anomaly]
}

/// Best of three runs of the binary, and the last line it printed on stderr.
fn best_of_three(binary: &Path, args: &[&str]) -> (Duration, String) {
    let mut best = (Duration::MAX, String::new());
    for _ in 0..3 {
        let started = Instant::now();
        let output = Command::new(binary)
            .args(args)
            .output()
            .expect("target/release/asim-rules (make bench builds it)");
        let elapsed = started.elapsed();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        if elapsed < best.0 {
            let last = String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or_default()
                .to_owned();
            best = (
                elapsed,
                last.rsplit("; ").next().unwrap_or_default().to_owned(),
            );
        }
    }
    best
}

fn write_jsonl(rows: &[[String; 6]], iocs: &[[String; 5]], dir: &Path) -> (String, String) {
    let sessions = dir.join("sessions.jsonl");
    let mut out = BufWriter::new(fs::File::create(&sessions).unwrap());
    for [time, src, dst, dvc, product, vendor] in rows {
        writeln!(
            out,
            r#"{{"TimeGenerated":"{time}","EventCount":1,"EventType":"NetworkSession","EventProduct":"{product}","EventVendor":"{vendor}","Dvc":"{dvc}","DvcAction":"Allow","NetworkProtocol":"TCP","NetworkDirection":"Outbound","SrcIpAddr":"{src}","SrcPortNumber":50123,"DstIpAddr":"{dst}","DstPortNumber":443,"DstAppName":"https","SrcBytes":1200,"DstBytes":48000}}"#
        )
        .unwrap();
    }
    out.flush().unwrap();
    let indicators = dir.join("indicators.jsonl");
    let mut out = BufWriter::new(fs::File::create(&indicators).unwrap());
    for [id, time, expiry, ip, confidence] in iocs {
        writeln!(
            out,
            r#"{{"TimeGenerated":"{time}","IndicatorId":"{id}","ExpirationDateTime":"{expiry}","Active":true,"NetworkIP":"{ip}","ThreatType":"C2","Description":"bench","ConfidenceScore":{confidence}}}"#
        )
        .unwrap();
    }
    out.flush().unwrap();
    (
        sessions.to_str().unwrap().into(),
        indicators.to_str().unwrap().into(),
    )
}
