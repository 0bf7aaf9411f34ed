//! Everything that reads files: opening (gzip, stdin, format from the name),
//! records, timestamps, and the conversion of raw text to typed cells for the
//! columns the loaded rules asked for.

mod csv_blocks;
mod csv_records;
mod file;
pub mod indicators;
pub mod json_scan;
pub mod normalize;
mod parallel;
pub mod records;
pub mod reorder;
pub mod sort;
pub mod stream;

use std::io::BufRead;

use crate::time;
use anyhow::{bail, Context, Result};
use asim_rule_core::{batch::Cell, schema::ColumnKind, IpPrefix, Timestamp};
pub use file::{Format, InputFile, Progress, Rejects};
use normalize::{FieldIssues, SessionFormat};
use records::{recycle, OnRecord};

/// Reads `input`, converting each record's `TimeGenerated` and `columns` to
/// typed cells, and calls `on_row(time, cells)` for every row with a time
/// (a cell that does not parse is passed as unparsable: [`Unparsable`]),
/// stopping at its first error. Returns the number of records read.
pub fn read_table(
    input: &InputFile,
    columns: &[(String, ColumnKind)],
    rejects: &mut Rejects,
    on_row: &mut dyn FnMut(Timestamp, &[Cell]) -> Result<()>,
) -> Result<u64> {
    read_table_from(input, input.open()?, columns, rejects, on_row)
}

/// [`read_table`] from `input` already opened as `reader`.
pub fn read_table_from(
    input: &InputFile,
    reader: Box<dyn BufRead + Send>,
    columns: &[(String, ColumnKind)],
    rejects: &mut Rejects,
    on_row: &mut dyn FnMut(Timestamp, &[Cell]) -> Result<()>,
) -> Result<u64> {
    let mut issues = FieldIssues::default();
    let format = SessionFormat::Asim;
    let (records, unparsable) =
        read_rows(input, reader, format, columns, rejects, &mut issues, on_row)?;
    unparsable.report(input);
    Ok(records)
}

/// Reads session rows as [`read_table`] does, from ASIM files or from raw
/// logs in `format` (none: recognised from the content, and said when it is
/// not ASIM). A wrong `format` is an error naming what the file looks like.
pub fn read_sessions(
    input: &InputFile,
    format: Option<SessionFormat>,
    columns: &[(String, ColumnKind)],
    rejects: &mut Rejects,
    on_row: &mut dyn FnMut(Timestamp, &[Cell]) -> Result<()>,
) -> Result<u64> {
    read_sessions_from(input, input.open()?, format, columns, rejects, on_row)
}

/// [`read_sessions`] from `input` already opened as `reader`.
pub fn read_sessions_from(
    input: &InputFile,
    mut reader: Box<dyn BufRead + Send>,
    format: Option<SessionFormat>,
    columns: &[(String, ColumnKind)],
    rejects: &mut Rejects,
    on_row: &mut dyn FnMut(Timestamp, &[Cell]) -> Result<()>,
) -> Result<u64> {
    let head = reader
        .fill_buf()
        .with_context(|| format!("{}: reading", input.name))?;
    let detected = SessionFormat::detect(head);
    let format = match format {
        Some(format) if format != detected && !head.is_empty() => bail!(
            "{}: --sessions-format {} does not fit: the file looks like {}",
            input.name,
            format.flag(),
            detected.name()
        ),
        Some(format) => format,
        None => detected,
    };
    let rejected_before = rejects.count;
    let mut issues = FieldIssues::default();
    let (records, unparsable) =
        read_rows(input, reader, format, columns, rejects, &mut issues, on_row)?;
    unparsable.report(input);
    if format != SessionFormat::Asim {
        tracing::info!(
            file = %input.name,
            "{}: {}: {records} records, {} rejected{}",
            input.name,
            format.name(),
            rejects.count - rejected_before,
            issues.describe()
        );
    }
    Ok(records)
}

