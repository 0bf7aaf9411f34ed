//! End-to-end tests: the real `asim-rules` binary on real files. One test
//! binary with a module per area, so it links once.

// A failed expectation in a test or its helpers is a panic by design.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod asim_values;
mod closed_output;
mod cluster;
mod containment;
mod example_hosts;
mod golden;
mod hostile_inputs;
mod independence;
mod indicators;
mod inspect;
mod metrics;
mod normalize;
mod outputs;
mod parity;
mod port_scan;
mod python_rules;
mod raw_logs;
mod replay;
mod run;
mod sentinel_tables;
mod serve;
mod support;
mod swap;
