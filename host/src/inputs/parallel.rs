//! One ASIM JSON lines file read in blocks, on one core or several. The file
//! is cut into blocks at line ends; worker threads (or the calling thread
//! alone) turn each block's lines into typed cells; the calling thread hands
//! the rows on in file order. Rows, rejected lines (named `file:line`, in
//! order), counts and errors are those of the record reader (`records.rs`),
//! whatever the number of threads.

use std::{
    collections::BTreeMap,
    io::{self, BufRead},
    sync::{mpsc, Arc, Mutex},
};

use anyhow::{Context, Result};
use asim_rule_core::{batch::Cell, schema::ColumnKind, Timestamp};

use super::{json_scan, records, InputFile, Rejects, Unparsable};

/// Bytes a block holds before it is cut at the next line end.
const BLOCK_BYTES: usize = 1 << 20;

/// A cell as a worker leaves it: text by position, in the block or in the
/// block's side buffer of unescaped texts.
#[derive(Clone, Copy)]
enum Slot {
    Empty,
    InBlock(usize, usize),
    Unescaped(usize, usize),
    Integer(i64),
    Real(f64),
    Boolean(bool),
    Time(Timestamp),
}

/// One block's lines, parsed.
struct Parsed {
    /// The block up to its first line that is not UTF-8 (all of it, mostly).
    text: String,
    unescaped: String,
    /// Lines in the block, for numbering the next block's.
    lines: u64,
    /// Each record: its line in the block (from 1) and its time, or why it
    /// was refused. A record's cells are the next `columns` slots.
    records: Vec<(u64, Result<Timestamp, String>)>,
    slots: Vec<Slot>,
    /// Cells that did not parse: (column, line in the block).
    unparsable: Vec<(usize, u64)>,
    /// The line in the block that is not UTF-8: reading stops there.
    not_utf8: Option<u64>,
}

/// Reads `reader` (JSON lines of `input`) with `threads` workers, handing
/// each row to `on_row` in file order; returns the records read. With more
/// than one, blocks are read (and decompressed) on a thread of their own, at
/// most `4 × threads` ahead of the rows handed on, so memory stays bounded;
/// with one, everything happens on the calling thread.
pub fn read_json_rows(
    input: &InputFile,
    reader: Box<dyn BufRead + Send>,
    columns: &[(String, ColumnKind)],
    threads: usize,
    rejects: &mut Rejects,
    unparsable: &mut Unparsable,
    on_row: &mut dyn FnMut(Timestamp, &[Cell]) -> Result<()>,
) -> Result<u64> {
    let wanted: Vec<&str> = std::iter::once("TimeGenerated")
        .chain(columns.iter().map(|(name, _)| name.as_str()))
        .collect();
    let kinds: Vec<ColumnKind> = columns.iter().map(|(_, kind)| *kind).collect();
    let mut blocks = Blocks {
        reader,
        carry: Vec::new(),
    };
    let mut outlet = Outlet {
        input,
        columns,
        rejects,
        unparsable,
        on_row,
        lines: 0,
        records: 0,
    };
    if threads <= 1 {
        let parse = |bytes| parse_block(bytes, &wanted, &kinds);
        return read_on_this_thread(blocks, parse, &mut outlet);
    }
    let (work, queue) = mpsc::channel::<(usize, Vec<u8>)>();
    let queue = Arc::new(Mutex::new(queue));
    let (done, results) = mpsc::channel::<(usize, Parsed)>();
    // A block may be read only with a token, a buffer; the buffer comes back
    // when its block's rows have been handed on, to hold another block.
    let in_flight = 4 * threads;
    let (give_back, tokens) = mpsc::sync_channel::<Vec<u8>>(in_flight);
    for _ in 0..in_flight {
        give_back
            .send(Vec::new())
            .map_err(|_| anyhow::anyhow!("no reading tokens"))?;
    }
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (queue, done, wanted, kinds) = (Arc::clone(&queue), done.clone(), &wanted, &kinds);
            scope.spawn(move || loop {
                let next = queue.lock().map(|queue| queue.recv());
                let Ok(Ok((index, bytes))) = next else { return };
                if done
                    .send((index, parse_block(bytes, wanted, kinds)))
                    .is_err()
                {
                    return;
                }
            });
        }
        // The workers hold the queue now: when they stop, the block reader's
        // sends fail and it stops too.
        drop(queue);
        drop(done);
        let block_reader = scope.spawn(move || -> Option<io::Error> {
            let mut index = 0;
            while let Ok(buffer) = tokens.recv() {
                let (bytes, error) = blocks.next(buffer);
                if !bytes.is_empty() {
                    if work.send((index, bytes)).is_err() {
                        return None;
                    }
                    index += 1;
                } else if error.is_none() {
                    return None;
                }
                if error.is_some() {
                    return error;
                }
            }
            None
        });
        let delivered = deliver(&results, &give_back, &mut outlet);
        // Whatever happened, the workers and the block reader stop once
        // nobody takes their output.
        drop(results);
        drop(give_back);
        let read_error = block_reader
            .join()
            .map_err(|_| anyhow::anyhow!("the block reader thread panicked"))?;
        delivered?;
        match read_error {
            None => Ok(outlet.records),
            Some(error) => Err(outlet.read_error(error)),
        }
    })
}

