//! A file read in blocks, on one core or several: ASIM JSON lines here, CSV
//! in `csv_blocks.rs`. The file is cut into blocks at line ends; worker
//! threads (or the calling thread alone) turn each block's lines into typed
//! cells; the calling thread hands the rows on in file order. Rows, rejected
//! lines (named `file:line`, in order), counts and errors are those of the
//! record readers (`records.rs`, `csv_records.rs`), whatever the number of
//! threads.
//!
//! One file past 500 lines: cutting, parsing and reordering share the block
//! and slot types, and a third of it is the tests that hold the threaded
//! reader to the record reader's output.

use std::{
    collections::BTreeMap,
    io::{self, BufRead, Read},
    sync::{mpsc, Arc, Mutex},
};

use anyhow::{Context, Result};
use asim_rule_core::{batch::Cell, schema::ColumnKind, Timestamp};

use super::{csv_records::Misfit, json_scan, records, InputFile, Rejects, Unparsable};

/// Bytes a block holds before it is cut at the next line end.
const BLOCK_BYTES: usize = 1 << 20;

/// A cell as a worker leaves it: text by position, in the block or in the
/// block's side buffer of unescaped texts.
#[derive(Clone, Copy)]
pub(super) enum Slot {
    Empty,
    InBlock(usize, usize),
    Unescaped(usize, usize),
    Integer(i64),
    Real(f64),
    Boolean(bool),
    Time(Timestamp),
}

/// Whole lines of a file, as read: a line longer than the limit is in
/// `bytes` as an empty line, and named in `too_long`.
pub(super) struct Block {
    pub bytes: Vec<u8>,
    /// Lines (from 1 in the block) that were too long, with the reason.
    pub too_long: Vec<(u64, String)>,
}

/// One block's lines, parsed.
#[derive(Default)]
pub(super) struct Parsed {
    /// The block, with blanks where a line was not UTF-8.
    pub text: String,
    pub unescaped: String,
    /// Lines and bytes in the block, for placing the next block's.
    pub lines: u64,
    pub bytes: u64,
    /// Each record: its line in the block (from 1) and its time, or why it
    /// was refused. A record's cells are the next `columns` slots.
    pub records: Vec<(u64, Result<Timestamp, Refusal>)>,
    pub slots: Vec<Slot>,
    /// Cells that did not parse: (column, line in the block).
    pub unparsable: Vec<(usize, u64)>,
    /// Whether the reading ends with this block's last record.
    pub stops: bool,
}

impl Parsed {
    /// The cells of the record at `number`, its `fields` typed as `kinds`:
    /// a text is placed in `block` where it lies there, else copied aside.
    pub fn push_cells<'t>(
        &mut self,
        number: u64,
        block: &str,
        kinds: &[ColumnKind],
        fields: impl Iterator<Item = Option<&'t str>>,
    ) {
        let base = block.as_ptr() as usize;
        for (column, (kind, field)) in kinds.iter().zip(fields).enumerate() {
            let (cell, ok) = super::typed_cell(*kind, field);
            if !ok {
                self.unparsable.push((column, number));
            }
            let slot = match cell {
                Cell::Empty => Slot::Empty,
                Cell::Text(text) => {
                    let start = (text.as_ptr() as usize).wrapping_sub(base);
                    if start < block.len() {
                        Slot::InBlock(start, start + text.len())
                    } else {
                        let start = self.unescaped.len();
                        self.unescaped.push_str(text);
                        Slot::Unescaped(start, self.unescaped.len())
                    }
                }
                Cell::Integer(value) => Slot::Integer(value),
                Cell::Real(value) => Slot::Real(value),
                Cell::Boolean(value) => Slot::Boolean(value),
                Cell::Time(value) => Slot::Time(value),
            };
            self.slots.push(slot);
        }
    }
}

/// Why a record was refused.
pub(super) enum Refusal {
    Said(String),
    /// A CSV record's, said with its place in the file once that is known.
    Misfit(Misfit),
}

/// How one format's blocks become rows.
pub(super) trait BlockFormat: Sync {
    /// Whether `block` can be read apart from the blocks before it. The first
    /// that cannot ends the reading in blocks: it comes back, with the rest
    /// of the input, as [`Rest`].
    fn stands_alone(&self, block: &Block) -> bool;

