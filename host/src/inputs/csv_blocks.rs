//! ASIM CSV read in blocks, on one thread or several (`parallel.rs`): the
//! header from the input's first buffer, then blocks of whole lines. A block with
//! no quote, and no `\r` but before a `\n`, holds one record per line, so a
//! worker can read it apart from the others; from the first block that
//! holds either, the rest of the file is read by the record reader
//! (`csv_records.rs`), starting at that block's first record. Rows, reasons
//! and places are the record reader's, whatever the number of threads.

use std::io::{self, BufRead, Read};

use anyhow::{Context, Result};
use asim_rule_core::{batch::Cell, schema::ColumnKind, Timestamp};

use super::{
    csv_records::{self, Header, Misfit, MisfitKind, Place},
    parallel::{self, Block, BlockFormat, Fails, Outlet, Parsed, Refusal, Rest, Start},
    records::{self, OnRecord},
    InputFile, Rejects, Unparsable,
};

/// Where the record reader takes over: the input from a record's start on.
pub struct Resume {
    source: Box<dyn BufRead>,
    header: Option<Header>,
    place: Place,
}

impl Resume {
    /// The rest of the records, `wanted` fields of each, to `on_record`.
    pub fn read(self, input: &InputFile, wanted: &[&str], on_record: &mut OnRecord) -> Result<()> {
        csv_records::read_csv_from(
            input,
            self.source,
            wanted,
            self.header,
            self.place,
            on_record,
        )
    }
}

/// Reads CSV `reader` with `threads` workers (the calling thread alone for
/// one), handing each row to `on_row` in file order; returns the records
/// read, and where the record reader must take over, if it must.
pub fn read_csv_rows(
    input: &InputFile,
    mut reader: Box<dyn BufRead + Send>,
    columns: &[(String, ColumnKind)],
    threads: usize,
    rejects: &mut Rejects,
    unparsable: &mut Unparsable,
    on_row: &mut dyn FnMut(Timestamp, &[Cell]) -> Result<()>,
) -> Result<(u64, Option<Resume>)> {
    let wanted = super::wanted_keys(columns);
    let header = plain_header(&mut *reader, &wanted, input.max_line);
    // As the record reader says it: nothing of the header was read.
    let header = header.with_context(|| format!("{}:1: reading the CSV header", input.name))?;
    let Some((header, start)) = header else {
        let place = Place {
            byte: 0,
            line: 1,
            record: 0,
        };
        let source: Box<dyn BufRead> = reader;
        let header = None;
        return Ok((
            0,
            Some(Resume {
                source,
                header,
                place,
            }),
        ));
    };
    let format = CsvBlocks {
        header,
        kinds: columns.iter().map(|(_, kind)| *kind).collect(),
        max_line: input.max_line,
    };
    let outlet = Outlet::new(input, columns, start, rejects, unparsable, on_row);
    let (records, rest) = parallel::read_blocks(&format, reader, threads, outlet)?;
    Ok((
        records,
        rest.map(|rest| resume(rest, format.header, input.max_line)),
    ))
}

/// The header, when the first line in the reader's buffer is a whole plain
/// one (taken from the reader then), and the lines and bytes it held.
fn plain_header(
    reader: &mut dyn BufRead,
    wanted: &[&str],
    max_line: usize,
) -> io::Result<Option<(Header, Start)>> {
    let head = reader.fill_buf()?;
    let Some(end) = memchr::memchr(b'\n', head).map(|at| at + 1) else {
        return Ok(None);
    };
    let line = &head[..end];
    if line.len() - 1 > max_line || matches!(line[0], b'\r' | b'\n') {
        return Ok(None);
    }
    let mut commas = Vec::new();
    let Some(text) = csv_records::simple_line(line, &mut commas) else {
        return Ok(None);
    };
    let mut names = Vec::new();
    csv_records::split_at_commas(text, &commas, &mut names);
    let header = Header::new(&names, wanted);
    reader.consume(end);
    let start = Start {
        lines: 1,
        bytes: end as u64,
    };
    Ok(Some((header, start)))
}

/// The record reader's start on `rest`: its block, then what followed it.
fn resume(rest: Rest, header: Header, max_line: usize) -> Resume {
    let Rest {
        mut block,
        after,
        lines,
        bytes,
        records,
    } = rest;
    // The record reader stops at a line too long; the block reader left it
    // blank, so the block ends before it, and so does the input.
    let after: Box<dyn BufRead> = match block.too_long.first() {
        Some(&(line, _)) => {
            let start = match line {
                1 => 0,
                line => memchr::memchr_iter(b'\n', &block.bytes)
                    .nth(line as usize - 2)
                    .map_or(block.bytes.len(), |at| at + 1),
            };
            block.bytes.truncate(start);
            Box::new(io::BufReader::new(Fails(Some(csv_records::too_long(
                max_line,
            )))))
        }
        None => after,
    };
    Resume {
        source: Box::new(io::Cursor::new(block.bytes).chain(after)),
        header: Some(header),
        place: Place {
            byte: bytes,
            line: lines + 1,
            record: records + 1,
        },
    }
}

