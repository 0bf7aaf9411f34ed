//! The fast JSON scanner against serde_json, line after line with the key
//! memory the reader keeps: whenever the scanner reads a record, serde_json
//! reads it too, to the same values.

#![no_main]

use asim_rules::inputs::{json_scan::KeyScanner, records::parse_json_record};
use libfuzzer_sys::fuzz_target;

const WANTED: [&str; 5] = ["TimeGenerated", "SrcIpAddr", "a", "b", ""];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut scanner = KeyScanner::new(&WANTED);
    for line in text.split('\n') {
        let mut fast = vec![None; WANTED.len()];
        if scanner.scan(line, &mut fast).is_err() {
            continue;
        }
        let mut slow = vec![None; WANTED.len()];
        let read = parse_json_record(line, &WANTED, &mut slow);
        assert_eq!(
            read,
            Ok(()),
            "serde_json refuses what the scanner read: {line:?}"
        );
        assert_eq!(fast, slow, "{line:?}");
    }
});
