//! `asim-rules normalize`: raw logs to ASIM NetworkSession JSON lines (or
//! Parquet), for other tools; the same mapping `run` and `replay` apply at
//! read time.

use std::{
    fs::File,
    io::{self, BufRead, BufWriter, Write},
    path::PathBuf,
};

use anyhow::{bail, Context, Result};
use asim_rule_core::schema::{self, ColumnKind};
use serde_json::Value;

use crate::{
    inputs::{
        normalize::{self, FieldIssues, SessionFormat},
        InputFile, Rejects,
    },
    outputs::{is_parquet, parquet::ParquetFile},
};

/// `asim-rules normalize`'s arguments.
#[derive(clap::Args)]
pub struct NormalizeArgs {
    /// Raw log files (Zeek conn.log TSV or JSON, AWS VPC flow logs, Suricata EVE), optionally .gz.
    #[arg(required = true, value_name = "IN")]
    pub inputs: Vec<String>,
    /// What the inputs hold; default: recognised from each file.
    #[arg(long, value_name = "FORMAT", value_parser = super::session_format())]
    pub format: Option<SessionFormat>,
    /// Where the ASIM JSON lines go (a Parquet file, typed, when it ends in
    /// `.parquet`); default: standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// How many lines of each file are read, and how long one may be.
    #[command(flatten)]
    pub lines: super::LineArgs,
}

/// Where the records go.
enum Records {
    Lines(BufWriter<Box<dyn Write>>),
    Parquet(Box<ParquetFile>),
}

impl Records {
    fn open(args: &NormalizeArgs) -> Result<Records> {
        let out: Box<dyn Write> = match &args.out {
            Some(path) if is_parquet(path) => {
                let columns = all_columns();
                let file = ParquetFile::for_sessions(path, &columns)?;
                return Ok(Records::Parquet(Box::new(file)));
            }
            Some(path) => Box::new(
                File::create(path).with_context(|| format!("{}: cannot create", path.display()))?,
            ),
            None => Box::new(io::stdout().lock()),
        };
        Ok(Records::Lines(BufWriter::new(out)))
    }

    fn write(&mut self, record: &str) -> Result<()> {
        match self {
            Records::Lines(out) => writeln!(out, "{record}").context("writing the ASIM records"),
            Records::Parquet(file) => file.push_json(record.as_bytes()),
        }
    }

    fn finish(self) -> Result<()> {
        match self {
            Records::Lines(mut out) => out.flush().context("writing the ASIM records"),
            Records::Parquet(file) => file.finish(),
        }
    }
}

/// The columns any normalizer fills, in order, once each: one Parquet schema
/// for every input, whatever its format (and read without opening the inputs
/// twice, which standard input could not be).
fn all_columns() -> Vec<&'static str> {
    let mut columns: Vec<&'static str> = Vec::new();
    for format in SessionFormat::ALL {
        for column in format.columns() {
            if !columns.contains(column) {
                columns.push(column);
            }
        }
    }
    columns
}

/// Writes each file's records as ASIM JSON lines or Parquet rows.
pub fn run(args: NormalizeArgs) -> Result<()> {
    let mut out = Records::open(&args)?;
    let mut rejects = Rejects::default();
    let mut written = 0u64;
    for name in &args.inputs {
        let input = args
            .lines
            .limit(InputFile::by_content(name))
            .with_progress(super::progress_bar());
        let mut reader = input.open()?;
        let head = reader
            .fill_buf()
            .with_context(|| format!("{name}: reading"))?;
        let detected = SessionFormat::detect(head);
        let format = args.format.unwrap_or(detected);
        if format == SessionFormat::Asim {
            bail!("{name}: already ASIM NetworkSession (or a format the host does not know)");
        }
        if format != detected {
            bail!(
                "{name}: --format {} does not fit: the file looks like {}",
                format.flag(),
                detected.name()
            );
        }
        let columns = format.columns();
        let mut issues = FieldIssues::default();
        let rejected_before = rejects.count;
        let mut records = 0u64;
        normalize::read(
            &input,
            reader,
            format,
            columns,
            &mut issues,
            &mut |line, fields| {
                records += 1;
                match fields {
                    Ok(fields) => {
                        out.write(&json_record(columns, fields))?;
                        written += 1;
                    }
                    Err(reason) => rejects.reject(&input, line, &reason),
                }
                Ok(())
            },
        )?;
        tracing::info!(
            "{name}: {}: {records} records, {} rejected{}",
            format.name(),
            rejects.count - rejected_before,
            issues.describe()
        );
    }
    out.finish()?;
    tracing::info!("{written} ASIM records written");
    Ok(())
}

/// One record as a JSON object in the normalizer's column order: numbers
/// for number columns, empty values left out.
fn json_record(columns: &[&str], fields: &normalize::Fields) -> String {
    let mut record = String::from("{");
    for (column, value) in columns.iter().zip(fields) {
        let Some(value) = value.as_deref() else {
            continue;
        };
        if record.len() > 1 {
            record.push(',');
        }
        record.push_str(&Value::from(*column).to_string());
        record.push(':');
        let number = match schema::session_column(column) {
            Some(ColumnKind::Integer) => value.parse::<i64>().ok(),
            _ => None,
        };
        match number {
            Some(number) => record.push_str(&number.to_string()),
            None => record.push_str(&Value::from(value).to_string()),
        }
    }
    record.push('}');
    record
}
