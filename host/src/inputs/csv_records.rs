//! CSV with a header: the wanted columns of each record. A line without a
//! quote or a stray `\r` (nearly every line of an export) is split at its
//! commas here, and so is one whose quoted fields close on it (a vendor
//! table's); any other record is read by `csv_core`, the `csv` crate's
//! parser. The rows and the reasons are the `csv` crate's, in its words, but
//! placed at the line where each record starts (a test holds this reader to
//! the `csv` crate alone, its places moved so).

use std::{
    borrow::Cow,
    io::{self, BufRead},
    ops::ControlFlow,
};

use anyhow::{anyhow, Context, Result};
use csv_core::ReadRecordResult;

use super::{
    records::{line_piece, recycle, stopped_by, OnRecord},
    InputFile,
};

/// Where a record starts: its first byte, after any line ends before it.
/// (The `csv` crate alone names the end of the record before, which in a
/// `\r\n` file is the line before: it ends a record at its `\r`.)
#[derive(Clone, Copy)]
pub(super) struct Place {
    pub byte: u64,
    pub line: u64,
    pub record: u64,
}

/// The header's verdict: where each wanted column is, and how many fields
/// every record must have.
pub(super) struct Header {
    positions: Vec<Option<usize>>,
    fields: usize,
}

impl Header {
    pub fn new(names: &[&str], wanted: &[&str]) -> Header {
        // Sentinel's portal writes `TimeGenerated [UTC]`; the name is what counts.
        let positions = wanted
            .iter()
            .map(|name| {
                names.iter().position(|column| {
                    column
                        .trim_start_matches('\u{feff}')
                        .trim()
                        .trim_end_matches(" [UTC]")
                        == *name
                })
            })
            .collect();
        Header {
            positions,
            fields: names.len(),
        }
    }

    /// How many fields every record must have.
    pub fn width(&self) -> usize {
        self.fields
    }

    /// The wanted fields of a record as wide as the header, an empty one
    /// as none.
    pub fn wanted<'s, 'a: 's>(
        &'s self,
        fields: &'s [&'a str],
    ) -> impl Iterator<Item = Option<&'a str>> + 's {
        self.positions.iter().map(|position| {
            position
                .and_then(|at| fields.get(at).copied())
                .filter(|value| !value.is_empty())
        })
    }

    /// How many of a record's first commas bound its wanted fields.
    pub fn commas_needed(&self) -> usize {
        self.positions
            .iter()
            .flatten()
            .max()
            .map_or(0, |last| last + 1)
    }

    /// The wanted fields of `text`, a record as wide as the header whose
    /// first [`Header::commas_needed`] commas are at `commas`; an empty one
    /// as none.
    pub fn wanted_between<'s, 'a: 's>(
        &'s self,
        text: &'a str,
        commas: &'s [usize],
    ) -> impl Iterator<Item = Option<&'a str>> + 's {
        self.positions.iter().map(move |position| {
            let at = (*position)?;
            let start = match at {
                0 => 0,
                at => commas.get(at - 1)? + 1,
            };
            let end = commas.get(at).copied().unwrap_or(text.len());
            // Commas are ASCII: both ends are character boundaries.
            text.get(start..end).filter(|value| !value.is_empty())
        })
    }

    /// The wanted fields of a record `width` fields wide, or why it is bad.
    fn pick<'a>(
        &self,
        place: Place,
        width: usize,
        fields: &[&'a str],
        picked: &mut Vec<Option<Cow<'a, str>>>,
    ) -> Result<(), String> {
        if width != self.fields {
            return Err(wrong_width(place, width, self.fields));
        }
        picked.clear();
        picked.extend(self.wanted(fields).map(|field| field.map(Cow::Borrowed)));
        Ok(())
    }
}

/// The `csv` crate's words for a record whose width is not the header's.
fn wrong_width(place: Place, width: usize, expected: usize) -> String {
    format!(
        "bad CSV record: CSV error: record {} (line: {}, byte: {}): found record with {} fields, \
         but the previous record has {} fields",
        place.record, place.line, place.byte, width, expected
    )
}

/// The `csv` crate's words for a field that is not UTF-8 (valid up to
/// `valid_up_to` of its bytes).
fn not_utf8(place: Place, field: usize, valid_up_to: usize) -> String {
    format!(
        "CSV parse error: record {} (line {}, field: {field}, byte: {}): invalid utf-8: invalid \
         UTF-8 in field {field} near byte index {valid_up_to}",
        place.record, place.line, place.byte,
    )
}

