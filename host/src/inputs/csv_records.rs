//! CSV with a header: the wanted columns of each record. Lines without a
//! quote or a stray `\r` (nearly every line of an export) are split at their
//! commas here; from the first line that is not that simple to the end of
//! the file, the `csv` crate reads. Both say the same: the same fields, and
//! the same reasons at the same lines, in the `csv` crate's words, with the
//! places it would give (a test holds them to a reader that is the `csv`
//! crate alone).

use std::{
    borrow::Cow,
    io::{self, BufRead, Read},
};

use anyhow::{anyhow, Context, Result};

use super::{
    records::{stopped_by, OnRecord},
    InputFile,
};

/// Where the `csv` crate says a record starts: after the bytes it consumed
/// for the records before. It ends a `\r\n` record at the `\r` and consumes
/// the `\n` with the next record, so in such a file a record's place is the
/// line before it (its `line` is what the rejects name, kept as it was).
#[derive(Clone, Copy)]
struct Place {
    byte: u64,
    line: u64,
    record: u64,
}

/// The header's verdict: where each wanted column is, and how many fields
/// every record must have.
struct Header {
    positions: Vec<Option<usize>>,
    fields: usize,
}

impl Header {
    fn new(names: &[&str], wanted: &[&str]) -> Header {
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

    /// The wanted fields of a record `width` fields wide, or why it is bad.
    fn pick<'a>(
        &self,
        place: Place,
        width: usize,
        fields: &[&'a str],
        picked: &mut Vec<Option<Cow<'a, str>>>,
    ) -> Result<(), String> {
        if width != self.fields {
            return Err(format!(
                "bad CSV record: CSV error: record {} (line: {}, byte: {}): found record with {} \
                 fields, but the previous record has {} fields",
                place.record, place.line, place.byte, width, self.fields
            ));
        }
        picked.clear();
        picked.extend(self.positions.iter().map(|position| {
            position
                .and_then(|at| fields.get(at).copied())
                .filter(|value| !value.is_empty())
                .map(Cow::Borrowed)
        }));
        Ok(())
    }
}

/// The `csv` crate's words for a field that is not UTF-8.
fn not_utf8(place: Place, field: usize, error: &std::str::Utf8Error) -> String {
    format!(
        "CSV parse error: record {} (line {}, field: {field}, byte: {}): invalid utf-8: invalid \
         UTF-8 in field {field} near byte index {}",
        place.record,
        place.line,
        place.byte,
        error.valid_up_to()
    )
}

/// An empty vector of another element type in `spare`'s allocation: the
/// buffers of the record before, without its borrows.
fn recycle<T, U>(spare: Vec<T>) -> Vec<U> {
    spare.into_iter().filter_map(|_| None).collect()
}

/// Calls `on_record(line, fields)` for each record of `reader` after the
/// header; a record that is not CSV, or not as wide as the header, comes
/// as its reason.
pub fn read_csv(
    input: &InputFile,
    mut source: Box<dyn BufRead>,
    wanted: &[&str],
    on_record: &mut OnRecord,
) -> Result<()> {
    let mut place = Place {
        byte: 0,
        line: 1,
        record: 0,
    };
    // A `\n` the `csv` crate would consume with the next record.
    let mut pending_lf = false;
    let mut header: Option<Header> = None;
    let mut line = Vec::new();
    let (mut spare_fields, mut spare_picked) = (Vec::<&str>::new(), Vec::<Option<Cow<str>>>::new());
    loop {
        let ended = match take_line(&mut source, &mut line, input.max_line) {
            Taken::Line(ended) => ended,
            Taken::End => return Ok(()),
            Taken::TooLong if header.is_none() => {
                return Err(anyhow!(LineCap::too_long(input.max_line)))
                    .with_context(|| format!("{}:1: reading the CSV header", input.name));
            }
            Taken::TooLong => {
                let reason = stopped_by(&LineCap::too_long(input.max_line));
                return on_record(place.line, Err(reason));
            }
            // A `\r` may end records before the error: the `csv` crate says
            // which.
            Taken::Failed(error) => {
                source = Box::new(io::BufReader::new(Failed(Some(error))));
                break;
            }
        };
        let (content, crlf) = match line.strip_suffix(b"\r\n") {
            Some(content) => (content, true),
            None => (line.strip_suffix(b"\n").unwrap_or(&line), false),
        };
        let simple = !content.is_empty() && memchr::memchr2(b'"', b'\r', content).is_none();
        let Some(text) = simple.then(|| std::str::from_utf8(content).ok()).flatten() else {
            break;
        };
        let mut fields: Vec<&str> = recycle(std::mem::take(&mut spare_fields));
        split_at_commas(text, &mut fields);
        match &header {
            None => header = Some(Header::new(&fields, wanted)),
            Some(header) => {
                let mut picked = recycle(std::mem::take(&mut spare_picked));
                let row = header.pick(place, fields.len(), &fields, &mut picked);
                on_record(place.line, row.map(|()| picked.as_slice()))?;
                spare_picked = recycle(picked);
            }
        }
        spare_fields = recycle(fields);
        let length = content.len() as u64;
        place.byte += u64::from(pending_lf) + length + u64::from(ended);
        place.line += u64::from(pending_lf) + u64::from(ended && !crlf);
        place.record += 1;
        pending_lf = crlf;
    }
    // The rest of the file, from the line just taken, to the `csv` crate.
    let mut taken = Vec::with_capacity(line.len() + 1);
    if pending_lf {
        taken.push(b'\n');
    }
    taken.extend_from_slice(&line);
    let rest = LineCap {
        reader: Box::new(io::Cursor::new(taken).chain(source)),
        max: input.max_line,
        in_line: 0,
    };
    read_csv_rest(input, rest, place, header, wanted, on_record)
}

/// `text`'s fields, cut at each comma (by `memchr`: `str::split` costs as
/// much as the whole parse of the `csv` crate).
fn split_at_commas<'a>(text: &'a str, fields: &mut Vec<&'a str>) {
    let mut start = 0;
    for at in memchr::memchr_iter(b',', text.as_bytes()) {
        // A comma is one byte of ASCII: both sides are whole characters.
        fields.push(text.get(start..at).unwrap_or_default());
        start = at + 1;
    }
    fields.push(text.get(start..).unwrap_or_default());
}

