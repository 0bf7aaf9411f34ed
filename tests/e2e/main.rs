//! End-to-end tests: the real `asim-rules` binary on real files. One test
//! binary with a module per area, so it links once.

mod inspect;
mod parity;
mod run;
mod support;
