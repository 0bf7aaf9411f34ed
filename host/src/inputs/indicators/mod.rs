//! Threat-intel indicators from every source the TI rule's spec names (§5):
//! Sentinel's `ThreatIntelligenceIndicator` and newer `ThreatIntelIndicators`
//! exports, STIX 2.1 bundles and plain IP/CIDR lists, each optionally gzip.
//! Every reader maps its records to `ThreatIntelligenceIndicator` columns, so
//! a rule sees one indicator model whatever the source. What a file holds is
//! recognised from its content; each file ends with a summary line on stderr.

pub mod csv_feed;
pub mod intel_table;
pub mod list;
pub mod pattern;
pub mod stix;

use std::{borrow::Cow, collections::BTreeMap, io::BufRead, sync::Arc};

use anyhow::{bail, Context, Result};
use asim_rule_core::{batch::Cell, schema::ColumnKind, Timestamp};

use super::{stream::Reader, Format, InputFile, Rejects};

pub use list::ListOptions;

/// The expiry of an indicator that never expires (STIX without
/// `valid_until`): Kusto's largest datetime, 9999-12-31T23:59:59Z.
pub const NEVER_EXPIRES: Timestamp = 253_402_300_799_000_000;

/// What an indicator file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Sentinel's `ThreatIntelligenceIndicator` table (JSON lines or CSV).
    IndicatorTable,
    /// Sentinel's newer STIX-based `ThreatIntelIndicators` table.
    IntelTable,
    /// A STIX 2.x bundle.
    StixBundle,
    /// Another CSV with an address column (abuse.ch, published IoC sheets).
    CsvFeed,
    /// One address or network per line.
    List,
}

impl Source {
    /// The source as the summary line names it.
    pub fn name(self) -> &'static str {
        match self {
            Source::IndicatorTable => "ThreatIntelligenceIndicator table",
            Source::IntelTable => "ThreatIntelIndicators table",
            Source::StixBundle => "STIX bundle",
            Source::CsvFeed => "CSV feed",
            Source::List => "IP list",
        }
    }

    /// Recognises the source from the start of the file (`head`): JSON whose
    /// first line is not a whole object, or is a bundle, is a STIX bundle;
    /// JSON lines and CSV are one of Sentinel's tables, told apart by the
    /// newer table's `ObservableValue`; a JSON array is none of these (why
    /// is the error); anything else is a list.
    pub fn detect(format: Format, head: &[u8]) -> Result<Source, &'static str> {
        let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
        let text = String::from_utf8_lossy(&head[..head.len().min(1 << 16)]);
        let mut lines = text.lines().map(str::trim).filter(|line| !line.is_empty());
        let first_line = lines.clone().next().unwrap_or("");
        // A CSV header follows any `#` comment block.
        let header = lines.find(|line| !line.starts_with('#')).unwrap_or("");
        if first_line.starts_with('[') {
            return Err("a JSON array, which is no indicator source: a STIX bundle is one object with \"type\": \"bundle\", a Sentinel table JSON lines of objects");
        }
        if first_line.starts_with('{') {
            return Ok(
                match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(first_line)
                {
                    Ok(record) if record.get("type").and_then(|t| t.as_str()) == Some("bundle") => {
                        Source::StixBundle
                    }
                    Ok(record) if record.contains_key("ObservableValue") => Source::IntelTable,
                    Ok(_) => Source::IndicatorTable,
                    Err(_) => Source::StixBundle,
                },
            );
        }
        Ok(match format {
            Format::Csv if header.contains("ObservableValue") => Source::IntelTable,
            Format::Csv if header.contains("IndicatorId") => Source::IndicatorTable,
            Format::Csv => Source::CsvFeed,
            Format::JsonLines | Format::Text => Source::List,
        })
    }
}

/// One indicator, as a `ThreatIntelligenceIndicator` row holds it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Indicator<'a> {
    /// When the indicator was published or updated (`TimeGenerated`).
    pub time: Timestamp,
    /// The indicator's id in its source.
    pub id: Cow<'a, str>,
    /// The address or network, as the source wrote it (`NetworkIP`).
    pub address: Cow<'a, str>,
    /// When it stops being live.
    pub expiration: Timestamp,
    /// Whether the source still holds it live.
    pub active: bool,
    /// The source's threat type (`Botnet`, `C2`, a list's name).
    pub threat_type: Option<Cow<'a, str>>,
    /// What the source says of it.
    pub description: Option<Cow<'a, str>>,
    /// Actors or campaigns it is tied to.
    pub activity_groups: Option<Cow<'a, str>>,
    /// The source's confidence, 0 to 100.
    pub confidence: Option<f64>,
    /// The source's own id when `id` had to be made unique (`ExternalIndicatorId`).
    pub external_id: Option<Cow<'a, str>>,
}

