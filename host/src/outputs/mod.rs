//! Where alerts go and in which shape: the project's JSON lines, OCSF
//! Detection Findings, Sentinel `SecurityAlert` rows or a table for a person;
//! as lines, as Parquet (`--out FILE.parquet`) or as an Amazon Security Lake
//! custom source. docs/OUTPUTS.md maps each shape, field by field.

mod jsonl;
mod lake;
pub mod ocsf;
#[cfg(not(feature = "parquet"))]
#[path = "no_parquet.rs"]
pub mod parquet;
#[cfg(feature = "parquet")]
pub mod parquet;
mod sentinel;
mod table;

use std::{
    fs::File,
    io::{self, BufWriter, Write},
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use asim_rule_core::{Alert, RuleMetadata, Timestamp};
use serde::{Serialize, Serializer};

use jsonl::AlertRecord;
use lake::SecurityLake;
use parquet::ParquetFile;

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

/// Whether `path` names a Parquet file.
pub fn is_parquet(path: &Path) -> bool {
    path.extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("parquet"))
}

/// The shape of an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertFormat {
    /// The project's own record (`host-cli.md`).
    Jsonl,
    /// OCSF 1.5.0 Detection Finding (class 2004).
    Ocsf,
    /// The columns of Sentinel's `SecurityAlert` table.
    Sentinel,
    /// Aligned text for a person.
    Table,
}

impl AlertFormat {
    /// Every format, in the order `--alert-format` lists them.
    pub const ALL: [AlertFormat; 4] = [
        AlertFormat::Jsonl,
        AlertFormat::Ocsf,
        AlertFormat::Sentinel,
        AlertFormat::Table,
    ];

    /// The format as `--alert-format` names it.
    pub fn flag(self) -> &'static str {
        match self {
            AlertFormat::Jsonl => "jsonl",
            AlertFormat::Ocsf => "ocsf",
            AlertFormat::Sentinel => "sentinel",
            AlertFormat::Table => "table",
        }
    }

    /// What the format is, for help texts.
    pub fn about(self) -> &'static str {
        match self {
            AlertFormat::Jsonl => "The project's alert records, one JSON object per line",
            AlertFormat::Ocsf => "OCSF 1.5.0 Detection Findings (class 2004), one per line",
            AlertFormat::Sentinel => "Rows of Sentinel's SecurityAlert table, one per line",
            AlertFormat::Table => "Aligned text for a person",
        }
    }
}

/// How a record holds objects whose keys vary from alert to alert (entities,
/// custom details): nested, or as their JSON text, as a columnar file with
/// one schema for every row needs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Objects {
    /// As JSON objects and arrays.
    Nested,
    /// As one JSON text.
    Text,
}

impl Objects {
    /// `value`, serialised as this says.
    fn wrap<T: Serialize>(self, value: &T) -> Wrapped<'_, T> {
        Wrapped {
            value,
            objects: self,
        }
    }
}

struct Wrapped<'a, T> {
    value: &'a T,
    objects: Objects,
}

