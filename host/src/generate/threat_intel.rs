//! The threat-intel half of the generated data: background indicators as a
//! feed publishes them, and the planted TI incidents (hits in the last hour,
//! and indicators that must stay silent) with the sessions that touch them.

use asim_rule_core::{
    time::{DAY, HOUR, MINUTE},
    Timestamp,
};
use serde::Serialize;

use super::{
    random::Random,
    traffic::{self, Network, Session},
    Plan,
};
use crate::time;

/// A row of Sentinel's ThreatIntelligenceIndicator table.
#[derive(Serialize, Clone)]
pub struct IndicatorRecord {
    #[serde(skip)]
    pub published: Timestamp,
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
pub fn background_indicators(
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
pub struct Incident {
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
pub fn plant(
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
