//! Any bytes as an indicator file (recognised from the content as `run`
//! does: Sentinel tables, STIX bundles, CSV feeds, IP lists), plain or
//! gzipped: never a panic, on a thread of half the usual stack; every
//! refused line lies within the file.

#![no_main]

use std::io::{BufRead, BufReader, Cursor};

use asim_rule_core::schema::{ColumnKind, INDICATOR_COLUMNS};
use asim_rules::inputs::{
    indicators::{self, ListOptions},
    InputFile, Rejects,
};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 4] = ["f.txt", "f.json", "f.jsonl", "f.csv"];

fn read(bytes: Vec<u8>, name: &'static str, gzip: bool) -> Vec<(u64, String)> {
    let input = InputFile::by_content(name);
    let plain = Cursor::new(bytes);
    let reader: Box<dyn BufRead + Send> = match gzip {
        true => Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(plain))),
        false => Box::new(plain),
    };
    let columns: Vec<(String, ColumnKind)> = INDICATOR_COLUMNS
        .iter()
        .map(|(name, kind)| ((*name).to_owned(), *kind))
        .collect();
    let options = ListOptions {
        published: Some(1_773_489_600_000_000),
        ..ListOptions::default()
    };
    let mut rejects = Rejects::kept();
    let _ = indicators::read_from(
        &input,
        reader,
        &options,
        &columns,
        &mut rejects,
        &mut |_, _| Ok(()),
    );
    rejects.refused.unwrap_or_default()
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, bytes)) = data.split_first() else {
        return;
    };
    let name = NAMES[usize::from(choice & 3)];
    let gzip = choice & 4 != 0;
    let owned = bytes.to_vec();
    // Replay reads files on threads of 2 MiB stacks; half of that here.
    let refused = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || read(owned, name, gzip))
        .expect("a thread")
        .join()
        .expect("no panic");
    if !gzip {
        let lines = bytes.iter().filter(|&&byte| byte == b'\n').count() as u64 + 1;
        for (line, reason) in &refused {
            assert!(
                (1..=lines).contains(line),
                "line {line} of {lines}: {reason}"
            );
        }
    }
});