/// [`read_json_rows`] on the calling thread alone: each block read, parsed
/// by `parse` and handed on in turn.
fn read_on_this_thread(
    mut blocks: Blocks,
    parse: impl Fn(Vec<u8>) -> Parsed,
    outlet: &mut Outlet,
) -> Result<u64> {
    let mut buffer = Vec::new();
    loop {
        let (bytes, error) = blocks.next(buffer);
        let at_end = bytes.is_empty() && error.is_none();
        buffer = match bytes.is_empty() {
            true => bytes,
            false => {
                let parsed = parse(bytes);
                outlet.hand_on(&parsed)?;
                parsed.text.into_bytes()
            }
        };
        if let Some(error) = error {
            return Err(outlet.read_error(error));
        }
        if at_end {
            return Ok(outlet.records);
        }
    }
}

/// Hands the parsed blocks on in file order, giving a token back for each,
/// until every block read has been.
fn deliver(
    results: &mpsc::Receiver<(usize, Parsed)>,
    give_back: &mpsc::SyncSender<Vec<u8>>,
    outlet: &mut Outlet,
) -> Result<()> {
    let mut next = 0usize;
    let mut waiting = BTreeMap::<usize, Parsed>::new();
    loop {
        let parsed = match waiting.remove(&next) {
            Some(parsed) => parsed,
            None => match results.recv() {
                Ok((index, parsed)) => {
                    waiting.insert(index, parsed);
                    continue;
                }
                Err(_) => return Ok(()),
            },
        };
        next += 1;
        outlet.hand_on(&parsed)?;
        // The block reader may have stopped already.
        let _ = give_back.send(parsed.text.into_bytes());
    }
}

/// Where parsed blocks go, in file order: rows to `on_row`, refused records
/// to `rejects`; it counts the lines and records handed on.
struct Outlet<'o> {
    input: &'o InputFile,
    columns: &'o [(String, ColumnKind)],
    rejects: &'o mut Rejects,
    unparsable: &'o mut Unparsable,
    on_row: &'o mut dyn FnMut(Timestamp, &[Cell]) -> Result<()>,
    lines: u64,
    records: u64,
}

impl Outlet<'_> {
    /// Hands on the rows of one parsed block, the next in the file. A line
    /// that is not UTF-8 is an error that ends the read.
    fn hand_on(&mut self, parsed: &Parsed) -> Result<()> {
        let (columns, lines_before) = (self.columns, self.lines);
        for &(column, line) in &parsed.unparsable {
            self.unparsable
                .note(&columns[column].0, lines_before + line);
        }
        let mut slots = parsed.slots.chunks_exact(columns.len().max(1));
        let mut cells: Vec<Cell> = Vec::with_capacity(columns.len());
        for (line, outcome) in &parsed.records {
            let line = lines_before + line;
            match outcome {
                Err(reason) => self.rejects.reject(self.input, line, reason),
                Ok(time) => {
                    cells.clear();
                    if !columns.is_empty() {
                        let row = slots.next().context("a parsed block lost a row")?;
                        cells.extend(row.iter().map(|slot| cell(parsed, *slot)));
                    }
                    (self.on_row)(*time, &cells)?;
                }
            }
        }
        if let Some(line) = parsed.not_utf8 {
            let error = io::Error::new(
                io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            );
            return Err(error)
                .with_context(|| format!("{}:{}: reading", self.input.name, lines_before + line));
        }
        self.lines += parsed.lines;
        self.records += parsed.records.len() as u64;
        Ok(())
    }

    /// A read error, named at the line after the last one handed on.
    fn read_error(&self, error: io::Error) -> anyhow::Error {
        anyhow::Error::new(error).context(format!(
            "{}:{}: reading",
            self.input.name,
            self.lines + 1
        ))
    }
}