/// Records of `input` in `format`, typed as `columns`, to `on_row`; returns
/// how many, and the cells that did not parse.
fn read_rows(
    input: &InputFile,
    reader: Box<dyn BufRead + Send>,
    format: SessionFormat,
    columns: &[(String, ColumnKind)],
    rejects: &mut Rejects,
    issues: &mut FieldIssues,
    on_row: &mut dyn FnMut(Timestamp, &[Cell]) -> Result<()>,
) -> Result<(u64, Unparsable)> {
    let wanted = wanted_keys(columns);
    let mut unparsable = Unparsable::default();
    let records = match (format, input.format) {
        (SessionFormat::Asim, Format::JsonLines) => parallel::read_json_rows(
            input,
            reader,
            columns,
            input.threads,
            rejects,
            &mut unparsable,
            on_row,
        )?,
        (SessionFormat::Asim, Format::Csv) => {
            let (records, resume) = csv_blocks::read_csv_rows(
                input,
                reader,
                columns,
                input.threads,
                rejects,
                &mut unparsable,
                on_row,
            )?;
            let rest = match resume {
                None => 0,
                Some(resume) => {
                    let read = |on_record: &mut OnRecord| resume.read(input, &wanted, on_record);
                    typed_records(input, columns, rejects, &mut unparsable, on_row, read)?
                }
            };
            records + rest
        }
        _ => {
            let read = |on_record: &mut OnRecord| {
                normalize::read(input, reader, format, &wanted, issues, on_record)
            };
            typed_records(input, columns, rejects, &mut unparsable, on_row, read)?
        }
    };
    Ok((records, unparsable))
}

/// Runs `read` with a callback that types each record's fields (the time,
/// then `columns`) and hands the row on; returns the records read.
fn typed_records(
    input: &InputFile,
    columns: &[(String, ColumnKind)],
    rejects: &mut Rejects,
    unparsable: &mut Unparsable,
    on_row: &mut dyn FnMut(Timestamp, &[Cell]) -> Result<()>,
    read: impl FnOnce(&mut OnRecord) -> Result<()>,
) -> Result<u64> {
    let mut records = 0;
    let mut spare: Vec<Cell> = Vec::with_capacity(columns.len());
    read(&mut |line, fields| {
        records += 1;
        let mut cells: Vec<Cell> = recycle(std::mem::take(&mut spare));
        let row = fields.and_then(|fields| {
            let time = time_field("TimeGenerated", fields[0].as_deref())?;
            cells.extend(
                columns
                    .iter()
                    .zip(&fields[1..])
                    .map(|((name, kind), field)| {
                        unparsable.cell(name, line, *kind, field.as_deref())
                    }),
            );
            Ok(time)
        });
        let row = row.as_ref().map(|time| (*time, cells.as_slice()));
        let delivered = deliver(input, line, row.map_err(String::as_str), rejects, on_row);
        spare = recycle(cells);
        delivered
    })?;
    Ok(records)
}

/// The keys a record is read for: its time, then `columns`.
fn wanted_keys(columns: &[(String, ColumnKind)]) -> Vec<&str> {
    std::iter::once("TimeGenerated")
        .chain(columns.iter().map(|(name, _)| name.as_str()))
        .collect()
}

/// Cells of one file whose text does not parse for their column's type. Such
/// a cell still reaches the rules, as its column's unparsable value (an IP
/// text that matches nothing; none for numbers, booleans and times), so that
/// a row's fate never depends on which other rules read it. Counted per
/// column, with the first line of each.
#[derive(Default)]
pub struct Unparsable {
    by_column: std::collections::BTreeMap<String, (u64, u64)>,
}

impl Unparsable {
    /// The cell of `text` in column `name` of `kind`, at `line`.
    pub fn cell<'t>(
        &mut self,
        name: &str,
        line: u64,
        kind: ColumnKind,
        text: Option<&'t str>,
    ) -> Cell<'t> {
        let (cell, parsed) = typed_cell(kind, text);
        if !parsed {
            self.note(name, line);
        }
        cell
    }

    /// Counts a cell of column `name` at `line` that did not parse.
    pub fn note(&mut self, name: &str, line: u64) {
        match self.by_column.get_mut(name) {
            Some((count, _)) => *count += 1,
            None => {
                self.by_column.insert(name.to_owned(), (1, line));
            }
        }
    }

    /// `columns: N (first at line L), ...`, or none when every cell parsed.
    pub fn describe(&self) -> Option<String> {
        (!self.by_column.is_empty()).then(|| {
            self.by_column
                .iter()
                .map(|(name, (count, first))| format!("{name} {count} (first at line {first})"))
                .collect::<Vec<_>>()
                .join(", ")
        })
    }

    /// Says on stderr which columns of `input` had cells that did not parse.
    pub fn report(&self, input: &InputFile) {
        if let Some(columns) = self.describe() {
            tracing::info!(
                file = %input.name,
                "{}: cells that do not parse, passed to the rules as unparsable: {columns}",
                input.name
            );
        }
    }
}

