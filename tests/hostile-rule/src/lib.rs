//! A rule that implements the contract and misbehaves in `evaluate` (or
//! `snapshot`), one way per `mode` parameter, so tests can check that the
//! host contains it: quarantines it with the right reason, survives, and
//! keeps every other rule's results unchanged. Natively it only configures:
//! its harm is for the sandbox.

#[cfg(target_arch = "wasm32")]
mod component {
    asim_rule_sdk::export_rule!(crate::HostileRule);
}

use asim_rule_core::{
    time::HOUR, Alert, Batch, DetailValue, Entity, ParameterSpec, Rule, RuleMetadata, Severity,
    Timestamp,
};

/// How the rule misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Behaves: one alert per evaluation.
    Fine,
    /// Never returns from `evaluate`.
    Loop,
    /// Grows its memory until refused.
    Memory,
    /// Recurses until the stack overflows.
    Recursion,
    /// Panics (a trap in the component).
    Trap,
    /// Returns a million alerts.
    Flood,
    /// Returns one alert with a 64 MiB detail.
    HugeAlert,
    /// Returns a 256 MiB snapshot.
    SnapshotBomb,
    /// Works, slowly: about a second of computing per evaluation.
    Slow,
    /// Panics in `evaluate` once it holds sessions: passes a smoke
    /// evaluation on an empty instance, fails on real data.
    TrapOnData,
}

const MODES: [(&str, Mode); 10] = [
    ("fine", Mode::Fine),
    ("loop", Mode::Loop),
    ("memory", Mode::Memory),
    ("recursion", Mode::Recursion),
    ("trap", Mode::Trap),
    ("flood", Mode::Flood),
    ("huge-alert", Mode::HugeAlert),
    ("snapshot-bomb", Mode::SnapshotBomb),
    ("slow", Mode::Slow),
    ("trap-on-data", Mode::TrapOnData),
];

/// The hostile rule's deployment.
pub struct HostileRule {
    mode: Mode,
    sessions: u64,
    /// The first byte of its snapshots; `restore` refuses another.
    state_format: u8,
}

impl Rule for HostileRule {
    fn metadata() -> RuleMetadata {
        RuleMetadata {
            id: "00000000-0000-4000-8000-0000000000ff".into(),
            short_name: "hostile".into(),
            name: "Hostile rule (containment tests)".into(),
            version: "0.1.0".into(),
            description: "Misbehaves as its mode parameter says.".into(),
            severity: Severity::Low,
            tactics: Vec::new(),
            techniques: Vec::new(),
            frequency: HOUR,
            session_lookback: HOUR,
            session_columns: vec!["SrcIpAddr".into()],
            indicator_lookback: None,
            indicator_columns: Vec::new(),
            summary_columns: Vec::new(),
            parameters: vec![
                ParameterSpec {
                    name: "mode".into(),
                    description: "fine, loop, memory, recursion, trap, flood, huge-alert, \
                                  snapshot-bomb, slow or trap-on-data"
                        .into(),
                    default_value: "fine".into(),
                },
                ParameterSpec {
                    name: "state-format".into(),
                    description: "the snapshot format it writes and reads, 0 to 255".into(),
                    default_value: "1".into(),
                },
            ],
        }
    }

    fn configure(parameters: &[(String, String)]) -> Result<Self, String> {
        let mut rule = HostileRule {
            mode: Mode::Fine,
            sessions: 0,
            state_format: 1,
        };
        for (name, value) in parameters {
            match name.as_str() {
                "mode" => {
                    rule.mode = MODES
                        .iter()
                        .find(|(known, _)| known == value)
                        .map(|(_, mode)| *mode)
                        .ok_or_else(|| format!("unknown mode {value}"))?;
                }
                "state-format" => {
                    rule.state_format = value
                        .parse()
                        .map_err(|_| format!("state-format {value}: not 0 to 255"))?;
                }
                _ => return Err(format!("unknown parameter {name}")),
            }
        }
        Ok(rule)
    }

    fn ingest_sessions(&mut self, sessions: Batch) -> Result<(), String> {
        self.sessions += sessions.rows() as u64;
        Ok(())
    }

    fn ingest_indicators(&mut self, _indicators: Batch) -> Result<(), String> {
        Ok(())
    }

    fn evaluate(&mut self, at: Timestamp) -> Result<Vec<Alert>, String> {
        match self.mode {
            Mode::Fine | Mode::SnapshotBomb => Ok(vec![alert(at, String::new())]),
            Mode::Loop => loop {
                std::hint::black_box(&mut self.sessions);
            },
            Mode::Memory => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Mode::Recursion => Ok(vec![alert(at, depth(std::hint::black_box(0)).to_string())]),
            #[expect(clippy::panic, reason = "trapping is this mode's purpose")]
            Mode::Trap => panic!("hostile rule: trap on purpose"),
            Mode::TrapOnData if self.sessions == 0 => Ok(vec![alert(at, String::new())]),
            #[expect(clippy::panic, reason = "trapping is this mode's purpose")]
            Mode::TrapOnData => panic!("hostile rule: trap on data, on purpose"),
            Mode::Flood => Ok((0..1_000_000).map(|_| alert(at, String::new())).collect()),
            Mode::HugeAlert => Ok(vec![alert(at, "x".repeat(64 << 20))]),
            Mode::Slow => {
                let mut sum = 0u64;
                for n in 0..2_000_000_000u64 {
                    sum = std::hint::black_box(sum.wrapping_add(n));
                }
                Ok(vec![alert(at, sum.to_string())])
            }
        }
    }

    fn snapshot(&self) -> Vec<u8> {
        match self.mode {
            Mode::SnapshotBomb => vec![7; 256 << 20],
            _ => std::iter::once(self.state_format)
                .chain(self.sessions.to_le_bytes())
                .collect(),
        }
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        let (&format, sessions) = state.split_first().ok_or("not a hostile snapshot")?;
        if format != self.state_format {
            return Err(format!(
                "snapshot format version {format} is not the format this build reads ({})",
                self.state_format
            ));
        }
        let bytes: [u8; 8] = sessions.try_into().map_err(|_| "not a hostile snapshot")?;
        self.sessions = u64::from_le_bytes(bytes);
        Ok(())
    }
}

/// Recursion that ends only past any stack, kept from becoming a loop.
fn depth(level: u64) -> u64 {
    if level == u64::MAX {
        return 0;
    }
    let deeper = depth(std::hint::black_box(level + 1));
    std::hint::black_box(deeper) + 1
}

fn alert(at: Timestamp, detail: String) -> Alert {
    Alert {
        name: "hostile".into(),
        description: "hostile".into(),
        start_time: at - HOUR,
        end_time: at,
        entities: Vec::<Entity>::new(),
        custom_details: vec![("Detail".into(), DetailValue::Text(detail))],
    }
}
