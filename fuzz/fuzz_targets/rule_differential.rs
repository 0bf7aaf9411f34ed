//! The same random batches and evaluation times into a rule compiled
//! natively and into the same rule as a sandboxed component (built by
//! `make components`): the same alerts, the same errors, the same snapshot
//! bytes after every evaluation; neither panics nor traps.

#![no_main]

use asim_rule_core::{
    batch::Cell,
    rule::Rule,
    schema::{indicator_column, session_column, ColumnKind},
    Batch, BatchBuilder, RuleMetadata,
};
use asim_rules::engine::{Budgets, EngineOptions, LoadedRule, RuleHost, RuleInstance};
use libfuzzer_sys::{
    arbitrary::{Result, Unstructured},
    fuzz_target,
};

/// 2026-03-14T12:00:00Z: rows and evaluations fall around it.
const NOON: i64 = 1_773_489_600_000_000;
const HOUR: i64 = 3_600_000_000;

/// Few distinct values, so that rows meet: addresses (and networks, and
/// noise), texts the rules group by.
const ADDRESSES: [&str; 9] = [
    "10.0.0.1",
    "10.0.0.2",
    "203.0.113.7",
    "198.51.100.0/24",
    "2001:db8::1",
    "::ffff:10.0.0.1",
    "2001:db8::/32",
    "not-an-ip",
    "0.0.0.0",
];
const TEXTS: [&str; 8] = [
    "Allow", "Deny", "Outbound", "Inbound", "TCP", "UDP", "fw01", "é",
];

struct Rules {
    host: RuleHost,
    components: [LoadedRule; 3],
}

thread_local! {
    static RULES: Rules = {
        let host = RuleHost::with_options(
            Budgets::default(),
            &EngineOptions { compile_cache: None, ..EngineOptions::default() },
        )
        .expect("an engine");
        let load = |name: &str| {
            host.load(std::path::Path::new(&format!("target/rules/{name}.wasm")))
                .expect("the rule components, built by `make components`, run from the repository")
        };
        let components = [load("ti-map-ip"), load("network-session-anomaly"), load("port-scan")];
        Rules { host, components }
    };
}

/// A batch of up to 64 rows of `columns`, cells drawn from small pools.
fn batch(
    u: &mut Unstructured,
    columns: &[String],
    kind: fn(&str) -> Option<ColumnKind>,
) -> Result<Batch> {
    let kinds: Vec<(&str, ColumnKind)> = columns
        .iter()
        .map(|name| (name.as_str(), kind(name).unwrap_or(ColumnKind::Text)))
        .collect();
    let mut builder = BatchBuilder::new(&kinds);
    for _ in 0..u.int_in_range(0..=64)? {
        let time = NOON + u.int_in_range(-20 * 24 * HOUR..=2 * HOUR)?;
        let mut cells = Vec::with_capacity(kinds.len());
        for (_, kind) in &kinds {
            let cell = if u.ratio(1, 8)? {
                Cell::Empty
            } else {
                match kind {
                    ColumnKind::IpAddress | ColumnKind::IpNetwork => {
                        Cell::Text(u.choose(&ADDRESSES)?)
                    }
                    ColumnKind::Text => Cell::Text(u.choose(&TEXTS)?),
                    ColumnKind::Integer => Cell::Integer(match u.ratio(1, 16)? {
                        true => u.arbitrary::<i64>()?,
                        false => u.int_in_range(0..=70_000)?,
                    }),
                    ColumnKind::Real => Cell::Real(u.arbitrary::<f64>()?),
                    ColumnKind::Boolean => Cell::Boolean(u.arbitrary::<bool>()?),
                    ColumnKind::Time => {
                        Cell::Time(NOON + u.int_in_range(-30 * 24 * HOUR..=30 * 24 * HOUR)?)
                    }
                }
            };
            cells.push(cell);
        }
        // The builder refuses only cells of the wrong kind, which are not made here.
        builder
            .push_row(time, &cells)
            .expect("cells of their columns' kinds");
    }
    Ok(builder.finish())
}

/// Plays the steps `u` describes into the native rule `R` and its component.
fn differ<R: Rule>(u: &mut Unstructured, component: &LoadedRule, host: &RuleHost) -> Result<()> {
    let mut native = R::configure(&[]).expect("the default parameters");
    let mut sandboxed: RuleInstance = component.instantiate(host, &[]).expect("an instance");
    let metadata: RuleMetadata = R::metadata();
    let mut at = NOON - 2 * HOUR;
    for _ in 0..u.int_in_range(1..=8)? {
        match u.int_in_range(0..=2)? {
            0 => {
                let sessions = batch(u, &metadata.session_columns, session_column)?;
                let (left, right) = (
                    native.ingest_sessions(sessions.clone()),
                    sandboxed.ingest_sessions(sessions),
                );
                assert_eq!(
                    left.is_ok(),
                    right.is_ok(),
                    "ingest_sessions: {left:?} / {right:?}"
                );
            }
            1 if metadata.indicator_lookback.is_some() => {
                let indicators = batch(u, &metadata.indicator_columns, indicator_column)?;
                let (left, right) = (
                    native.ingest_indicators(indicators.clone()),
                    sandboxed.ingest_indicators(indicators),
                );
                assert_eq!(
                    left.is_ok(),
                    right.is_ok(),
                    "ingest_indicators: {left:?} / {right:?}"
                );
            }
            _ => {
                at += u.int_in_range(0..=26)? * HOUR;
                let (left, right) = (native.evaluate(at), sandboxed.evaluate(at));
                match (left, right) {
                    (Ok(left), Ok(right)) => assert_eq!(left, right, "alerts at {at}"),
                    (Err(_), Err(_)) => return Ok(()),
                    (left, right) => panic!("evaluate at {at}: {left:?} / {right:?}"),
                }
                let snapshot = sandboxed.snapshot().expect("a snapshot");
                assert!(native.snapshot() == snapshot, "snapshots at {at}");
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    RULES.with(|rules| {
        let host = &rules.host;
        let _ = match u.int_in_range(0..=2u8).unwrap_or(0) {
            0 => differ::<ti_map_ip::TiMapIp>(&mut u, &rules.components[0], host),
            1 => differ::<network_session_anomaly::NetworkSessionAnomaly>(
                &mut u,
                &rules.components[1],
                host,
            ),
            _ => differ::<port_scan::PortScan>(&mut u, &rules.components[2], host),
        };
    });
});
