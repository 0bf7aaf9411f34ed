//! Where alerts go: JSON lines (one record per alert, fields in a fixed order
//! so two runs can be diffed) or a table for a person at a terminal.

use std::{
    fs::File,
    io::{self, BufWriter, Write},
    path::Path,
};

use anyhow::{Context, Result};
use asim_rule_core::{Alert, DetailValue, Entity, RuleMetadata, Timestamp};
use serde::{ser::SerializeMap, Serialize, Serializer};

use crate::time;

/// Peak resident memory of this process so far, in MiB (Linux; none elsewhere).
pub fn peak_memory_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

/// ", peak memory N MiB" where the platform tells it.
pub fn peak_memory_note() -> String {
    peak_memory_mib().map_or_else(String::new, |mib| format!(", peak memory {mib} MiB"))
}

/// How alerts are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// One JSON object per alert and line.
    Jsonl,
    /// Aligned text for a person.
    Table,
}

impl OutputFormat {
    /// Every format, in the order `--format` lists them.
    pub const ALL: [OutputFormat; 2] = [OutputFormat::Jsonl, OutputFormat::Table];

    /// The format as `--format` names it.
    pub fn flag(self) -> &'static str {
        match self {
            OutputFormat::Jsonl => "jsonl",
            OutputFormat::Table => "table",
        }
    }

    /// What the format is, for help texts.
    pub fn about(self) -> &'static str {
        match self {
            OutputFormat::Jsonl => "One JSON object per alert and line",
            OutputFormat::Table => "Aligned text for a person",
        }
    }
}

/// Who and when an evaluation ran for.
pub struct Evaluation<'a> {
    /// The rule evaluated.
    pub rule: &'a RuleMetadata,
    /// The evaluation time.
    pub at: Timestamp,
    /// The tenant it ran for.
    pub tenant: &'a str,
}

/// Writes alerts to stdout or a file.
pub struct AlertSink {
    out: Box<dyn Write>,
    format: OutputFormat,
    /// Whether each evaluation's alerts are written out at once and carry
    /// an `AlertId` (`serve`).
    flush_each: bool,
    /// Alerts written so far.
    pub written: u64,
}

impl AlertSink {
    /// Alerts to `path`, or to stdout when none.
    pub fn create(path: Option<&Path>, format: OutputFormat) -> Result<AlertSink> {
        let out: Box<dyn Write> = match path {
            Some(path) => Box::new(BufWriter::new(
                File::create(path).with_context(|| format!("{}: cannot create", path.display()))?,
            )),
            None => Box::new(BufWriter::new(io::stdout())),
        };
        Ok(AlertSink {
            out,
            format,
            flush_each: false,
            written: 0,
        })
    }

    /// Alerts appended to `path` (JSON lines), the file first cut back to
    /// `keep` bytes: what a checkpoint recorded, so alerts written after it
    /// and before a crash are not written twice. Each evaluation's alerts are
    /// written out as soon as it ends. A file shorter than `keep` was cut or
    /// rotated since: it is appended to as it is, never padded.
    pub fn append(path: &Path, keep: u64) -> Result<AlertSink> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("{}: cannot open", path.display()))?;
        let length = file
            .metadata()
            .with_context(|| format!("{}: cannot read", path.display()))?
            .len();
        if length > keep {
            file.set_len(keep)
                .with_context(|| format!("{}: cannot cut back to {keep} bytes", path.display()))?;
        } else if length < keep {
            tracing::warn!(
                "{}: {length} bytes where {keep} were written: cut or rotated since; alerts are appended to it as it is",
                path.display()
            );
        }
        Ok(AlertSink {
            out: Box::new(BufWriter::new(file)),
            format: OutputFormat::Jsonl,
            flush_each: true,
            written: 0,
        })
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().context("writing alerts")
    }

    /// Writes the alerts of one evaluation.
    pub fn write(&mut self, evaluation: &Evaluation, alerts: &[Alert]) -> Result<()> {
        for alert in alerts {
            match self.format {
                OutputFormat::Jsonl => {
                    let id = self.flush_each.then(|| alert_id(evaluation, alert));
                    let record = AlertRecord {
                        evaluation,
                        alert,
                        id,
                    };
                    serde_json::to_writer(&mut self.out, &record)?;
                    writeln!(self.out)?;
                }
                OutputFormat::Table => write_table_row(&mut self.out, evaluation, alert)?,
            }
            self.written += 1;
        }
        if self.flush_each {
            self.out.flush().context("writing alerts")?;
        }
        Ok(())
    }

    /// Flushes what is buffered.
    pub fn finish(mut self) -> Result<()> {
        self.out.flush().context("writing alerts")
    }
}

