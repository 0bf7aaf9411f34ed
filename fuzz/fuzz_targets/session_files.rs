//! Any bytes as a session file, in every format the host reads (recognised
//! from the content as `run` does), plain or gzipped, with a small or the
//! default line limit: never a panic; every refused line lies within the
//! file; the same rows, refusals and outcome on one thread and on three.

#![no_main]

use std::io::{BufRead, BufReader, Cursor};

use asim_rule_core::schema::ColumnKind;
use asim_rules::{
    inputs::{self, InputFile, Rejects},
    limits::LINE_BYTES,
};
use libfuzzer_sys::fuzz_target;

/// One column of each kind the readers type.
const COLUMNS: [(&str, ColumnKind); 7] = [
    ("SrcIpAddr", ColumnKind::IpAddress),
    ("DstPortNumber", ColumnKind::Integer),
    ("Dvc", ColumnKind::Text),
    ("SrcBytes", ColumnKind::Integer),
    ("EventStartTime", ColumnKind::Time),
    ("NetworkDuration", ColumnKind::Integer),
    ("DstIpAddr", ColumnKind::IpAddress),
];

/// Rows (time and cells, as text), refused lines and the outcome.
type Read = (
    Vec<(i64, Vec<String>)>,
    Vec<(u64, String)>,
    Result<u64, String>,
);

fn read(bytes: &[u8], name: &str, gzip: bool, max_line: usize, threads: usize) -> Read {
    let input = InputFile::new(name)
        .expect("a known extension")
        .with_threads(threads)
        .with_max_line(max_line);
    let plain = Cursor::new(bytes.to_vec());
    let reader: Box<dyn BufRead + Send> = match gzip {
        true => Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(plain))),
        false => Box::new(plain),
    };
    let columns: Vec<(String, ColumnKind)> = COLUMNS
        .iter()
        .map(|(name, kind)| ((*name).to_owned(), *kind))
        .collect();
    let (mut rows, mut rejects) = (Vec::new(), Rejects::kept());
    let outcome = inputs::read_sessions_from(
        &input,
        reader,
        None,
        &columns,
        &mut rejects,
        &mut |time, cells| {
            rows.push((time, cells.iter().map(|cell| format!("{cell:?}")).collect()));
            Ok(())
        },
    );
    let refused = rejects.refused.unwrap_or_default();
    (rows, refused, outcome.map_err(|error| format!("{error:#}")))
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, bytes)) = data.split_first() else {
        return;
    };
    let name = if choice & 1 == 0 { "f.jsonl" } else { "f.csv" };
    let gzip = choice & 2 != 0;
    let max_line = if choice & 4 != 0 { 64 } else { LINE_BYTES };
    let one = read(bytes, name, gzip, max_line, 1);
    if !gzip {
        let lines = bytes.iter().filter(|&&byte| byte == b'\n').count() as u64 + 1;
        for (line, reason) in &one.1 {
            assert!(
                (1..=lines).contains(line),
                "line {line} of {lines}: {reason}"
            );
        }
    }
    let three = read(bytes, name, gzip, max_line, 3);
    assert!(one == three, "one thread and three disagree");
});
