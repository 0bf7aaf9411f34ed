//! The fast JSON scanner against serde_json, line after line with the key
//! memory the reader keeps: whenever the scanner reads a record, serde_json
//! reads it too, to the same values. A scanner that hands objects of key
//! `a` over as written gives texts that parse to the objects serde_json
//! prints (Suricata's `flow` is read so).

#![no_main]

use asim_rules::inputs::{json_scan::KeyScanner, records::parse_json_record};
use libfuzzer_sys::fuzz_target;

const WANTED: [&str; 5] = ["TimeGenerated", "SrcIpAddr", "a", "b", ""];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut scanner = KeyScanner::new(&WANTED);
    let mut as_written = KeyScanner::new(&WANTED).objects_as_written(&["a"]);
    for line in text.split('\n') {
        let mut slow = vec![None; WANTED.len()];
        let read = parse_json_record(line, &WANTED, &mut slow);
        let mut fast = vec![None; WANTED.len()];
        if scanner.scan(line, &mut fast).is_ok() {
            assert_eq!(
                read,
                Ok(()),
                "serde_json refuses what the scanner read: {line:?}"
            );
            assert_eq!(fast, slow, "{line:?}");
        }
        let mut written = vec![None; WANTED.len()];
        if as_written.scan(line, &mut written).is_err() {
            continue;
        }
        assert_eq!(
            read,
            Ok(()),
            "serde_json refuses what the scanner read: {line:?}"
        );
        for (slot, (written, slow)) in written.iter().zip(&slow).enumerate() {
            let (written, slow) = (written.as_deref(), slow.as_deref());
            match (written, slow) {
                // An object of `a`, as written: the object serde_json prints.
                (Some(written), Some(slow)) if WANTED[slot] == "a" && written != slow => {
                    let value: serde_json::Value =
                        serde_json::from_str(written).expect("an object as written parses");
                    assert_eq!(value.to_string(), slow, "{line:?}");
                }
                _ => assert_eq!(written, slow, "{line:?}"),
            }
        }
    }
});
