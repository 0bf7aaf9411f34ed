//! The data model shared by the `asim-rules` host and its rules.
//!
//! Rules are plain Rust: they implement [`Rule`] over the types here and never
//! touch WIT. The same code runs natively (tests, benchmark baseline) and, wrapped
//! by `asim-rule-sdk`, as a WebAssembly component. These types mirror the
//! `asim:rules` WIT package one to one, so converting between them moves vectors
//! and copies no rows.
//!
//! ```
//! use asim_rule_core::{batch::Cell, schema::ColumnKind, BatchBuilder, time::HOUR};
//!
//! let mut builder = BatchBuilder::new(&[("SrcIpAddr", ColumnKind::IpAddress)]);
//! builder.push_row(10 * HOUR, &[Cell::Text("198.51.100.7")]).unwrap();
//! let mut batch = builder.finish();
//! let src = batch.take_ip("SrcIpAddr").unwrap();
//! assert_eq!(src.text(0), "198.51.100.7");
//! assert!(src.address(0).is_some());
//! ```

#![deny(missing_docs)]

pub mod alert;
pub mod batch;
pub mod ip;
pub mod rule;
pub mod schema;
pub mod state;
pub mod string_table;
pub mod time;

pub use alert::{Alert, DetailValue, Entity};
pub use batch::{Batch, BatchBuilder, Column, ColumnValues, IpColumn, TextColumn};
pub use ip::IpPrefix;
pub use rule::{ParameterSpec, Rule, RuleMetadata, Severity};
pub use string_table::StringTable;
pub use time::Timestamp;
