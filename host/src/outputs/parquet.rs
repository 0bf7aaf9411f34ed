//! Parquet files of alerts (each shape with its own typed schema) and of
//! normalized sessions.
//! Rows are the same serde records the JSON lines are made of, decoded into
//! Arrow columns by `arrow-json`, so a Parquet row and a JSON line cannot
//! disagree on a field.

use std::{
    fs::{self, File},
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::{Context, Result};
use arrow_json::reader::{Decoder, ReaderBuilder};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use asim_rule_core::schema::{self, ColumnKind};
use parquet::{arrow::ArrowWriter, basic::Compression, file::properties::WriterProperties};
use serde::Serialize;

use super::AlertFormat;

/// Rows decoded into one Arrow batch before it goes to the file.
const BATCH_ROWS: usize = 8192;

/// A Parquet file being written: rows in, batches out, the footer at the end.
/// It is written as `NAME.partial` and renamed when whole, so nobody reads
/// half a file; one left unfinished (an error) is removed.
pub struct ParquetFile {
    path: PathBuf,
    partial: PathBuf,
    decoder: Decoder,
    /// None once finished.
    writer: Option<ArrowWriter<File>>,
}

impl ParquetFile {
    /// A new file at `path` for alerts of `format`.
    pub fn create(path: &Path, format: AlertFormat) -> Result<ParquetFile> {
        ParquetFile::with_schema(path, alert_schema(format)?)
    }

    /// A new file at `path` for ASIM sessions of these columns, typed as the
    /// schema types them (`TimeGenerated` a timestamp, ports integers).
    pub fn for_sessions(path: &Path, columns: &[&str]) -> Result<ParquetFile> {
        ParquetFile::with_schema(path, session_schema(columns))
    }

    fn with_schema(path: &Path, schema: SchemaRef) -> Result<ParquetFile> {
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file = File::create(&partial)
            .with_context(|| format!("{}: cannot create", partial.display()))?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(properties))
            .with_context(|| format!("{}: cannot start a Parquet file", partial.display()))?;
        // Strict: a field the schema does not know is a bug here, not a
        // value to drop.
        let decoder = ReaderBuilder::new(schema)
            .with_batch_size(BATCH_ROWS)
            .with_strict_mode(true)
            .build_decoder()?;
        Ok(ParquetFile {
            path: path.to_owned(),
            partial,
            decoder,
            writer: Some(writer),
        })
    }

    /// Where the file goes once whole.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One row, as a serde record whose fields the schema names.
    pub fn push<T: Serialize>(&mut self, row: &T) -> Result<()> {
        self.decoder
            .serialize(std::slice::from_ref(row))
            .with_context(|| format!("{}: a row does not fit the schema", self.path.display()))?;
        if self.decoder.len() >= BATCH_ROWS {
            self.write_batch()?;
        }
        Ok(())
    }

    /// One row, as the JSON text of an object whose fields the schema names.
    pub fn push_json(&mut self, row: &[u8]) -> Result<()> {
        self.decoder
            .decode(row)
            .with_context(|| format!("{}: a row does not fit the schema", self.path.display()))?;
        if self.decoder.len() >= BATCH_ROWS {
            self.write_batch()?;
        }
        Ok(())
    }

    fn write_batch(&mut self) -> Result<()> {
        let context = || format!("{}: writing", self.path.display());
        if let (Some(batch), Some(writer)) = (
            self.decoder.flush().with_context(context)?,
            &mut self.writer,
        ) {
            writer.write(&batch).with_context(context)?;
        }
        Ok(())
    }

    /// Writes the last rows and the footer, and gives the file its name.
    pub fn finish(mut self) -> Result<()> {
        self.write_batch()?;
        let context = || format!("{}: writing", self.path.display());
        if let Some(writer) = self.writer.take() {
            writer.close().with_context(context)?;
        }
        fs::rename(&self.partial, &self.path).with_context(context)
    }
}

impl Drop for ParquetFile {
    fn drop(&mut self) {
        if self.writer.is_some() {
            // Unfinished: half a file is no file.
            let _ = fs::remove_file(&self.partial);
        }
    }
}

fn text() -> DataType {
    DataType::Utf8
}

fn texts() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

fn micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
}

fn millis() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into()))
}

fn field(name: &str, kind: DataType) -> Field {
    Field::new(name, kind, true)
}

fn structure(name: &str, fields: Vec<Field>) -> Field {
    field(name, DataType::Struct(Fields::from(fields)))
}

fn list_of(name: &str, fields: Vec<Field>) -> Field {
    let item = Field::new("item", DataType::Struct(Fields::from(fields)), true);
    field(name, DataType::List(Arc::new(item)))
}

