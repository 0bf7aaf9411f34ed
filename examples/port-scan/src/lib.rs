//! Port scan from one source: a source address that reaches more than
//! `ports` distinct destination ports, or more than `hosts` distinct
//! destination addresses, within the last 10 minutes. The rule's spec is
//! this crate's README. It is written only against `asim-rule-core` and the
//! SDK: the host knows nothing of it.

#[cfg(target_arch = "wasm32")]
mod component {
    asim_rule_sdk::export_rule!(crate::PortScan);
}

use std::collections::{BTreeMap, BTreeSet};

use asim_rule_core::{
    state, time::MINUTE, Alert, Batch, DetailValue, Entity, ParameterSpec, Rule, RuleMetadata,
    Severity, Timestamp,
};
use serde::{Deserialize, Serialize};

/// Stable id of this rule (no Sentinel rule is ported here).
pub const RULE_ID: &str = "5f0c2a8e-7b3d-4e91-a6c4-2d8f1b9e7a30";
/// Version of the snapshot format.
const STATE_FORMAT: u32 = 1;
/// The window and the evaluation period.
const WINDOW: i64 = 10 * MINUTE;

/// The rule's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thresholds {
    /// More distinct destination ports than this from one source alert.
    pub ports: usize,
    /// More distinct destination addresses than this from one source alert.
    pub hosts: usize,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            ports: 25,
            hosts: 25,
        }
    }
}

/// One session, as the rule keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Contact {
    time: Timestamp,
    src: String,
    dst: String,
    port: Option<i64>,
}

/// A deployment: its thresholds and the sessions of the window.
pub struct PortScan {
    thresholds: Thresholds,
    contacts: Vec<Contact>,
}

impl Rule for PortScan {
    fn metadata() -> RuleMetadata {
        let defaults = Thresholds::default();
        RuleMetadata {
            id: RULE_ID.into(),
            short_name: "port-scan".into(),
            name: "Port scan from one source (ASIM Network Session schema)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "A source address reached {DistinctPorts} destination ports on \
                          {DistinctHosts} hosts within 10 minutes."
                .into(),
            severity: Severity::Medium,
            tactics: vec!["Discovery".into()],
            techniques: vec!["T1046".into()],
            frequency: WINDOW,
            session_lookback: WINDOW,
            session_columns: vec![
                "SrcIpAddr".into(),
                "DstIpAddr".into(),
                "DstPortNumber".into(),
            ],
            indicator_lookback: None,
            indicator_columns: Vec::new(),
            summary_columns: Vec::new(),
            parameters: vec![
                ParameterSpec {
                    name: "ports".into(),
                    description: "distinct destination ports from one source that alert when \
                                  exceeded (1 to 65535)"
                        .into(),
                    default_value: defaults.ports.to_string(),
                },
                ParameterSpec {
                    name: "hosts".into(),
                    description: "distinct destination addresses from one source that alert \
                                  when exceeded (1 to 1000000)"
                        .into(),
                    default_value: defaults.hosts.to_string(),
                },
            ],
        }
    }

    fn configure(parameters: &[(String, String)]) -> Result<PortScan, String> {
        let mut thresholds = Thresholds::default();
        for (name, value) in parameters {
            let number = |max: usize| {
                value
                    .parse::<usize>()
                    .ok()
                    .filter(|number| (1..=max).contains(number))
                    .ok_or_else(|| {
                        format!("{name}: {value:?} is not a whole number from 1 to {max}")
                    })
            };
            match name.as_str() {
                "ports" => thresholds.ports = number(65_535)?,
                "hosts" => thresholds.hosts = number(1_000_000)?,
                _ => return Err(format!("unknown parameter {name}")),
            }
        }
        Ok(PortScan {
            thresholds,
            contacts: Vec::new(),
        })
    }

    fn ingest_sessions(&mut self, mut sessions: Batch) -> Result<(), String> {
        let src = sessions.take_ip("SrcIpAddr")?;
        let dst = sessions.take_ip("DstIpAddr")?;
        let port = sessions.take_integer("DstPortNumber")?;
        for (row, &time) in sessions.time_generated.iter().enumerate() {
            // A session without both addresses says nothing of a scan.
            if src.address(row).is_none() || dst.address(row).is_none() {
                continue;
            }
            self.contacts.push(Contact {
                time,
                src: src.text(row).to_owned(),
                dst: dst.text(row).to_owned(),
                port: port[row],
            });
        }
        Ok(())
    }

    fn ingest_indicators(&mut self, _indicators: Batch) -> Result<(), String> {
        Err("this rule reads no indicators".into())
    }

