//! The `asim-rules` host as a library: load rule components, feed them
//! ASIM sessions and threat intelligence, collect their alerts.
//!
//! Split by concern: [`inputs`] reads files, [`feed`] routes rows to rules in
//! batches, [`engine`] is the sandbox, [`schedule`] decides when rules are
//! evaluated, [`outputs`] writes alerts, [`cli`] is the command line over all
//! of them, [`generate`] makes demo data, [`serve`] runs many tenants from a
//! config.

#![deny(missing_docs)]

pub mod cli;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod engine;
pub mod feed;
pub mod generate;
pub mod histogram;
pub mod inputs;
pub mod limits;
pub mod logging;
pub mod outputs;
pub mod pipeline;
pub mod printable;
pub mod schedule;
pub mod serve;
pub mod time;
