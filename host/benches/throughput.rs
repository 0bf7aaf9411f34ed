//! `make bench`: the TI rule natively and as a component on identical
//! in-memory batches, the JSON lines reader, and `run` end to end; ratios are
//! against baselines measured in the same run. Each figure is the best of
//! three. DuckDB, when installed, runs the rule's query as SQL for comparison.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    fmt::Write as _,
    fs,
    io::{BufWriter, Write},
    path::Path,
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
    engine::{RuleHost, DEFAULT_MEMORY_LIMIT},
    inputs::{self, time, InputFile, Rejects},
};
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
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
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

/// One hour of sessions (5 000 internal hosts talking to 200 000 external
/// addresses) and indicators (mixed /32 and CIDR) of which ~1% are contacted.
struct Data {
    sessions: Vec<[String; 6]>,
    indicators: Vec<[String; 5]>,
}

fn data() -> Data {
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
    let sessions = (0..SESSIONS)
        .map(|n| {
            let time = AT - HOUR + (n as i64 * HOUR) / SESSIONS as i64;
            let (dvc, product, vendor) = devices[random.below(3) as usize];
            [
                time::format(time),
                internal[random.below(internal.len() as u64) as usize].clone(),
                external[random.below(external.len() as u64) as usize].clone(),
                dvc.into(),
                product.into(),
                vendor.into(),
            ]
        })
        .collect();
    let indicators = (0..INDICATORS)
        .map(|n| {
            let ip = match n % 100 {
                0 => external[random.below(external.len() as u64) as usize].clone(),
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
    Data {
        sessions,
        indicators,
    }
}

fn batches(data: &Data, batch_rows: usize) -> (Vec<Batch>, Vec<Batch>) {
    let metadata = TiMapIp::metadata();
    let kinds =
        |names: &[String], kind: fn(&str) -> Option<ColumnKind>| -> Vec<(String, ColumnKind)> {
            names
                .iter()
                .map(|name| (name.clone(), kind(name).unwrap()))
                .collect()
        };
    let session_kinds = kinds(&metadata.session_columns, session_column);
    let indicator_kinds = kinds(&metadata.indicator_columns, indicator_column);
    let borrow =
        |columns: &[(String, ColumnKind)]| -> Vec<(String, ColumnKind)> { columns.to_vec() };
    let builder = |columns: &[(String, ColumnKind)]| {
        let borrowed: Vec<(&str, ColumnKind)> =
            columns.iter().map(|(n, k)| (n.as_str(), *k)).collect();
        BatchBuilder::new(&borrowed)
    };
    let mut sessions = Vec::new();
    let mut session_builder = builder(&borrow(&session_kinds));
    for row in &data.sessions {
        let cells: Vec<Cell> = row[1..].iter().map(|text| Cell::Text(text)).collect();
        session_builder
            .push_row(time::parse(&row[0]).unwrap(), &cells)
            .unwrap();
        if session_builder.rows() == batch_rows {
            sessions.push(session_builder.take());
        }
    }
    sessions.push(session_builder.finish());
    let mut indicator_builder = builder(&indicator_kinds);
    for row in &data.indicators {
        let cells = [
            Cell::Text(&row[0]),
            Cell::Time(time::parse(&row[2]).unwrap()),
            Cell::Boolean(true),
            Cell::Text(&row[3]),
            Cell::Empty,
            Cell::Empty,
            Cell::Empty,
            Cell::Text("C2"),
            Cell::Text("bench"),
            Cell::Empty,
            Cell::Real(row[4].parse().unwrap()),
        ];
        indicator_builder
            .push_row(time::parse(&row[1]).unwrap(), &cells)
            .unwrap();
    }
    (sessions, vec![indicator_builder.finish()])
}

fn best_of_three(mut run: impl FnMut() -> usize) -> (Duration, usize) {
    (0..3)
        .map(|_| {
            let started = Instant::now();
            let alerts = run();
            (started.elapsed(), alerts)
        })
        .min_by_key(|(elapsed, _)| *elapsed)
        .unwrap()
}

fn rate(rows: usize, elapsed: Duration) -> String {
    format!("{:.1} M/s", rows as f64 / elapsed.as_secs_f64() / 1e6)
}

fn write_jsonl(data: &Data, dir: &Path) -> (String, String) {
    let sessions = dir.join("sessions.jsonl");
    let mut out = BufWriter::new(fs::File::create(&sessions).unwrap());
    for [time, src, dst, dvc, product, vendor] in &data.sessions {
        writeln!(
            out,
            r#"{{"TimeGenerated":"{time}","EventCount":1,"EventType":"NetworkSession","EventProduct":"{product}","EventVendor":"{vendor}","Dvc":"{dvc}","DvcAction":"Allow","NetworkProtocol":"TCP","NetworkDirection":"Outbound","SrcIpAddr":"{src}","SrcPortNumber":50123,"DstIpAddr":"{dst}","DstPortNumber":443,"DstAppName":"https","SrcBytes":1200,"DstBytes":48000}}"#
        )
        .unwrap();
    }
    out.flush().unwrap();
    let indicators = dir.join("indicators.jsonl");
    let mut out = BufWriter::new(fs::File::create(&indicators).unwrap());
    for [id, time, expiry, ip, confidence] in &data.indicators {
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

fn main() {
    let mut report = String::new();
    let component = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/rules/ti-map-ip.wasm");
    assert!(component.exists(), "run `make components` first");
    let data = data();
    let host = RuleHost::new(DEFAULT_MEMORY_LIMIT).unwrap();
    let rule = host.load(&component).unwrap();

    writeln!(report, "TI map IP: {SESSIONS} IPv4 sessions in one hour, {INDICATORS} indicators (90% /32, 9% CIDR), one core").unwrap();
    writeln!(
        report,
        "| batch rows | native | component | component / native | alerts |"
    )
    .unwrap();
    writeln!(report, "|---|---|---|---|---|").unwrap();
    for batch_rows in [65_536, SESSIONS] {
        let (sessions, indicators) = batches(&data, batch_rows);
        let (native, native_alerts) = best_of_three(|| {
            let mut rule = TiMapIp::configure(&[]).unwrap();
            indicators
                .iter()
                .for_each(|b| rule.ingest_indicators(b.clone()).unwrap());
            sessions
                .iter()
                .for_each(|b| rule.ingest_sessions(b.clone()).unwrap());
            rule.evaluate(AT).unwrap().len()
        });
        let (wasm, wasm_alerts) = best_of_three(|| {
            let mut instance = rule.instantiate(&host, &[]).unwrap();
            indicators
                .iter()
                .for_each(|b| instance.ingest_indicators(b.clone()).unwrap());
            sessions
                .iter()
                .for_each(|b| instance.ingest_sessions(b.clone()).unwrap());
            instance.evaluate(AT).unwrap().len()
        });
        assert_eq!(native_alerts, wasm_alerts);
        writeln!(
            report,
            "| {batch_rows} | {} | {} | {:.2}x | {native_alerts} |",
            rate(SESSIONS, native),
            rate(SESSIONS, wasm),
            native.as_secs_f64() / wasm.as_secs_f64()
        )
        .unwrap();
    }
    writeln!(report, "(rates are sessions/s including indicator ingest, the batch copy and evaluation; clones of the batches are made inside the timing for both)").unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (sessions, indicators) = write_jsonl(&data, dir.path());
    let bytes = fs::metadata(&sessions).unwrap().len();
    let columns: Vec<(String, ColumnKind)> = TiMapIp::metadata()
        .session_columns
        .iter()
        .map(|name| (name.clone(), session_column(name).unwrap()))
        .collect();
    let input = InputFile::new(&sessions).unwrap();
    let (read, rows) = best_of_three(|| {
        let mut rows = 0;
        inputs::read_table(&input, &columns, &mut Rejects::default(), |_, _| {
            rows += 1;
            Ok(())
        })
        .unwrap();
        rows
    });
    writeln!(report).unwrap();
    writeln!(
        report,
        "JSON lines reader (5 of 16 columns typed, {:.0} MB): {} rows/s, {:.0} MB/s",
        bytes as f64 / 1e6,
        rate(rows, read),
        bytes as f64 / read.as_secs_f64() / 1e6
    )
    .unwrap();

    let binary = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/asim-rules");
    let at = time::format(AT);
    let (run, _) = best_of_three(|| {
        let output = Command::new(&binary)
            .args(["run", "--rule", component.to_str().unwrap(), "--at", &at])
            .args(["--sessions", &sessions, "--indicators", &indicators])
            .output()
            .expect("target/release/asim-rules (make bench builds it)");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout.iter().filter(|&&b| b == b'\n').count()
    });
    writeln!(
        report,
        "asim-rules run end to end (1 M sessions, 100 k indicators, JSON lines): {:.2} s",
        run.as_secs_f64()
    )
    .unwrap();
    match duckdb(&sessions, &indicators, &at) {
        Some(duck) => writeln!(
            report,
            "DuckDB, the rule's query as SQL on the same files: {:.2} s; asim-rules is {:.1}x faster",
            duck.as_secs_f64(),
            duck.as_secs_f64() / run.as_secs_f64()
        )
        .unwrap(),
        None => writeln!(report, "DuckDB: not installed (`duckdb` not on PATH); comparison skipped").unwrap(),
    }
    print!("{report}");
}

/// The rule's query in DuckDB SQL, when a `duckdb` binary is on PATH.
fn duckdb(sessions: &str, indicators: &str, at: &str) -> Option<Duration> {
    Command::new("duckdb").arg("-version").output().ok()?;
    let sql = format!(
        "WITH ti AS (SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY IndicatorId ORDER BY TimeGenerated DESC) AS r \
           FROM read_json_auto('{indicators}') WHERE TimeGenerated BETWEEN TIMESTAMP '{at}' - INTERVAL 14 DAY AND TIMESTAMP '{at}') \
           WHERE r = 1 AND Active AND ExpirationDateTime > TIMESTAMP '{at}'), \
         s AS (SELECT SrcIpAddr, DstIpAddr, Dvc, EventProduct, EventVendor, min(TimeGenerated) AS s0, max(TimeGenerated) AS s1 \
           FROM read_json_auto('{sessions}') WHERE TimeGenerated >= TIMESTAMP '{at}' - INTERVAL 1 HOUR AND TimeGenerated < TIMESTAMP '{at}' \
           GROUP BY ALL) \
         SELECT count(*) FROM s JOIN ti ON s.SrcIpAddr = ti.NetworkIP OR s.DstIpAddr = ti.NetworkIP;"
    );
    let started = Instant::now();
    let output = Command::new("duckdb").args(["-c", &sql]).output().ok()?;
    output.status.success().then(|| started.elapsed())
}