/// A row read to `on_row`, or its reason to `rejects`.
fn deliver(
    input: &InputFile,
    line: u64,
    row: Result<(Timestamp, &[Cell]), &str>,
    rejects: &mut Rejects,
    on_row: &mut dyn FnMut(Timestamp, &[Cell]) -> Result<()>,
) -> Result<()> {
    match row {
        Ok((time, cells)) => on_row(time, cells),
        Err(reason) => {
            rejects.reject(input, line, reason);
            Ok(())
        }
    }
}

/// The row's time, from its column `name`.
fn time_field(name: &str, text: Option<&str>) -> Result<Timestamp, String> {
    let text = text.ok_or_else(|| format!("{name}: missing"))?;
    time::parse(text).map_err(|reason| format!("{name}: {reason}"))
}

/// The older summary table's name for each `NetworkSummary_Protocol_CL` column.
const LEGACY_SUMMARY_NAMES: [(&str, &str); 7] = [
    ("EventTime", "EventTime_t"),
    ("NetworkProtocol", "NetworkProtocol_s"),
    ("DstPortNumber", "DstPortNumber_d"),
    ("DstAppName", "DstAppName_s"),
    ("NetworkDirection", "NetworkDirection_s"),
    ("DvcAction", "DvcAction_s"),
    ("count_", "count__d"),
];

/// Reads summary rows, `NetworkSummary_Protocol_CL` (`EventTime`, 20-minute
/// bins) or the older `NetworkCustomAnalytics_protocol_CL` (`EventTime_t`,
/// `..._s`/`..._d` names, 10-minute bins), row by row, as the newer table's
/// columns with `SummaryBinMinutes` set to the row's bin.
pub fn read_summaries(
    input: &InputFile,
    columns: &[(String, ColumnKind)],
    rejects: &mut Rejects,
    on_row: &mut dyn FnMut(Timestamp, &[Cell]) -> Result<()>,
) -> Result<u64> {
    fn legacy(name: &str) -> &str {
        LEGACY_SUMMARY_NAMES
            .iter()
            .find(|(new, _)| *new == name)
            .map_or(name, |(_, old)| *old)
    }
    // Each wanted column twice: its name in the newer table, then in the older.
    let names: Vec<&str> = std::iter::once("EventTime")
        .chain(columns.iter().map(|(name, _)| name.as_str()))
        .collect();
    let wanted: Vec<&str> = names
        .iter()
        .flat_map(|name| [*name, legacy(name)])
        .collect();
    let mut records = 0;
    let mut unparsable = Unparsable::default();
    records::read(input, &wanted, |line, fields| {
        records += 1;
        let cells = fields.and_then(|fields| {
            let older = fields[0].is_none() && fields[1].is_some();
            let field = |slot: usize| fields[2 * slot + usize::from(older)].as_deref();
            let time = time_field("EventTime", field(0))?;
            let bin = if older { "10" } else { "20" };
            let cells: Vec<Cell> = columns
                .iter()
                .enumerate()
                .map(|(slot, (name, kind))| {
                    let text = if name == "SummaryBinMinutes" {
                        Some(bin)
                    } else {
                        field(slot + 1)
                    };
                    unparsable.cell(name, line, *kind, text)
                })
                .collect();
            Ok((time, cells))
        });
        let row = cells
            .as_ref()
            .map(|(time, cells)| (*time, cells.as_slice()));
        deliver(input, line, row.map_err(String::as_str), rejects, on_row)
    })?;
    unparsable.report(input);
    Ok(records)
}

/// The cell of `text` in a column of `kind`, and whether it parsed; one that
/// did not is the column's unparsable value (see [`Unparsable`]).
fn typed_cell(kind: ColumnKind, text: Option<&str>) -> (Cell<'_>, bool) {
    match to_cell(kind, text) {
        Ok(cell) => (cell, true),
        Err(_) => match (kind, text) {
            (ColumnKind::IpAddress | ColumnKind::IpNetwork, Some(text)) => {
                (Cell::Text(text), false)
            }
            _ => (Cell::Empty, false),
        },
    }
}

