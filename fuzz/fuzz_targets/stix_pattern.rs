//! Any text as a STIX pattern, parsed on a small stack: never a panic or a
//! stack overflow; the addresses found are never empty and the same on a
//! second reading.

#![no_main]

use asim_rules::inputs::indicators::pattern;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let owned = text.to_owned();
    let first = std::thread::Builder::new()
        .stack_size(128 << 10)
        .spawn(move || pattern::addresses(&owned))
        .expect("a thread")
        .join()
        .expect("no panic");
    if let Ok(Ok(addresses)) = &first {
        assert!(addresses.iter().all(|address| !address.is_empty()));
    }
    assert_eq!(first, pattern::addresses(text));
});