    /// Every line of `block` to records of typed cells.
    fn parse(&self, block: Block) -> Parsed;

    /// Whether a line cut short by a read error is still read (a bare `\r`
    /// ends a CSV record): the reading then ends with a [`Rest`] of it.
    fn reads_a_cut_line(&self) -> bool;
}

/// Lines and bytes of the input before the first block (a CSV header).
#[derive(Clone, Copy, Default)]
pub(super) struct Start {
    pub lines: u64,
    pub bytes: u64,
}

/// The input from the first block that does not stand alone (or from a
/// line cut by a read error) on, and how much of it was read before.
pub(super) struct Rest {
    pub block: Block,
    /// What follows the block: the rest of the input, or what was read of
    /// the line a read error cut, then that error.
    pub after: Box<dyn BufRead + Send>,
    /// Lines, bytes (from the input's start) and records handed on before.
    pub lines: u64,
    pub bytes: u64,
    pub records: u64,
}

/// A reader that fails with its error.
pub(super) struct Fails(pub Option<io::Error>);

impl Read for Fails {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(self
            .0
            .take()
            .unwrap_or_else(|| io::Error::other("read after a failed read")))
    }
}

/// Reads `reader` (JSON lines of `input`) with `threads` workers, handing
/// each row to `on_row` in file order; returns the records read.
pub fn read_json_rows(
    input: &InputFile,
    reader: Box<dyn BufRead + Send>,
    columns: &[(String, ColumnKind)],
    threads: usize,
    rejects: &mut Rejects,
    unparsable: &mut Unparsable,
    on_row: &mut dyn FnMut(Timestamp, &[Cell]) -> Result<()>,
) -> Result<u64> {
    let wanted = super::wanted_keys(columns);
    let format = JsonLines {
        wanted,
        kinds: columns.iter().map(|(_, kind)| *kind).collect(),
        max_line: input.max_line,
    };
    let outlet = Outlet::new(
        input,
        columns,
        Start::default(),
        rejects,
        unparsable,
        on_row,
    );
    let (records, _) = read_blocks(&format, reader, threads, outlet)?;
    Ok(records)
}

/// ASIM JSON lines: the keys wanted, and their columns' kinds.
struct JsonLines<'w> {
    wanted: Vec<&'w str>,
    kinds: Vec<ColumnKind>,
    max_line: usize,
}

impl BlockFormat for JsonLines<'_> {
    fn stands_alone(&self, _block: &Block) -> bool {
        true
    }

    fn parse(&self, block: Block) -> Parsed {
        parse_block(block, &self.wanted, &self.kinds, self.max_line)
    }

    fn reads_a_cut_line(&self) -> bool {
        false
    }
}

