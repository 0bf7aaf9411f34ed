//! Columnar batches: one vector per column, strings dictionary-coded, IP
//! addresses parsed once per distinct text.

use hashbrown::{DefaultHashBuilder, HashTable};
use serde::{Deserialize, Serialize};
use std::hash::BuildHasher;

use crate::{
    ip::IpPrefix,
    schema::ColumnKind,
    string_table::{same_bytes, StringTable, CHECKED_TOGETHER},
    time::Timestamp,
};

/// A dictionary-coded string column; "" is an empty value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TextColumn {
    /// Distinct values.
    pub dictionary: StringTable,
    /// One index into `dictionary` per row.
    pub codes: Vec<u32>,
}

impl TextColumn {
    /// The value of row `row`.
    pub fn text(&self, row: usize) -> &str {
        self.dictionary.get(self.codes[row] as usize)
    }

    /// Refuses a column that is not one code per row of `rows`, each inside
    /// the dictionary, or whose dictionary slices badly: a batch is checked
    /// when taken, and a restored snapshot must be too.
    pub fn check(&self, name: &str, rows: usize) -> Result<(), String> {
        self.dictionary.check(name)?;
        check_codes(name, &self.codes, self.dictionary.len(), rows)
    }
}

/// A dictionary-coded IP column: texts as written, and their parsed values.
///
/// The parsed values are three lists, as in the WIT contract, so that a batch
/// crosses the component boundary by moving them: no list is rebuilt on
/// either side.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IpColumn {
    /// Distinct texts.
    pub dictionary: StringTable,
    /// The high 64 bits of each dictionary entry's address.
    pub addr_hi: Vec<u64>,
    /// The low 64 bits of each dictionary entry's address.
    pub addr_lo: Vec<u64>,
    /// Each dictionary entry's prefix length (128 for an address), or
    /// [`NOT_AN_ADDRESS`] when its text is empty or does not parse.
    pub prefix_len: Vec<u8>,
    /// One index into `dictionary` per row.
    pub codes: Vec<u32>,
}

/// The prefix length of a dictionary entry that is not an address.
pub const NOT_AN_ADDRESS: u8 = 255;

/// A dictionary entry's parsed value from its three parts.
fn prefix_of(hi: u64, lo: u64, len: u8) -> Option<IpPrefix> {
    (len <= 128).then(|| IpPrefix::from_parts(hi, lo, len))
}

impl IpColumn {
    /// The text of row `row`, as the source wrote it.
    pub fn text(&self, row: usize) -> &str {
        self.dictionary.get(self.codes[row] as usize)
    }

    /// The parsed value of row `row`.
    pub fn address(&self, row: usize) -> Option<IpPrefix> {
        self.parsed(self.codes[row] as usize)
    }

    /// The parsed value of dictionary entry `code`; none when it is not an
    /// address (any prefix length over 128).
    pub fn parsed(&self, code: usize) -> Option<IpPrefix> {
        prefix_of(
            self.addr_hi[code],
            self.addr_lo[code],
            self.prefix_len[code],
        )
    }

    /// The parsed value of every dictionary entry, in order.
    pub fn parsed_all(&self) -> impl Iterator<Item = Option<IpPrefix>> + '_ {
        // Zipped, not indexed: no bounds checks per entry (a rule's hot loop).
        let parts = self.addr_hi.iter().zip(&self.addr_lo).zip(&self.prefix_len);
        parts.map(|((&hi, &lo), &len)| prefix_of(hi, lo, len))
    }

    /// Adds the parsed value of the next dictionary entry.
    pub fn push_parsed(&mut self, value: Option<IpPrefix>) {
        self.addr_hi.push(value.map_or(0, |prefix| prefix.hi()));
        self.addr_lo.push(value.map_or(0, |prefix| prefix.lo()));
        self.prefix_len
            .push(value.map_or(NOT_AN_ADDRESS, |prefix| prefix.len));
    }

    /// [`TextColumn::check`], and one parsed value per dictionary entry.
    pub fn check(&self, name: &str, rows: usize) -> Result<(), String> {
        let entries = self.dictionary.len();
        for (list, len) in [
            ("high address", self.addr_hi.len()),
            ("low address", self.addr_lo.len()),
            ("prefix length", self.prefix_len.len()),
        ] {
            if len != entries {
                return Err(format!(
                    "column {name}: {len} {list} values for {entries} dictionary entries"
                ));
            }
        }
        self.dictionary.check(name)?;
        check_codes(name, &self.codes, entries, rows)
    }
}

