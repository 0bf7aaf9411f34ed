//! The synthetic network: hosts, devices, and the sessions between them.

use asim_rule_core::{
    time::{DAY, HOUR},
    Timestamp,
};
use serde::Serialize;

use super::random::Random;
use crate::time;

/// (Dvc, EventVendor, EventProduct, share of traffic).
const DEVICES: [(&str, &str, &str, u32); 5] = [
    ("fgt-edge-01", "Fortinet", "Fortigate", 35),
    ("pa-dc-01", "Palo Alto", "PanOS", 25),
    ("asa-branch-02", "Cisco", "ASA", 15),
    ("azfw-hub-01", "Microsoft", "Azure Firewall", 15),
    ("zeek-sensor-01", "Corelight", "Zeek", 10),
];

/// Share of a day's sessions in each UTC hour: office hours are busy.
const HOURLY: [u32; 24] = [
    2, 1, 1, 1, 1, 2, 4, 7, 10, 12, 12, 11, 10, 11, 12, 12, 11, 9, 7, 5, 4, 3, 3, 2,
];

/// A public-looking IPv4 address outside private, reserved and documentation space.
pub fn public_v4(random: &mut Random) -> String {
    loop {
        let first = 1 + random.below(223);
        if [10, 100, 127, 169, 172, 192, 198, 203].contains(&first) {
            continue;
        }
        let rest = random.next();
        return format!(
            "{first}.{}.{}.{}",
            rest & 0xff,
            (rest >> 8) & 0xff,
            1 + (rest >> 16) % 254
        );
    }
}

/// A global-unicast-looking IPv6 address.
pub fn public_v6(random: &mut Random) -> String {
    let bits = random.next();
    format!(
        "2a0{:x}:{:x}:{:x}::{:x}",
        bits & 0xf,
        (bits >> 4) & 0xffff,
        (bits >> 20) & 0xffff,
        1 + (bits >> 36) % 0xfffe
    )
}

/// Hosts the traffic runs between.
pub struct Network {
    internal_v4: Vec<String>,
    internal_v6: Vec<String>,
    servers: Vec<String>,
    external_v4: Vec<String>,
    external_v6: Vec<String>,
    resolvers: Vec<String>,
}

/// One session, before it is written.
#[derive(Clone)]
pub struct Session {
    pub time: Timestamp,
    device: usize,
    src: String,
    dst: String,
    src_port: Option<u16>,
    dst_port: Option<u16>,
    protocol: &'static str,
    direction: &'static str,
    action: &'static str,
    src_bytes: u64,
    dst_bytes: u64,
    duration_ms: u64,
}

/// A session as an ASIM NetworkSession row.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SessionRecord<'a> {
    time_generated: String,
    event_start_time: String,
    event_end_time: String,
    event_count: u32,
    event_type: &'static str,
    event_result: &'static str,
    event_schema: &'static str,
    event_schema_version: &'static str,
    event_vendor: &'static str,
    event_product: &'static str,
    dvc: &'static str,
    dvc_action: &'static str,
    network_protocol: &'static str,
    network_direction: &'static str,
    src_ip_addr: &'a str,
    src_port_number: Option<u16>,
    dst_ip_addr: &'a str,
    dst_port_number: Option<u16>,
    dst_app_name: &'static str,
    src_bytes: u64,
    dst_bytes: u64,
    network_duration: u64,
}

impl Session {
    /// The same session seen by device `index` of the device list.
    pub fn on_device(self, index: usize) -> Session {
        Session {
            device: index % DEVICES.len(),
            ..self
        }
    }

    /// The same session, refused or allowed as `action` says.
    pub fn with_action(self, action: &'static str) -> Session {
        Session { action, ..self }
    }

    /// The same session over a portless protocol (GRE, ESP, ...).
    pub fn portless(self, protocol: &'static str) -> Session {
        Session {
            protocol,
            src_port: None,
            dst_port: None,
            ..self
        }
    }

    pub fn record(&self) -> SessionRecord<'_> {
        let (dvc, vendor, product, _) = DEVICES[self.device];
        SessionRecord {
            time_generated: time::format(self.time),
            event_start_time: time::format(self.time - self.duration_ms as i64 * 1000),
            event_end_time: time::format(self.time),
            event_count: 1,
            event_type: "NetworkSession",
            event_result: if self.action == "Allow" {
                "Success"
            } else {
                "Failure"
            },
            event_schema: "NetworkSession",
            event_schema_version: "0.2.6",
            event_vendor: vendor,
            event_product: product,
            dvc,
            dvc_action: self.action,
            network_protocol: self.protocol,
            network_direction: self.direction,
            src_ip_addr: &self.src,
            src_port_number: self.src_port,
            dst_ip_addr: &self.dst,
            dst_port_number: self.dst_port,
            dst_app_name: app_name(self.protocol, self.dst_port),
            src_bytes: self.src_bytes,
            dst_bytes: self.dst_bytes,
            network_duration: self.duration_ms,
        }
    }
}

fn app_name(protocol: &str, port: Option<u16>) -> &'static str {
    match (protocol, port) {
        ("ICMP", _) => "icmp",
        (_, Some(443 | 8443)) => "https",
        (_, Some(80)) => "http",
        (_, Some(53)) => "dns",
        (_, Some(22)) => "ssh",
        (_, Some(25)) => "smtp",
        (_, Some(123)) => "ntp",
        (_, Some(445)) => "smb",
        (_, Some(3389)) => "rdp",
        _ => "",
    }
}

