//! The same batches through the native rule library and through its
//! component give the same alerts, and their snapshots are interchangeable.

use asim_rule_core::{
    schema::{indicator_column, session_column},
    Batch, BatchBuilder, Rule,
};
use asim_rules::{
    engine::{Budgets, RuleHost},
    inputs::{self, InputFile, Rejects},
    time,
};
use ti_map_ip::TiMapIp;

use crate::support::{component, generated, GENERATED_AT};

/// The rows of a generated file as batches of at most 10 000 rows.
pub fn batches(
    file: &str,
    columns: &[String],
    kind: fn(&str) -> Option<asim_rule_core::schema::ColumnKind>,
) -> Vec<Batch> {
    let columns: Vec<_> = columns
        .iter()
        .map(|name| (name.clone(), kind(name).unwrap()))
        .collect();
    let borrowed: Vec<_> = columns
        .iter()
        .map(|(name, kind)| (name.as_str(), *kind))
        .collect();
    let input = InputFile::new(generated().join(file).to_str().unwrap()).unwrap();
    let mut builder = BatchBuilder::new(&borrowed);
    let mut batches = Vec::new();
    inputs::read_table(
        &input,
        &columns,
        &mut Rejects::default(),
        &mut |time, cells| {
            builder.push_row(time, cells).unwrap();
            if builder.rows() == 10_000 {
                batches.push(builder.take());
            }
            Ok(())
        },
    )
    .unwrap();
    batches.push(builder.finish());
    batches
}

#[test]
fn native_and_component_alerts_are_identical_and_snapshots_interchange() {
    let metadata = TiMapIp::metadata();
    let sessions = batches("sessions.jsonl", &metadata.session_columns, session_column);
    let indicators = batches(
        "indicators.jsonl",
        &metadata.indicator_columns,
        indicator_column,
    );
    let at = time::parse(GENERATED_AT).unwrap();

    let mut native = TiMapIp::configure(&[]).unwrap();
    let host = RuleHost::new(Budgets::default()).unwrap();
    let mut wasm = host
        .load(&component("ti-map-ip"))
        .unwrap()
        .instantiate(&host, &[])
        .unwrap();
    assert_eq!(wasm.metadata(), &metadata);
    for batch in &indicators {
        native.ingest_indicators(batch.clone()).unwrap();
        wasm.ingest_indicators(batch.clone()).unwrap();
    }
    for batch in &sessions {
        native.ingest_sessions(batch.clone()).unwrap();
        wasm.ingest_sessions(batch.clone()).unwrap();
    }

    let snapshot = wasm.snapshot().unwrap();
    assert_eq!(
        snapshot,
        native.snapshot(),
        "snapshots are deterministic: the same state gives the same bytes in both builds"
    );
    let mut restored = TiMapIp::configure(&[]).unwrap();
    restored.restore(&snapshot).unwrap();

    let from_native = native.evaluate(at).unwrap();
    assert!(from_native.len() >= 8);
    assert_eq!(wasm.evaluate(at).unwrap(), from_native);
    assert_eq!(restored.evaluate(at).unwrap(), from_native);
}
