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
mod traffic;

use std::{
    fs::{self, File},
    io::{BufWriter, Write},
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use asim_rule_core::{
    time::{DAY, HOUR, MINUTE},
    Timestamp,
};
use serde::Serialize;

use crate::inputs::time;
use random::Random;
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

/// A row of Sentinel's ThreatIntelligenceIndicator table.
#[derive(Serialize, Clone)]
struct IndicatorRecord {
    #[serde(skip)]
    published: Timestamp,
    #[serde(rename = "TimeGenerated")]
    time_generated: String,
    #[serde(rename = "IndicatorId")]
    indicator_id: String,
    #[serde(rename = "ExpirationDateTime")]
    expiration: String,
    #[serde(rename = "Active")]
    active: bool,
    #[serde(rename = "NetworkIP")]
    network_ip: String,
    #[serde(rename = "NetworkDestinationIP")]
    network_destination_ip: String,
    #[serde(rename = "EmailSourceIpAddress")]
    email_source_ip: String,
    #[serde(rename = "ThreatType")]
    threat_type: &'static str,
    #[serde(rename = "Description")]
    description: String,
    #[serde(rename = "ActivityGroupNames")]
    activity_group_names: &'static str,
    #[serde(rename = "ConfidenceScore")]
    confidence: u32,
    #[serde(rename = "IndicatorProvider")]
    provider: &'static str,
}

/// Where an indicator's address goes, as real feeds vary.
#[derive(Clone, Copy)]
enum IpField {
    Network,
    Destination,
    Email,
}

struct IndicatorSpec<'a> {
    id: String,
    published: Timestamp,
    expires: Timestamp,
    active: bool,
    address: &'a str,
    field: IpField,
    confidence: u32,
}

fn indicator(spec: IndicatorSpec, random: &mut Random) -> IndicatorRecord {
    let threat_type = random.weighted(&[
        ("C2", 5),
        ("Botnet", 3),
        ("MaliciousUrl", 1),
        ("WatchList", 1),
    ]);
    let field = |wanted: fn(IpField) -> bool| {
        if wanted(spec.field) {
            spec.address.to_owned()
        } else {
            String::new()
        }
    };
    IndicatorRecord {
        published: spec.published,
        time_generated: time::format(spec.published),
        description: format!("{threat_type} infrastructure reported by partner feed"),
        indicator_id: spec.id,
        expiration: time::format(spec.expires),
        active: spec.active,
        network_ip: field(|f| matches!(f, IpField::Network)),
        network_destination_ip: field(|f| matches!(f, IpField::Destination)),
        email_source_ip: field(|f| matches!(f, IpField::Email)),
        threat_type,
        activity_group_names: random.pick(&["", "STRONTIUM", "FIN7", "TA505", "Storm-0558"]),
        confidence: spec.confidence,
        provider: random.pick(&["Partner TI", "OSINT", "Microsoft"]),
    }
}

/// Indicators nobody planted: mostly addresses the traffic never touches, a
/// few it does (real background hits), some expired, stale or revoked.
fn background_indicators(
    plan: &Plan,
    network: &Network,
    random: &mut Random,
) -> Vec<IndicatorRecord> {
    let mut rows = Vec::new();
    for n in 0..plan.indicators {
        let cidr = random.chance(0.08);
        let address = match () {
            _ if n % 2500 == 7 => network.external_v4_sample(random),
            _ if cidr => format!(
                "{}/{}",
                traffic::public_v4(random),
                random.pick(&[24, 28, 29])
            ),
            _ if random.chance(0.05) => traffic::public_v6(random),
            _ => traffic::public_v4(random),
        };
        let published = plan.end - random.below(20 * DAY as u64) as i64;
        let expires = if random.chance(0.1) {
            plan.end - random.below(5 * DAY as u64) as i64
        } else {
            published + 30 * DAY
        };
        let field = random.weighted(&[
            (IpField::Network, 85),
            (IpField::Destination, 10),
            (IpField::Email, 5),
        ]);
        let spec = IndicatorSpec {
            id: format!("ioc-{n:06}"),
            published,
            expires,
            active: random.chance(0.97),
            address: &address,
            field,
            confidence: 20 + random.below(81) as u32,
        };
        let record = indicator(spec, random);
        // Feeds re-publish: a later version, sometimes revoking the indicator.
        if random.chance(0.05) {
            let mut update = record.clone();
            update.published = published.max(plan.end - 10 * DAY) + HOUR;
            update.time_generated = time::format(update.published);
            update.active = random.chance(0.5);
            rows.push(update);
        }
        rows.push(record);
    }
    rows
}

/// One planted incident, as `planted.jsonl` lists it.
#[derive(Serialize)]
struct Incident {
    #[serde(rename = "Incident")]
    name: &'static str,
    /// The session address that should (or must not) be reported as IoCIP.
    #[serde(rename = "Address")]
    address: String,
    #[serde(rename = "IndicatorId")]
    indicator_id: String,
    #[serde(rename = "ExpectAlert")]
    expect_alert: bool,
    #[serde(rename = "Why")]
    why: &'static str,
}

/// Turns a live planted indicator into one that must not alert.
type Silencer = fn(&mut IndicatorRecord, Timestamp);