/// Reads `reader` in blocks of `format` with `threads` workers, handing each
/// row to `outlet` in file order; returns the records read, and the rest of
/// the input from a block that did not stand alone. With more than one
/// worker, blocks are read (and decompressed) on a thread of their own, at
/// most `4 × threads` ahead of the rows handed on, so memory stays bounded;
/// with one, everything happens on the calling thread.
pub(super) fn read_blocks(
    format: &dyn BlockFormat,
    reader: Box<dyn BufRead + Send>,
    threads: usize,
    mut outlet: Outlet,
) -> Result<(u64, Option<Rest>)> {
    let blocks = Blocks {
        reader,
        carry: Vec::new(),
        max_line: outlet.input.max_line,
    };
    if threads <= 1 {
        return read_on_this_thread(blocks, format, outlet);
    }
    let (work, queue) = mpsc::channel::<(usize, Block)>();
    let queue = Arc::new(Mutex::new(queue));
    let (done, results) = mpsc::channel::<(usize, Delivery)>();
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
            let (queue, done) = (Arc::clone(&queue), done.clone());
            scope.spawn(move || loop {
                let next = queue.lock().map(|queue| queue.recv());
                let Ok(Ok((index, block))) = next else { return };
                let parsed = Delivery::Parsed(format.parse(block));
                if done.send((index, parsed)).is_err() {
                    return;
                }
            });
        }
        // The workers hold the queue now: when they stop, the block reader's
        // sends fail and it stops too.
        drop(queue);
        let block_reader = scope.spawn(move || -> (Blocks, Option<io::Error>) {
            let mut blocks = blocks;
            let mut index = 0;
            while let Ok(buffer) = tokens.recv() {
                let (block, error) = blocks.next(buffer);
                if !block.bytes.is_empty() && !format.stands_alone(&block) {
                    let _ = done.send((index, Delivery::Rest(block)));
                    return (blocks, error);
                }
                if !block.bytes.is_empty() {
                    if work.send((index, block)).is_err() {
                        return (blocks, None);
                    }
                    index += 1;
                } else if error.is_none() {
                    return (blocks, None);
                }
                if error.is_some() {
                    return (blocks, error);
                }
            }
            (blocks, None)
        });
        let delivered = deliver(&results, &give_back, &mut outlet);
        // Whatever happened, the workers and the block reader stop once
        // nobody takes their output.
        drop(results);
        drop(give_back);
        let (blocks, read_error) = block_reader
            .join()
            .map_err(|_| anyhow::anyhow!("the block reader thread panicked"))?;
        match delivered? {
            Ended::Stopped => Ok((outlet.records, None)),
            Ended::Rest(block) => {
                Ok((outlet.records, Some(outlet.rest(block, blocks, read_error))))
            }
            Ended::AtEnd => match read_error {
                Some(error) => Ok(outlet.cut_by(error, blocks, format)),
                None => Ok((outlet.records, None)),
            },
        }
    })
}

/// What the block reader or a worker hands the calling thread.
enum Delivery {
    Parsed(Parsed),
    /// A block that does not stand alone: the reading in blocks ends there.
    Rest(Block),
}

/// How the handing on of blocks ended.
enum Ended {
    AtEnd,
    /// A block's record ended the reading.
    Stopped,
    /// At a block that does not stand alone.
    Rest(Block),
}

/// [`read_blocks`] on the calling thread alone: each block read, parsed and
/// handed on in turn.
fn read_on_this_thread(
    mut blocks: Blocks,
    format: &dyn BlockFormat,
    mut outlet: Outlet,
) -> Result<(u64, Option<Rest>)> {
    let mut buffer = Vec::new();
    loop {
        let (block, error) = blocks.next(buffer);
        let at_end = block.bytes.is_empty() && error.is_none();
        if !block.bytes.is_empty() && !format.stands_alone(&block) {
            return Ok((outlet.records, Some(outlet.rest(block, blocks, error))));
        }
        buffer = match block.bytes.is_empty() {
            true => block.bytes,
            false => {
                let parsed = format.parse(block);
                outlet.hand_on(&parsed)?;
                if parsed.stops {
                    return Ok((outlet.records, None));
                }
                parsed.text.into_bytes()
            }
        };
        if let Some(error) = error {
            return Ok(outlet.cut_by(error, blocks, format));
        }
        if at_end {
            return Ok((outlet.records, None));
        }
    }
}

/// Hands the parsed blocks on in file order, giving a token back for each,
/// until every block read has been, a block's record stops the reading, or
/// a block does not stand alone.
fn deliver(
    results: &mpsc::Receiver<(usize, Delivery)>,
    give_back: &mpsc::SyncSender<Vec<u8>>,
    outlet: &mut Outlet,
) -> Result<Ended> {
    let mut next = 0usize;
    let mut waiting = BTreeMap::<usize, Delivery>::new();
    loop {
        let delivery = match waiting.remove(&next) {
            Some(delivery) => delivery,
            None => match results.recv() {
                Ok((index, delivery)) => {
                    waiting.insert(index, delivery);
                    continue;
                }
                Err(_) => return Ok(Ended::AtEnd),
            },
        };
        let parsed = match delivery {
            Delivery::Parsed(parsed) => parsed,
            Delivery::Rest(block) => return Ok(Ended::Rest(block)),
        };
        next += 1;
        outlet.hand_on(&parsed)?;
        if parsed.stops {
            return Ok(Ended::Stopped);
        }
        // The block reader may have stopped already.
        let _ = give_back.send(parsed.text.into_bytes());
    }
}

