//! The rule against `specs/network-anomaly.md` §1, §2 and §4 (the numerical
//! core has its own tests in `series.rs` and `tests/kusto.rs`).

use asim_rule_core::{
    batch::Cell,
    schema::ColumnKind,
    time::{DAY, HOUR, MINUTE},
    Alert, Batch, BatchBuilder, DetailValue, Rule, Timestamp,
};

use crate::{
    counts::{Counts, SeriesSet},
    NetworkSessionAnomaly,
};

/// An evaluation time aligned to a day: 2026-03-12T00:00:00Z.
const T: Timestamp = 20_524 * DAY;

fn batch(rows: &[(Timestamp, &str, &str, &str)]) -> Batch {
    let kinds = [
        ("DvcAction", ColumnKind::Text),
        ("NetworkDirection", ColumnKind::Text),
        ("NetworkProtocol", ColumnKind::Text),
    ];
    let mut builder = BatchBuilder::new(&kinds);
    for (time, action, direction, protocol) in rows {
        let cells = [
            Cell::Text(action),
            Cell::Text(direction),
            Cell::Text(protocol),
        ];
        builder.push_row(*time, &cells).unwrap();
    }
    builder.finish()
}

/// `per_day[k]` rows of (Allow, Outbound, TCP) on day `k` of `[T-14d, T)`,
/// spread over the day.
fn days(per_day: &[u64]) -> Vec<(Timestamp, &'static str, &'static str, &'static str)> {
    let start = T - per_day.len() as i64 * DAY;
    per_day
        .iter()
        .enumerate()
        .flat_map(|(day, &count)| {
            (0..count).map(move |n| {
                (
                    start + day as i64 * DAY + (n as i64 * DAY) / count as i64,
                    "Allow",
                    "Outbound",
                    "TCP",
                )
            })
        })
        .collect()
}

fn evaluate(rows: &[(Timestamp, &str, &str, &str)], parameters: &[(&str, &str)]) -> Vec<Alert> {
    let parameters: Vec<(String, String)> = parameters
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let mut rule = NetworkSessionAnomaly::configure(&parameters).unwrap();
    rule.ingest_sessions(batch(rows)).unwrap();
    rule.evaluate(T).unwrap()
}

fn detail<'a>(alert: &'a Alert, name: &str) -> &'a DetailValue {
    alert.detail(name).unwrap_or_else(|| panic!("no {name}"))
}

fn fields(alerts: &[Alert]) -> Vec<(String, String)> {
    alerts
        .iter()
        .map(|a| {
            match (
                detail(a, "AnomalyFieldType"),
                detail(a, "AnomalyFieldValue"),
            ) {
                (DetailValue::Text(t), DetailValue::Text(v)) => (t.clone(), v.clone()),
                other => panic!("{other:?}"),
            }
        })
        .collect()
}

fn assert_close(value: &DetailValue, expected: f64) {
    match value {
        DetailValue::Real(value) => {
            assert!((value - expected).abs() < 1e-12, "{value} vs {expected}")
        }
        other => panic!("{other:?}"),
    }
}

fn pair(field: &str, value: &str) -> (String, String) {
    (field.into(), value.into())
}

const STEADY_THEN_SPIKE: [u64; 14] = [
    100, 102, 98, 101, 99, 103, 100, 97, 102, 100, 101, 99, 100, 160,
];

#[test]
fn a_last_day_spike_alerts_on_every_series_with_the_spec_fields() {
    let alerts = evaluate(&days(&STEADY_THEN_SPIKE), &[]);
    assert_eq!(
        fields(&alerts),
        [
            pair("TotalVolume", "Overall"),
            pair("DvcAction", "Allow"),
            pair("NetworkDirection", "Outbound"),
            pair("NetworkProtocol", "TCP"),
        ]
    );
    let total = &alerts[0];
    assert_eq!(total.name, "Anomaly was observed with Overall Traffic");
    assert_eq!(
        total.description,
        "Based on past data, anomaly was observed in Overall Traffic with a score of 5."
    );
    assert_eq!(detail(total, "Score"), &DetailValue::Integer(5));
    assert_eq!(detail(total, "Total"), &DetailValue::Integer(160));
    assert_eq!(detail(total, "Baseline"), &DetailValue::Integer(115));
    // Kusto's least-squares summation order is not public: last bits differ.
    assert_close(detail(total, "RawScore"), 5.637816696035278);
    assert_eq!(detail(total, "EventTime"), &DetailValue::Time(T - DAY));
    assert_eq!((total.start_time, total.end_time), (T - DAY, T));
}