/// The typed cell of a column of `kind` whose raw text is `text`.
pub fn to_cell(kind: ColumnKind, text: Option<&str>) -> Result<Cell<'_>, String> {
    let Some(text) = text.filter(|text| !is_blank(text)) else {
        return Ok(Cell::Empty);
    };
    match kind {
        ColumnKind::Text => Ok(Cell::Text(text)),
        ColumnKind::IpAddress => match IpPrefix::parse_address(text) {
            Some(_) => Ok(Cell::Text(text)),
            None => Err(format!("not an IP address: {text:?}")),
        },
        ColumnKind::IpNetwork => match IpPrefix::parse_network(text) {
            Some(_) => Ok(Cell::Text(text)),
            None => Err(format!("not an IP address or network: {text:?}")),
        },
        ColumnKind::Integer => parse_integer(text).map(Cell::Integer),
        ColumnKind::Real => text
            .trim()
            .parse()
            .map(Cell::Real)
            .map_err(|_| format!("not a number: {text:?}")),
        ColumnKind::Boolean => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Cell::Boolean(true)),
            "false" | "0" => Ok(Cell::Boolean(false)),
            _ => Err(format!("not true or false: {text:?}")),
        },
        ColumnKind::Time => time::parse(text).map(Cell::Time),
    }
}

/// Whether `text` is empty or all whitespace (as `text.trim().is_empty()`),
/// answered from the first byte when that is printable ASCII: this runs per
/// cell and per line.
pub fn is_blank(text: &str) -> bool {
    match text.as_bytes().first() {
        Some(byte) if byte.is_ascii_graphic() => false,
        _ => text.trim().is_empty(),
    }
}

/// A line without the `\n` and `\r` it ends with.
pub fn without_line_end(line: &str) -> &str {
    let ends = line
        .bytes()
        .rev()
        .take_while(|byte| matches!(byte, b'\n' | b'\r'))
        .count();
    // Both are ASCII, so the cut is a character boundary.
    &line[..line.len() - ends]
}

/// A whole number, also when an export wrote it as `443.0`.
fn parse_integer(text: &str) -> Result<i64, String> {
    let text = text.trim();
    text.parse::<i64>().or_else(|_| match text.parse::<f64>() {
        Ok(value) if value.fract() == 0.0 && value.abs() < 9.0e15 => Ok(value as i64),
        _ => Err(format!("not a whole number: {text:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_come_from_the_name() {
        let format = |name: &str| InputFile::new(name).map(|input| (input.format, input.gzip));
        assert_eq!(format("a.jsonl").unwrap(), (Format::JsonLines, false));
        assert_eq!(format("a.NDJSON.gz").unwrap(), (Format::JsonLines, true));
        assert_eq!(format("dir.v2/a.csv").unwrap(), (Format::Csv, false));
        assert_eq!(format("-").unwrap(), (Format::JsonLines, false));
        assert!(format("a.parquet")
            .unwrap_err()
            .to_string()
            .contains("a.parquet"));
    }

    #[test]
    fn blank_text_and_line_ends_are_found_as_the_standard_library_finds_them() {
        for text in [
            "",
            " ",
            "\t\r\n",
            "\u{a0}",
            "\u{2003}x",
            "x",
            " x ",
            "é",
            "\u{1}",
        ] {
            assert_eq!(is_blank(text), text.trim().is_empty(), "{text:?}");
        }
        for line in ["", "\n", "a\r\n", "a\n\r\r", "a\rb\n", "é\n"] {
            assert_eq!(
                without_line_end(line),
                line.trim_end_matches(['\n', '\r']),
                "{line:?}"
            );
        }
    }

    #[test]
    fn cells_are_typed_by_column_kind() {
        assert_eq!(
            to_cell(ColumnKind::Integer, Some("443")),
            Ok(Cell::Integer(443))
        );
        assert_eq!(
            to_cell(ColumnKind::Integer, Some("443.0")),
            Ok(Cell::Integer(443))
        );
        assert!(to_cell(ColumnKind::Integer, Some("https")).is_err());
        assert_eq!(
            to_cell(ColumnKind::Boolean, Some("True")),
            Ok(Cell::Boolean(true))
        );
        assert!(to_cell(ColumnKind::Boolean, Some("yes")).is_err());
        assert_eq!(
            to_cell(ColumnKind::Real, Some("87.5")),
            Ok(Cell::Real(87.5))
        );
        assert_eq!(to_cell(ColumnKind::IpAddress, Some(" ")), Ok(Cell::Empty));
        assert!(to_cell(ColumnKind::IpAddress, Some("10.0.0.0/8")).is_err());
        assert_eq!(
            to_cell(ColumnKind::IpNetwork, Some("10.0.0.0/8")),
            Ok(Cell::Text("10.0.0.0/8"))
        );
        assert!(to_cell(ColumnKind::IpAddress, Some("33.778.136.777")).is_err());
    }
}