/// Snapshots keep the layout they had when parsed values were one list of
/// options, so that checkpoints taken before the change still restore.
#[derive(Serialize)]
struct IpColumnOut<'a> {
    dictionary: &'a StringTable,
    parsed: ParsedOut<'a>,
    codes: &'a [u32],
}

struct ParsedOut<'a>(&'a IpColumn);

impl Serialize for ParsedOut<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.parsed_all())
    }
}

#[derive(Deserialize)]
struct IpColumnIn {
    dictionary: StringTable,
    parsed: Vec<Option<IpPrefix>>,
    codes: Vec<u32>,
}

impl Serialize for IpColumn {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        IpColumnOut {
            dictionary: &self.dictionary,
            parsed: ParsedOut(self),
            codes: &self.codes,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for IpColumn {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = IpColumnIn::deserialize(deserializer)?;
        let mut column = IpColumn {
            dictionary: stored.dictionary,
            codes: stored.codes,
            ..IpColumn::default()
        };
        stored
            .parsed
            .into_iter()
            .for_each(|value| column.push_parsed(value));
        Ok(column)
    }
}

fn check_codes(name: &str, codes: &[u32], dictionary: usize, rows: usize) -> Result<(), String> {
    check_len(name, codes.len(), rows)?;
    // In fixed-size chunks, unrolled: see `StringTable::check`.
    let max = |codes: &[u32]| codes.iter().fold(0, |max: u32, &code| max.max(code));
    let mut chunks = codes.chunks_exact(CHECKED_TOGETHER);
    let max = chunks
        .by_ref()
        .fold(0, |highest, chunk| highest.max(max(chunk)))
        .max(max(chunks.remainder()));
    if codes.is_empty() || (max as usize) < dictionary {
        Ok(())
    } else {
        Err(format!(
            "column {name}: code {max} outside its dictionary of {dictionary}"
        ))
    }
}

fn check_len(name: &str, len: usize, rows: usize) -> Result<(), String> {
    if len == rows {
        Ok(())
    } else {
        Err(format!("column {name} has {len} values for {rows} rows"))
    }
}

/// The values of one column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ColumnValues {
    /// Strings.
    Text(TextColumn),
    /// IP addresses or networks.
    Ip(IpColumn),
    /// Whole numbers.
    Integer(Vec<Option<i64>>),
    /// Real numbers.
    Real(Vec<Option<f64>>),
    /// Booleans.
    Boolean(Vec<Option<bool>>),
    /// Instants.
    Time(Vec<Option<Timestamp>>),
}

/// A named column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Column {
    /// Its name in the source table.
    pub name: String,
    /// Its values.
    pub values: ColumnValues,
}

/// Rows of one table, by column.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// `TimeGenerated` per row; its length is the row count.
    pub time_generated: Vec<Timestamp>,
    /// The other columns.
    pub columns: Vec<Column>,
}