#[test]
fn a_score_below_five_does_not_alert_and_neither_does_a_drop() {
    let ramp = [0, 0, 0, 0, 0, 0, 0, 0, 0, 50, 100, 110, 95, 400];
    assert!(evaluate(&days(&ramp), &[]).is_empty());
    let drop = [
        100, 102, 98, 101, 99, 103, 100, 97, 102, 100, 101, 99, 100, 10,
    ];
    assert!(evaluate(&days(&drop), &[]).is_empty());
}

#[test]
fn a_value_new_on_the_last_day_alerts() {
    // A noisy background, in which 30 more rows on the last day are ordinary.
    let background = [
        1000, 1020, 980, 1010, 990, 1030, 1000, 970, 1020, 1000, 1010, 990, 1000, 1000,
    ];
    let mut rows = days(&background);
    rows.extend((0..30).map(|n| (T - HOUR + n * MINUTE, "Allow", "Outbound", "SCTP")));
    let alerts = evaluate(&rows, &[]);
    assert_eq!(fields(&alerts), [pair("NetworkProtocol", "SCTP")]);
    assert_close(detail(&alerts[0], "RawScore"), 5.945106250271783);
    assert_eq!(detail(&alerts[0], "Total"), &DetailValue::Integer(30));
}

#[test]
fn parameters_change_the_outcome() {
    assert!(evaluate(&days(&STEADY_THEN_SPIKE), &[("min-score", "6")]).is_empty());
    assert_eq!(
        evaluate(&days(&STEADY_THEN_SPIKE), &[("trend", "avg")]).len(),
        4
    );
    let rule = NetworkSessionAnomaly::configure(&[("lookback-days".into(), "28".into())]).unwrap();
    assert_eq!(rule.describe().session_lookback, 28 * DAY);
    assert_eq!(NetworkSessionAnomaly::metadata().session_lookback, 14 * DAY);
}

fn counts_of(rows: &[(Timestamp, &str, &str, &str)], max_values: usize) -> Counts {
    let mut batch = batch(rows);
    let fields = crate::fields(&mut batch).unwrap();
    let mut counts = Counts::default();
    counts.ingest(&batch.time_generated, &fields, i64::MIN, max_values, |_| {
        Some(1)
    });
    counts
}

fn series_of(counts: &Counts, at: Timestamp) -> SeriesSet {
    let mut series = SeriesSet::new();
    counts.add_series(&mut series, at - 14 * DAY, i64::MIN, DAY, 14);
    series
}

fn total_series(rows: &[(Timestamp, &str, &str, &str)], at: Timestamp) -> Vec<f64> {
    series_of(&counts_of(rows, 10), at).remove(&None).unwrap()
}

#[test]
fn the_window_starts_at_t_minus_14_days_inclusive_and_ends_at_t_exclusive() {
    let rows = [
        (T - 14 * DAY - 1, "Allow", "Outbound", "TCP"),
        (T - 14 * DAY, "Allow", "Outbound", "TCP"),
        (T - 1, "Allow", "Outbound", "TCP"),
        (T, "Allow", "Outbound", "TCP"),
    ];
    let series = total_series(&rows, T);
    assert_eq!(series[0], 1.0);
    assert_eq!(series[13], 1.0);
    assert_eq!(series.iter().sum::<f64>(), 2.0);
}

#[test]
fn a_ten_minute_bin_straddling_an_unaligned_day_boundary_counts_by_its_start() {
    let at = T + 5 * MINUTE;
    // 7 minutes past T - 1d: inside the last day by TimeGenerated, but its
    // 10-minute bin starts 5 minutes before the last day does (spec §2).
    let rows = [
        (T - DAY + 7 * MINUTE, "Allow", "Outbound", "TCP"),
        (T - DAY + 12 * MINUTE, "Allow", "Outbound", "TCP"),
    ];
    let series = total_series(&rows, at);
    assert_eq!((series[12], series[13]), (1.0, 1.0));
}

