//! End-to-end tests: the real `asim-rules` binary on real files. One test
//! binary with a module per area, so it links once.

// A failed expectation in a test or its helpers is a panic by design.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod containment;
mod example_hosts;
mod indicators;
mod inspect;
mod normalize;
mod parity;
mod port_scan;
mod replay;
mod run;
mod sentinel_tables;
mod serve;
mod support;
mod swap;
