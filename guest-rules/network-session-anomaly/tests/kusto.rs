//! A real Log Analytics output of `series_decompose_anomalies(x, 3, -1,
//! 'linefit')` (`tests/data/kusto/msticpy_time_series.csv`, 840 hourly
//! points; Kusto detected a weekly period, 168). With that period set, the
//! decomposition must give every truncated baseline, every score (to 1e-12
//! relative: Kusto's summation order is not public) and every flag.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use network_session_anomaly::series::{decompose_anomalies, Trend};

#[test]
fn the_decomposition_reproduces_a_published_kusto_output() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/kusto/msticpy_time_series.csv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let rows: Vec<(f64, i64, f64, i8)> = reader
        .records()
        .map(|record| {
            let record = record.unwrap();
            (
                record[1].parse().unwrap(),
                record[2].parse().unwrap(),
                record[3].parse().unwrap(),
                record[4].parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows.len(), 840);
    let x: Vec<f64> = rows.iter().map(|row| row.0).collect();
    let ours = decompose_anomalies(&x, 3.0, Some(168), Trend::Linefit);
    for (i, &(_, baseline, score, flag)) in rows.iter().enumerate() {
        assert_eq!(ours.baseline[i] as i64, baseline, "baseline at point {i}");
        let tolerance = 1e-12 * score.abs().max(1.0);
        assert!(
            (ours.score[i] - score).abs() <= tolerance,
            "score at point {i}: {} vs {score}",
            ours.score[i]
        );
        assert_eq!(ours.flag[i], flag, "flag at point {i}");
    }
    assert!(
        rows.iter().any(|row| row.3 != 0),
        "the output has anomalies to agree on"
    );
}