macro_rules! take_column {
    ($(#[$doc:meta])* $fn:ident, $variant:ident, $ty:ty, $what:literal) => {
        $(#[$doc])*
        pub fn $fn(&mut self, name: &str) -> Result<$ty, String> {
            match self.take(name)? {
                ColumnValues::$variant(values) => Ok(values),
                _ => Err(format!("column {name} is not {}", $what)),
            }
        }
    };
}

impl Batch {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.time_generated.len()
    }

    /// Moves column `name` out of the batch after checking its shape, so a
    /// malformed batch is an error here and never an out-of-bounds panic later.
    fn take(&mut self, name: &str) -> Result<ColumnValues, String> {
        let position = self
            .columns
            .iter()
            .position(|column| column.name == name)
            .ok_or_else(|| format!("the batch has no column {name}"))?;
        let values = self.columns.swap_remove(position).values;
        let rows = self.rows();
        match &values {
            ColumnValues::Text(column) => column.check(name, rows)?,
            ColumnValues::Ip(column) => column.check(name, rows)?,
            ColumnValues::Integer(values) => check_len(name, values.len(), rows)?,
            ColumnValues::Real(values) => check_len(name, values.len(), rows)?,
            ColumnValues::Boolean(values) => check_len(name, values.len(), rows)?,
            ColumnValues::Time(values) => check_len(name, values.len(), rows)?,
        }
        Ok(values)
    }

    take_column!(
        /// Moves a text column out.
        take_text, Text, TextColumn, "text"
    );
    take_column!(
        /// Moves an IP column out.
        take_ip, Ip, IpColumn, "IP addresses"
    );
    take_column!(
        /// Moves an integer column out.
        take_integer, Integer, Vec<Option<i64>>, "integers"
    );
    take_column!(
        /// Moves a real column out.
        take_real, Real, Vec<Option<f64>>, "reals"
    );
    take_column!(
        /// Moves a boolean column out.
        take_boolean, Boolean, Vec<Option<bool>>, "booleans"
    );
    take_column!(
        /// Moves a time column out.
        take_time, Time, Vec<Option<Timestamp>>, "times"
    );
}

/// One typed value offered to [`BatchBuilder::push_row`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell<'a> {
    /// No value.
    Empty,
    /// A string, or the text of an IP address or network.
    Text(&'a str),
    /// A whole number.
    Integer(i64),
    /// A real number.
    Real(f64),
    /// A boolean.
    Boolean(bool),
    /// An instant.
    Time(Timestamp),
}

/// Why a row was refused; the row was not added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellError {
    /// The column at fault.
    pub column: String,
    /// What is wrong with its value.
    pub reason: String,
}

/// Interns strings: each distinct text gets one code.
#[derive(Default)]
struct Interner {
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
    dictionary: StringTable,
}

impl Interner {
    fn find(&self, text: &str) -> (u64, Option<u32>) {
        let hash = self.hasher.hash_one(text);
        let found = self.table.find(hash, |&code| {
            same_bytes(self.dictionary.get_bytes(code as usize), text.as_bytes())
        });
        (hash, found.copied())
    }

    /// The dictionary built so far; the interner starts again empty, keeping
    /// its table's room for the next batch.
    fn take_dictionary(&mut self) -> StringTable {
        self.table.clear();
        std::mem::take(&mut self.dictionary)
    }

    fn insert(&mut self, hash: u64, text: &str) -> u32 {
        let code = self.dictionary.push(text);
        let (dictionary, hasher) = (&self.dictionary, &self.hasher);
        self.table
            .insert_unique(hash, code, |&c| hasher.hash_one(dictionary.get(c as usize)));
        code
    }
}

enum ColumnBuilder {
    Text(Interner, Vec<u32>),
    Ip {
        network: bool,
        interner: Interner,
        /// Parsed values and codes so far; the dictionary is the interner's.
        column: IpColumn,
    },
    Integer(Vec<Option<i64>>),
    Real(Vec<Option<f64>>),
    Boolean(Vec<Option<bool>>),
    Time(Vec<Option<Timestamp>>),
}

/// Builds a [`Batch`] row by row; a row with a bad cell is refused whole.
pub struct BatchBuilder {
    time_generated: Vec<Timestamp>,
    names: Vec<String>,
    columns: Vec<ColumnBuilder>,
    staged_codes: Vec<u32>,
}

impl BatchBuilder {
    /// A builder for the given columns, in that order.
    pub fn new(columns: &[(&str, ColumnKind)]) -> BatchBuilder {
        BatchBuilder {
            time_generated: Vec::new(),
            names: columns.iter().map(|(name, _)| name.to_string()).collect(),
            columns: columns
                .iter()
                .map(|(_, kind)| match kind {
                    ColumnKind::Text => ColumnBuilder::Text(Interner::default(), Vec::new()),
                    ColumnKind::IpAddress | ColumnKind::IpNetwork => ColumnBuilder::Ip {
                        network: *kind == ColumnKind::IpNetwork,
                        interner: Interner::default(),
                        column: IpColumn::default(),
                    },
                    ColumnKind::Integer => ColumnBuilder::Integer(Vec::new()),
                    ColumnKind::Real => ColumnBuilder::Real(Vec::new()),
                    ColumnKind::Boolean => ColumnBuilder::Boolean(Vec::new()),
                    ColumnKind::Time => ColumnBuilder::Time(Vec::new()),
                })
                .collect(),
            staged_codes: vec![0; columns.len()],
        }
    }

    /// Rows added so far.
    pub fn rows(&self) -> usize {
        self.time_generated.len()
    }