/// What [`take_line`] took.
enum Taken {
    /// A line, and whether it ends in `\n` (not at the end of the input).
    Line(bool),
    End,
    /// A line longer than the limit: the error the `csv` crate's reader
    /// gets from [`LineCap`]. Only the line's start was taken.
    TooLong,
    /// Reading failed; what was read of the line is taken.
    Failed(io::Error),
}

/// Takes the next line of `reader` into `line` (emptied first), with its
/// `\n`.
///
/// A line over the limit stops the reading at its first record, where the
/// `csv` crate alone stopped wherever its reads of the input happened to
/// cross the limit: at the same record, or at a later one on the same line
/// ended by a bare `\r` (which no export writes).
fn take_line(reader: &mut dyn BufRead, line: &mut Vec<u8>, max: usize) -> Taken {
    line.clear();
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Taken::Failed(error),
        };
        if available.is_empty() {
            return match line.is_empty() {
                true => Taken::End,
                false => Taken::Line(false),
            };
        }
        let (part, ended) = match memchr::memchr(b'\n', available) {
            Some(at) => (at, true),
            None => (available.len(), false),
        };
        if line.len() + part > max {
            return Taken::TooLong;
        }
        let taken = part + usize::from(ended);
        line.extend_from_slice(&available[..taken]);
        reader.consume(taken);
        if ended {
            return Taken::Line(true);
        }
    }
}

/// A reader that fails once with the error its source failed with.
struct Failed(Option<io::Error>);

impl Read for Failed {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        self.0.take().map_or(Ok(0), Err)
    }
}

