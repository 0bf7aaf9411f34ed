//! The price of each alert shape and destination against JSON lines: the
//! same TI-shaped alerts (one IP entity, sixteen custom details) written by
//! the library's `AlertSink` to a file, as lines and as Parquet.

use std::{fmt::Write as _, path::Path, time::Instant};

use asim_rule_core::{Alert, DetailValue, Entity, RuleMetadata, Severity};
use asim_rules::outputs::{AlertFormat, AlertSink, Evaluation};

/// Alerts written per measurement.
const ALERTS: usize = 100_000;
/// Alerts per evaluation, as a busy TI evaluation returns them.
const PER_EVALUATION: usize = 1000;

fn rule() -> RuleMetadata {
    RuleMetadata {
        id: "e2399891-383c-4caf-ae67-68a008b9f89e".into(),
        short_name: "ti-map-ip".into(),
        name: "TI map IP entity to Network Session Events (ASIM Network Session schema)".into(),
        version: "1.2.2".into(),
        description: String::new(),
        severity: Severity::Medium,
        tactics: vec!["CommandAndControl".into()],
        techniques: vec!["T1071".into()],
        frequency: 3_600_000_000,
        session_lookback: 3_600_000_000,
        session_columns: vec![],
        indicator_lookback: None,
        indicator_columns: vec![],
        summary_columns: vec![],
        parameters: vec![],
    }
}

fn alerts() -> Vec<Alert> {
    (0..ALERTS)
        .map(|index| {
            let ip = format!("198.51.{}.{}", index / 256 % 256, index % 256);
            let text = |value: &str| DetailValue::Text(value.to_owned());
            Alert {
                name: format!("A network session Destination address {ip} matched an IoC."),
                description: format!("The Destination address {ip} of a network session matched a known indicator of compromise of Botnet."),
                start_time: 1_773_270_000_000_000 + index as i64,
                end_time: 1_773_270_000_000_000 + index as i64,
                entities: vec![Entity::ip(&ip)],
                custom_details: vec![
                    ("EventStartTime".into(), DetailValue::Time(1_773_270_000_000_000)),
                    ("EventEndTime".into(), DetailValue::Time(1_773_270_000_000_000)),
                    ("IoCDescription".into(), text("Botnet infrastructure reported by partner feed")),
                    ("ActivityGroupNames".into(), text("STRONTIUM")),
                    ("IndicatorId".into(), text(&format!("indicator-{index}"))),
                    ("ThreatType".into(), text("Botnet")),
                    ("IoCExpirationTime".into(), DetailValue::Time(1_775_000_000_000_000)),
                    ("IoCConfidenceScore".into(), DetailValue::Integer(80)),
                    ("IoCIPDirection".into(), text("Destination")),
                    ("SrcIpAddr".into(), text("10.2.83.124")),
                    ("DstIpAddr".into(), text(&ip)),
                    ("IoCIP".into(), text(&ip)),
                    ("Dvc".into(), text("asa-branch-02")),
                    ("EventVendor".into(), text("Cisco")),
                    ("EventProduct".into(), text("ASA")),
                    ("DstPortNumber".into(), DetailValue::Integer(443)),
                ],
            }
        })
        .collect()
}

/// Seconds to write every alert to `path` in `format`: best of three.
fn write_all(path: &Path, format: AlertFormat, rule: &RuleMetadata, alerts: &[Alert]) -> f64 {
    (0..3)
        .map(|_| {
            let started = Instant::now();
            let mut sink = AlertSink::create(Some(path), format).unwrap();
            for (index, chunk) in alerts.chunks(PER_EVALUATION).enumerate() {
                let evaluation = Evaluation {
                    rule,
                    at: 1_773_273_600_000_000 + index as i64 * 3_600_000_000,
                    tenant: "default",
                };
                sink.write(&evaluation, chunk).unwrap();
            }
            sink.finish().unwrap();
            started.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

pub fn report(report: &mut String, _binary: &Path, dir: &Path) {
    let (rule, alerts) = (rule(), alerts());
    writeln!(
        report,
        "\nAlert outputs: {ALERTS} TI-shaped alerts written to a file by `AlertSink`, one core, best of 3:\n"
    )
    .unwrap();
    writeln!(report, "| shape | lines: alerts/s | lines: size | lines / jsonl lines | Parquet: alerts/s | Parquet: size | Parquet / jsonl lines |").unwrap();
    writeln!(report, "|---|---|---|---|---|---|---|").unwrap();
    let mut baseline = None;
    for format in [AlertFormat::Jsonl, AlertFormat::Ocsf, AlertFormat::Sentinel] {
        let mut cells = Vec::new();
        for extension in ["jsonl", "parquet"] {
            let path = dir.join(format!("outputs-{}.{extension}", format.flag()));
            let seconds = write_all(&path, format, &rule, &alerts);
            let baseline = *baseline.get_or_insert(seconds);
            let bytes = std::fs::metadata(&path).unwrap().len();
            cells.push(format!(
                "{:.0} k | {:.1} MB | {:.2}x",
                ALERTS as f64 / seconds / 1e3,
                bytes as f64 / 1e6,
                baseline / seconds
            ));
        }
        writeln!(report, "| {} | {} |", format.flag(), cells.join(" | ")).unwrap();
    }
    writeln!(
        report,
        "\n(x: speed against jsonl lines; above 1 is faster.)"
    )
    .unwrap();
}