impl Indicator<'_> {
    /// The cells of `columns`, named as in `ThreatIntelligenceIndicator`;
    /// columns the source has no value for are empty.
    fn cells(&self, columns: &[(String, ColumnKind)]) -> Vec<Cell<'_>> {
        fn text<'c>(value: &'c Option<Cow<str>>) -> Cell<'c> {
            value
                .as_deref()
                .filter(|text| !text.is_empty())
                .map_or(Cell::Empty, Cell::Text)
        }
        columns
            .iter()
            .map(|(name, _)| match name.as_str() {
                "IndicatorId" => Cell::Text(&self.id),
                "ExpirationDateTime" => Cell::Time(self.expiration),
                "Active" => Cell::Boolean(self.active),
                "NetworkIP" => Cell::Text(&self.address),
                "ThreatType" => text(&self.threat_type),
                "Description" => text(&self.description),
                "ActivityGroupNames" => text(&self.activity_groups),
                "ConfidenceScore" => self.confidence.map_or(Cell::Empty, Cell::Real),
                "ExternalIndicatorId" => text(&self.external_id),
                _ => Cell::Empty,
            })
            .collect()
    }
}

/// What one file gave: read in the summary line.
#[derive(Debug, Default)]
pub struct SourceReport {
    /// Records read: rows, lines with an entry, or STIX objects.
    pub records: u64,
    /// Indicator rows handed to the rules.
    pub indicators: u64,
    /// Records that are fine but hold nothing the rules can use, by reason.
    pub skipped: BTreeMap<&'static str, u64>,
}

impl SourceReport {
    fn skip(&mut self, reason: &'static str) {
        *self.skipped.entry(reason).or_default() += 1;
    }

    fn line(&self, input: &InputFile, source: Source, noun: &str, rejected: u64) -> String {
        let skipped: u64 = self.skipped.values().sum();
        let mut line = format!(
            "{}: {}: {} {noun}, {} indicators, {rejected} rejected, {skipped} skipped",
            input.name,
            source.name(),
            self.records,
            self.indicators,
        );
        if skipped > 0 {
            let reasons: Vec<String> = self
                .skipped
                .iter()
                .map(|(reason, count)| format!("{count} {reason}"))
                .collect();
            line.push_str(&format!(" ({})", reasons.join("; ")));
        }
        line
    }
}

/// The reader of indicator files of any source, plain lists dated and typed by `options`.
pub fn reader(options: ListOptions) -> Reader {
    Arc::new(move |input, columns, rejects, on_row| {
        let rejected_before = rejects.count;
        let (report, source, noun) = read(input, &options, columns, rejects, on_row)?;
        let rejected = rejects.count - rejected_before;
        tracing::info!(file = %input.name, "{}", report.line(input, source, noun, rejected));
        Ok(report.records)
    })
}

/// Reads one indicator file; returns what it gave, its source and what its
/// records are called.
pub fn read(
    input: &InputFile,
    options: &ListOptions,
    columns: &[(String, ColumnKind)],
    rejects: &mut Rejects,
    on_row: &mut dyn FnMut(Timestamp, &[Cell]) -> Result<()>,
) -> Result<(SourceReport, Source, &'static str)> {
    read_from(input, input.open()?, options, columns, rejects, on_row)
}

/// [`read`] from `input` already opened as `reader`.
pub fn read_from(
    input: &InputFile,
    mut reader: Box<dyn BufRead + Send>,
    options: &ListOptions,
    columns: &[(String, ColumnKind)],
    rejects: &mut Rejects,
    on_row: &mut dyn FnMut(Timestamp, &[Cell]) -> Result<()>,
) -> Result<(SourceReport, Source, &'static str)> {
    let head = reader
        .fill_buf()
        .with_context(|| format!("{}: reading", input.name))?;
    let source = Source::detect(input.format, head)
        .map_err(|why| anyhow::anyhow!("{}: {why}", input.name))?;
    let mut report = SourceReport::default();
    let mut emit = |indicator: &Indicator| on_row(indicator.time, &indicator.cells(columns));
    let noun = match source {
        Source::IndicatorTable => {
            report.records =
                super::read_table_from(input, reader, columns, rejects, &mut |time, cells| {
                    report.indicators += 1;
                    on_row(time, cells)
                })?;
            "rows"
        }
        Source::IntelTable => {
            intel_table::read(input, reader, &mut report, rejects, &mut emit)?;
            "rows"
        }
        Source::StixBundle => {
            stix::read(input, reader, &mut report, rejects, &mut emit)?;
            "indicator objects"
        }
        Source::List => {
            list::read(input, reader, options, &mut report, rejects, &mut emit)?;
            // Not one address among lines that are something: not a list.
            if report.indicators == 0 && report.records > 0 {
                bail!(
                    "{}: recognised as no indicator source: read as an IP list, none of its {} entries is an IP address or network",
                    input.name,
                    report.records
                );
            }
            "entries"
        }
        Source::CsvFeed => {
            csv_feed::read(input, reader, options, &mut report, rejects, &mut emit)?;
            "rows"
        }
    };
    Ok((report, source, noun))
}