#[test]
fn empty_values_count_in_the_total_only_and_case_variants_are_separate_values() {
    let rows = [
        (T - HOUR, "", "Outbound", "TCP"),
        (T - HOUR, "allow", "Outbound", "TCP"),
        (T - HOUR, "Allow", "", "tcp"),
    ];
    let keys: Vec<_> = series_of(&counts_of(&rows, 10), T)
        .into_iter()
        .map(|(key, series)| (key, series[13]))
        .collect();
    assert_eq!(
        keys,
        [
            (None, 3.0),
            (Some((0, "Allow".into())), 1.0),
            (Some((0, "allow".into())), 1.0),
            (Some((1, "Outbound".into())), 2.0),
            (Some((2, "TCP".into())), 2.0),
            (Some((2, "tcp".into())), 1.0),
        ]
    );
}

#[test]
fn values_over_the_cap_are_counted_and_dropped_but_stay_in_the_total() {
    let rows = [
        (T - HOUR, "Allow", "Outbound", "TCP"),
        (T - HOUR, "Deny", "Outbound", "TCP"),
        (T - HOUR, "Drop", "Outbound", "TCP"),
        (T - HOUR, "Drop", "Outbound", "TCP"),
    ];
    let mut rule = NetworkSessionAnomaly::configure(&[("max-values".into(), "2".into())]).unwrap();
    rule.ingest_sessions(batch(&rows)).unwrap();
    let stats = rule.stats();
    assert!(
        stats.contains(&("rows-over-value-cap-DvcAction".into(), 2)),
        "{stats:?}"
    );
    assert!(stats.contains(&("values-held".into(), 4)), "{stats:?}");
    let series = total_series(&rows, T);
    assert_eq!(series[13], 4.0);
}

#[test]
fn evaluation_forgets_what_left_the_window_and_refuses_going_back() {
    let mut rule = NetworkSessionAnomaly::configure(&[]).unwrap();
    rule.ingest_sessions(batch(
        &days(&[10; 15])
            .iter()
            .map(|r| (r.0 - DAY, r.1, r.2, r.3))
            .collect::<Vec<_>>(),
    ))
    .unwrap();
    rule.evaluate(T).unwrap();
    let bins = |rule: &NetworkSessionAnomaly| rule.stats()[0].1;
    let held = bins(&rule);
    assert!(held <= 14 * 144, "{held}");
    rule.evaluate(T + DAY).unwrap();
    assert!(bins(&rule) < held);
    assert!(rule.evaluate(T).unwrap_err().contains("must not decrease"));
    // A row older than the latest window is counted as such, not kept.
    rule.ingest_sessions(batch(&[(T - 20 * DAY, "Allow", "Outbound", "TCP")]))
        .unwrap();
    assert!(rule.stats().contains(&("rows-older-than-window".into(), 1)));
}

#[test]
fn a_restored_snapshot_gives_the_same_alerts() {
    let mut rule = NetworkSessionAnomaly::configure(&[]).unwrap();
    rule.ingest_sessions(batch(&days(&STEADY_THEN_SPIKE)))
        .unwrap();
    let snapshot = rule.snapshot();
    let mut restored = NetworkSessionAnomaly::configure(&[]).unwrap();
    restored.restore(&snapshot).unwrap();
    assert_eq!(restored.snapshot(), snapshot, "deterministic bytes");
    assert_eq!(restored.evaluate(T).unwrap(), rule.evaluate(T).unwrap());
    // New values after a restore land on the values already known.
    restored
        .ingest_sessions(batch(&[(T + HOUR, "Allow", "Outbound", "TCP")]))
        .unwrap();
    assert!(restored.stats().contains(&("values-held".into(), 3)));
}