/// A record that the `csv` crate refuses, found in a block read apart from
/// the rest: said once its place in the file is known.
pub(super) struct Misfit {
    /// Where the record starts in its block.
    pub byte: u64,
    pub kind: MisfitKind,
}

pub(super) enum MisfitKind {
    /// As wide as `width`, not as the header.
    Width { width: usize, expected: usize },
    /// As wide as the header, with a field that is not UTF-8.
    NotUtf8 { field: usize, valid_up_to: usize },
}

impl Misfit {
    /// The reason, for the record numbered `record` that starts at `line`,
    /// in a block that starts `block_start` bytes into the input.
    pub fn say(&self, record: u64, line: u64, block_start: u64) -> String {
        let place = Place {
            byte: block_start + self.byte,
            line,
            record,
        };
        match self.kind {
            MisfitKind::Width { width, expected } => wrong_width(place, width, expected),
            MisfitKind::NotUtf8 { field, valid_up_to } => {
                format!("bad CSV record: {}", not_utf8(place, field, valid_up_to))
            }
        }
    }
}

/// The input, a line at a time, and how far its current line is read.
struct Lines {
    source: Box<dyn BufRead>,
    max: usize,
    line: Vec<u8>,
    at: usize,
    /// Why there is nothing after `line`, once there is not.
    stop: Option<Stop>,
}

enum Stop {
    End,
    /// A line longer than the limit, on which the host's `csv` crate reader
    /// failed too. Nothing of it is kept.
    TooLong,
    /// Reading failed after the bytes in `line`.
    Failed(io::Error),
}

/// The error the `csv` crate's reader got for a line over the limit.
pub(super) fn too_long(max: usize) -> io::Error {
    let message = format!("a line longer than the limit of {max} bytes (--max-line-mib)");
    io::Error::new(io::ErrorKind::InvalidData, message)
}

impl Lines {
    /// Counts the current line, read whole, into `consumed`.
    fn finish_line(&mut self, consumed: &mut Consumed) {
        consumed.bytes = self.line.len() as u64;
        consumed.lines = u64::from(self.line.last() == Some(&b'\n'));
        self.at = self.line.len();
    }

    /// Whether the current line is read to its end.
    fn exhausted(&self) -> bool {
        self.at == self.line.len()
    }

    /// Passes the line ends before the next record (blank lines, and the
    /// `\n` of a record `csv_core` ended at its `\r`), as `csv_core` would,
    /// moving `place` past them: false at the end of the input.
    fn skip_line_ends(&mut self, place: &mut Place) -> bool {
        loop {
            if self.exhausted() {
                self.next_line();
                if self.exhausted() {
                    return !matches!(self.stop, Some(Stop::End));
                }
            }
            let rest = &self.line[self.at..];
            let ends = rest
                .iter()
                .position(|byte| !matches!(byte, b'\r' | b'\n'))
                .unwrap_or(rest.len());
            place.byte += ends as u64;
            place.line += memchr::memchr_iter(b'\n', &rest[..ends]).count() as u64;
            self.at += ends;
            if !self.exhausted() {
                return true;
            }
        }
    }

    /// Takes the next line (with its `\n`) when there is one to take.
    ///
    /// A line over the limit stops the reading at its first record, where the
    /// `csv` crate alone stopped wherever its reads of the input happened to
    /// cross the limit: at the same record, or at a later one on the same line
    /// ended by a bare `\r` (which no export writes).
    fn next_line(&mut self) {
        self.line.clear();
        self.at = 0;
        if self.stop.is_some() {
            return;
        }
        loop {
            let (piece, ended) = match line_piece(&mut *self.source) {
                Ok(Some(piece)) => piece,
                Ok(None) => {
                    self.stop = Some(Stop::End);
                    return;
                }
                Err(error) => {
                    self.stop = Some(Stop::Failed(error));
                    return;
                }
            };
            if self.line.len() + piece.len() - usize::from(ended) > self.max {
                self.line.clear();
                self.stop = Some(Stop::TooLong);
                return;
            }
            self.line.extend_from_slice(piece);
            let taken = piece.len();
            self.source.consume(taken);
            if ended {
                return;
            }
        }
    }
}

/// A record as `csv_core` leaves it: the fields' bytes, end to end, and
/// where each ends.
#[derive(Default)]
struct CoreRecord {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl CoreRecord {
    fn fields(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .map(|(start, end)| self.bytes.get(start..*end).unwrap_or_default())
    }