/// ThreatType and ActivityGroupNames of a STIX indicator: its
/// `indicator_types` (else, as in STIX 2.0, its `labels`), and the names of
/// its `ActivityGroup:NAME` labels, as Sentinel's rules read them.
fn types_and_groups<S: AsRef<str>>(
    indicator_types: Option<&[S]>,
    labels: Option<&[S]>,
) -> (Option<String>, Option<String>) {
    let labels = labels.unwrap_or_default();
    let groups: Vec<&str> = labels
        .iter()
        .filter_map(|label| label.as_ref().strip_prefix("ActivityGroup:"))
        .collect();
    let other_labels: Vec<&str> = labels
        .iter()
        .map(AsRef::as_ref)
        .filter(|label| !label.starts_with("ActivityGroup:"))
        .collect();
    let types: Vec<&str> = match indicator_types {
        Some(types) => types.iter().map(AsRef::as_ref).collect(),
        None => other_labels,
    };
    let joined = |names: Vec<&str>| (!names.is_empty()).then(|| names.join(", "));
    (joined(types), joined(groups))
}

/// Hands `indicator` to the rules and counts it.
fn deliver(
    report: &mut SourceReport,
    emit: &mut dyn FnMut(&Indicator) -> Result<()>,
    indicator: &Indicator,
) -> Result<()> {
    report.indicators += 1;
    emit(indicator)
}

/// The reader's input, for the submodules.
type Input = Box<dyn BufRead>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_recognised_from_their_content() {
        let detect = |format, head: &str| Source::detect(format, head.as_bytes());
        assert_eq!(
            detect(Format::JsonLines, "{\n  \"type\": \"bundle\",\n"),
            Ok(Source::StixBundle)
        );
        assert_eq!(
            detect(Format::JsonLines, "{\"type\":\"bundle\",\"objects\":[]}\n"),
            Ok(Source::StixBundle)
        );
        assert_eq!(
            detect(
                Format::JsonLines,
                "{\"IndicatorId\":\"a\",\"NetworkIP\":\"1.2.3.4\"}\n{"
            ),
            Ok(Source::IndicatorTable)
        );
        assert_eq!(
            detect(
                Format::JsonLines,
                "\u{feff}{\"Id\":\"a\",\"ObservableValue\":\"1.2.3.4\"}"
            ),
            Ok(Source::IntelTable)
        );
        assert_eq!(
            detect(Format::Csv, "TimeGenerated [UTC],IndicatorId,NetworkIP\n"),
            Ok(Source::IndicatorTable)
        );
        assert_eq!(
            detect(
                Format::Csv,
                "TimeGenerated,Id,ObservableKey,ObservableValue\n"
            ),
            Ok(Source::IntelTable)
        );
        assert_eq!(
            detect(Format::Csv, "# abuse.ch\n\"first_seen_utc\",\"dst_ip\"\n"),
            Ok(Source::CsvFeed)
        );
        assert_eq!(
            detect(Format::Text, "# firehol\n1.2.3.0/24\n"),
            Ok(Source::List)
        );
        assert_eq!(detect(Format::Text, ""), Ok(Source::List));
        for array in ["[{\"type\": \"bundle\"}]", "\n  [\n"] {
            assert!(detect(Format::JsonLines, array).is_err_and(|why| why.contains("JSON array")));
        }
    }

    #[test]
    fn threat_types_and_activity_groups_from_stix_fields() {
        let (types, groups) = types_and_groups(
            Some(&["c2", "botnet"][..]),
            Some(&["ActivityGroup:FIN7", "x"][..]),
        );
        assert_eq!(types.as_deref(), Some("c2, botnet"));
        assert_eq!(groups.as_deref(), Some("FIN7"));
        let (types, groups) = types_and_groups(None, Some(&["malicious-activity"][..]));
        assert_eq!(
            (types.as_deref(), groups),
            (Some("malicious-activity"), None)
        );
        assert_eq!(types_and_groups::<&str>(None, None), (None, None));
    }

    #[test]
    fn cells_follow_the_requested_columns() {
        let indicator = Indicator {
            time: 1,
            id: "x".into(),
            address: "10.0.0.0/8".into(),
            expiration: 2,
            active: true,
            threat_type: Some("C2".into()),
            description: Some(String::new().into()),
            activity_groups: None,
            confidence: Some(80.0),
            external_id: None,
        };
        let columns: Vec<(String, ColumnKind)> = [
            "NetworkIP",
            "Active",
            "Description",
            "ConfidenceScore",
            "ExpirationDateTime",
            "Tags",
        ]
        .iter()
        .map(|name| (name.to_string(), ColumnKind::Text))
        .collect();
        assert_eq!(
            indicator.cells(&columns),
            [
                Cell::Text("10.0.0.0/8"),
                Cell::Boolean(true),
                Cell::Empty,
                Cell::Real(80.0),
                Cell::Time(2),
                Cell::Empty
            ]
        );
    }
}