/// An alert as `host-cli.md` lists its fields, in that order, and its id.
struct AlertRecord<'a> {
    evaluation: &'a Evaluation<'a>,
    alert: &'a Alert,
    id: Option<String>,
}

/// A deterministic id of an alert: FNV-1a (128 bits) of the tenant, the rule
/// id, the evaluation time and the alert's content (not the rule's version),
/// so the same alert written again, by a restart or another build, has the
/// same id and a consumer can drop repeats.
pub fn alert_id(evaluation: &Evaluation, alert: &Alert) -> String {
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    let mut hash: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    let mut add = |text: &str| {
        for byte in text.bytes().chain([0]) {
            hash = (hash ^ u128::from(byte)).wrapping_mul(PRIME);
        }
    };
    add(evaluation.tenant);
    add(&evaluation.rule.id);
    add(&evaluation.at.to_string());
    add(&alert.name);
    add(&alert.description);
    add(&alert.start_time.to_string());
    add(&alert.end_time.to_string());
    for entity in &alert.entities {
        add(&entity.kind);
        for (name, value) in &entity.properties {
            add(name);
            add(value);
        }
    }
    for (name, value) in &alert.custom_details {
        add(name);
        add(&format!("{value:?}"));
    }
    format!("{hash:032x}")
}

impl Serialize for AlertRecord<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (rule, alert) = (self.evaluation.rule, self.alert);
        let mut map = serializer.serialize_map(Some(14 + usize::from(self.id.is_some())))?;
        map.serialize_entry("RuleId", &rule.id)?;
        map.serialize_entry("RuleName", &rule.name)?;
        map.serialize_entry("RuleVersion", &rule.version)?;
        map.serialize_entry("AlertName", &alert.name)?;
        map.serialize_entry("Description", &alert.description)?;
        map.serialize_entry("Severity", rule.severity.as_str())?;
        map.serialize_entry("Tactics", &rule.tactics)?;
        map.serialize_entry("Techniques", &rule.techniques)?;
        map.serialize_entry("StartTime", &time::format(alert.start_time))?;
        map.serialize_entry("EndTime", &time::format(alert.end_time))?;
        map.serialize_entry("EvaluatedAt", &time::format(self.evaluation.at))?;
        let entities: Vec<EntityRecord> = alert.entities.iter().map(EntityRecord).collect();
        map.serialize_entry("Entities", &entities)?;
        map.serialize_entry("CustomDetails", &Details(&alert.custom_details))?;
        map.serialize_entry("Tenant", self.evaluation.tenant)?;
        if let Some(id) = &self.id {
            map.serialize_entry("AlertId", id)?;
        }
        map.end()
    }
}

struct EntityRecord<'a>(&'a Entity);

impl Serialize for EntityRecord<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1 + self.0.properties.len()))?;
        map.serialize_entry("Type", &self.0.kind)?;
        for (name, value) in &self.0.properties {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

struct Details<'a>(&'a [(String, DetailValue)]);

impl Serialize for Details<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            map.serialize_entry(name, &DetailRecord(value))?;
        }
        map.end()
    }
}

struct DetailRecord<'a>(&'a DetailValue);

/// Largest integer an f64 holds exactly.
const EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

impl Serialize for DetailRecord<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            DetailValue::None => serializer.serialize_none(),
            DetailValue::Text(text) => serializer.serialize_str(text),
            DetailValue::Integer(value) => serializer.serialize_i64(*value),
            // A whole real prints as Kusto prints it: 80, not 80.0.
            DetailValue::Real(value) if value.fract() == 0.0 && value.abs() < EXACT_INTEGER => {
                serializer.serialize_i64(*value as i64)
            }
            DetailValue::Real(value) => serializer.serialize_f64(*value),
            DetailValue::Time(value) => serializer.serialize_str(&time::format(*value)),
        }
    }
}