/// CSV blocks of one file: its header, and the wanted columns' kinds.
struct CsvBlocks {
    header: Header,
    kinds: Vec<ColumnKind>,
    max_line: usize,
}

impl BlockFormat for CsvBlocks {
    fn stands_alone(&self, block: &Block) -> bool {
        let bytes = &block.bytes;
        memchr::memchr2_iter(b'"', b'\r', bytes)
            .all(|at| bytes[at] == b'\r' && bytes.get(at + 1) == Some(&b'\n'))
    }

    fn reads_a_cut_line(&self) -> bool {
        true
    }

    fn parse(&self, block: Block) -> Parsed {
        let mut parsed = Parsed {
            bytes: block.bytes.len() as u64,
            ..Parsed::default()
        };
        let mut too_long = block.too_long.iter().map(|(line, _)| *line).peekable();
        let (text, misfits) = match String::from_utf8(block.bytes) {
            Ok(text) => (text, Vec::new()),
            Err(error) => {
                let mut bytes = error.into_bytes();
                let misfits = self.blank_lines_not_utf8(&mut bytes);
                let text = String::from_utf8(bytes)
                    .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned());
                (text, misfits)
            }
        };
        let mut misfits = misfits.into_iter().peekable();
        let mut commas = Vec::new();
        let keep = self.header.commas_needed();
        let mut line_start = 0;
        for line in parallel::lines(&text) {
            parsed.lines += 1;
            let (number, byte) = (parsed.lines, line_start);
            line_start += line.len();
            let line = line.strip_suffix('\n').unwrap_or(line);
            if too_long.next_if_eq(&number).is_some() || line.len() > self.max_line {
                let reason = records::stopped_by(&csv_records::too_long(self.max_line));
                parsed.records.push((number, Err(Refusal::Said(reason))));
                parsed.stops = true;
                break;
            }
            let content = line.strip_suffix('\r').unwrap_or(line);
            if content.is_empty() {
                continue;
            }
            if let Some((_, misfit)) = misfits.next_if(|(line, _)| *line == number) {
                parsed.records.push((number, Err(Refusal::Misfit(misfit))));
                continue;
            }
            commas.clear();
            // A block that stands alone has no quote and no bare `\r`: its
            // fields are between its commas.
            let width = csv_records::count_commas(content.as_bytes(), keep, &mut commas) + 1;
            if width != self.header.width() {
                let kind = MisfitKind::Width {
                    width,
                    expected: self.header.width(),
                };
                let misfit = Misfit {
                    byte: byte as u64,
                    kind,
                };
                parsed.records.push((number, Err(Refusal::Misfit(misfit))));
                continue;
            }
            let mut wanted = self.header.wanted_between(content, &commas);
            let time = super::time_field("TimeGenerated", wanted.next().flatten());
            match time {
                Ok(time) => {
                    parsed.records.push((number, Ok(time)));
                    parsed.push_cells(number, &text, &self.kinds, wanted);
                }
                Err(reason) => parsed.records.push((number, Err(Refusal::Said(reason)))),
            }
        }
        parsed.text = text;
        parsed
    }
}