impl<T: Serialize> Serialize for Wrapped<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.objects {
            Objects::Nested => self.value.serialize(serializer),
            Objects::Text => {
                let text = serde_json::to_string(self.value).map_err(serde::ser::Error::custom)?;
                serializer.serialize_str(&text)
            }
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

/// Where an Amazon Security Lake custom source's files go.
#[derive(Clone, Debug)]
pub struct SecurityLakeTarget {
    /// The folder that stands for the lake's bucket.
    pub dir: PathBuf,
    /// The custom source's name.
    pub source: String,
    /// The AWS region of the partition.
    pub region: String,
    /// The AWS account id of the partition.
    pub account_id: String,
}

/// Where a sink's records go.
enum Destination {
    Lines(Box<dyn Write>),
    Parquet(Box<ParquetFile>),
    SecurityLake(SecurityLake),
    Messages(Box<dyn AlertMessages>),
}

/// A message per alert (the cluster mode's alert stream).
pub trait AlertMessages {
    /// Sends one record, JSON, as a message with the alert's id.
    fn send(&mut self, id: &str, record: Vec<u8>) -> Result<()>;
    /// Returns once every message sent is stored.
    fn flush(&mut self) -> Result<()>;
}

/// Writes alerts to stdout, a file of lines, a Parquet file or a lake.
pub struct AlertSink {
    destination: Destination,
    format: AlertFormat,
    /// Whether each evaluation's alerts are written out at once and JSON
    /// lines carry an `AlertId` (`serve`).
    flush_each: bool,
    /// Alerts written so far.
    pub written: u64,
}

impl AlertSink {
    /// Alerts to `path` (Parquet when it ends in `.parquet`), or to stdout.
    pub fn create(path: Option<&Path>, format: AlertFormat) -> Result<AlertSink> {
        let destination = match path {
            Some(path) if is_parquet(path) => {
                Destination::Parquet(Box::new(ParquetFile::create(path, format)?))
            }
            Some(path) => Destination::Lines(Box::new(BufWriter::new(
                File::create(path).with_context(|| format!("{}: cannot create", path.display()))?,
            ))),
            None => Destination::Lines(Box::new(BufWriter::new(io::stdout()))),
        };
        Ok(AlertSink {
            destination,
            format,
            flush_each: false,
            written: 0,
        })
    }

    /// OCSF findings as an Amazon Security Lake custom source: one Parquet
    /// file per day of finding time, under `ext/SOURCE/region=…/accountId=…/
    /// eventDay=YYYYMMDD/`. The source, region and account become folder
    /// names: letters, digits, `-` and `_` only.
    pub fn security_lake(target: SecurityLakeTarget) -> Result<AlertSink> {
        for (what, value) in [
            ("source", &target.source),
            ("region", &target.region),
            ("account id", &target.account_id),
        ] {
            let fits = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
            if value.is_empty() || !value.chars().all(fits) {
                bail!("the lake's {what} {value:?} is not letters, digits, '-' and '_'");
            }
        }
        Ok(AlertSink {
            destination: Destination::SecurityLake(SecurityLake::new(target)),
            format: AlertFormat::Ocsf,
            flush_each: false,
            written: 0,
        })
    }