#[test]
fn a_corrupted_snapshot_is_refused_or_evaluates_without_panicking() {
    let mut rule = NetworkSessionAnomaly::configure(&[]).unwrap();
    rule.ingest_sessions(batch(&days(&[3, 1, 2]))).unwrap();
    let snapshot = rule.snapshot();
    for at in 0..snapshot.len() {
        for change in [1u8, 0x80, 0xff] {
            let mut bytes = snapshot.clone();
            bytes[at] ^= change;
            let mut restored = NetworkSessionAnomaly::configure(&[]).unwrap();
            if restored.restore(&bytes).is_ok() {
                let _ = restored.evaluate(T);
                let _ = restored.ingest_sessions(batch(&[(T + HOUR, "Allow", "In", "UDP")]));
            }
        }
    }
}

/// Rows summarised per (bin of `minutes`, action, direction, protocol), as
/// Sentinel's summary tables hold them.
fn summaries(rows: &[(Timestamp, &str, &str, &str)], minutes: i64) -> Batch {
    let mut groups: std::collections::BTreeMap<(Timestamp, &str, &str, &str), i64> =
        Default::default();
    for &(time, action, direction, protocol) in rows {
        let bin = time.div_euclid(minutes * MINUTE) * minutes * MINUTE;
        *groups
            .entry((bin, action, direction, protocol))
            .or_default() += 1;
    }
    let kinds = [
        ("DvcAction", ColumnKind::Text),
        ("NetworkDirection", ColumnKind::Text),
        ("NetworkProtocol", ColumnKind::Text),
        ("count_", ColumnKind::Integer),
        ("SummaryBinMinutes", ColumnKind::Integer),
    ];
    let mut builder = BatchBuilder::new(&kinds);
    for ((bin, action, direction, protocol), count) in groups {
        let cells = [
            Cell::Text(action),
            Cell::Text(direction),
            Cell::Text(protocol),
            Cell::Integer(count),
            Cell::Integer(minutes),
        ];
        builder.push_row(bin, &cells).unwrap();
    }
    builder.finish()
}

#[test]
fn summarised_history_then_raw_rows_count_every_session_once() {
    let rows = days(&STEADY_THEN_SPIKE);
    let reference = evaluate(&rows, &[]);
    assert_eq!(reference.len(), 4);
    for minutes in [20, 10] {
        let cut = T - 2 * DAY;
        let history: Vec<_> = rows.iter().copied().filter(|row| row.0 < cut).collect();
        // Raw rows overlap the summarised time: the overlap must not count twice.
        let recent: Vec<_> = rows
            .iter()
            .copied()
            .filter(|row| row.0 >= cut - 3 * HOUR)
            .collect();
        let mut rule = NetworkSessionAnomaly::configure(&[]).unwrap();
        rule.ingest_summaries(summaries(&history, minutes)).unwrap();
        rule.ingest_sessions(batch(&recent)).unwrap();
        assert_eq!(
            rule.evaluate(T).unwrap(),
            reference,
            "{minutes}-minute summaries"
        );
    }
}

#[test]
fn the_older_summary_table_is_ignored_once_the_newer_has_rows() {
    let rows = days(&STEADY_THEN_SPIKE);
    let reference = evaluate(&rows, &[]);
    let mut rule = NetworkSessionAnomaly::configure(&[]).unwrap();
    let history: Vec<_> = rows.iter().copied().filter(|row| row.0 < T - DAY).collect();
    let recent: Vec<_> = rows
        .iter()
        .copied()
        .filter(|row| row.0 >= T - DAY)
        .collect();
    // The older table says every day was a spike; it must not count.
    let inflated: Vec<_> = history.iter().flat_map(|row| [*row; 3]).collect();
    rule.ingest_summaries(summaries(&inflated, 10)).unwrap();
    rule.ingest_summaries(summaries(&history, 20)).unwrap();
    rule.ingest_sessions(batch(&recent)).unwrap();
    assert_eq!(rule.evaluate(T).unwrap(), reference);
}

#[test]
fn summary_rows_of_an_unknown_bin_are_refused() {
    let mut rule = NetworkSessionAnomaly::configure(&[]).unwrap();
    let error = rule
        .ingest_summaries(summaries(&days(&[1; 14]), 15))
        .unwrap_err();
    assert!(error.contains("neither 20 nor 10"), "{error}");
}