    /// Adds a row: one cell per column, in the builder's column order.
    pub fn push_row(&mut self, time_generated: Timestamp, cells: &[Cell]) -> Result<(), CellError> {
        if cells.len() != self.columns.len() {
            return Err(CellError {
                column: String::new(),
                reason: format!("{} cells for {} columns", cells.len(), self.columns.len()),
            });
        }
        self.push_with(time_generated, |column| cells[column])
    }

    /// Adds a row whose cell for column `i` is `cells[slots[i]]`: a row read
    /// for several rules, picked for this one without copying.
    pub fn push_picked(
        &mut self,
        time_generated: Timestamp,
        cells: &[Cell],
        slots: &[usize],
    ) -> Result<(), CellError> {
        let fits =
            slots.len() == self.columns.len() && slots.iter().all(|&slot| slot < cells.len());
        if !fits {
            return Err(CellError {
                column: String::new(),
                reason: format!(
                    "slots {slots:?} of {} cells for {} columns",
                    cells.len(),
                    self.columns.len()
                ),
            });
        }
        self.push_with(time_generated, |column| cells[slots[column]])
    }

    fn push_with<'c>(
        &mut self,
        time_generated: Timestamp,
        cell: impl Fn(usize) -> Cell<'c>,
    ) -> Result<(), CellError> {
        // First check every cell (interning strings as a side effect, which is
        // harmless), then commit, so a refused row leaves no partial trace.
        for (index, column) in self.columns.iter_mut().enumerate() {
            let staged = stage(column, cell(index)).map_err(|reason| CellError {
                column: self.names[index].clone(),
                reason,
            })?;
            self.staged_codes[index] = staged;
        }
        self.time_generated.push(time_generated);
        for (index, (column, code)) in self.columns.iter_mut().zip(&self.staged_codes).enumerate() {
            commit(column, cell(index), *code);
        }
        Ok(())
    }

    /// The batch built so far; the builder is left empty with the same columns.
    pub fn take(&mut self) -> Batch {
        let columns = self
            .columns
            .iter_mut()
            .zip(&self.names)
            .map(|(column, name)| Column {
                name: name.clone(),
                values: take_values(column),
            })
            .collect();
        Batch {
            time_generated: std::mem::take(&mut self.time_generated),
            columns,
        }
    }

    /// The batch built.
    pub fn finish(mut self) -> Batch {
        self.take()
    }
}

fn stage(column: &mut ColumnBuilder, cell: Cell) -> Result<u32, String> {
    let text = match cell {
        Cell::Text(text) => text,
        Cell::Empty => "",
        other => {
            return match (column, other) {
                (ColumnBuilder::Integer(_), Cell::Integer(_))
                | (ColumnBuilder::Real(_), Cell::Real(_) | Cell::Integer(_))
                | (ColumnBuilder::Boolean(_), Cell::Boolean(_))
                | (ColumnBuilder::Time(_), Cell::Time(_)) => Ok(0),
                (_, other) => Err(format!("unexpected value {other:?}")),
            }
        }
    };
    match column {
        ColumnBuilder::Text(interner, _) => {
            let (hash, found) = interner.find(text);
            Ok(found.unwrap_or_else(|| interner.insert(hash, text)))
        }
        ColumnBuilder::Ip {
            network,
            interner,
            column,
        } => {
            let (hash, found) = interner.find(text);
            if let Some(code) = found {
                return Ok(code);
            }
            // A text that is no address (or, in an address column, a
            // network) reaches the rule as written, matching nothing.
            let value = match text {
                "" => None,
                text if *network => IpPrefix::parse_network(text),
                text => IpPrefix::parse_address(text),
            };
            column.push_parsed(value);
            Ok(interner.insert(hash, text))
        }
        _ if text.is_empty() => Ok(0),
        _ => Err(format!("unexpected text {text:?}")),
    }
}

fn commit(column: &mut ColumnBuilder, cell: Cell, code: u32) {
    match (column, cell) {
        (ColumnBuilder::Text(_, codes), _) => codes.push(code),
        (ColumnBuilder::Ip { column, .. }, _) => column.codes.push(code),
        (ColumnBuilder::Integer(values), Cell::Integer(value)) => values.push(Some(value)),
        (ColumnBuilder::Real(values), Cell::Real(value)) => values.push(Some(value)),
        (ColumnBuilder::Real(values), Cell::Integer(value)) => values.push(Some(value as f64)),
        (ColumnBuilder::Boolean(values), Cell::Boolean(value)) => values.push(Some(value)),
        (ColumnBuilder::Time(values), Cell::Time(value)) => values.push(Some(value)),
        (ColumnBuilder::Integer(values), _) => values.push(None),
        (ColumnBuilder::Real(values), _) => values.push(None),
        (ColumnBuilder::Boolean(values), _) => values.push(None),
        (ColumnBuilder::Time(values), _) => values.push(None),
    }
}

