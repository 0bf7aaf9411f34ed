//! Threat intel at scale: a million indicators (IPv4 and IPv6, mixed prefix
//! lengths) in the TI rule, natively and as a component, and the parse rates
//! of the indicator readers.

use std::{
    fmt::Write as _,
    fs,
    io::{BufWriter, Write},
    path::Path,
    time::{Duration, Instant},
};

use asim_rule_core::{
    batch::Cell,
    schema::{indicator_column, ColumnKind},
    time::{DAY, HOUR},
    Batch, Rule,
};
use asim_rules::{
    engine::LoadedRule,
    inputs::{
        indicators::{self, ListOptions},
        InputFile, Rejects,
    },
    time,
};
use ti_map_ip::TiMapIp;

use crate::{builder, in_batches, ms, rate, Deployment, Random, AT};

const MILLION: usize = 1_000_000;
/// Indicators in the STIX bundle whose parse rate is measured.
const STIX_INDICATORS: usize = 200_000;

/// A million indicator addresses: 88 % IPv4 hosts, 2 % IPv4 networks
/// (/20–/24, covering about 0.5 % of the traffic's address space), 8 % IPv6
/// hosts, 2 % IPv6 networks (/32–/64); one in a thousand is an address the
/// traffic contacts.
fn million_addresses(contacted: &[&str]) -> Vec<String> {
    let mut random = Random(1_000_000);
    (0..MILLION)
        .map(|n| match n % 1000 {
            0 => contacted[random.below(contacted.len())].to_owned(),
            1..=880 => random.v4(),
            881..=900 => {
                let len = [20, 22, 24, 24, 24, 24, 24, 24][random.below(8)];
                format!("{}/{len}", random.v4())
            }
            901..=980 => format!(
                "2001:db8:{:x}:{:x}::{:x}",
                random.next() & 0xffff,
                random.next() & 0xffff,
                random.next() & 0xffff
            ),
            _ => {
                let len = [32, 48, 56, 64][random.below(4)];
                format!(
                    "2001:{:x}:{:x}::/{len}",
                    random.next() & 0xffff,
                    random.next() & 0xffff
                )
            }
        })
        .collect()
}

fn indicator_batches(addresses: &[String]) -> Vec<Batch> {
    let metadata = TiMapIp::metadata();
    let (published, expires) = (AT - 2 * DAY, AT + 30 * DAY);
    in_batches(
        addresses.len(),
        65_536,
        builder(&metadata.indicator_columns, indicator_column),
        |n, b| {
            let id = format!("ioc-{n}");
            let cells = [
                Cell::Text(&id),
                Cell::Time(expires),
                Cell::Boolean(true),
                Cell::Text(&addresses[n]),
                Cell::Empty,
                Cell::Empty,
                Cell::Empty,
                Cell::Text("C2"),
                Cell::Text("bench"),
                Cell::Empty,
                Cell::Real((30 + n % 70) as f64),
            ];
            b.push_row(published, &cells).unwrap();
        },
    )
}

/// Best-of-three phases of one deployment: indicator ingest, index build (an
/// evaluation with no sessions in its window), matching (session ingest and
/// an evaluation reusing the index); then the alerts, the index's bytes and
/// the rule's memory (components only).
struct Scale {
    ingest: Duration,
    build: Duration,
    matching: Duration,
    alerts: usize,
    index_bytes: u64,
    memory: Option<usize>,
}

fn scale(fresh: &dyn Fn() -> Deployment, indicators: &[Batch], sessions: &[Batch]) -> Scale {
    let mut best: Option<Scale> = None;
    for _ in 0..3 {
        let mut deployment = fresh();
        let (indicators, sessions) = (indicators.to_vec(), sessions.to_vec());
        let started = Instant::now();
        indicators
            .into_iter()
            .for_each(|batch| deployment.indicators(batch));
        let ingested = Instant::now();
        deployment.evaluate(AT - HOUR);
        let built = Instant::now();
        sessions
            .into_iter()
            .for_each(|batch| deployment.sessions(batch));
        let alerts = deployment.evaluate(AT);
        let matched = Instant::now();
        let stats = deployment.stats();
        let stat = |name: &str| {
            let found = stats.iter().find(|(stat, _)| stat == name);
            found.map_or(0, |(_, value)| *value)
        };
        assert_eq!(stat("index-builds"), 1, "the index must be built once");
        let run = Scale {
            ingest: ingested - started,
            build: built - ingested,
            matching: matched - built,
            alerts,
            index_bytes: stat("index-bytes"),
            memory: deployment.memory_bytes(),
        };
        best = Some(match best {
            None => run,
            Some(best) => Scale {
                ingest: best.ingest.min(run.ingest),
                build: best.build.min(run.build),
                matching: best.matching.min(run.matching),
                ..run
            },
        });
    }
    best.unwrap()
}

