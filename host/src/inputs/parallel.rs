//! One ASIM JSON lines file read on several cores. The file is cut into
//! blocks at line ends; worker threads turn each block's lines into typed
//! cells; the calling thread hands the rows on in file order. Rows, rejected
//! lines (named `file:line`, in order), counts and errors are exactly those of
//! reading the file on one thread.

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
/// each row to `on_row` in file order; returns the records read. Blocks are
/// read (and decompressed) on a thread of their own, at most `4 × threads`
/// ahead of the rows handed on, so memory stays bounded.
pub fn read_json_rows(
    input: &InputFile,
    mut reader: Box<dyn BufRead + Send>,
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
        let blocks = scope.spawn(move || -> Option<io::Error> {
            let mut index = 0;
            while let Ok(buffer) = tokens.recv() {
                let (bytes, error) = read_block(&mut reader, buffer);
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
        let delivered = deliver(
            input, columns, &results, &give_back, rejects, unparsable, on_row,
        );
        // Whatever happened, the workers and the block reader stop once
        // nobody takes their output.
        drop(results);
        drop(give_back);
        let read_error = blocks
            .join()
            .map_err(|_| anyhow::anyhow!("the block reader thread panicked"))?;
        let lines = delivered?;
        match read_error {
            None => Ok(lines.records),
            Some(error) => {
                Err(error).with_context(|| format!("{}:{}: reading", input.name, lines.read + 1))
            }
        }
    })
}

/// What was handed on: records, and lines read.
struct Delivered {
    records: u64,
    read: u64,
}

/// Hands the parsed blocks on in file order, giving a token back for each.
fn deliver(
    input: &InputFile,
    columns: &[(String, ColumnKind)],
    results: &mpsc::Receiver<(usize, Parsed)>,
    give_back: &mpsc::SyncSender<Vec<u8>>,
    rejects: &mut Rejects,
    unparsable: &mut Unparsable,
    on_row: &mut dyn FnMut(Timestamp, &[Cell]) -> Result<()>,
) -> Result<Delivered> {
    let mut next = 0usize;
    let mut waiting = BTreeMap::<usize, Parsed>::new();
    let (mut lines_before, mut records) = (0u64, 0u64);
    loop {
        let parsed = match waiting.remove(&next) {
            Some(parsed) => parsed,
            None => match results.recv() {
                Ok((index, parsed)) => {
                    waiting.insert(index, parsed);
                    continue;
                }
                // Every block read has been parsed and handed on.
                Err(_) => {
                    return Ok(Delivered {
                        records,
                        read: lines_before,
                    })
                }
            },
        };
        next += 1;
        for &(column, line) in &parsed.unparsable {
            unparsable.note(&columns[column].0, lines_before + line);
        }
        let mut slots = parsed.slots.chunks_exact(columns.len().max(1));
        let mut cells: Vec<Cell> = Vec::with_capacity(columns.len());
        for (line, outcome) in &parsed.records {
            records += 1;
            let line = lines_before + line;
            match outcome {
                Err(reason) => rejects.reject(input, line, reason),
                Ok(time) => {
                    cells.clear();
                    if !columns.is_empty() {
                        let row = slots.next().context("a parsed block lost a row")?;
                        cells.extend(row.iter().map(|slot| cell(&parsed, *slot)));
                    }
                    on_row(*time, &cells)?;
                }
            }
        }
        if let Some(line) = parsed.not_utf8 {
            let error = io::Error::new(
                io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            );
            return Err(error)
                .with_context(|| format!("{}:{}: reading", input.name, lines_before + line));
        }
        lines_before += parsed.lines;
        // The block reader may have stopped already.
        let _ = give_back.send(parsed.text.into_bytes());
    }
}

/// The next block, in `bytes` (emptied first): about [`BLOCK_BYTES`], ending
/// at a line end (or the file's end). On a read error, the whole lines read before it, and the error.
fn read_block(
    reader: &mut Box<dyn BufRead + Send>,
    mut bytes: Vec<u8>,
) -> (Vec<u8>, Option<io::Error>) {
    bytes.clear();
    bytes.reserve(BLOCK_BYTES + (BLOCK_BYTES >> 4));
    let mut fill = || -> io::Result<()> {
        while bytes.len() < BLOCK_BYTES {
            let available = reader.fill_buf()?;
            if available.is_empty() {
                return Ok(());
            }
            let take = available.len().min(BLOCK_BYTES - bytes.len());
            bytes.extend_from_slice(&available[..take]);
            reader.consume(take);
        }
        if bytes.last() != Some(&b'\n') {
            reader.read_until(b'\n', &mut bytes)?;
        }
        Ok(())
    };
    match fill() {
        Ok(()) => (bytes, None),
        Err(error) => {
            // The line being read when it failed is not delivered.
            let whole = bytes
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |at| at + 1);
            bytes.truncate(whole);
            (bytes, Some(error))
        }
    }
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
    for text in block.split_inclusive('\n') {
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
