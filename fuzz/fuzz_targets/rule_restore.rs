//! Any bytes as a snapshot into each rule's `restore`: an error, or a state
//! whose own snapshot restores to the same bytes and that evaluates without
//! a panic.

#![no_main]

use asim_rule_core::rule::Rule;
use libfuzzer_sys::fuzz_target;

fn check<R: Rule>(bytes: &[u8]) {
    let mut rule = R::configure(&[]).expect("the default parameters");
    if rule.restore(bytes).is_err() {
        return;
    }
    let snapshot = rule.snapshot();
    let mut again = R::configure(&[]).expect("the default parameters");
    again
        .restore(&snapshot)
        .expect("a rule restores its own snapshot");
    assert!(again.snapshot() == snapshot, "a snapshot round-trips");
    // Times in order, as the host calls them, from far past to far future.
    for at in [-(1 << 60), 0, 1_773_489_600_000_000, 1 << 60] {
        let _ = rule.evaluate(at);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, bytes)) = data.split_first() else {
        return;
    };
    match choice % 3 {
        0 => check::<ti_map_ip::TiMapIp>(bytes),
        1 => check::<network_session_anomaly::NetworkSessionAnomaly>(bytes),
        _ => check::<port_scan::PortScan>(bytes),
    }
});