    /// The fields as text (into `fields`) and how many there are; or the
    /// width and the reason, for the first field that is not UTF-8.
    fn texts<'r>(
        &'r self,
        place: Place,
        fields: &mut Vec<&'r str>,
    ) -> Result<usize, (usize, String)> {
        let width = self.ends.len();
        // One check of the whole record rather than one per field (a wide
        // table has hundreds); a field end inside a character means fields
        // that are not UTF-8 each alone, found by the check per field.
        let used = self.ends.last().map_or(0, |&end| end);
        if let Some(Ok(text)) = self.bytes.get(..used).map(std::str::from_utf8) {
            let starts = std::iter::once(0).chain(self.ends.iter().copied());
            for (start, &end) in starts.zip(&self.ends) {
                match text.get(start..end) {
                    Some(field) => fields.push(field),
                    None => break,
                }
            }
            if fields.len() == width {
                return Ok(width);
            }
            fields.clear();
        }
        for (index, field) in self.fields().enumerate() {
            match std::str::from_utf8(field) {
                Ok(text) => fields.push(text),
                Err(error) => return Err((width, not_utf8(place, index, error.valid_up_to()))),
            }
        }
        Ok(width)
    }
}

/// Bytes and line ends consumed.
#[derive(Default)]
struct Consumed {
    bytes: u64,
    lines: u64,
}

/// Reads one record with `csv_core`, from where `lines` is: whether there
/// was one, or the error that stopped it.
fn read_with_core(
    core: &mut csv_core::Reader,
    lines: &mut Lines,
    record: &mut CoreRecord,
    consumed: &mut Consumed,
) -> Result<bool, io::Error> {
    let (mut written, mut ended) = (0, 0);
    record.bytes.resize(record.bytes.len().max(1024), 0);
    record.ends.resize(record.ends.len().max(64), 0);
    loop {
        if lines.exhausted() && lines.stop.is_none() {
            lines.next_line();
        }
        let input: &[u8] = match lines.exhausted() {
            false => &lines.line[lines.at..],
            // What stopped the input stops the record; at the end,
            // `csv_core` ends the last record when given nothing.
            true => match lines.stop.replace(Stop::End) {
                None | Some(Stop::End) => &[],
                Some(Stop::TooLong) => return Err(too_long(lines.max)),
                Some(Stop::Failed(error)) => return Err(error),
            },
        };
        let (result, read, out, ends) = core.read_record(
            input,
            &mut record.bytes[written..],
            &mut record.ends[ended..],
        );
        consumed.bytes += read as u64;
        consumed.lines += memchr::memchr_iter(b'\n', &input[..read]).count() as u64;
        lines.at += read;
        written += out;
        ended += ends;
        match result {
            ReadRecordResult::InputEmpty => {}
            ReadRecordResult::OutputFull => record.bytes.resize(2 * record.bytes.len(), 0),
            ReadRecordResult::OutputEndsFull => record.ends.resize(2 * record.ends.len(), 0),
            ReadRecordResult::Record => {
                record.ends.truncate(ended);
                return Ok(true);
            }
            ReadRecordResult::End => return Ok(false),
        }
    }
}

/// Calls `on_record(line, fields)` for each record of `source` after the
/// header; a record that is not CSV, or not as wide as the header, comes
/// as its reason.
pub fn read_csv(
    input: &InputFile,
    source: Box<dyn BufRead>,
    wanted: &[&str],
    on_record: &mut OnRecord,
) -> Result<()> {
    let start = Place {
        byte: 0,
        line: 1,
        record: 0,
    };
    read_csv_from(input, source, wanted, None, start, on_record)
}

