//! Synthetic ASIM NetworkSession traffic and Sentinel threat intelligence with
//! planted incidents, the same files for the same seed.
//!
//! The traffic has a daily and weekly rhythm, five devices of different
//! vendors, internal and external IPv4 and IPv6 hosts, and the usual mix of
//! web, DNS, lateral, inbound and ICMP sessions. The indicators mix live,
//! expired, stale, revoked and re-published rows, single addresses and CIDR
//! blocks. `planted.jsonl` lists every planted incident with whether a correct
//! TI rule must alert on it.

mod random;
mod threat_intel;
mod traffic;

use std::{
    fs::{self, File},
    io::{BufWriter, Write},
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use asim_rule_core::{
    time::{DAY, HOUR},
    Timestamp,
};
use serde::Serialize;

use random::Random;
use threat_intel::{background_indicators, plant};
use traffic::{Network, Session};

/// What to generate.
pub struct Plan {
    /// Sessions end just before this instant; planted TI incidents fall in the
    /// hour before it, so `run --at END` finds them.
    pub end: Timestamp,
    /// Days of traffic.
    pub days: u32,
    /// Sessions on a weekday; weekends carry fewer.
    pub sessions_per_day: u64,
    /// Threat-intel indicators (besides the planted ones).
    pub indicators: u64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Also write CSV copies of the JSON lines files.
    pub csv: bool,
}

/// What `generate` wrote.
pub struct Written {
    /// Session rows.
    pub sessions: u64,
    /// Indicator rows.
    pub indicators: u64,
    /// Planted incidents.
    pub planted: usize,
}

/// Writes `sessions.jsonl`, `indicators.jsonl`, `planted.jsonl` (and CSV
/// copies when asked) into `dir`.
pub fn generate(plan: &Plan, dir: &Path) -> Result<Written> {
    fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let mut random = Random::new(plan.seed);
    let network = Network::new(&mut random);
    let (planted, planted_indicators, mut planted_sessions) = plant(plan, &network, &mut random);
    let (anomalies, anomaly_sessions) = plant_anomalies(plan, &network, &mut random);
    planted_sessions.extend(anomaly_sessions);

    // Written in publication order, as a feed delivers them (replay needs it).
    let mut indicator_rows = background_indicators(plan, &network, &mut random);
    indicator_rows.extend(planted_indicators);
    indicator_rows.sort_by_key(|row| row.published);
    let mut indicators = Table::create(dir, "indicators", plan.csv)?;
    for row in &indicator_rows {
        indicators.write(row)?;
    }
    indicators.finish()?;

    let mut sessions = Table::create(dir, "sessions", plan.csv)?;
    let mut session_count = 0;
    let start = plan.end - i64::from(plan.days) * DAY;
    for day in 0..i64::from(plan.days) {
        let day_start = start + day * DAY;
        let mut rows = network.day_of_traffic(day_start, plan.sessions_per_day, &mut random);
        rows.extend(
            planted_sessions
                .iter()
                .filter(|s| s.time >= day_start && s.time < day_start + DAY)
                .cloned(),
        );
        rows.sort_by_key(|session| session.time);
        for session in &rows {
            sessions.write(&session.record())?;
        }
        session_count += rows.len() as u64;
    }
    sessions.finish()?;

    let mut manifest =
        BufWriter::new(File::create(dir.join("planted.jsonl")).context("creating planted.jsonl")?);
    for incident in &planted {
        serde_json::to_writer(
            &mut manifest,
            &Planted {
                rule: "ti-map-ip",
                incident,
            },
        )?;
        writeln!(manifest)?;
    }
    for incident in &anomalies {
        serde_json::to_writer(
            &mut manifest,
            &Planted {
                rule: "network-session-anomaly",
                incident,
            },
        )?;
        writeln!(manifest)?;
    }
    manifest.flush()?;
    Ok(Written {
        sessions: session_count,
        indicators: indicator_rows.len() as u64,
        planted: planted.len() + anomalies.len(),
    })
}

/// A line of `planted.jsonl`: which rule the incident is for, then the incident.
#[derive(Serialize)]
struct Planted<'a, T: Serialize> {
    #[serde(rename = "Rule")]
    rule: &'static str,
    #[serde(flatten)]
    incident: &'a T,
}