/// A reader cut into blocks of whole lines, read straight into each block's
/// buffer: a file's bytes are copied once, by the kernel.
struct Blocks {
    reader: Box<dyn BufRead + Send>,
    /// The start of a line that the block before did not end.
    carry: Vec<u8>,
}

impl Blocks {
    /// The next block, in `bytes` (whatever it held): about [`BLOCK_BYTES`],
    /// ending at a line end or the file's end; longer when one line is. On a
    /// read error, the whole lines read before it, and the error.
    fn next(&mut self, mut bytes: Vec<u8>) -> (Vec<u8>, Option<io::Error>) {
        let carried = self.carry.len();
        // Room for a whole block after the carried part: a read that large
        // bypasses the `BufReader`'s buffer. Resizing a returned buffer zeroes
        // only the few bytes it lacks.
        if bytes.len() < carried + BLOCK_BYTES {
            bytes.resize(carried + BLOCK_BYTES, 0);
        }
        bytes[..carried].copy_from_slice(&self.carry);
        self.carry.clear();
        // The carried part holds no line end.
        let (mut filled, mut line_end) = (carried, None);
        let outcome = loop {
            if let Some(end) = line_end.filter(|_| filled >= BLOCK_BYTES) {
                break Ok(end);
            }
            if filled == bytes.len() {
                bytes.resize(2 * filled, 0);
            }
            match self.reader.read(&mut bytes[filled..]) {
                Ok(0) => break Ok(filled),
                Ok(read) => {
                    let fresh = &bytes[filled..filled + read];
                    if let Some(at) = memchr::memrchr(b'\n', fresh) {
                        line_end = Some(filled + at + 1);
                    }
                    filled += read;
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                // The line being read when it failed is not delivered.
                Err(error) => break Err((line_end.unwrap_or(0), error)),
            }
        };
        match outcome {
            Ok(end) => {
                self.carry.extend_from_slice(&bytes[end..filled]);
                bytes.truncate(end);
                (bytes, None)
            }
            Err((end, error)) => {
                bytes.truncate(end);
                (bytes, Some(error))
            }
        }
    }
}

/// The lines of `text`, each with its `\n`, as `split_inclusive('\n')`
/// gives them.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = memchr::memchr(b'\n', rest.as_bytes()).map_or(rest.len(), |at| at + 1);
        // `\n` is ASCII: a character boundary.
        let (line, after) = rest.split_at(end);
        rest = after;
        Some(line)
    })
}

fn cell(parsed: &Parsed, slot: Slot) -> Cell<'_> {
    match slot {
        Slot::Empty => Cell::Empty,
        // A slot lies on character boundaries: its ends are quotes.
        Slot::InBlock(start, end) => Cell::Text(parsed.text.get(start..end).unwrap_or_default()),
        Slot::Unescaped(start, end) => Cell::Text(&parsed.unescaped[start..end]),
        Slot::Integer(value) => Cell::Integer(value),
        Slot::Real(value) => Cell::Real(value),
        Slot::Boolean(value) => Cell::Boolean(value),
        Slot::Time(value) => Cell::Time(value),
    }
}