/// [`read_csv`] from a record boundary at `place`, with the `header` read
/// before it (if it was).
pub(super) fn read_csv_from(
    input: &InputFile,
    source: Box<dyn BufRead>,
    wanted: &[&str],
    header: Option<Header>,
    place: Place,
    on_record: &mut OnRecord,
) -> Result<()> {
    let mut reader = Reader {
        input,
        wanted,
        header,
        place,
        spare_picked: Vec::new(),
    };
    let mut lines = Lines {
        source,
        max: input.max_line,
        line: Vec::new(),
        at: 0,
        stop: None,
    };
    let mut core = csv_core::Reader::new();
    let mut record = CoreRecord::default();
    let mut spare_fields = Vec::<&str>::new();
    let mut commas = Vec::new();
    loop {
        if !lines.skip_line_ends(&mut reader.place) {
            return Ok(());
        }
        let mut consumed = Consumed::default();
        // A whole line of plain fields, or of quoted ones that close on the
        // line, read here; anything else by `csv_core`.
        let whole_line = lines.at == 0 && lines.stop.is_none();
        let simple = whole_line
            .then(|| simple_line(&lines.line, &mut commas))
            .flatten();
        if let Some(text) = simple {
            let mut fields: Vec<&str> = recycle(std::mem::take(&mut spare_fields));
            split_at_commas(text, &commas, &mut fields);
            let taken = reader.take(Ok(fields.len()), &fields, on_record);
            spare_fields = recycle(fields);
            lines.finish_line(&mut consumed);
            taken?;
        } else {
            if whole_line && quoted_line(&lines.line, &mut record) {
                lines.finish_line(&mut consumed);
            } else {
                let read = read_with_core(&mut core, &mut lines, &mut record, &mut consumed);
                match read {
                    Ok(false) => return Ok(()),
                    Ok(true) => {}
                    Err(error) if reader.header.is_none() => {
                        return Err(anyhow!(error))
                            .with_context(|| format!("{}:1: reading the CSV header", input.name));
                    }
                    // A CSV record may span lines: after a line too long, or a
                    // read error, nothing tells where the next one starts.
                    Err(error) => return on_record(reader.place.line, Err(stopped_by(&error))),
                }
            }
            let mut fields: Vec<&str> = recycle(std::mem::take(&mut spare_fields));
            let width = record.texts(reader.place, &mut fields);
            let taken = reader.take(width, &fields, on_record);
            spare_fields = recycle(fields);
            taken?;
        }
        reader.place.byte += consumed.bytes;
        reader.place.line += consumed.lines;
        reader.place.record += 1;
    }
}

/// What the records read so far leave for the next.
struct Reader<'r> {
    input: &'r InputFile,
    wanted: &'r [&'r str],
    header: Option<Header>,
    /// Where the next record starts.
    place: Place,
    spare_picked: Vec<Option<Cow<'static, str>>>,
}

impl Reader<'_> {
    /// A record read, `width` fields wide (or with a field that is not
    /// UTF-8): the header, or a row or its reason to `on_record`.
    fn take(
        &mut self,
        width: Result<usize, (usize, String)>,
        fields: &[&str],
        on_record: &mut OnRecord,
    ) -> Result<()> {
        let line = self.place.line;
        match (&self.header, width) {
            (None, Ok(_)) => self.header = Some(Header::new(fields, self.wanted)),
            (None, Err((_, reason))) => {
                return Err(anyhow!(reason))
                    .with_context(|| format!("{}:1: reading the CSV header", self.input.name));
            }
            // The `csv` crate checks the width before the text.
            (Some(header), Err((width, reason))) if width == header.fields => {
                on_record(line, Err(format!("bad CSV record: {reason}")))?;
            }
            (Some(header), Ok(width) | Err((width, _))) => {
                let mut picked = recycle(std::mem::take(&mut self.spare_picked));
                let row = header.pick(self.place, width, fields, &mut picked);
                let taken = on_record(line, row.map(|()| picked.as_slice()));
                self.spare_picked = recycle(picked);
                taken?;
            }
        }
        Ok(())
    }
}

/// The text of a line with no quote and no `\r` but at its end, if it is
/// UTF-8 and not empty; `commas` holds where its commas are.
pub(super) fn simple_line<'a>(line: &'a [u8], commas: &mut Vec<usize>) -> Option<&'a str> {
    let content = line_content(line);
    commas.clear();
    let plain = !content.is_empty() && find_commas(content, commas);
    plain.then(|| std::str::from_utf8(content).ok()).flatten()
}

/// A line without its `\n` and a `\r` just before it.
fn line_content(line: &[u8]) -> &[u8] {
    match line.strip_suffix(b"\n") {
        Some(content) => content.strip_suffix(b"\r").unwrap_or(content),
        None => line,
    }
}