fn write_table_row(out: &mut dyn Write, evaluation: &Evaluation, alert: &Alert) -> Result<()> {
    writeln!(
        out,
        "{}  {:<8} {:<26} {}",
        time::format(alert.start_time),
        evaluation.rule.severity.as_str(),
        evaluation.rule.short_name,
        alert.name
    )?;
    let details: Vec<String> = alert
        .custom_details
        .iter()
        .filter_map(|(name, value)| match value {
            DetailValue::None => None,
            DetailValue::Text(text) if text.is_empty() => None,
            DetailValue::Text(text) => Some(format!("{name}={text}")),
            DetailValue::Integer(value) => Some(format!("{name}={value}")),
            DetailValue::Real(value) => Some(format!("{name}={value}")),
            DetailValue::Time(value) => Some(format!("{name}={}", time::format(*value))),
        })
        .collect();
    // Details wrap at about 100 columns, indented under the alert.
    let mut line = String::new();
    for detail in details {
        if !line.is_empty() && line.len() + detail.len() > 100 {
            writeln!(out, "    {line}")?;
            line.clear();
        }
        if !line.is_empty() {
            line.push_str("  ");
        }
        line.push_str(&detail);
    }
    writeln!(out, "    {line}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use asim_rule_core::Severity;

    fn rule(version: &str) -> RuleMetadata {
        RuleMetadata {
            id: "id".into(),
            short_name: "r".into(),
            name: "Rule".into(),
            version: version.into(),
            description: String::new(),
            severity: Severity::High,
            tactics: vec![],
            techniques: vec![],
            frequency: 1,
            session_lookback: 1,
            session_columns: vec![],
            indicator_lookback: None,
            indicator_columns: vec![],
            summary_columns: vec![],
            parameters: vec![],
        }
    }

    #[test]
    fn appending_cuts_back_to_the_checkpoint_but_never_pads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.jsonl");
        std::fs::write(&path, "0123456789").unwrap();
        drop(AlertSink::append(&path, 4).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "0123");
        // A checkpoint counting more than the file holds (rotated, damaged).
        drop(AlertSink::append(&path, u64::MAX).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "0123");
    }

    #[test]
    fn an_alert_id_follows_tenant_rule_tick_and_content_not_the_version() {
        let alert = |address: &str| Alert {
            name: "n".into(),
            description: "d".into(),
            start_time: 0,
            end_time: 1,
            entities: vec![Entity::ip(address)],
            custom_details: vec![("Score".into(), DetailValue::Real(2.5))],
        };
        let (old, new) = (rule("1.0.0"), rule("1.0.1"));
        let id = |rule: &RuleMetadata, tenant: &str, at: Timestamp, address: &str| {
            let evaluation = Evaluation { rule, at, tenant };
            alert_id(&evaluation, &alert(address))
        };
        let first = id(&old, "a", 10, "198.51.100.7");
        assert_eq!(first.len(), 32);
        assert_eq!(first, id(&new, "a", 10, "198.51.100.7"));
        assert_ne!(first, id(&old, "b", 10, "198.51.100.7"));
        assert_ne!(first, id(&old, "a", 11, "198.51.100.7"));
        assert_ne!(first, id(&old, "a", 10, "198.51.100.8"));
    }

    #[test]
    fn records_keep_the_documented_field_order_and_number_types() {
        let rule = RuleMetadata {
            tactics: vec!["Discovery".into()],
            ..rule("1.0.0")
        };
        let alert = Alert {
            name: "n".into(),
            description: "d".into(),
            start_time: 0,
            end_time: 1_000_000,
            entities: vec![Entity::ip("198.51.100.7")],
            custom_details: vec![
                ("Zeta".into(), DetailValue::Real(80.0)),
                ("Alpha".into(), DetailValue::Real(2.5)),
                ("None".into(), DetailValue::None),
            ],
        };
        let evaluation = Evaluation {
            rule: &rule,
            at: 3_600_000_000,
            tenant: "default",
        };
        let json = serde_json::to_string(&AlertRecord {
            evaluation: &evaluation,
            alert: &alert,
            id: None,
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"RuleId":"id","RuleName":"Rule","RuleVersion":"1.0.0","AlertName":"n","Description":"d","Severity":"High","Tactics":["Discovery"],"Techniques":[],"StartTime":"1970-01-01T00:00:00Z","EndTime":"1970-01-01T00:00:01Z","EvaluatedAt":"1970-01-01T01:00:00Z","Entities":[{"Type":"ip","Address":"198.51.100.7"}],"CustomDetails":{"Zeta":80,"Alpha":2.5,"None":null},"Tenant":"default"}"#
        );
    }
}