/// A worker's part: every line of `bytes` to typed cells, as
/// `super::read_rows` types them.
fn parse_block(bytes: Vec<u8>, wanted: &[&str], kinds: &[ColumnKind]) -> Parsed {
    let mut parsed = Parsed {
        text: String::new(),
        unescaped: String::new(),
        lines: 0,
        records: Vec::new(),
        slots: Vec::new(),
        unparsable: Vec::new(),
        not_utf8: None,
    };
    // One check of the whole block; a line that is not UTF-8 ends it.
    let (block, not_utf8) = match String::from_utf8(bytes) {
        Ok(text) => (text, false),
        Err(error) => {
            let valid = error.utf8_error().valid_up_to();
            let mut bytes = error.into_bytes();
            let whole_lines = bytes[..valid]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |at| at + 1);
            bytes.truncate(whole_lines);
            (String::from_utf8(bytes).unwrap_or_default(), true)
        }
    };
    let base = block.as_ptr() as usize;
    let mut fields = vec![None; wanted.len()];
    let mut keys = json_scan::KeyScanner::new(wanted);
    for text in lines(&block) {
        parsed.lines += 1;
        let number = parsed.lines;
        let text = super::without_line_end(text);
        if super::is_blank(text) {
            continue;
        }
        fields.iter_mut().for_each(|field| *field = None);
        let read = keys.scan(text, &mut fields).or_else(|_| {
            fields.iter_mut().for_each(|field| *field = None);
            records::parse_json_record(text, wanted, &mut fields)
        });
        let time = read.and_then(|()| super::time_field("TimeGenerated", fields[0].as_deref()));
        let time = match time {
            Ok(time) => time,
            Err(reason) => {
                parsed.records.push((number, Err(reason)));
                continue;
            }
        };
        parsed.records.push((number, Ok(time)));
        for (column, (kind, field)) in kinds.iter().zip(&fields[1..]).enumerate() {
            let (cell, ok) = super::typed_cell(*kind, field.as_deref());
            if !ok {
                parsed.unparsable.push((column, number));
            }
            let slot = match cell {
                Cell::Empty => Slot::Empty,
                Cell::Text(text) => {
                    let start = (text.as_ptr() as usize).wrapping_sub(base);
                    if start < block.len() {
                        Slot::InBlock(start, start + text.len())
                    } else {
                        let start = parsed.unescaped.len();
                        parsed.unescaped.push_str(text);
                        Slot::Unescaped(start, parsed.unescaped.len())
                    }
                }
                Cell::Integer(value) => Slot::Integer(value),
                Cell::Real(value) => Slot::Real(value),
                Cell::Boolean(value) => Slot::Boolean(value),
                Cell::Time(value) => Slot::Time(value),
            };
            parsed.slots.push(slot);
        }
    }
    drop(fields);
    if not_utf8 {
        parsed.lines += 1;
        parsed.not_utf8 = Some(parsed.lines);
    }
    parsed.text = block;
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row as read: its line-independent content, owned.
    type Row = (Timestamp, Vec<String>);

    const COLUMNS: [(&str, ColumnKind); 4] = [
        ("SrcIpAddr", ColumnKind::IpAddress),
        ("DstPortNumber", ColumnKind::Integer),
        ("Dvc", ColumnKind::Text),
        ("SrcBytes", ColumnKind::Real),
    ];

    fn columns() -> Vec<(String, ColumnKind)> {
        COLUMNS
            .iter()
            .map(|(name, kind)| ((*name).to_owned(), *kind))
            .collect()
    }

    /// Lines of every kind the readers must agree on, many blocks' worth.
    fn lines(count: usize) -> Vec<u8> {
        let mut text = Vec::new();
        for n in 0..count {
            let line = match n % 11 {
                0 => "{not json".to_owned(),
                1 => String::new(),
                2 => format!("{{\"TimeGenerated\":\"2026-03-11T10:00:{:02}Z\",\"SrcIpAddr\":\"x{n}\",\"DstPortNumber\":\"https\"}}\r", n % 60),
                3 => format!("{{\"Dvc\":\"esc\\\"aped \\u00e9 {n}\",\"TimeGenerated\":\"2026-03-11T10:00:00+01:00\",\"SrcBytes\":1.5e3}}"),
                4 => "{\"SrcIpAddr\":\"10.0.0.1\"}".to_owned(),
                5 => r#"  { "TimeGenerated" : "2026-03-11 10:00:00" , "DstPortNumber" : 443.0 , "Extra" : [1, {"a": null}] }  "#.to_owned(),
                _ => format!("{{\"TimeGenerated\":\"2026-03-11T10:{:02}:00.123456Z\",\"SrcIpAddr\":\"10.1.{}.{}\",\"DstPortNumber\":{},\"Dvc\":\"fw-{}\",\"SrcBytes\":{n}}}", n % 60, n % 256, n % 199, n % 65536, n % 7),
            };
            text.extend_from_slice(line.as_bytes());
            text.push(b'\n');
        }
        text
    }

    /// Rows, refused records and the unparsable-cell summary, or the error.
    fn read_by(
        bytes: &[u8],
        read: impl FnOnce(
            &InputFile,
            Box<dyn BufRead + Send>,
            &mut Rejects,
            &mut Unparsable,
            &mut dyn FnMut(Timestamp, &[Cell]) -> Result<()>,
        ) -> Result<u64>,
    ) -> (Vec<Row>, u64, Option<String>, Result<u64, String>) {
        let input = InputFile::new("t.jsonl").unwrap().without_progress();
        let (mut rows, mut rejects, mut unparsable) =
            (Vec::new(), Rejects::default(), Unparsable::default());
        let reader = Box::new(io::Cursor::new(bytes.to_vec()));
        let result = read(
            &input,
            reader,
            &mut rejects,
            &mut unparsable,
            &mut |time, cells| {
                rows.push((time, cells.iter().map(|cell| format!("{cell:?}")).collect()));
                Ok(())
            },
        );
        (
            rows,
            rejects.count,
            unparsable.describe(),
            result.map_err(|error| format!("{error:#}")),
        )
    }

    /// The record reader this one replaced: line by line, through serde's
    /// fallback, typed as `read_rows` types records.
    fn by_records(bytes: &[u8]) -> (Vec<Row>, u64, Option<String>, Result<u64, String>) {
        read_by(bytes, |input, reader, rejects, unparsable, on_row| {
            let columns = columns();
            let wanted: Vec<&str> = std::iter::once("TimeGenerated")
                .chain(COLUMNS.iter().map(|(name, _)| *name))
                .collect();
            let mut records = 0;
            records::read_from(input, reader, &wanted, &mut |line: u64,
                                                             fields: Result<
                &records::Fields,
                String,
            >| {
                records += 1;
                let fields = match fields {
                    Ok(fields) => fields,
                    Err(reason) => {
                        rejects.reject(input, line, &reason);
                        return Ok(());
                    }
                };
                match super::super::time_field("TimeGenerated", fields[0].as_deref()) {
                    Ok(time) => {
                        let cells: Vec<Cell> = columns
                            .iter()
                            .zip(&fields[1..])
                            .map(|((name, kind), field)| {
                                unparsable.cell(name, line, *kind, field.as_deref())
                            })
                            .collect();
                        on_row(time, &cells)
                    }
                    Err(reason) => {
                        rejects.reject(input, line, &reason);
                        Ok(())
                    }
                }
            })?;
            Ok(records)
        })
    }

    fn by_blocks(
        bytes: &[u8],
        threads: usize,
    ) -> (Vec<Row>, u64, Option<String>, Result<u64, String>) {
        read_by(bytes, |input, reader, rejects, unparsable, on_row| {
            read_json_rows(
                input,
                reader,
                &columns(),
                threads,
                rejects,
                unparsable,
                on_row,
            )
        })
    }

    #[test]
    fn blocks_on_any_number_of_threads_read_what_the_record_reader_reads() {
        let mut bytes = lines(40_000);
        // A line longer than two blocks, in the middle.
        let long = format!(
            "{{\"Padding\":\"{}\",\"TimeGenerated\":\"2026-03-11T11:00:00Z\",\"Dvc\":\"long\"}}\n",
            "p".repeat(2 * BLOCK_BYTES + 123)
        );
        let middle = bytes.len() / 2;
        let middle = bytes[..middle].iter().rposition(|&b| b == b'\n').unwrap() + 1;
        bytes.splice(middle..middle, long.bytes());
        assert!(bytes.len() > 5 * BLOCK_BYTES);
        let expected = by_records(&bytes);
        assert!(
            expected.0.len() > 20_000 && expected.1 > 3_000,
            "{:?}",
            (expected.0.len(), expected.1)
        );
        assert!(expected
            .2
            .as_deref()
            .is_some_and(|text| text.contains("SrcIpAddr")));
        let long_row = |(_, cells): &Row| cells.contains(&"Text(\"long\")".to_owned());
        assert!(expected.0.iter().any(long_row));
        for threads in [1, 2, 3] {
            assert!(
                by_blocks(&bytes, threads) == expected,
                "--threads {threads}"
            );
        }
        // A line that is not UTF-8 in a later block ends the read there.
        let at = 4 * BLOCK_BYTES + 1000;
        let line_start = bytes[..at].iter().rposition(|&b| b == b'\n').unwrap() + 1;
        bytes[line_start + 3] = 0xff;
        let expected = by_records(&bytes);
        assert!(
            expected
                .3
                .as_ref()
                .is_err_and(|error| error.contains("valid UTF-8")),
            "{:?}",
            expected.3
        );
        for threads in [1, 2] {
            assert!(
                by_blocks(&bytes, threads) == expected,
                "--threads {threads}"
            );
        }
    }
}
