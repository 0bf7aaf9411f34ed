//! A batch of rows as one JetStream message (docs/CLUSTER.md, "Messages").
//!
//! The payload is the 4 bytes `asim`, a little-endian
//! `u16` version (1), then the postcard encoding of [`Body`]: the table, the
//! rows' `TimeGenerated`, and one list per column. Text is dictionary-coded
//! (each distinct text once per message). Columns are named, not typed: the
//! reader takes each column's kind from the schema catalog, as it does for a
//! file, so a producer cannot make a rule read a column as another type.

use anyhow::{bail, ensure, Context, Result};
use asim_rule_core::{batch::Cell, schema::ColumnKind, Timestamp};
use serde::{Deserialize, Serialize};

use crate::feed::Table;

const MAGIC: &[u8; 4] = b"asim";
/// The encoding's version; a reader refuses any other.
pub const VERSION: u16 = 1;

/// The table a message's rows belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum WireTable {
    Sessions,
    Indicators,
    Summaries,
}

/// One column's values, a row each.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Values {
    /// `codes[row]`: 0 for no value, else `texts[code - 1]`.
    Text {
        texts: Vec<String>,
        codes: Vec<u32>,
    },
    Integer(Vec<Option<i64>>),
    Real(Vec<Option<f64>>),
    Boolean(Vec<Option<bool>>),
    Time(Vec<Option<Timestamp>>),
}

impl Values {
    fn len(&self) -> usize {
        match self {
            Values::Text { codes, .. } => codes.len(),
            Values::Integer(values) => values.len(),
            Values::Real(values) => values.len(),
            Values::Boolean(values) => values.len(),
            Values::Time(values) => values.len(),
        }
    }