/// The schema of each alert shape: docs/OUTPUTS.md lists the columns.
fn alert_schema(format: AlertFormat) -> Result<SchemaRef> {
    let fields = match format {
        AlertFormat::Jsonl => vec![
            field("RuleId", text()),
            field("RuleName", text()),
            field("RuleVersion", text()),
            field("AlertName", text()),
            field("Description", text()),
            field("Severity", text()),
            field("Tactics", texts()),
            field("Techniques", texts()),
            field("StartTime", micros()),
            field("EndTime", micros()),
            field("EvaluatedAt", micros()),
            field("Entities", text()),
            field("CustomDetails", text()),
            field("Tenant", text()),
            field("AlertId", text()),
        ],
        AlertFormat::Ocsf => ocsf_fields(),
        AlertFormat::Sentinel => {
            let mut fields = vec![field("TimeGenerated", micros())];
            for name in [
                "DisplayName",
                "AlertName",
                "AlertSeverity",
                "Description",
                "ProviderName",
                "VendorName",
                "ProductName",
                "ProductComponentName",
                "AlertType",
                "SystemAlertId",
                "VendorOriginalId",
                "Status",
            ] {
                fields.push(field(name, text()));
            }
            fields.push(field("IsIncident", DataType::Boolean));
            for name in ["StartTime", "EndTime", "ProcessingEndTime"] {
                fields.push(field(name, micros()));
            }
            for name in [
                "CompromisedEntity",
                "Tactics",
                "Techniques",
                "SubTechniques",
                "Entities",
                "ExtendedProperties",
            ] {
                fields.push(field(name, text()));
            }
            fields
        }
        AlertFormat::Table => {
            anyhow::bail!("a table is for a terminal: write Parquet as jsonl, ocsf or sentinel")
        }
    };
    Ok(Arc::new(Schema::new(fields)))
}

/// OCSF 1.5.0 Detection Finding, the attributes [`super::ocsf::Finding`] sets.
fn ocsf_fields() -> Vec<Field> {
    let named = |name: &str| structure(name, vec![field("uid", text()), field("name", text())]);
    let endpoint = |name: &str| {
        structure(
            name,
            vec![field("ip", text()), field("port", DataType::Int32)],
        )
    };
    let int = DataType::Int32;
    vec![
        field("activity_id", int.clone()),
        field("activity_name", text()),
        field("category_uid", int.clone()),
        field("category_name", text()),
        field("class_uid", int.clone()),
        field("class_name", text()),
        field("type_uid", DataType::Int64),
        field("type_name", text()),
        field("severity_id", int.clone()),
        field("severity", text()),
        field("status_id", int.clone()),
        field("status", text()),
        field("is_alert", DataType::Boolean),
        field("time", millis()),
        field("start_time", millis()),
        field("end_time", millis()),
        field("message", text()),
        structure(
            "finding_info",
            vec![
                field("uid", text()),
                field("title", text()),
                field("desc", text()),
                field("types", texts()),
                field("created_time", millis()),
                field("first_seen_time", millis()),
                field("last_seen_time", millis()),
                structure(
                    "analytic",
                    vec![
                        field("uid", text()),
                        field("name", text()),
                        field("version", text()),
                        field("type_id", int.clone()),
                        field("type", text()),
                    ],
                ),
                list_of(
                    "attacks",
                    vec![named("tactic"), named("technique"), named("sub_technique")],
                ),
            ],
        ),
        structure(
            "metadata",
            vec![
                field("version", text()),
                structure(
                    "product",
                    vec![
                        field("name", text()),
                        field("vendor_name", text()),
                        field("version", text()),
                    ],
                ),
                field("tenant_uid", text()),
            ],
        ),
        list_of(
            "observables",
            vec![
                field("name", text()),
                field("type_id", int),
                field("type", text()),
                field("value", text()),
            ],
        ),
        list_of(
            "evidences",
            vec![endpoint("src_endpoint"), endpoint("dst_endpoint")],
        ),
        field("unmapped", text()),
    ]
}

/// ASIM sessions: times and whole numbers typed, the rest text, as
/// `normalize` writes them in JSON lines.
fn session_schema(columns: &[&str]) -> SchemaRef {
    let fields: Vec<Field> = columns
        .iter()
        .map(|&column| {
            let kind = match schema::session_column(column) {
                _ if column == "TimeGenerated" => micros(),
                Some(ColumnKind::Integer) => DataType::Int64,
                Some(ColumnKind::Time) => micros(),
                _ => text(),
            };
            field(column, kind)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_the_schema_does_not_know_is_an_error_not_a_loss() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.parquet");
        let mut file =
            ParquetFile::for_sessions(&path, &["TimeGenerated", "DstPortNumber"]).unwrap();
        file.push_json(br#"{"TimeGenerated":"2026-03-11T00:00:00Z","DstPortNumber":443}"#)
            .unwrap();
        let error = file
            .push_json(br#"{"TimeGenerated":"2026-03-11T00:00:00Z","Unknown":1}"#)
            .and_then(|()| file.finish())
            .unwrap_err();
        assert!(
            format!("{error:#}").contains("'Unknown' missing from schema"),
            "{error:#}"
        );
        // Nothing half written is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