/// Where parsed blocks go, in file order: rows to `on_row`, refused records
/// to `rejects`; it counts the lines, bytes and records handed on.
pub(super) struct Outlet<'o> {
    input: &'o InputFile,
    columns: &'o [(String, ColumnKind)],
    rejects: &'o mut Rejects,
    unparsable: &'o mut Unparsable,
    on_row: &'o mut dyn FnMut(Timestamp, &[Cell]) -> Result<()>,
    lines: u64,
    bytes: u64,
    records: u64,
}

impl<'o> Outlet<'o> {
    pub fn new(
        input: &'o InputFile,
        columns: &'o [(String, ColumnKind)],
        start: Start,
        rejects: &'o mut Rejects,
        unparsable: &'o mut Unparsable,
        on_row: &'o mut dyn FnMut(Timestamp, &[Cell]) -> Result<()>,
    ) -> Outlet<'o> {
        Outlet {
            input,
            columns,
            rejects,
            unparsable,
            on_row,
            lines: start.lines,
            bytes: start.bytes,
            records: 0,
        }
    }

    /// Hands on the rows of one parsed block, the next in the file.
    fn hand_on(&mut self, parsed: &Parsed) -> Result<()> {
        let (columns, lines_before) = (self.columns, self.lines);
        for &(column, line) in &parsed.unparsable {
            self.unparsable
                .note(&columns[column].0, lines_before + line);
        }
        let mut slots = parsed.slots.chunks_exact(columns.len().max(1));
        let mut cells: Vec<Cell> = Vec::with_capacity(columns.len());
        for (index, (line, outcome)) in parsed.records.iter().enumerate() {
            let line = lines_before + line;
            match outcome {
                Err(Refusal::Said(reason)) => self.rejects.reject(self.input, line, reason),
                Err(Refusal::Misfit(misfit)) => {
                    let record = self.records + index as u64 + 1;
                    let reason = misfit.say(record, line, self.bytes);
                    self.rejects.reject(self.input, line, &reason);
                }
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
        self.lines += parsed.lines;
        self.bytes += parsed.bytes;
        self.records += parsed.records.len() as u64;
        Ok(())
    }

    /// A read error after the blocks handed on: refused as the line after
    /// them (the rows before it stay read, as before a bad line), or left
    /// with the line it cut to the `format`'s record reader.
    fn cut_by(
        &mut self,
        error: io::Error,
        blocks: Blocks,
        format: &dyn BlockFormat,
    ) -> (u64, Option<Rest>) {
        if format.reads_a_cut_line() {
            let block = Block {
                bytes: Vec::new(),
                too_long: Vec::new(),
            };
            return (self.records, Some(self.rest(block, blocks, Some(error))));
        }
        let reason = records::stopped_by(&error);
        self.rejects.reject(self.input, self.lines + 1, &reason);
        self.records += 1;
        (self.records, None)
    }

    /// The input from `block` on, `blocks` (or the `error` that stopped
    /// them) being what follows it.
    fn rest(&self, block: Block, blocks: Blocks, error: Option<io::Error>) -> Rest {
        let carry = io::Cursor::new(blocks.carry);
        let after: Box<dyn BufRead + Send> = match error {
            Some(error) => Box::new(carry.chain(io::BufReader::new(Fails(Some(error))))),
            None => Box::new(carry.chain(blocks.reader)),
        };
        Rest {
            block,
            after,
            lines: self.lines,
            bytes: self.bytes,
            records: self.records,
        }
    }
}

/// A reader cut into blocks of whole lines, read straight into each block's
/// buffer: a file's bytes are copied once, by the kernel.
struct Blocks {
    reader: Box<dyn BufRead + Send>,
    /// The start of a line that the block before did not end.
    carry: Vec<u8>,
    /// Bytes a line may have; a longer one is skipped, not kept.
    max_line: usize,
}

impl Blocks {
    /// The next block, in `bytes` (whatever it held): about [`BLOCK_BYTES`],
    /// ending at a line end or the file's end; longer when one line is. On a
    /// read error, the whole lines read before it, and the error; what was
    /// read of the line it cut is left in `carry`.
    fn next(&mut self, mut bytes: Vec<u8>) -> (Block, Option<io::Error>) {
        let carried = self.carry.len();
        // Room for a whole block after the carried part: a read that large
        // bypasses the `BufReader`'s buffer. Resizing a returned buffer zeroes
        // only the few bytes it lacks.
        if bytes.len() < carried + BLOCK_BYTES {
            bytes.resize(carried + BLOCK_BYTES, 0);
        }
        bytes[..carried].copy_from_slice(&self.carry);
        self.carry.clear();
        let mut too_long = Vec::new();
        // The carried part holds no line end.
        let (mut filled, mut line_end) = (carried, None);
        let outcome = loop {
            if let Some(end) = line_end.filter(|_| filled >= BLOCK_BYTES) {
                break Ok(end);
            }
            let line_start = line_end.unwrap_or(0);
            if filled - line_start > self.max_line {
                match self.skip_line(&mut bytes, line_start, filled - line_start) {
                    Ok((length, after)) => {
                        let line = bytecount_lines(&bytes[..line_start]) + 1;
                        let reason = records::too_long(length, self.max_line);
                        too_long.push((line, reason));
                        filled = line_start + 1 + after;
                        let fresh = &bytes[line_start..filled];
                        line_end = memchr::memrchr(b'\n', fresh).map(|at| line_start + at + 1);
                        continue;
                    }
                    // What stays of it: enough to be found too long again.
                    Err(error) => break Err((line_start, line_start + self.max_line + 1, error)),
                }
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
                // The line being read when it failed is not in the block.
                Err(error) => break Err((line_end.unwrap_or(0), filled, error)),
            }
        };
        let block = |mut bytes: Vec<u8>, end| {
            bytes.truncate(end);
            Block { bytes, too_long }
        };
        match outcome {
            Ok(end) => {
                self.carry.extend_from_slice(&bytes[end..filled]);
                (block(bytes, end), None)
            }
            Err((end, cut, error)) => {
                self.carry.extend_from_slice(&bytes[end..cut]);
                (block(bytes, end), Some(error))
            }
        }
    }

    /// Skips the rest of a line too long to keep, which starts at `start` in
    /// `bytes` and has `read` bytes there already, none a line end. The line
    /// becomes an empty one (`\n` at `start`), followed by what was read
    /// after its end; returns its length and how many bytes follow it.
    fn skip_line(
        &mut self,
        bytes: &mut [u8],
        start: usize,
        read: usize,
    ) -> io::Result<(u64, usize)> {
        let mut length = read as u64;
        loop {
            let scratch = &mut bytes[start..];
            let read = match self.reader.read(scratch) {
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            if read == 0 {
                bytes[start] = b'\n';
                return Ok((length, 0));
            }
            match memchr::memchr(b'\n', &scratch[..read]) {
                None => length += read as u64,
                Some(at) => {
                    length += at as u64;
                    bytes.copy_within(start + at + 1..start + read, start + 1);
                    bytes[start] = b'\n';
                    return Ok((length, read - at - 1));
                }
            }
        }
    }
}

/// Blanks out each line of `bytes` that is not UTF-8 (its line end kept),
/// and returns each such line (from 1) with what `refuse` makes of it,
/// given where it starts, its bytes and the error.
pub(super) fn blank_lines_not_utf8<R>(
    bytes: &mut [u8],
    mut refuse: impl FnMut(usize, &[u8], std::str::Utf8Error) -> R,
) -> Vec<(u64, R)> {
    let mut refused = Vec::new();
    let (mut start, mut number) = (0, 0);
    while start < bytes.len() {
        number += 1;
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |at| start + at);
        let line = &mut bytes[start..end];
        if let Err(error) = std::str::from_utf8(line) {
            refused.push((number, refuse(start, line, error)));
            line.fill(b' ');
        }
        start = end + 1;
    }
    refused
}

/// How many line ends `bytes` holds.
fn bytecount_lines(bytes: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

/// The lines of `text`, each with its `\n`, as `split_inclusive('\n')`
/// gives them.
pub(super) fn lines(text: &str) -> impl Iterator<Item = &str> {
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

/// A worker's part: every line of `block` to typed cells, as
/// `super::read_rows` types them.
fn parse_block(block: Block, wanted: &[&str], kinds: &[ColumnKind], max_line: usize) -> Parsed {
    let mut parsed = Parsed {
        bytes: block.bytes.len() as u64,
        ..Parsed::default()
    };
    // Lines refused before they are read, in order: too long, not UTF-8.
    let mut refused = block.too_long;
    let block = match String::from_utf8(block.bytes) {
        Ok(text) => text,
        Err(error) => {
            let mut bytes = error.into_bytes();
            // Too long, when it is longer than the limit too (as the line
            // reader finds it).
            refused.extend(blank_lines_not_utf8(&mut bytes, |_, line, error| {
                match line.len() > max_line {
                    true => records::too_long(line.len() as u64, max_line),
                    false => records::not_utf8(&error),
                }
            }));
            refused.sort_by_key(|(line, _)| *line);
            String::from_utf8(bytes)
                .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
        }
    };
    let mut refused = refused.into_iter().peekable();
    let mut fields = vec![None; wanted.len()];
    let mut keys = json_scan::KeyScanner::new(wanted);
    for text in lines(&block) {
        parsed.lines += 1;
        let number = parsed.lines;
        if let Some((_, reason)) = refused.next_if(|(line, _)| *line == number) {
            parsed.records.push((number, Err(Refusal::Said(reason))));
            continue;
        }
        // A line read whole may still be longer than the limit.
        let length = text.strip_suffix('\n').unwrap_or(text).len();
        if length > max_line {
            let reason = records::too_long(length as u64, max_line);
            parsed.records.push((number, Err(Refusal::Said(reason))));
            continue;
        }
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
                parsed.records.push((number, Err(Refusal::Said(reason))));
                continue;
            }
        };
        parsed.records.push((number, Ok(time)));
        let fields = fields[1..].iter().map(|field| field.as_deref());
        parsed.push_cells(number, &block, kinds, fields);
    }
    drop(fields);
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

    /// What a reader made of a file.
    type Outcome = (
        Vec<Row>,
        Vec<(u64, String)>,
        Option<String>,
        Result<u64, String>,
    );

    /// Rows, refused records (line, reason) and the unparsable-cell summary,
    /// or the error, for lines of at most `max_line` bytes.
    fn read_by(
        bytes: &[u8],
        max_line: usize,
        fail_at: Option<usize>,
        read: impl FnOnce(
            &InputFile,
            Box<dyn BufRead + Send>,
            &mut Rejects,
            &mut Unparsable,
            &mut dyn FnMut(Timestamp, &[Cell]) -> Result<()>,
        ) -> Result<u64>,
    ) -> Outcome {
        let input = InputFile::new("t.jsonl").unwrap().with_max_line(max_line);
        let (mut rows, mut rejects, mut unparsable) =
            (Vec::new(), Rejects::kept(), Unparsable::default());
        let reader = Box::new(io::BufReader::new(FailsAt {
            bytes: io::Cursor::new(bytes.to_vec()),
            at: fail_at.unwrap_or(usize::MAX),
        }));
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
            rejects.refused.unwrap_or_default(),
            unparsable.describe(),
            result.map_err(|error| format!("{error:#}")),
        )
    }

    /// The record reader this one replaced: line by line, through serde's
    /// fallback, typed as `read_rows` types records.
    fn by_records(bytes: &[u8], max_line: usize, fail_at: Option<usize>) -> Outcome {
        read_by(
            bytes,
            max_line,
            fail_at,
            |input, reader, rejects, unparsable, on_row| {
                let columns = columns();
                let wanted = super::super::wanted_keys(&columns);
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
            },
        )
    }

    fn by_blocks(bytes: &[u8], threads: usize, max_line: usize, fail_at: Option<usize>) -> Outcome {
        read_by(
            bytes,
            max_line,
            fail_at,
            |input, reader, rejects, unparsable, on_row| {
                read_json_rows(
                    input,
                    reader,
                    &columns(),
                    threads,
                    rejects,
                    unparsable,
                    on_row,
                )
            },
        )
    }

    /// Bytes that fail to read at `at` (as a truncated gzip does).
    struct FailsAt {
        bytes: io::Cursor<Vec<u8>>,
        at: usize,
    }

    impl io::Read for FailsAt {
        fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
            let left = self.at.saturating_sub(self.bytes.position() as usize);
            if left == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "truncated"));
            }
            let room = buffer.len().min(left);
            io::Read::read(&mut self.bytes, &mut buffer[..room])
        }
    }

    /// `bytes` read by blocks on 1, 2 and 3 threads equals `expected`.
    fn blocks_agree(bytes: &[u8], max_line: usize, fail_at: Option<usize>, expected: &Outcome) {
        for threads in [1, 2, 3] {
            let by_blocks = by_blocks(bytes, threads, max_line, fail_at);
            assert!(by_blocks.0 == expected.0, "rows, --threads {threads}");
            assert_eq!(by_blocks.1, expected.1, "--threads {threads}");
            assert_eq!(by_blocks.2, expected.2, "--threads {threads}");
            assert_eq!(by_blocks.3, expected.3, "--threads {threads}");
        }
    }

    #[test]
    fn blocks_on_any_number_of_threads_read_what_the_record_reader_reads() {
        let max = crate::limits::LINE_BYTES;
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
        let expected = by_records(&bytes, max, None);
        assert!(
            expected.0.len() > 20_000 && expected.1.len() > 3_000,
            "{:?}",
            (expected.0.len(), expected.1.len())
        );
        assert!(expected
            .2
            .as_deref()
            .is_some_and(|text| text.contains("SrcIpAddr")));
        let long_row = |(_, cells): &Row| cells.contains(&"Text(\"long\")".to_owned());
        assert!(expected.0.iter().any(long_row));
        blocks_agree(&bytes, max, None, &expected);

        // Lines that are not UTF-8 (in a later block, and the last line) are
        // refused, each with its line; the lines after them are read.
        let at = 4 * BLOCK_BYTES + 1000;
        let line_start = bytes[..at].iter().rposition(|&b| b == b'\n').unwrap() + 1;
        bytes[line_start + 3] = 0xff;
        bytes.extend_from_slice(b"{\"Dvc\":\"caf\xe9\"}");
        let line = bytes[..line_start].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        let last = bytes.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        let expected = by_records(&bytes, max, None);
        assert_eq!(
            expected.3,
            Ok(expected.0.len() as u64 + expected.1.len() as u64)
        );
        let reason = |line| {
            expected
                .1
                .iter()
                .find(|(at, _)| *at == line)
                .map(|(_, reason)| reason.as_str())
        };
        assert_eq!(
            reason(line),
            Some("not UTF-8 text (a bad byte at column 4)")
        );
        assert_eq!(
            reason(last),
            Some("not UTF-8 text (a bad byte at column 12)")
        );
        blocks_agree(&bytes, max, None, &expected);

        // With a limit below the long line, it is refused with its length,
        // and the reading goes on after it.
        let max = 4 * BLOCK_BYTES / 3;
        let long_line = bytes[..middle].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        let expected = by_records(&bytes, max, None);
        assert!(!expected.0.iter().any(long_row));
        let too_long = records::too_long(long.len() as u64 - 1, max);
        assert!(expected.1.contains(&(long_line, too_long)));
        assert!(expected.1.iter().any(|(line, _)| *line > long_line));
        blocks_agree(&bytes, max, None, &expected);
        // A limit below every line's length refuses each with its own.
        blocks_agree(&bytes, 40, None, &by_records(&bytes, 40, None));
    }

    #[test]
    fn a_read_error_keeps_the_rows_before_it_on_any_number_of_threads() {
        let bytes = lines(40_000);
        let max = crate::limits::LINE_BYTES;
        for fail_at in [0, 10, 3 * BLOCK_BYTES + 77, bytes.len() - 5] {
            let expected = by_records(&bytes, max, Some(fail_at));
            let (rows, refused) = (&expected.0, &expected.1);
            let (line, reason) = refused.last().unwrap();
            assert_eq!(
                *line,
                bytes[..fail_at].iter().filter(|&&b| b == b'\n').count() as u64 + 1
            );
            assert!(reason.starts_with("reading stopped: truncated"), "{reason}");
            assert!(fail_at < BLOCK_BYTES || rows.len() > 1000);
            blocks_agree(&bytes, max, Some(fail_at), &expected);
        }
    }
}