fn take_values(column: &mut ColumnBuilder) -> ColumnValues {
    use std::mem::take;
    match column {
        ColumnBuilder::Text(interner, codes) => ColumnValues::Text(TextColumn {
            dictionary: interner.take_dictionary(),
            codes: take(codes),
        }),
        ColumnBuilder::Ip {
            interner, column, ..
        } => ColumnValues::Ip(IpColumn {
            dictionary: interner.take_dictionary(),
            ..take(column)
        }),
        ColumnBuilder::Integer(values) => ColumnValues::Integer(take(values)),
        ColumnBuilder::Real(values) => ColumnValues::Real(take(values)),
        ColumnBuilder::Boolean(values) => ColumnValues::Boolean(take(values)),
        ColumnBuilder::Time(values) => ColumnValues::Time(take(values)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> BatchBuilder {
        BatchBuilder::new(&[
            ("Dvc", ColumnKind::Text),
            ("SrcIpAddr", ColumnKind::IpAddress),
            ("DstPortNumber", ColumnKind::Integer),
        ])
    }

    #[test]
    fn strings_are_dictionary_coded() {
        let mut builder = builder();
        for dvc in ["fw1", "fw2", "fw1"] {
            let cells = [Cell::Text(dvc), Cell::Text("10.0.0.1"), Cell::Integer(443)];
            builder.push_row(0, &cells).unwrap();
        }
        let mut batch = builder.finish();
        let dvc = batch.take_text("Dvc").unwrap();
        assert_eq!(dvc.dictionary, StringTable::of(["fw1", "fw2"]));
        assert_eq!(dvc.codes, [0, 1, 0]);
        let src = batch.take_ip("SrcIpAddr").unwrap();
        assert_eq!(src.dictionary.len(), 1);
        assert_eq!(src.prefix_len, [128]);
    }

    #[test]
    fn a_row_with_a_cell_of_the_wrong_kind_is_refused_whole() {
        let mut builder = builder();
        let bad = [Cell::Text("fw9"), Cell::Integer(7), Cell::Integer(1)];
        let error = builder.push_row(0, &bad).unwrap_err();
        assert_eq!(error.column, "SrcIpAddr");
        let good = [Cell::Text("fw1"), Cell::Empty, Cell::Empty];
        builder.push_row(5, &good).unwrap();
        let mut batch = builder.finish();
        assert_eq!(batch.rows(), 1);
        let dvc = batch.take_text("Dvc").unwrap();
        assert_eq!(dvc.text(0), "fw1");
        assert_eq!(batch.take_integer("DstPortNumber").unwrap(), [None]);
        let src = batch.take_ip("SrcIpAddr").unwrap();
        assert_eq!((src.text(0), src.address(0)), ("", None));
    }

    #[test]
    fn an_address_that_does_not_parse_is_kept_as_text_and_matches_nothing() {
        let mut builder = builder();
        for (time, ip) in [(0, "10.0.0.300"), (1, "10.0.0.0/24"), (2, "10.0.0.1")] {
            let row = [Cell::Text("fw1"), Cell::Text(ip), Cell::Empty];
            builder.push_row(time, &row).unwrap();
        }
        let mut batch = builder.finish();
        let src = batch.take_ip("SrcIpAddr").unwrap();
        assert_eq!((src.text(0), src.address(0)), ("10.0.0.300", None));
        assert_eq!((src.text(1), src.address(1)), ("10.0.0.0/24", None));
        assert!(src.address(2).is_some());
    }

    #[test]
    fn malformed_batches_are_errors_not_panics() {
        let mut batch = Batch {
            time_generated: vec![0, 1],
            columns: vec![Column {
                name: "Dvc".into(),
                values: ColumnValues::Text(TextColumn {
                    dictionary: StringTable::of(["a"]),
                    codes: vec![0, 7],
                }),
            }],
        };
        assert!(batch
            .clone()
            .take_text("Dvc")
            .unwrap_err()
            .contains("code 7"));
        assert!(batch
            .take_text("Missing")
            .unwrap_err()
            .contains("no column Missing"));
        batch.time_generated.pop();
        assert!(batch
            .take_text("Dvc")
            .unwrap_err()
            .contains("2 values for 1 rows"));
    }

    #[test]
    fn string_tables_with_bad_offsets_are_errors_not_panics() {
        for (strings, ends) in [("abc", vec![2, 1]), ("abc", vec![4]), ("é", vec![1])] {
            let mut batch = Batch {
                time_generated: vec![0],
                columns: vec![Column {
                    name: "Dvc".into(),
                    values: ColumnValues::Text(TextColumn {
                        dictionary: StringTable {
                            strings: strings.into(),
                            ends,
                        },
                        codes: vec![0],
                    }),
                }],
            };
            let error = batch.take_text("Dvc").unwrap_err();
            assert!(error.contains("not a value boundary"), "{error}");
        }
        let table = StringTable::of(["", "fw1", "é"]);
        assert_eq!(table.iter().collect::<Vec<_>>(), ["", "fw1", "é"]);
    }

    #[test]
    fn ip_columns_keep_the_snapshot_layout_of_one_list_of_options() {
        #[derive(Serialize)]
        struct Before {
            dictionary: StringTable,
            parsed: Vec<Option<IpPrefix>>,
            codes: Vec<u32>,
        }
        let mut builder = BatchBuilder::new(&[("NetworkIP", ColumnKind::IpNetwork)]);
        for text in ["198.51.100.0/24", "", "not an address", "2001:db8::1", ""] {
            builder.push_row(0, &[Cell::Text(text)]).unwrap();
        }
        let column = builder.finish().take_ip("NetworkIP").unwrap();
        let before = Before {
            dictionary: column.dictionary.clone(),
            parsed: column.parsed_all().collect(),
            codes: column.codes.clone(),
        };
        let bytes = postcard::to_allocvec(&column).unwrap();
        assert_eq!(bytes, postcard::to_allocvec(&before).unwrap());
        assert_eq!(postcard::from_bytes::<IpColumn>(&bytes).unwrap(), column);
    }

    #[test]
    fn ip_address_lists_of_another_length_or_prefix_are_refused_or_match_nothing() {
        let column = |prefix_len: Vec<u8>| Batch {
            time_generated: vec![0],
            columns: vec![Column {
                name: "SrcIpAddr".into(),
                values: ColumnValues::Ip(IpColumn {
                    dictionary: StringTable::of(["10.0.0.1"]),
                    addr_hi: vec![0],
                    addr_lo: vec![u64::MAX],
                    prefix_len,
                    codes: vec![0],
                }),
            }],
        };
        let error = column(vec![]).take_ip("SrcIpAddr").unwrap_err();
        assert!(error.contains("0 prefix length values for 1"), "{error}");
        let odd = column(vec![200]).take_ip("SrcIpAddr").unwrap();
        assert_eq!(odd.address(0), None);
        // Host bits a sender left set are cleared.
        let network = column(vec![120]).take_ip("SrcIpAddr").unwrap();
        assert_eq!(
            network.address(0),
            Some(IpPrefix::new(0xffff_ffff_ffff_ff00, 120))
        );
    }

    #[test]
    fn a_column_of_another_kind_is_an_error() {
        let mut builder = builder();
        builder
            .push_row(0, &[Cell::Text("fw1"), Cell::Empty, Cell::Integer(1)])
            .unwrap();
        let mut batch = builder.finish();
        assert!(batch
            .take_ip("Dvc")
            .unwrap_err()
            .contains("not IP addresses"));
    }

    #[test]
    fn take_leaves_an_empty_builder_with_fresh_dictionaries() {
        let mut builder = builder();
        builder
            .push_row(0, &[Cell::Text("fw1"), Cell::Empty, Cell::Empty])
            .unwrap();
        let first = builder.take();
        assert_eq!(first.rows(), 1);
        builder
            .push_row(1, &[Cell::Text("fw2"), Cell::Empty, Cell::Empty])
            .unwrap();
        let mut second = builder.take();
        assert_eq!(
            second.take_text("Dvc").unwrap().dictionary,
            StringTable::of(["fw2"])
        );
    }
}