    fn evaluate(&mut self, at: Timestamp) -> Result<Vec<Alert>, String> {
        let from = at - WINDOW;
        self.contacts.retain(|contact| contact.time >= from);
        /// What one source reached in the window.
        #[derive(Default)]
        struct Reach<'a> {
            ports: BTreeSet<i64>,
            hosts: BTreeSet<&'a str>,
            sessions: u64,
            first: Option<Timestamp>,
            last: Option<Timestamp>,
        }
        let mut sources: BTreeMap<&str, Reach> = BTreeMap::new();
        for contact in self.contacts.iter().filter(|contact| contact.time < at) {
            let reach = sources.entry(&contact.src).or_default();
            reach.ports.extend(contact.port);
            reach.hosts.insert(&contact.dst);
            reach.sessions += 1;
            reach.first = Some(
                reach
                    .first
                    .map_or(contact.time, |first| first.min(contact.time)),
            );
            reach.last = Some(
                reach
                    .last
                    .map_or(contact.time, |last| last.max(contact.time)),
            );
        }
        let thresholds = self.thresholds;
        Ok(sources
            .into_iter()
            .filter(|(_, reach)| {
                reach.ports.len() > thresholds.ports || reach.hosts.len() > thresholds.hosts
            })
            .map(|(src, reach)| Alert {
                name: format!("Port scan from {src}"),
                description: format!(
                    "{src} reached {} destination ports on {} hosts within 10 minutes.",
                    reach.ports.len(),
                    reach.hosts.len()
                ),
                start_time: reach.first.unwrap_or(from),
                end_time: reach.last.unwrap_or(at),
                entities: vec![Entity::ip(src)],
                custom_details: vec![
                    ("SrcIpAddr".into(), src.into()),
                    (
                        "DistinctPorts".into(),
                        DetailValue::Integer(count(reach.ports.len())),
                    ),
                    (
                        "DistinctHosts".into(),
                        DetailValue::Integer(count(reach.hosts.len())),
                    ),
                    (
                        "Sessions".into(),
                        DetailValue::Integer(count(reach.sessions as usize)),
                    ),
                    ("FirstSeen".into(), reach.first.into()),
                    ("LastSeen".into(), reach.last.into()),
                ],
            })
            .collect())
    }

    fn stats(&self) -> Vec<(String, u64)> {
        vec![("session-rows-held".into(), self.contacts.len() as u64)]
    }

    fn snapshot(&self) -> Vec<u8> {
        state::encode(RULE_ID, STATE_FORMAT, &(&self.thresholds, &self.contacts))
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
        let (thresholds, contacts): (Thresholds, Vec<Contact>) =
            state::decode(RULE_ID, STATE_FORMAT, bytes)?;
        self.thresholds = thresholds;
        self.contacts = contacts;
        Ok(())
    }
}

fn count(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use asim_rule_core::{batch::Cell, schema::ColumnKind, BatchBuilder};

    use super::*;

    const AT: Timestamp = 1_773_489_600_000_000; // 2026-03-14T12:00:00Z

    /// Sessions (seconds before `AT`, source, destination, port).
    fn batch(rows: &[(i64, &str, &str, i64)]) -> Batch {
        let mut builder = BatchBuilder::new(&[
            ("SrcIpAddr", ColumnKind::IpAddress),
            ("DstIpAddr", ColumnKind::IpAddress),
            ("DstPortNumber", ColumnKind::Integer),
        ]);
        for &(before, src, dst, port) in rows {
            let cells = [Cell::Text(src), Cell::Text(dst), Cell::Integer(port)];
            builder.push_row(AT - before * 1_000_000, &cells).unwrap();
        }
        builder.finish()
    }

    fn scan(src: &str, ports: i64, seconds_before: i64) -> Vec<(i64, &str, &str, i64)> {
        (0..ports)
            .map(|port| (seconds_before, src, "10.0.0.9", 1 + port))
            .collect()
    }

    #[test]
    fn a_source_past_the_port_threshold_alerts_once_with_its_reach() {
        let mut rule = PortScan::configure(&[]).unwrap();
        let mut rows = scan("192.0.2.7", 26, 120);
        rows.extend(scan("192.0.2.8", 25, 120)); // at the threshold: no alert
        rule.ingest_sessions(batch(&rows)).unwrap();
        let alerts = rule.evaluate(AT).unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].name, "Port scan from 192.0.2.7");
        assert_eq!(
            alerts[0].detail("DistinctPorts"),
            Some(&DetailValue::Integer(26))
        );
        assert_eq!(
            alerts[0].detail("DistinctHosts"),
            Some(&DetailValue::Integer(1))
        );
    }

    #[test]
    fn many_hosts_alert_too_and_old_sessions_do_not_count() {
        let mut rule = PortScan::configure(&[("hosts".into(), "3".into())]).unwrap();
        let hosts = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"];
        let recent: Vec<_> = hosts
            .iter()
            .map(|dst| (60, "192.0.2.9", *dst, 445))
            .collect();
        // Ten minutes and one second ago: outside the window.
        let old: Vec<_> = hosts
            .iter()
            .map(|dst| (601, "192.0.2.10", *dst, 445))
            .collect();
        rule.ingest_sessions(batch(&[recent, old].concat()))
            .unwrap();
        let alerts = rule.evaluate(AT).unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].detail("SrcIpAddr"), Some(&"192.0.2.9".into()));
        assert_eq!(
            alerts[0].detail("DistinctHosts"),
            Some(&DetailValue::Integer(4))
        );
        assert_eq!(rule.stats(), [("session-rows-held".to_owned(), 4)]);
    }

    #[test]
    fn parameters_are_checked() {
        for (name, value) in [("ports", "0"), ("hosts", "x"), ("window", "5m")] {
            assert!(
                PortScan::configure(&[(name.into(), value.into())]).is_err(),
                "{name}={value}"
            );
        }
    }

    #[test]
    fn a_snapshot_restores_the_same_alerts() {
        let mut rule = PortScan::configure(&[("ports".into(), "5".into())]).unwrap();
        rule.ingest_sessions(batch(&scan("192.0.2.7", 6, 30)))
            .unwrap();
        let mut restored = PortScan::configure(&[]).unwrap();
        restored.restore(&rule.snapshot()).unwrap();
        assert_eq!(restored.evaluate(AT), rule.evaluate(AT));
        assert!(restored.restore(b"not a snapshot").is_err());
    }
}