/// A planted traffic anomaly on the last day.
#[derive(Serialize)]
struct AnomalyIncident {
    #[serde(rename = "Incident")]
    name: &'static str,
    #[serde(rename = "AnomalyFieldType")]
    field_type: &'static str,
    #[serde(rename = "AnomalyFieldValue")]
    field_value: &'static str,
    #[serde(rename = "ExpectAlert")]
    expect_alert: bool,
    #[serde(rename = "Why")]
    why: &'static str,
}

/// Last-day anomalies: a scan refused by the firewalls (a DvcAction spike)
/// and a protocol never seen before. Planted only when there are enough days
/// of history for the daily series.
fn plant_anomalies(
    plan: &Plan,
    network: &Network,
    random: &mut Random,
) -> (Vec<AnomalyIncident>, Vec<Session>) {
    if plan.days < 14 {
        return (Vec::new(), Vec::new());
    }
    let last_day = plan.end - DAY;
    let scanner = traffic::public_v4(random);
    let scans = plan.sessions_per_day * 3 / 4;
    let mut sessions: Vec<Session> = (0..scans)
        .map(|n| {
            let time = last_day + (n as i64 * DAY) / scans as i64;
            let target = network.server_sample(random);
            let port = 1 + random.below(1024) as u16;
            network
                .inbound(time, &scanner, &target, port, random)
                .with_action("Deny")
                .on_device(0)
        })
        .collect();
    let tunnels = (plan.sessions_per_day / 200).max(50);
    let peer = traffic::public_v4(random);
    let host = network.internal_v4_sample(random);
    sessions.extend((0..tunnels).map(|n| {
        let time = last_day + 6 * HOUR + (n as i64 * 12 * HOUR) / tunnels as i64;
        network
            .outbound(time, &host, &peer, 0, random)
            .with_action("Allow")
            .portless("GRE")
            .on_device(1)
    }));
    let incidents = vec![
        AnomalyIncident {
            name: "deny-spike",
            field_type: "DvcAction",
            field_value: "Deny",
            expect_alert: true,
            why: "a scan refused by the firewall all day: Deny sessions ten times the usual",
        },
        AnomalyIncident {
            name: "deny-spike",
            field_type: "NetworkDirection",
            field_value: "Inbound",
            expect_alert: true,
            why: "the same scan, all of it inbound",
        },
        AnomalyIncident {
            name: "new-protocol",
            field_type: "NetworkProtocol",
            field_value: "GRE",
            expect_alert: true,
            why: "GRE never seen in the 13 days before",
        },
    ];
    (incidents, sessions)
}

/// A JSON lines file and, when asked, its CSV twin.
struct Table {
    jsonl: BufWriter<File>,
    csv: Option<csv::Writer<File>>,
    path: PathBuf,
}

impl Table {
    fn create(dir: &Path, name: &str, with_csv: bool) -> Result<Table> {
        let path = dir.join(format!("{name}.jsonl"));
        let jsonl = BufWriter::new(
            File::create(&path).with_context(|| format!("{}: cannot create", path.display()))?,
        );
        let csv = match with_csv {
            true => Some(csv::Writer::from_path(dir.join(format!("{name}.csv")))?),
            false => None,
        };
        Ok(Table { jsonl, csv, path })
    }

    fn write(&mut self, record: &impl Serialize) -> Result<()> {
        serde_json::to_writer(&mut self.jsonl, record)?;
        writeln!(self.jsonl)?;
        if let Some(csv) = &mut self.csv {
            csv.serialize(record)?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<()> {
        self.jsonl
            .flush()
            .with_context(|| format!("{}: writing", self.path.display()))?;
        if let Some(mut csv) = self.csv {
            csv.flush()?;
        }
        Ok(())
    }
}
