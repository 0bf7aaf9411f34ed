//! Any text as a STIX pattern, parsed on a 1 MiB stack (half what a thread
//! that reads files has; an unoptimised build needs more than 128 KiB): never a panic or a
//! stack overflow; the addresses found (as written: the reader of bundles
//! refuses those that are no address) are the same on a second reading, and
//! each is a literal of the pattern.

#![no_main]

use asim_rules::inputs::indicators::pattern;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let owned = text.to_owned();
    let first = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || pattern::addresses(&owned))
        .expect("a thread")
        .join()
        .expect("no panic");
    if let Ok(Ok(addresses)) = &first {
        // A backslash in a quoted literal escapes the character after it.
        let mut unescaped = String::with_capacity(text.len());
        let mut chars = text.chars();
        while let Some(character) = chars.next() {
            match character {
                '\\' => unescaped.extend(chars.next()),
                _ => unescaped.push(character),
            }
        }
        for address in addresses {
            // Unquoted values (numbers, words) are taken as written.
            let found = unescaped.contains(address.as_str()) || text.contains(address.as_str());
            assert!(found, "{address:?}");
        }
    }
    assert_eq!(first, pattern::addresses(text));
});