    /// Alerts appended to `path` as lines, the file first cut back to
    /// `keep` bytes: what a checkpoint recorded, so alerts written after it
    /// and before a crash are not written twice. Each evaluation's alerts are
    /// written out as soon as it ends. A file shorter than `keep` was cut or
    /// rotated since: it is appended to as it is, never padded.
    pub fn append(path: &Path, keep: u64, format: AlertFormat) -> Result<AlertSink> {
        if format == AlertFormat::Table {
            bail!(
                "{}: serve writes alerts as jsonl, ocsf or sentinel lines, not as a table",
                path.display()
            );
        }
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
            destination: Destination::Lines(Box::new(BufWriter::new(file))),
            format,
            flush_each: true,
            written: 0,
        })
    }

    /// Alerts as messages, one per alert with its id, each evaluation's
    /// stored before the next begins.
    pub fn messages(messages: Box<dyn AlertMessages>, format: AlertFormat) -> Result<AlertSink> {
        if format == AlertFormat::Table {
            bail!("alert messages are jsonl, ocsf or sentinel records, not a table");
        }
        Ok(AlertSink {
            destination: Destination::Messages(messages),
            format,
            flush_each: true,
            written: 0,
        })
    }

    /// Writes out what is buffered (lines, messages; a Parquet file is
    /// written whole at [`AlertSink::finish`]).
    pub fn flush(&mut self) -> Result<()> {
        match &mut self.destination {
            Destination::Lines(out) => out.flush().context("writing alerts"),
            Destination::Messages(messages) => messages.flush(),
            Destination::Parquet(_) | Destination::SecurityLake(_) => Ok(()),
        }
    }

    /// Writes the alerts of one evaluation.
    pub fn write(&mut self, evaluation: &Evaluation, alerts: &[Alert]) -> Result<()> {
        for alert in alerts {
            self.write_one(evaluation, alert)?;
            self.written += 1;
        }
        if self.flush_each {
            self.flush()?;
        }
        Ok(())
    }

    fn write_one(&mut self, evaluation: &Evaluation, alert: &Alert) -> Result<()> {
        let objects = match self.destination {
            Destination::Lines(_) | Destination::Messages(_) => Objects::Nested,
            Destination::Parquet(_) | Destination::SecurityLake(_) => Objects::Text,
        };
        // Plain JSON lines of `run` and `replay` carry no id.
        let id = (self.flush_each || self.format != AlertFormat::Jsonl)
            .then(|| alert_id(evaluation, alert));
        match self.format {
            AlertFormat::Jsonl => {
                let record = AlertRecord {
                    evaluation,
                    alert,
                    id: id.clone(),
                    objects,
                };
                self.put(&record, id.as_deref())
            }
            AlertFormat::Ocsf => {
                let id = id.unwrap_or_default();
                let finding = ocsf::Finding::new(evaluation, alert, id.clone(), objects);
                match &mut self.destination {
                    Destination::SecurityLake(lake) => lake.push(&finding, evaluation.at, &id),
                    _ => self.put(&finding, Some(&id)),
                }
            }
            AlertFormat::Sentinel => {
                let id = id.unwrap_or_default();
                let row = sentinel::SecurityAlert::new(evaluation, alert, &id);
                self.put(&row, Some(&id))
            }
            AlertFormat::Table => match &mut self.destination {
                Destination::Lines(out) => table::write_table_row(out, evaluation, alert),
                Destination::Parquet(_)
                | Destination::SecurityLake(_)
                | Destination::Messages(_) => {
                    bail!("a table is for a terminal: write Parquet as jsonl, ocsf or sentinel")
                }
            },
        }
    }

    /// One record to a file of lines, a Parquet file or a message (with `id`).
    fn put<T: Serialize>(&mut self, record: &T, id: Option<&str>) -> Result<()> {
        match &mut self.destination {
            Destination::Lines(out) => {
                serde_json::to_writer(&mut *out, record)?;
                writeln!(out)?;
                Ok(())
            }
            Destination::Parquet(file) => file.push(record),
            Destination::Messages(messages) => {
                let id = id.context("an alert message without an id")?;
                messages.send(id, serde_json::to_vec(record)?)
            }
            // Made for OCSF findings alone, which go to it directly.
            Destination::SecurityLake(_) => bail!("a Security Lake holds OCSF findings only"),
        }
    }

    /// Writes out what is buffered; a Parquet file gets its footer.
    pub fn finish(self) -> Result<()> {
        match self.destination {
            Destination::Lines(mut out) => out.flush().context("writing alerts"),
            Destination::Messages(mut messages) => messages.flush(),
            Destination::Parquet(file) => file.finish(),
            Destination::SecurityLake(lake) => lake.finish(),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use asim_rule_core::{DetailValue, Entity, Severity};

    #[test]
    fn parquet_is_told_by_the_extension() {
        assert!(is_parquet(Path::new("a/alerts.parquet")));
        assert!(is_parquet(Path::new("ALERTS.PARQUET")));
        assert!(!is_parquet(Path::new("alerts.jsonl")));
        assert!(!is_parquet(Path::new("parquet")));
    }

    /// A rule's metadata, of this version, for output tests.
    pub(crate) fn rule(version: &str) -> RuleMetadata {
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

    /// An evaluation of `rule` at 01:00 on 1970-01-01 for tenant `default`.
    pub(crate) fn evaluation_of(rule: &RuleMetadata) -> Evaluation<'_> {
        Evaluation {
            rule,
            at: 3_600_000_000,
            tenant: "default",
        }
    }

    #[test]
    fn appending_cuts_back_to_the_checkpoint_but_never_pads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.jsonl");
        std::fs::write(&path, "0123456789").unwrap();
        drop(AlertSink::append(&path, 4, AlertFormat::Jsonl).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "0123");
        // A checkpoint counting more than the file holds (rotated, damaged).
        drop(AlertSink::append(&path, u64::MAX, AlertFormat::Jsonl).unwrap());
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
}