impl CsvBlocks {
    /// Blanks out each line of `bytes` that is not UTF-8 (its line end
    /// kept), and returns each such line (from 1) with what is wrong with it
    /// as a record: its width, or the first field that is not UTF-8.
    fn blank_lines_not_utf8(&self, bytes: &mut [u8]) -> Vec<(u64, Misfit)> {
        parallel::blank_lines_not_utf8(bytes, |start, line, error| {
            let content = line.strip_suffix(b"\r").unwrap_or(line);
            let width = memchr::memchr_iter(b',', content).count() + 1;
            // Commas are ASCII: the first bad byte is in the first field
            // that is not UTF-8, as far into it as into the line.
            let bad = error.valid_up_to();
            let field_start = memchr::memrchr(b',', &content[..bad]).map_or(0, |at| at + 1);
            let kind = match width == self.header.width() {
                false => MisfitKind::Width {
                    width,
                    expected: self.header.width(),
                },
                true => MisfitKind::NotUtf8 {
                    field: memchr::memchr_iter(b',', &content[..bad]).count(),
                    valid_up_to: bad - field_start,
                },
            };
            let byte = start as u64;
            Misfit { byte, kind }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: [(&str, ColumnKind); 4] = [
        ("SrcIpAddr", ColumnKind::IpAddress),
        ("DstPortNumber", ColumnKind::Integer),
        ("Dvc", ColumnKind::Text),
        ("SrcBytes", ColumnKind::Real),
    ];

    const HEADER: &str = "Extra,TimeGenerated,Dvc,SrcIpAddr,DstPortNumber,SrcBytes\n";

    /// Records of every kind the readers must agree on, many blocks' worth.
    fn lines(count: usize) -> Vec<u8> {
        let mut text = HEADER.as_bytes().to_vec();
        for n in 0..count {
            let line = match n % 13 {
                0 => String::new(),
                1 => format!("x,2026-03-11T10:00:{:02}Z,fw,x{n},https,1\r", n % 60),
                2 => "too,few".to_owned(),
                3 => format!(
                    "e,2026-03-11 10:00:00,d,10.0.0.{},443.0,1.5e3,extra",
                    n % 256
                ),
                4 => "e,not a time,d,10.0.0.1,1,1".to_owned(),
                5 => ",,,,,".to_owned(),
                6 => "  ".to_owned(),
                _ => format!(
                    "e{},2026-03-11T10:{:02}:00.123456Z,fw-{},10.1.{}.{},{},{n}",
                    n % 3,
                    n % 60,
                    n % 7,
                    n % 256,
                    n % 199,
                    n % 65536
                ),
            };
            text.extend_from_slice(line.as_bytes());
            text.push(b'\n');
        }
        text
    }

    /// What a reader made of a file: rows, refused records, the
    /// unparsable-cell summary, and the records read or the error.
    type Outcome = (
        Vec<(Timestamp, Vec<String>)>,
        Vec<(u64, String)>,
        Option<String>,
        Result<u64, String>,
    );

    /// `bytes` read by blocks on `threads` threads, or by the record reader
    /// alone (`None`).
    fn read(
        bytes: &[u8],
        threads: Option<usize>,
        max_line: usize,
        fail_at: Option<usize>,
    ) -> Outcome {
        let input = InputFile::by_content("t.csv")
            .with_threads(threads.unwrap_or(1))
            .with_max_line(max_line);
        let columns: Vec<(String, ColumnKind)> = COLUMNS
            .iter()
            .map(|(name, kind)| ((*name).to_owned(), *kind))
            .collect();
        let fail_at = fail_at.unwrap_or(usize::MAX);
        let reader = io::Cursor::new(bytes[..fail_at.min(bytes.len())].to_vec());
        let failing: Box<dyn Read + Send> = match fail_at < bytes.len() {
            true => Box::new(Fails(Some(io::Error::other("truncated")))),
            false => Box::new(io::empty()),
        };
        let reader = Box::new(io::BufReader::new(reader.chain(failing)));
        let (mut rows, mut rejects) = (Vec::new(), Rejects::kept());
        let mut on_row = |time, cells: &[Cell]| {
            rows.push((time, cells.iter().map(|cell| format!("{cell:?}")).collect()));
            Ok(())
        };
        let read = match threads {
            Some(_) => {
                let mut issues = super::super::normalize::FieldIssues::default();
                super::super::read_rows(
                    &input,
                    reader,
                    super::super::SessionFormat::Asim,
                    &columns,
                    &mut rejects,
                    &mut issues,
                    &mut on_row,
                )
            }
            None => {
                let wanted = super::super::wanted_keys(&columns);
                let mut unparsable = Unparsable::default();
                let read = |on_record: &mut OnRecord| {
                    csv_records::read_csv(&input, reader, &wanted, on_record)
                };
                super::super::typed_records(
                    &input,
                    &columns,
                    &mut rejects,
                    &mut unparsable,
                    &mut on_row,
                    read,
                )
                .map(|records| (records, unparsable))
            }
        };
        let (result, unparsable) = match read {
            Ok((records, unparsable)) => (Ok(records), unparsable.describe()),
            Err(error) => (Err(format!("{error:#}")), None),
        };
        (
            rows,
            rejects.refused.unwrap_or_default(),
            unparsable,
            result,
        )
    }

    /// `bytes` read in blocks on 1, 2 and 3 threads equals the record
    /// reader's reading; returns that.
    fn blocks_agree(bytes: &[u8], max_line: usize, fail_at: Option<usize>) -> Outcome {
        let expected = read(bytes, None, max_line, fail_at);
        for threads in [1, 2, 3] {
            let by_blocks = read(bytes, Some(threads), max_line, fail_at);
            assert!(by_blocks.0 == expected.0, "rows, --threads {threads}");
            assert_eq!(by_blocks.1, expected.1, "--threads {threads}");
            assert_eq!(by_blocks.2, expected.2, "--threads {threads}");
            assert_eq!(by_blocks.3, expected.3, "--threads {threads}");
        }
        expected
    }

    /// Records read in blocks on 2 threads before the record reader took
    /// over, and whether it did.
    fn in_blocks(bytes: &[u8]) -> (u64, bool) {
        let input = InputFile::by_content("t.csv").with_threads(2);
        let columns = [("Dvc".to_owned(), ColumnKind::Text)];
        let (mut rejects, mut unparsable) = (Rejects::kept(), Unparsable::default());
        let reader = Box::new(io::Cursor::new(bytes.to_vec()));
        let (records, resume) = read_csv_rows(
            &input,
            reader,
            &columns,
            2,
            &mut rejects,
            &mut unparsable,
            &mut |_, _| Ok(()),
        )
        .unwrap();
        (records, resume.is_some())
    }

    /// The start of the line after byte `at`.
    fn next_line(bytes: &[u8], at: usize) -> usize {
        at + memchr::memchr(b'\n', &bytes[at..]).unwrap() + 1
    }

    const MIB: usize = 1 << 20;

    #[test]
    fn blocks_on_any_number_of_threads_read_what_the_record_reader_reads() {
        let max = crate::limits::LINE_BYTES;
        let mut bytes = lines(120_000);
        assert!(bytes.len() > 4 * MIB);
        let expected = blocks_agree(&bytes, max, None);
        let (rows, refused) = (&expected.0, &expected.1);
        assert!(rows.len() > 50_000, "{}", rows.len());
        let said = |words: &str| {
            refused
                .iter()
                .filter(|(_, reason)| reason.contains(words))
                .count()
        };
        assert!(said("found record with 2 fields") > 1000);
        assert!(said("found record with 7 fields") > 1000);
        assert!(said("TimeGenerated: ") > 1000);
        let unparsable = expected.2.as_deref().unwrap_or_default();
        assert!(unparsable.contains("SrcIpAddr") && unparsable.contains("DstPortNumber"));
        let lines = bytes.iter().filter(|&&byte| byte == b'\n').count() as u64;
        assert_eq!(in_blocks(&bytes), (lines - 1 - lines / 13 - 1, false));

        // Lines that are not UTF-8, as wide as the header and not, in a later
        // block; and the last line, without a line end.
        let at = next_line(&bytes, 3 * MIB);
        bytes.splice(
            at..at,
            *b"x,2026-03-11T10:00:00Z,caf\xe9,10.0.0.1,1,1\n\xff\n",
        );
        bytes.extend_from_slice(b"x,2026-03-11T10:00:00Z,d,10.0.0.1,\xc3,1");
        let expected = blocks_agree(&bytes, max, None);
        assert!(expected
            .1
            .iter()
            .any(|(_, reason)| reason.contains("field: 2, byte: ")
                && reason.ends_with("invalid UTF-8 in field 2 near byte index 3")));
        assert!(expected
            .1
            .iter()
            .any(|(_, reason)| reason.contains("field: 4, byte: ")
                && reason.ends_with("invalid UTF-8 in field 4 near byte index 0")));
        assert!(!in_blocks(&bytes).1);
    }

    #[test]
    fn from_a_quote_or_a_bare_cr_on_the_record_reader_reads_the_rest() {
        let max = crate::limits::LINE_BYTES;
        let plain = lines(120_000);
        let records = |bytes: &[u8]| blocks_agree(bytes, max, None).3.unwrap();
        let all = records(&plain);
        for (place, text) in [
            (
                0,
                &b"\"Extra\",TimeGenerated,Dvc,SrcIpAddr,DstPortNumber,SrcBytes\n"[..],
            ),
            (
                3 * MIB,
                b"x,2026-03-11T10:00:00Z,\"two\nlines\",10.0.0.1,1,1\n",
            ),
            (3 * MIB, b"x,2026-03-11T10:00:00Z,bare\rcr,10.0.0.1,1,1\n"),
            (3 * MIB, b"x,2026-03-11T10:00:00Z,crcr,10.0.0.1,1,1\r\r\n"),
        ] {
            let mut bytes = plain.clone();
            match place {
                0 => {
                    bytes.splice(..HEADER.len(), text.iter().copied());
                }
                place => {
                    let at = next_line(&bytes, place);
                    bytes.splice(at..at, text.iter().copied());
                }
            }
            let read = records(&bytes);
            assert!(
                read == all + 1 || read == all + 2 || (place == 0 && read == all),
                "{read}"
            );
            let (before, resumed) = in_blocks(&bytes);
            assert!(resumed);
            assert_eq!(before > 10_000, place > 0, "{before}");
        }
    }

    #[test]
    fn a_line_too_long_stops_the_reading_where_the_record_reader_stops() {
        let plain = lines(120_000);
        let long = format!(
            "x,2026-03-11T10:00:00Z,{},10.0.0.1,1,1\n",
            "p".repeat(2 * MIB)
        );
        for (quote, max) in [
            (false, MIB),
            (false, crate::limits::LINE_BYTES),
            (true, MIB),
        ] {
            let mut bytes = plain.clone();
            let at = next_line(&bytes, MIB + 5000);
            bytes.splice(at..at, long.bytes());
            if quote {
                // In the same block as the long line, before it.
                let at = next_line(&bytes, MIB);
                bytes.splice(at..at, *b"x,2026-03-11T10:00:00Z,\"q\",10.0.0.1,1,1\n");
            }
            let long_start = bytes.windows(4).position(|four| four == b"pppp").unwrap();
            // Read whole, and cut by a read error while it is skipped.
            for fail_at in [None, Some(long_start + MIB + MIB / 2)] {
                let expected = blocks_agree(&bytes, max, fail_at);
                let stopped = expected.1.last().is_some_and(|(_, reason)| {
                    reason.starts_with("reading stopped: a line longer than the limit")
                });
                assert_eq!(stopped, max == MIB, "{:?}", expected.1.last());
            }
        }
        // A limit below the header's length: the record reader's error.
        let expected = blocks_agree(&plain, 40, None);
        assert!(expected
            .3
            .is_err_and(|error| error.contains("reading the CSV header")));
    }

    #[test]
    fn a_read_error_keeps_the_rows_before_it_on_any_number_of_threads() {
        let bytes = lines(120_000);
        let max = crate::limits::LINE_BYTES;
        for fail_at in [0, 10, HEADER.len(), 3 * MIB + 77, bytes.len() - 5] {
            let expected = blocks_agree(&bytes, max, Some(fail_at));
            if fail_at > HEADER.len() {
                let (_, reason) = expected.1.last().unwrap();
                assert!(reason.starts_with("reading stopped: truncated"), "{reason}");
            } else {
                assert!(expected.3.is_err() || expected.0.is_empty());
            }
        }
    }

    /// Random texts of the pieces that matter to CSV (and some quotes),
    /// with small and large line limits, some ending in a read error.
    #[test]
    fn any_text_reads_as_the_record_reader_reads_it() {
        const PIECES: [&[u8]; 12] = [
            b"2026-03-11T10:00:00Z",
            b"10.0.0.1",
            b"x",
            b"443",
            b"",
            b"\xff",
            b"\xc3\xa9",
            b",",
            b",",
            b"\r",
            b"\n",
            b"\n",
        ];
        let mut next = csv_records::tests::random(0x2545_f491_4f6c_dd1d);
        let mut seen = (0, 0, 0);
        for round in 0..400 {
            let mut bytes = match round % 5 {
                0 => Vec::new(),
                _ => b"Extra,TimeGenerated,SrcIpAddr,DstPortNumber\n".to_vec(),
            };
            for _ in 0..next(40) {
                // A good record, a piece put into one, or pieces alone.
                let good = b"x,2026-03-11T10:00:00Z,10.0.0.1,443\n";
                let mut line = match next(3) {
                    0 => Vec::new(),
                    _ => good.to_vec(),
                };
                for _ in 0..next(4) {
                    let at = next(line.len() + 1);
                    match next(100) {
                        0 => line.insert(at, b'"'),
                        _ => drop(line.splice(at..at, PIECES[next(PIECES.len())].iter().copied())),
                    }
                }
                bytes.extend_from_slice(&line);
            }
            let max_line = [16, 64, crate::limits::LINE_BYTES][next(3)];
            let fail_at = (next(4) == 0).then(|| next(bytes.len() + 1));
            let (rows, refused, _, _) = blocks_agree(&bytes, max_line, fail_at);
            seen.0 += rows.len();
            seen.1 += refused
                .iter()
                .filter(|(_, why)| why.contains("fields"))
                .count();
            seen.2 += refused
                .iter()
                .filter(|(_, why)| why.contains("utf-8"))
                .count();
        }
        // Rows, records of another width, and fields that are not UTF-8.
        assert!(seen.0 > 100 && seen.1 > 100 && seen.2 > 100, "{seen:?}");
    }
}