/// Records from `start` on by the `csv` crate, its places offset by where
/// it starts.
fn read_csv_rest(
    input: &InputFile,
    rest: LineCap,
    start: Place,
    mut header: Option<Header>,
    wanted: &[&str],
    on_record: &mut OnRecord,
) -> Result<()> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(rest);
    let mut record = csv::ByteRecord::new();
    let mut spare_picked = Vec::<Option<Cow<str>>>::new();
    loop {
        let at = csv.position();
        let place = Place {
            byte: start.byte + at.byte(),
            line: start.line + at.line() - 1,
            record: start.record + at.record(),
        };
        match csv.read_byte_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let mut fields = Vec::with_capacity(record.len());
                let mut bad = None;
                for (index, field) in record.iter().enumerate() {
                    match std::str::from_utf8(field) {
                        Ok(text) => fields.push(text),
                        Err(error) => {
                            bad = Some(not_utf8(place, index, &error));
                            break;
                        }
                    }
                }
                match (&header, bad) {
                    (None, Some(reason)) => {
                        return Err(anyhow!(reason))
                            .with_context(|| format!("{}:1: reading the CSV header", input.name));
                    }
                    (None, None) => header = Some(Header::new(&fields, wanted)),
                    // The `csv` crate checks the width before the text.
                    (Some(header), Some(reason)) if record.len() == header.fields => {
                        on_record(place.line, Err(format!("bad CSV record: {reason}")))?;
                    }
                    (Some(header), _) => {
                        let mut picked = recycle(std::mem::take(&mut spare_picked));
                        let row = header.pick(place, record.len(), &fields, &mut picked);
                        on_record(place.line, row.map(|()| picked.as_slice()))?;
                        spare_picked = recycle(picked);
                    }
                }
            }
            // A CSV record may span lines: after a line too long, or a read
            // error, the reader cannot find where the next one starts.
            Err(error) if header.is_none() => {
                return Err(error)
                    .with_context(|| format!("{}:1: reading the CSV header", input.name));
            }
            Err(error) => {
                let reason = match error.into_kind() {
                    csv::ErrorKind::Io(error) => stopped_by(&error),
                    kind => format!("reading stopped here: {kind:?}"),
                };
                return on_record(place.line, Err(reason));
            }
        }
    }
}

/// A reader that fails, rather than hand on more, when a line grows longer
/// than `max` bytes.
struct LineCap {
    reader: Box<dyn BufRead>,
    max: usize,
    /// Bytes handed on since the last line end.
    in_line: usize,
}

impl LineCap {
    fn too_long(max: usize) -> io::Error {
        let message = format!("a line longer than the limit of {max} bytes (--max-line-mib)");
        io::Error::new(io::ErrorKind::InvalidData, message)
    }
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
            return Err(LineCap::too_long(max));
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

#[cfg(test)]
mod tests {
    use super::*;

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

    /// The reader this one replaced: the `csv` crate alone.
    fn csv_crate_alone(input: &InputFile, reader: Box<dyn BufRead>) -> Outcome {
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
                .with_context(|| format!("{}:1: reading the CSV header", input.name))?
                .clone();
            let names: Vec<&str> = header.iter().collect();
            let positions = Header::new(&names, &WANTED).positions;
            let mut record = csv::StringRecord::new();
            loop {
                let line = csv.position().line();
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
                    Err(error) => on_record(line, Err(format!("bad CSV record: {error}")))?,
                }
            }
        })
    }

    fn both(bytes: &[u8], chunk: usize, fails: bool, max: usize) -> (Outcome, Outcome) {
        let input = InputFile::by_content("t.csv").with_max_line(max);
        let new =
            collect(|on_record| read_csv(&input, reader(bytes, chunk, fails), &WANTED, on_record));
        let old = csv_crate_alone(&input, reader(bytes, chunk, fails));
        (new, old)
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

    /// Random texts of the bytes that matter to CSV, read in random chunks,
    /// some ending in a read error; with small line limits, texts without a
    /// `\r` (see [`take_line`] for why).
    #[test]
    fn any_text_reads_as_the_csv_crate_reads_it() {
        const BYTES: &[u8] = b"ab,,,\"\"\r\n\n\n\xff\xc3\xa9 ";
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |below: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % below as u64) as usize
        };
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