impl Network {
    pub fn new(random: &mut Random) -> Network {
        let internal_v4: Vec<String> = (0..400)
            .map(|_| {
                format!(
                    "10.{}.{}.{}",
                    1 + random.below(4),
                    random.below(256),
                    1 + random.below(254)
                )
            })
            .collect();
        Network {
            servers: internal_v4[..20].to_vec(),
            internal_v6: (0..40)
                .map(|n| format!("fd12:3456:789a:1::{:x}", 0x100 + n))
                .collect(),
            external_v4: (0..3000).map(|_| public_v4(random)).collect(),
            external_v6: (0..300).map(|_| public_v6(random)).collect(),
            resolvers: vec!["10.0.0.53".into(), "10.0.1.53".into()],
            internal_v4,
        }
    }

    /// One of the servers that take inbound traffic.
    pub fn server_sample(&self, random: &mut Random) -> String {
        random.pick(&self.servers)
    }

    pub fn internal_v4_sample(&self, random: &mut Random) -> String {
        random.pick(&self.internal_v4)
    }

    pub fn internal_v6_sample(&self, random: &mut Random) -> String {
        random.pick(&self.internal_v6)
    }

    pub fn external_v4_sample(&self, random: &mut Random) -> String {
        random.pick(&self.external_v4)
    }

    /// The sessions of the day starting at `day_start`, in no order.
    pub fn day_of_traffic(
        &self,
        day_start: Timestamp,
        weekday_sessions: u64,
        random: &mut Random,
    ) -> Vec<Session> {
        // 1970-01-01 was a Thursday: day 0 is weekday 4 (Sunday = 0).
        let weekday = (day_start.div_euclid(DAY) + 4).rem_euclid(7);
        let sessions = if weekday == 0 || weekday == 6 {
            weekday_sessions * 2 / 5
        } else {
            weekday_sessions
        };
        let total: u64 = HOURLY.iter().map(|&w| u64::from(w)).sum();
        let mut rows = Vec::with_capacity(sessions as usize);
        for (hour, weight) in HOURLY.iter().enumerate() {
            let hour_start = day_start + hour as i64 * HOUR;
            for _ in 0..sessions * u64::from(*weight) / total {
                let time = hour_start + random.below(HOUR as u64) as i64;
                rows.push(self.session(time, random));
            }
        }
        rows
    }

    fn session(&self, time: Timestamp, random: &mut Random) -> Session {
        let v6 = random.chance(0.08);
        let internal = |random: &mut Random| {
            if v6 {
                random.pick(&self.internal_v6)
            } else {
                random.pick(&self.internal_v4)
            }
        };
        let external = |random: &mut Random| {
            if v6 {
                random.pick(&self.external_v6)
            } else {
                random.pick(&self.external_v4)
            }
        };
        match random.weighted(&[
            ("web", 60),
            ("dns", 15),
            ("lateral", 10),
            ("inbound", 10),
            ("icmp", 5),
        ]) {
            "web" => {
                let port = random.weighted(&[(443, 85), (80, 15)]);
                self.outbound(time, &internal(random), &external(random), port, random)
            }
            "dns" => {
                let resolver = random.pick(&self.resolvers);
                let mut session = self.outbound(time, &internal(random), &resolver, 53, random);
                (session.protocol, session.direction) = ("UDP", "Local");
                session
            }
            "lateral" => {
                let port = random.pick(&[445, 3389, 22, 443]);
                let server = random.pick(&self.servers);
                let mut session = self.outbound(time, &internal(random), &server, port, random);
                session.direction = "Local";
                session.action = random.weighted(&[("Allow", 9), ("Deny", 1)]);
                session
            }
            "inbound" => {
                let target = random.pick(&self.servers);
                let port = random.pick(&[22, 443, 3389, 25]);
                self.inbound(time, &external(random), &target, port, random)
            }
            _ => {
                let mut session =
                    self.outbound(time, &internal(random), &external(random), 0, random);
                (session.protocol, session.src_port, session.dst_port) = ("ICMP", None, None);
                session
            }
        }
    }

    /// An internal host reaching out over TCP.
    pub fn outbound(
        &self,
        time: Timestamp,
        src: &str,
        dst: &str,
        port: u16,
        random: &mut Random,
    ) -> Session {
        Session {
            time,
            device: device(random),
            src: src.to_owned(),
            dst: dst.to_owned(),
            src_port: Some(49152 + random.below(16384) as u16),
            dst_port: Some(port),
            protocol: "TCP",
            direction: "Outbound",
            action: random.weighted(&[("Allow", 97), ("Drop", 3)]),
            src_bytes: 200 + random.below(20_000),
            dst_bytes: 500 + random.below(400_000),
            duration_ms: random.below(120_000),
        }
    }

    /// An outside host reaching in; most such sessions are refused.
    pub fn inbound(
        &self,
        time: Timestamp,
        src: &str,
        dst: &str,
        port: u16,
        random: &mut Random,
    ) -> Session {
        Session {
            action: random.weighted(&[("Deny", 6), ("Drop", 2), ("Allow", 2)]),
            direction: "Inbound",
            ..self.outbound(time, src, dst, port, random)
        }
    }
}

fn device(random: &mut Random) -> usize {
    let weights: Vec<(usize, u32)> = DEVICES.iter().enumerate().map(|(i, d)| (i, d.3)).collect();
    random.weighted(&weights)
}