/// The million-indicator table and the reader rates, appended to `report`.
pub fn report(
    report: &mut String,
    ti: &LoadedRule,
    component: &dyn Fn(&LoadedRule) -> Deployment,
    sessions: &[Batch],
    contacted: &[&str],
    dir: &Path,
) {
    let addresses = million_addresses(contacted);
    let indicators = indicator_batches(&addresses);
    let native = scale(
        &|| Deployment::Ti(TiMapIp::configure(&[]).unwrap()),
        &indicators,
        sessions,
    );
    let wasm = scale(&|| component(ti), &indicators, sessions);
    assert_eq!(native.alerts, wasm.alerts, "native and component disagree");
    writeln!(report).unwrap();
    writeln!(
        report,
        "TI with 1 M indicators (88 % IPv4 hosts, 2 % IPv4 /20–/24, 8 % IPv6 hosts, 2 % IPv6 /32–/64), \
         1 M sessions in the hour; each cell native / component. Matching = session ingest + an \
         evaluation that reuses the index.\n"
    )
    .unwrap();
    writeln!(report, "| indicator ingest | index build | index size | component memory | matching | sessions/s | alerts |").unwrap();
    writeln!(report, "|---|---|---|---|---|---|---|").unwrap();
    writeln!(
        report,
        "| {} / {} | {} / {} | {:.0} MiB | {:.0} MiB | {} / {} | {} / {} | {} |",
        ms(native.ingest),
        ms(wasm.ingest),
        ms(native.build),
        ms(wasm.build),
        wasm.index_bytes as f64 / f64::from(1 << 20),
        wasm.memory.unwrap_or(0) as f64 / f64::from(1 << 20),
        ms(native.matching),
        ms(wasm.matching),
        rate(sessions_in(sessions), native.matching),
        rate(sessions_in(sessions), wasm.matching),
        native.alerts
    )
    .unwrap();
    reader_rates(report, &addresses, dir);
}

fn sessions_in(batches: &[Batch]) -> usize {
    batches.iter().map(|batch| batch.time_generated.len()).sum()
}

/// Parse rates of the list and STIX readers, into the TI rule's columns.
fn reader_rates(report: &mut String, addresses: &[String], dir: &Path) {
    let list = dir.join("million.netset");
    let mut out = BufWriter::new(fs::File::create(&list).unwrap());
    for (n, address) in addresses.iter().enumerate() {
        match n % 10 {
            0 => writeln!(out, "{address} ; SBL{n}").unwrap(),
            _ => writeln!(out, "{address}").unwrap(),
        }
    }
    out.flush().unwrap();
    let bundle = dir.join("indicators.stix.json");
    let mut out = BufWriter::new(fs::File::create(&bundle).unwrap());
    writeln!(
        out,
        "{{\n  \"type\": \"bundle\",\n  \"id\": \"bundle--bench\",\n  \"objects\": ["
    )
    .unwrap();
    let published = time::format(AT - 2 * DAY);
    for (n, address) in addresses[..STIX_INDICATORS].iter().enumerate() {
        let family = if address.contains(':') { 6 } else { 4 };
        let separator = if n + 1 < STIX_INDICATORS { "," } else { "" };
        writeln!(
            out,
            "    {{\n      \"type\": \"indicator\",\n      \"spec_version\": \"2.1\",\n      \
             \"id\": \"indicator--{n:08x}-0000-4000-8000-000000000000\",\n      \
             \"created\": \"{published}\",\n      \"modified\": \"{published}\",\n      \
             \"name\": \"bench {n}\",\n      \"indicator_types\": [\"malicious-activity\"],\n      \
             \"pattern\": \"[ipv{family}-addr:value = '{address}' OR domain-name:value = 'c2-{n}.example']\",\n      \
             \"pattern_type\": \"stix\",\n      \"valid_from\": \"{published}\",\n      \
             \"confidence\": {}\n    }}{separator}",
            n % 100
        )
        .unwrap();
    }
    writeln!(out, "  ]\n}}").unwrap();
    out.flush().unwrap();

    let columns: Vec<(String, ColumnKind)> = TiMapIp::metadata()
        .indicator_columns
        .iter()
        .map(|name| (name.clone(), indicator_column(name).unwrap()))
        .collect();
    let options = ListOptions {
        published: Some(AT),
        ..ListOptions::default()
    };
    writeln!(report).unwrap();
    for (path, what, records) in [
        (&list, "IP list (1 M entries, 10 % with a comment)", MILLION),
        (
            &bundle,
            "STIX 2.1 bundle, pretty-printed (200 k indicators)",
            STIX_INDICATORS,
        ),
    ] {
        let input = InputFile::by_content(path.to_str().unwrap());
        let bytes = fs::metadata(path).unwrap().len() as f64;
        let best = (0..3)
            .map(|_| {
                let started = Instant::now();
                let (report, _, _) = indicators::read(
                    &input,
                    &options,
                    &columns,
                    &mut Rejects::default(),
                    &mut |_, _| Ok(()),
                )
                .unwrap();
                assert_eq!(report.indicators as usize, records);
                started.elapsed()
            })
            .min()
            .unwrap();
        writeln!(
            report,
            "Indicator reader, {what}, {:.0} MB: {} indicators/s, {:.0} MB/s (one thread)",
            bytes / 1e6,
            rate(records, best),
            bytes / best.as_secs_f64() / 1e6
        )
        .unwrap();
    }
}