/// Reads a whole line whose quoted fields each close on it into `record`,
/// as `csv_core` would; false, leaving it for `csv_core`, at anything else:
/// a quote that does not close, a closing quote not before a comma or the
/// end, a quote inside an unquoted field, a `\r` but before the `\n`.
fn quoted_line(line: &[u8], record: &mut CoreRecord) -> bool {
    let content = line_content(line);
    if content.is_empty() {
        return false;
    }
    record.bytes.clear();
    record.ends.clear();
    // Where the field's bytes not yet copied start, whether that is inside
    // quotes, and the marks before `skip` (already read) to pass.
    let (mut start, mut quoted, mut skip) = (0, false, 0);
    let read = each_mark(content, |at| {
        match (content[at], quoted) {
            _ if at < skip => {}
            (b',', false) => {
                record.bytes.extend_from_slice(&content[start..at]);
                record.ends.push(record.bytes.len());
                start = at + 1;
            }
            (b',', true) => {}
            (b'"', false) if at == start => (start, quoted) = (at + 1, true),
            (b'"', true) => {
                record.bytes.extend_from_slice(&content[start..at]);
                match content.get(at + 1) {
                    // `""` is one quote.
                    Some(b'"') => {
                        record.bytes.push(b'"');
                        (start, skip) = (at + 2, at + 2);
                    }
                    // The last field: ended below.
                    None => (start, quoted) = (at + 1, false),
                    Some(b',') => {
                        record.ends.push(record.bytes.len());
                        (start, quoted, skip) = (at + 2, false, at + 2);
                    }
                    Some(_) => return ControlFlow::Break(()),
                }
            }
            // A quote inside an unquoted field, or a `\r`.
            _ => return ControlFlow::Break(()),
        }
        ControlFlow::Continue(())
    });
    if read.is_break() || quoted {
        return false;
    }
    record.bytes.extend_from_slice(&content[start..]);
    record.ends.push(record.bytes.len());
    true
}

/// Calls `on_mark` with where each comma, quote and `\r` of `bytes` is, in
/// order, until it breaks; found eight bytes at a time (a library search
/// per mark costs more than it saves on fields a few bytes long).
fn each_mark(bytes: &[u8], mut on_mark: impl FnMut(usize) -> ControlFlow<()>) -> ControlFlow<()> {
    let mut words = bytes.chunks_exact(8);
    for (index, word) in words.by_ref().enumerate() {
        let word = u64::from_le_bytes([
            word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
        ]);
        let mut found = equal(word, b',') | equal(word, b'"') | equal(word, b'\r');
        while found != 0 {
            on_mark(8 * index + found.trailing_zeros() as usize / 8)?;
            found &= found - 1;
        }
    }
    let start = bytes.len() - words.remainder().len();
    for (at, byte) in words.remainder().iter().enumerate() {
        if matches!(byte, b',' | b'"' | b'\r') {
            on_mark(start + at)?;
        }
    }
    ControlFlow::Continue(())
}

/// The high bit of each byte of `word` that is `byte` (exact).
fn equal(word: u64, byte: u8) -> u64 {
    const LOW: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let x = word ^ (u64::from(byte) * 0x0101_0101_0101_0101);
    !(((x & LOW) + LOW) | x | LOW)
}

/// Where the first `keep` commas of `bytes` are (into `commas`), and how
/// many it has in all; eight bytes at a time.
pub(super) fn count_commas(bytes: &[u8], keep: usize, commas: &mut Vec<usize>) -> usize {
    let mut count = 0;
    let mut words = bytes.chunks_exact(8);
    for (index, word) in words.by_ref().enumerate() {
        let word = u64::from_le_bytes([
            word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
        ]);
        let mut found = equal(word, b',');
        count += found.count_ones() as usize;
        while found != 0 && commas.len() < keep {
            commas.push(8 * index + found.trailing_zeros() as usize / 8);
            found &= found - 1;
        }
    }
    let start = bytes.len() - words.remainder().len();
    for (at, _) in words
        .remainder()
        .iter()
        .enumerate()
        .filter(|(_, &byte)| byte == b',')
    {
        count += 1;
        if commas.len() < keep {
            commas.push(start + at);
        }
    }
    count
}

/// Finds the commas of `bytes` (into `commas`), eight bytes at a time;
/// false at the first quote or `\r`.
pub(super) fn find_commas(bytes: &[u8], commas: &mut Vec<usize>) -> bool {
    let mut words = bytes.chunks_exact(8);
    for (index, word) in words.by_ref().enumerate() {
        let word = u64::from_le_bytes([
            word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
        ]);
        if equal(word, b'"') | equal(word, b'\r') != 0 {
            return false;
        }
        let mut found = equal(word, b',');
        while found != 0 {
            commas.push(8 * index + found.trailing_zeros() as usize / 8);
            found &= found - 1;
        }
    }
    let start = bytes.len() - words.remainder().len();
    for (at, byte) in words.remainder().iter().enumerate() {
        match byte {
            b'"' | b'\r' => return false,
            b',' => commas.push(start + at),
            _ => {}
        }
    }
    true
}