/// The planted incidents, their indicators and their sessions (all in the hour
/// before `plan.end`).
fn plant(
    plan: &Plan,
    network: &Network,
    random: &mut Random,
) -> (Vec<Incident>, Vec<IndicatorRecord>, Vec<Session>) {
    let end = plan.end;
    let mut incidents = Vec::new();
    let mut indicators = Vec::new();
    // Each incident's sessions cross one device (the incident's number), as
    // one host's traffic would.
    let mut sessions = Vec::new();
    let live = |id: &str, address: &str, field: IpField, random: &mut Random| {
        indicator(
            IndicatorSpec {
                id: id.to_owned(),
                published: end - 3 * DAY,
                expires: end + 27 * DAY,
                active: true,
                address,
                field,
                confidence: 90,
            },
            random,
        )
    };

    // A beacon to a live C2 address every five minutes.
    let c2 = traffic::public_v4(random);
    indicators.push(live("planted-c2", &c2, IpField::Network, random));
    let host = network.internal_v4_sample(random);
    for k in 0..12 {
        sessions.push(
            network
                .outbound(
                    end - HOUR + k * 5 * MINUTE + 17_000_000,
                    &host,
                    &c2,
                    443,
                    random,
                )
                .on_device(incidents.len()),
        );
    }
    incidents.push(Incident {
        name: "c2-beacon",
        address: c2,
        indicator_id: "planted-c2".into(),
        expect_alert: true,
        why: "live IPv4 indicator, destination",
    });

    // A scanner on a live indicator probing servers: matched on the source.
    let scanner = traffic::public_v4(random);
    indicators.push(live(
        "planted-scanner",
        &scanner,
        IpField::Destination,
        random,
    ));
    for k in 0..4 {
        let target = network.internal_v4_sample(random);
        sessions.push(
            network
                .inbound(
                    end - 40 * MINUTE + k * MINUTE,
                    &scanner,
                    &target,
                    3389,
                    random,
                )
                .on_device(incidents.len()),
        );
    }
    incidents.push(Incident {
        name: "inbound-scanner",
        address: scanner,
        indicator_id: "planted-scanner".into(),
        expect_alert: true,
        why: "indicator in NetworkDestinationIP, session source",
    });

    // An address inside a live /24 block.
    let block = traffic::public_v4(random);
    let prefix = block
        .rsplit_once('.')
        .map_or(block.as_str(), |(prefix, _)| prefix)
        .to_owned();
    indicators.push(live(
        "planted-cidr",
        &format!("{prefix}.0/24"),
        IpField::Network,
        random,
    ));
    let inside = format!("{prefix}.{}", 1 + random.below(254));
    sessions.push(
        network
            .outbound(
                end - 25 * MINUTE,
                &network.internal_v4_sample(random),
                &inside,
                8443,
                random,
            )
            .on_device(incidents.len()),
    );
    incidents.push(Incident {
        name: "cidr-block",
        address: inside,
        indicator_id: "planted-cidr".into(),
        expect_alert: true,
        why: "address inside a live /24 indicator",
    });

    // IPv6 C2 written differently by the indicator and the device.
    let v6 = traffic::public_v6(random);
    let expanded = v6.parse::<std::net::Ipv6Addr>().map_or(v6.clone(), |ip| {
        ip.segments()
            .iter()
            .map(|s| format!("{s:04X}"))
            .collect::<Vec<_>>()
            .join(":")
    });
    indicators.push(live("planted-ipv6", &v6, IpField::Network, random));
    sessions.push(
        network
            .outbound(
                end - 15 * MINUTE,
                &network.internal_v6_sample(random),
                &expanded,
                443,
                random,
            )
            .on_device(incidents.len()),
    );
    incidents.push(Incident {
        name: "ipv6-c2",
        address: expanded,
        indicator_id: "planted-ipv6".into(),
        expect_alert: true,
        why: "IPv6 indicator, session writes the address expanded in upper case",
    });

    // A phishing sender's address known only as an e-mail source.
    let sender = traffic::public_v4(random);
    indicators.push(live("planted-email", &sender, IpField::Email, random));
    sessions.push(
        network
            .inbound(
                end - 10 * MINUTE,
                &sender,
                &network.internal_v4_sample(random),
                25,
                random,
            )
            .on_device(incidents.len()),
    );
    incidents.push(Incident {
        name: "email-source",
        address: sender,
        indicator_id: "planted-email".into(),
        expect_alert: true,
        why: "indicator in EmailSourceIpAddress only",
    });

    // Three that must stay silent.
    let quiet: [(&'static str, &'static str, Silencer); 3] = [
        (
            "expired",
            "the indicator expired the day before",
            |r, end| r.expiration = time::format(end - DAY),
        ),
        (
            "stale",
            "published 20 days before, outside the 14-day lookback",
            |r, end| {
                r.published = end - 20 * DAY;
                r.time_generated = time::format(r.published);
            },
        ),
        (
            "revoked",
            "the latest version of the indicator is inactive",
            |r, _| r.active = false,
        ),
    ];
    for (name, why, change) in quiet {
        let address = traffic::public_v4(random);
        let id = format!("planted-{name}");
        let mut record = live(&id, &address, IpField::Network, random);
        if name == "revoked" {
            indicators.push(record.clone());
            record.published = end - DAY;
            record.time_generated = time::format(record.published);
        }
        change(&mut record, end);
        indicators.push(record);
        sessions.push(
            network
                .outbound(
                    end - 30 * MINUTE,
                    &network.internal_v4_sample(random),
                    &address,
                    443,
                    random,
                )
                .on_device(incidents.len()),
        );
        incidents.push(Incident {
            name,
            address,
            indicator_id: id,
            expect_alert: false,
            why,
        });
    }
    (incidents, indicators, sessions)
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