    fn cell(&self, row: usize) -> Cell<'_> {
        let or_empty = |cell: Option<Cell<'static>>| cell.unwrap_or(Cell::Empty);
        match self {
            Values::Text { texts, codes } => match codes[row] {
                0 => Cell::Empty,
                code => Cell::Text(&texts[code as usize - 1]),
            },
            Values::Integer(values) => or_empty(values[row].map(Cell::Integer)),
            Values::Real(values) => or_empty(values[row].map(Cell::Real)),
            Values::Boolean(values) => or_empty(values[row].map(Cell::Boolean)),
            Values::Time(values) => or_empty(values[row].map(Cell::Time)),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Body {
    table: WireTable,
    times: Vec<Timestamp>,
    columns: Vec<(String, Values)>,
}

/// Bytes of `value` as a postcard varint.
fn varint_len(value: u64) -> usize {
    (64 - value.leading_zeros() as usize).max(1).div_ceil(7)
}

/// Postcard's mapping of a signed integer to the unsigned one it writes.
fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// A batch of one table's rows on its way into a message.
pub struct BatchWriter {
    body: Body,
    /// Per text column, each text's code.
    interned: Vec<std::collections::HashMap<Box<str>, u32>>,
    /// At least the payload's length (each list's length at its longest),
    /// and its part that does not depend on the rows.
    bound: usize,
    fixed: usize,
}

/// The payload's bytes besides the rows: magic, version, table, lengths and
/// column names.
fn fixed_bound(columns: &[(String, ColumnKind)]) -> usize {
    let per_column = |name: &String| name.len() + 5 + 1 + 5 + 5;
    MAGIC.len()
        + 2
        + 1
        + 5
        + 5
        + columns
            .iter()
            .map(|(name, _)| per_column(name))
            .sum::<usize>()
}

impl BatchWriter {
    /// An empty batch of `table` rows with `columns` (as a reader is given them).
    pub fn new(table: Table, columns: &[(String, ColumnKind)]) -> BatchWriter {
        let values = |kind: ColumnKind| match kind {
            ColumnKind::Text | ColumnKind::IpAddress | ColumnKind::IpNetwork => Values::Text {
                texts: Vec::new(),
                codes: Vec::new(),
            },
            ColumnKind::Integer => Values::Integer(Vec::new()),
            ColumnKind::Real => Values::Real(Vec::new()),
            ColumnKind::Boolean => Values::Boolean(Vec::new()),
            ColumnKind::Time => Values::Time(Vec::new()),
        };
        BatchWriter {
            body: Body {
                table: match table {
                    Table::Sessions => WireTable::Sessions,
                    Table::Indicators => WireTable::Indicators,
                    Table::Summaries => WireTable::Summaries,
                },
                times: Vec::new(),
                columns: columns
                    .iter()
                    .map(|(name, kind)| (name.clone(), values(*kind)))
                    .collect(),
            },
            interned: columns.iter().map(|_| Default::default()).collect(),
            bound: fixed_bound(columns),
            fixed: fixed_bound(columns),
        }
    }

    /// At least the length [`BatchWriter::take`] would return now.
    pub fn bound(&self) -> usize {
        self.bound
    }

    /// Rows held.
    pub fn rows(&self) -> usize {
        self.body.times.len()
    }

    /// Adds a row: `cells` in the order of the columns, as a reader gives them.
    pub fn push(&mut self, time: Timestamp, cells: &[Cell]) -> Result<()> {
        ensure!(
            cells.len() == self.body.columns.len(),
            "a row of {} cells for {} columns",
            cells.len(),
            self.body.columns.len()
        );
        // Checked first, so a refused row leaves no value behind.
        for ((name, values), cell) in self.body.columns.iter().zip(cells) {
            let fits = matches!(
                (values, cell),
                (_, Cell::Empty)
                    | (Values::Text { .. }, Cell::Text(_))
                    | (Values::Integer(_), Cell::Integer(_))
                    | (Values::Real(_), Cell::Real(_))
                    | (Values::Boolean(_), Cell::Boolean(_))
                    | (Values::Time(_), Cell::Time(_))
            );
            ensure!(fits, "column {name} given {cell:?}");
        }
        for (index, ((_, values), cell)) in self.body.columns.iter_mut().zip(cells).enumerate() {
            self.bound += match (values, *cell) {
                (Values::Text { codes, .. }, Cell::Empty) => {
                    codes.push(0);
                    1
                }
                (Values::Text { texts, codes }, Cell::Text(text)) => {
                    let interned = &mut self.interned[index];
                    let (code, new_text) = match interned.get(text) {
                        Some(&code) => (code, 0),
                        None => {
                            texts.push(text.to_owned());
                            let code = u32::try_from(texts.len()).context("too many texts")?;
                            interned.insert(text.into(), code);
                            (code, text.len() + 5)
                        }
                    };
                    codes.push(code);
                    varint_len(u64::from(code)) + new_text
                }
                (Values::Integer(values), Cell::Integer(value)) => {
                    values.push(Some(value));
                    1 + varint_len(zigzag(value))
                }
                (Values::Real(values), Cell::Real(value)) => {
                    values.push(Some(value));
                    1 + 8
                }
                (Values::Boolean(values), Cell::Boolean(value)) => {
                    values.push(Some(value));
                    1 + 1
                }
                (Values::Time(values), Cell::Time(value)) => {
                    values.push(Some(value));
                    1 + varint_len(zigzag(value))
                }
                (Values::Integer(values), Cell::Empty) => {
                    values.push(None);
                    1
                }
                (Values::Real(values), Cell::Empty) => {
                    values.push(None);
                    1
                }
                (Values::Boolean(values), Cell::Empty) => {
                    values.push(None);
                    1
                }
                (Values::Time(values), Cell::Empty) => {
                    values.push(None);
                    1
                }
                (_, cell) => bail!("a {cell:?} passed the check"),
            };
        }
        self.bound += varint_len(zigzag(time));
        self.body.times.push(time);
        Ok(())
    }

    /// The message's payload; the writer is left empty, ready for the next batch.
    pub fn take(&mut self) -> Result<Vec<u8>> {
        let mut payload = MAGIC.to_vec();
        payload.extend_from_slice(&VERSION.to_le_bytes());
        let payload = postcard::to_extend(&self.body, payload).context("cannot encode a batch")?;
        self.body.times.clear();
        for (_, values) in &mut self.body.columns {
            match values {
                Values::Text { texts, codes } => {
                    texts.clear();
                    codes.clear();
                }
                Values::Integer(values) => values.clear(),
                Values::Real(values) => values.clear(),
                Values::Boolean(values) => values.clear(),
                Values::Time(values) => values.clear(),
            }
        }
        self.interned
            .iter_mut()
            .for_each(|interned| interned.clear());
        self.bound = self.fixed;
        Ok(payload)
    }
}

/// A message's batch, checked: every column has a value per row and every
/// code names a text.
#[derive(Debug, PartialEq)]
pub struct Batch {
    body: Body,
}

impl Batch {
    /// Decodes and checks a message's payload.
    pub fn decode(payload: &[u8]) -> Result<Batch> {
        let Some((magic, rest)) = payload.split_first_chunk::<4>() else {
            bail!("not a batch: {} bytes", payload.len());
        };
        ensure!(
            magic == MAGIC,
            "not a batch: it does not start with \"asim\""
        );
        let Some((version, body)) = rest.split_first_chunk::<2>() else {
            bail!("not a batch: no version");
        };
        let version = u16::from_le_bytes(*version);
        ensure!(
            version == VERSION,
            "a batch of encoding version {version}; this host reads version {VERSION}"
        );
        let (body, left): (Body, _) = postcard::take_from_bytes(body).context("corrupt batch")?;
        ensure!(
            left.is_empty(),
            "corrupt batch: {} bytes after it",
            left.len()
        );
        let rows = body.times.len();
        for (name, values) in &body.columns {
            ensure!(
                values.len() == rows,
                "corrupt batch: column {name} has {} values for {rows} rows",
                values.len()
            );
            if let Values::Text { texts, codes } = values {
                if let Some(code) = codes.iter().find(|&&code| code as usize > texts.len()) {
                    bail!(
                        "corrupt batch: column {name}: code {code} of {} texts",
                        texts.len()
                    );
                }
            }
        }
        Ok(Batch { body })
    }

    /// The table its rows belong to.
    pub fn table(&self) -> Table {
        match self.body.table {
            WireTable::Sessions => Table::Sessions,
            WireTable::Indicators => Table::Indicators,
            WireTable::Summaries => Table::Summaries,
        }
    }

    /// Rows held.
    pub fn rows(&self) -> usize {
        self.body.times.len()
    }

    /// Hands each row to `on_row` with the cells of `columns` (as a reader
    /// would): a column the batch lacks is empty; one whose values are not of
    /// the column's kind is an error.
    pub fn read(
        &self,
        columns: &[(String, ColumnKind)],
        on_row: &mut dyn FnMut(Timestamp, &[Cell]) -> Result<()>,
    ) -> Result<()> {
        let mut sources = Vec::with_capacity(columns.len());
        for (name, kind) in columns {
            let found = self.body.columns.iter().find(|(column, _)| column == name);
            if let Some((_, values)) = found {
                let fits = matches!(
                    (kind, values),
                    (
                        ColumnKind::Text | ColumnKind::IpAddress | ColumnKind::IpNetwork,
                        Values::Text { .. }
                    ) | (ColumnKind::Integer, Values::Integer(_))
                        | (ColumnKind::Real, Values::Real(_))
                        | (ColumnKind::Boolean, Values::Boolean(_))
                        | (ColumnKind::Time, Values::Time(_))
                );
                ensure!(fits, "column {name} is not of kind {kind:?} in the batch");
            }
            sources.push(found.map(|(_, values)| values));
        }
        let mut cells = vec![Cell::Empty; columns.len()];
        for (row, &time) in self.body.times.iter().enumerate() {
            for (cell, source) in cells.iter_mut().zip(&sources) {
                *cell = source.map_or(Cell::Empty, |values| values.cell(row));
            }
            on_row(time, &cells)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns() -> Vec<(String, ColumnKind)> {
        [
            ("SrcIpAddr", ColumnKind::IpAddress),
            ("DstPortNumber", ColumnKind::Integer),
            ("DvcAction", ColumnKind::Text),
        ]
        .iter()
        .map(|(name, kind)| (name.to_string(), *kind))
        .collect()
    }

    fn rows() -> Vec<(Timestamp, Vec<Cell<'static>>)> {
        vec![
            (
                10,
                vec![
                    Cell::Text("10.0.0.1"),
                    Cell::Integer(443),
                    Cell::Text("Allow"),
                ],
            ),
            (20, vec![Cell::Empty, Cell::Empty, Cell::Text("Allow")]),
            (5, vec![Cell::Text("::1"), Cell::Integer(-1), Cell::Empty]),
        ]
    }

    fn encoded() -> Vec<u8> {
        let mut writer = BatchWriter::new(Table::Sessions, &columns());
        for (time, cells) in rows() {
            writer.push(time, &cells).unwrap();
        }
        writer.take().unwrap()
    }

    fn read_back(batch: &Batch, columns: &[(String, ColumnKind)]) -> Vec<(Timestamp, String)> {
        let mut read = Vec::new();
        batch
            .read(columns, &mut |time, cells| {
                read.push((time, format!("{cells:?}")));
                Ok(())
            })
            .unwrap();
        read
    }

    #[test]
    fn a_batch_reads_back_as_it_was_written_and_the_writer_starts_afresh() {
        let mut writer = BatchWriter::new(Table::Sessions, &columns());
        for (time, cells) in rows() {
            writer.push(time, &cells).unwrap();
        }
        let first = writer.take().unwrap();
        assert_eq!(writer.rows(), 0);
        let batch = Batch::decode(&first).unwrap();
        assert_eq!((batch.table(), batch.rows()), (Table::Sessions, 3));
        let expected: Vec<_> = rows()
            .into_iter()
            .map(|(time, cells)| (time, format!("{cells:?}")))
            .collect();
        assert_eq!(read_back(&batch, &columns()), expected);
        // The writer's dictionaries were emptied with its rows.
        writer
            .push(1, &[Cell::Empty, Cell::Empty, Cell::Text("Deny")])
            .unwrap();
        let second = Batch::decode(&writer.take().unwrap()).unwrap();
        let Values::Text { texts, .. } = &second.body.columns[2].1 else {
            panic!("DvcAction is text")
        };
        assert_eq!(texts, &["Deny"]);
    }

    #[test]
    fn a_reader_gets_its_own_columns_and_empty_cells_for_those_not_sent() {
        let batch = Batch::decode(&encoded()).unwrap();
        let wanted = vec![
            ("DvcAction".to_string(), ColumnKind::Text),
            ("DstIpAddr".to_string(), ColumnKind::IpAddress),
        ];
        let read = read_back(&batch, &wanted);
        assert_eq!(
            read[0],
            (10, format!("{:?}", [Cell::Text("Allow"), Cell::Empty]))
        );
        assert_eq!(read[2], (5, format!("{:?}", [Cell::Empty, Cell::Empty])));
        let wrong_kind = vec![("DvcAction".to_string(), ColumnKind::Integer)];
        let error = batch.read(&wrong_kind, &mut |_, _| Ok(())).unwrap_err();
        assert!(error.to_string().contains("DvcAction"), "{error}");
    }

    #[test]
    fn the_bound_is_never_below_the_payload() {
        let mut writer = BatchWriter::new(Table::Sessions, &columns());
        let long = "x".repeat(300);
        for time in [0, i64::MIN, i64::MAX] {
            writer
                .push(
                    time,
                    &[
                        Cell::Text(&long),
                        Cell::Integer(i64::MIN),
                        Cell::Text("Deny"),
                    ],
                )
                .unwrap();
            writer
                .push(time, &[Cell::Empty, Cell::Empty, Cell::Empty])
                .unwrap();
        }
        let bound = writer.bound();
        assert!(writer.take().unwrap().len() <= bound);
        assert!(writer.take().unwrap().len() <= writer.bound());
    }

    #[test]
    fn a_cell_of_another_kind_than_its_column_is_refused() {
        let mut writer = BatchWriter::new(Table::Sessions, &columns());
        let error = writer
            .push(1, &[Cell::Integer(1), Cell::Empty, Cell::Empty])
            .unwrap_err();
        assert!(error.to_string().contains("SrcIpAddr"), "{error}");
        // Nothing of the refused row stays behind.
        writer.push(2, &rows()[0].1).unwrap();
        let batch = Batch::decode(&writer.take().unwrap()).unwrap();
        assert_eq!(batch.rows(), 1);
    }

    #[test]
    fn other_versions_and_damaged_payloads_are_refused_never_read() {
        let good = encoded();
        let mut newer = good.clone();
        newer[4..6].copy_from_slice(&2u16.to_le_bytes());
        let error = Batch::decode(&newer).unwrap_err().to_string();
        assert!(error.contains("version 2"), "{error}");
        assert!(Batch::decode(b"{\"TimeGenerated\":1}").is_err());
        assert!(Batch::decode(&good[..good.len() - 1]).is_err());
        // Every byte changed in turn: decoded or refused, never a panic, and
        // whatever decodes reads every row.
        for index in 0..good.len() {
            for value in [0, 1, 0x7f, 0xff] {
                let mut damaged = good.clone();
                damaged[index] = value;
                if let Ok(batch) = Batch::decode(&damaged) {
                    let mut rows = 0;
                    let _ = batch.read(&columns(), &mut |_, _| {
                        rows += 1;
                        Ok(())
                    });
                    assert!(rows <= batch.rows());
                }
            }
        }
    }
}