/// `text`'s fields, cut at `commas`.
pub(super) fn split_at_commas<'a>(text: &'a str, commas: &[usize], fields: &mut Vec<&'a str>) {
    let mut start = 0;
    for &at in commas {
        // A comma is one byte of ASCII: both sides are whole characters.
        fields.push(text.get(start..at).unwrap_or_default());
        start = at + 1;
    }
    fields.push(text.get(start..).unwrap_or_default());
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::io::Read;

    /// The line limit as the host applied it to the `csv` crate's reader: a
    /// reader that fails, rather than hand on more, when a line grows longer
    /// than `max` bytes.
    struct LineCap {
        reader: Box<dyn BufRead>,
        max: usize,
        /// Bytes handed on since the last line end.
        in_line: usize,
    }

    impl io::Read for LineCap {
        fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
            let available = self.fill_buf()?;
            let read = available.len().min(buffer.len());
            buffer[..read].copy_from_slice(&available[..read]);
            self.consume(read);
            Ok(read)
        }
    }

    impl BufRead for LineCap {
        fn fill_buf(&mut self) -> io::Result<&[u8]> {
            let (max, in_line) = (self.max, self.in_line);
            let available = self.reader.fill_buf()?;
            let line_part = memchr::memchr(b'\n', available).unwrap_or(available.len());
            if in_line + line_part > max {
                let message =
                    format!("a line longer than the limit of {max} bytes (--max-line-mib)");
                return Err(io::Error::new(io::ErrorKind::InvalidData, message));
            }
            Ok(available)
        }

        fn consume(&mut self, amount: usize) {
            if let Ok(available) = self.reader.fill_buf() {
                let consumed = &available[..amount.min(available.len())];
                self.in_line = match memchr::memrchr(b'\n', consumed) {
                    Some(at) => consumed.len() - at - 1,
                    None => self.in_line + consumed.len(),
                };
            }
            self.reader.consume(amount);
        }
    }

    type Outcome = (
        Vec<(u64, Result<Vec<Option<String>>, String>)>,
        Option<String>,
    );

    const WANTED: [&str; 3] = ["b", "a", "zz"];

    fn collect(read: impl FnOnce(&mut OnRecord) -> Result<()>) -> Outcome {
        let mut rows = Vec::new();
        let result = read(&mut |line, fields| {
            let fields = fields.map(|fields| {
                fields
                    .iter()
                    .map(|field| field.as_deref().map(str::to_owned))
                    .collect()
            });
            rows.push((line, fields));
            Ok(())
        });
        (rows, result.err().map(|error| format!("{error:#}")))
    }

    /// `bytes` as a reader that hands out `chunk` bytes at a time, and fails
    /// after them if `fails`.
    pub(super) fn reader(bytes: &[u8], chunk: usize, fails: bool) -> Box<dyn BufRead> {
        struct Failing(bool);
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                match self.0 {
                    true => Err(io::Error::other("unexpected end of gzip")),
                    false => Ok(0),
                }
            }
        }
        Box::new(io::BufReader::with_capacity(
            chunk,
            io::Cursor::new(bytes.to_vec()).chain(Failing(fails)),
        ))
    }

    /// Numbers below the one asked for, from `seed` (xorshift: repeatable).
    pub(in crate::inputs) fn random(mut seed: u64) -> impl FnMut(usize) -> usize {
        move |below| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % below as u64) as usize
        }
    }

    /// Where a record the `csv` crate places at `position` starts in `text`:
    /// after the line ends it leaves before it.
    fn record_start(text: &[u8], position: &csv::Position) -> (u64, u64) {
        let rest = text.get(position.byte() as usize..).unwrap_or_default();
        let ends = rest
            .iter()
            .take_while(|byte| matches!(byte, b'\r' | b'\n'))
            .collect::<Vec<_>>();
        let lines = ends.iter().filter(|byte| **byte == &b'\n').count() as u64;
        (position.line() + lines, position.byte() + ends.len() as u64)
    }

    /// The `csv` crate's words for a record at `position`, with the record's
    /// start in `text` in place of its numbers.
    fn moved(text: &[u8], position: &csv::Position, message: String) -> String {
        let (line, byte) = record_start(text, position);
        let (old_line, old_byte) = (position.line(), position.byte());
        message
            .replace(
                &format!("(line: {old_line}, byte: {old_byte})"),
                &format!("(line: {line}, byte: {byte})"),
            )
            .replace(
                &format!("(line {old_line}, field"),
                &format!("(line {line}, field"),
            )
            .replace(
                &format!("byte: {old_byte}): invalid utf-8"),
                &format!("byte: {byte}): invalid utf-8"),
            )
    }

    /// The reader this one replaced: the `csv` crate alone, with its places
    /// moved to where each record starts in `text`.
    fn csv_crate_alone(input: &InputFile, text: &[u8], reader: Box<dyn BufRead>) -> Outcome {
        collect(|on_record| {
            let reader = LineCap {
                reader,
                max: input.max_line,
                in_line: 0,
            };
            let mut csv = csv::ReaderBuilder::new()
                .flexible(false)
                .from_reader(reader);
            let header = csv
                .headers()
                .map_err(|error| anyhow!(moved(text, &csv::Position::new(), error.to_string())))
                .with_context(|| format!("{}:1: reading the CSV header", input.name))?
                .clone();
            let names: Vec<&str> = header.iter().collect();
            let positions = Header::new(&names, &WANTED).positions;
            let mut record = csv::StringRecord::new();
            loop {
                let position = csv.position().clone();
                let (line, _) = record_start(text, &position);
                match csv.read_record(&mut record) {
                    Ok(false) => return Ok(()),
                    Ok(true) => {
                        let fields: Vec<Option<Cow<str>>> = positions
                            .iter()
                            .map(|position| {
                                position
                                    .and_then(|at| record.get(at))
                                    .filter(|value| !value.is_empty())
                                    .map(Cow::Borrowed)
                            })
                            .collect();
                        on_record(line, Ok(&fields))?;
                    }
                    Err(error) if error.is_io_error() => {
                        let reason = match error.into_kind() {
                            csv::ErrorKind::Io(error) => stopped_by(&error),
                            kind => format!("reading stopped here: {kind:?}"),
                        };
                        return on_record(line, Err(reason));
                    }
                    Err(error) => {
                        let reason = moved(text, &position, error.to_string());
                        on_record(line, Err(format!("bad CSV record: {reason}")))?
                    }
                }
            }
        })
    }

    fn both(bytes: &[u8], chunk: usize, fails: bool, max: usize) -> (Outcome, Outcome) {
        let input = InputFile::by_content("t.csv").with_max_line(max);
        let new =
            collect(|on_record| read_csv(&input, reader(bytes, chunk, fails), &WANTED, on_record));
        let old = csv_crate_alone(&input, bytes, reader(bytes, chunk, fails));
        (new, old)
    }

    #[test]
    fn commas_are_found_at_every_place_of_a_word() {
        for length in 0..40 {
            for comma in 0..length {
                let mut bytes = vec![b'x'; length];
                bytes[comma] = b',';
                let mut commas = Vec::new();
                assert!(find_commas(&bytes, &mut commas));
                assert_eq!(commas, [comma]);
                for stop in [b'"', b'\r'] {
                    bytes[comma] = stop;
                    assert!(!find_commas(&bytes, &mut commas), "{length} {comma}");
                }
            }
        }
        // Bytes that differ from a comma by one bit, or are near it, are not
        // commas.
        let near: Vec<u8> = (0..=255u8)
            .filter(|byte| *byte != b',' && *byte != b'"' && *byte != b'\r')
            .collect();
        let mut commas = Vec::new();
        assert!(find_commas(&near, &mut commas));
        assert!(commas.is_empty());
    }

    #[test]
    fn commas_are_counted_and_the_first_kept_at_every_place_of_a_word() {
        for length in 0..40 {
            let bytes: Vec<u8> = (0..length)
                .map(|at| {
                    if at % 3 == 1 || at % 7 == 0 {
                        b','
                    } else {
                        0xac
                    }
                })
                .collect();
            let all: Vec<usize> = (0..length).filter(|&at| bytes[at] == b',').collect();
            for keep in 0..all.len() + 2 {
                let mut commas = Vec::new();
                assert_eq!(count_commas(&bytes, keep, &mut commas), all.len());
                assert_eq!(commas, all[..keep.min(all.len())], "{length} {keep}");
            }
        }
    }

    #[test]
    fn plain_lines_read_as_the_csv_crate_reads_them() {
        let text = b"a,b,c\n1,2,3\n4,,6\r\n7,8\n\xff,x,y\n9,10,11";
        let (new, old) = both(text, 4, false, 100);
        assert_eq!(new, old);
        assert_eq!(
            new.0[0],
            (2, Ok(vec![Some("2".into()), Some("1".into()), None]))
        );
        assert_eq!(new.0.len(), 5);
    }

    #[test]
    fn quoted_lines_read_as_the_csv_crate_reads_them() {
        let mut record = CoreRecord::default();
        for (line, fields) in [
            (
                &b"a,\"b,c\",\"d\"\"e\",,\"\"\r\n"[..],
                &["a", "b,c", "d\"e", "", ""][..],
            ),
            (b"\"\"\"\"\n", &["\""]),
            (b"\"x\xc3\xa9\",", &["x\u{e9}", ""]),
        ] {
            assert!(quoted_line(line, &mut record));
            let texts: Vec<&[u8]> = record.fields().collect();
            let expected: Vec<&[u8]> = fields.iter().map(|field| field.as_bytes()).collect();
            assert_eq!(texts, expected);
        }
        // Left to `csv_core`: lines it must judge.
        for line in [
            &b"\"x\"y,z\n"[..],
            b"a\"b,c\n",
            b"\"open,\n",
            b"\"\"\"\n",
            b"\"a\"\rb\n",
            b"\n",
        ] {
            assert!(!quoted_line(line, &mut record), "{line:?}");
        }
        let text = b"a,b,c\n\"1\",\"2\"\"\",3\n\"x\"y,z,w\n4,\"5\n6\",7\n\"\xff\",8,9\n\"a\",b\n";
        for chunk in [4, 7, 64] {
            let (new, old) = both(text, chunk, false, 100);
            assert_eq!(new, old);
            assert_eq!(new.0.len(), 5);
        }
    }

    #[test]
    fn records_are_named_at_their_first_line() {
        // `\r\n` ends, a blank line and a quoted record over two lines.
        let text = b"a,b\r\n1,2\r\n\r\n3\r\n\"4\n\",5\r\n6,\xff\r\n7,8";
        let (rows, error) = collect(|on_record| {
            let input = InputFile::by_content("t.csv");
            read_csv(&input, reader(text, 8, false), &WANTED, on_record)
        });
        assert_eq!(error, None);
        let lines: Vec<u64> = rows.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, [2, 4, 5, 7, 8]);
        let Err(reason) = &rows[1].1 else {
            panic!("{rows:?}")
        };
        assert!(reason.contains("(line: 4, byte: 12)"), "{reason}");
        let Err(reason) = &rows[3].1 else {
            panic!("{rows:?}")
        };
        assert!(reason.contains("(line 7, field: 1, byte: 23)"), "{reason}");
    }

    /// Random texts of the bytes that matter to CSV, read in random chunks,
    /// some ending in a read error; with small line limits, texts without a
    /// `\r` (see [`Lines::next_line`] for why).
    #[test]
    fn any_text_reads_as_the_csv_crate_reads_it() {
        const BYTES: &[u8] = b"ab,,,\"\"\r\n\n\n\xff\xc3\xa9 ";
        let mut next = random(0x9e37_79b9_7f4a_7c15);
        for case in 0..40_000 {
            let limited = case % 2 == 1;
            let mut text = match next(3) {
                0 => b"a,b,c\n".to_vec(),
                1 => b"\xef\xbb\xbfb,zz\r\n".to_vec(),
                _ => Vec::new(),
            };
            for _ in 0..next(40) {
                text.push(BYTES[next(BYTES.len())]);
            }
            if limited {
                text.retain(|byte| *byte != b'\r');
            }
            // Chunks of 4 bytes or more: the `csv` crate takes a first read of
            // exactly a BOM for the end of the input.
            let chunk = 4 + next(6);
            // A limit below the chunk size lets the `csv` crate's reads miss
            // a long line inside a chunk; the host reads in chunks of 1 MiB
            // at most, with a limit of 1 MiB or more.
            let max = if limited { chunk + next(30) } else { 1000 };
            let fails = next(4) == 0;
            let (new, old) = both(&text, chunk, fails, max);
            assert_eq!(
                new,
                old,
                "case {case}: {:?} in chunks of {chunk}, failing {fails}, limit {max}",
                String::from_utf8_lossy(&text)
            );
        }
    }
}
