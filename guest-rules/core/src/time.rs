//! Instants and durations in microseconds, as in the WIT contract.

/// Microseconds since the Unix epoch, UTC.
pub type Timestamp = i64;

/// One second in microseconds.
pub const SECOND: i64 = 1_000_000;
/// One minute in microseconds.
pub const MINUTE: i64 = 60 * SECOND;
/// One hour in microseconds.
pub const HOUR: i64 = 60 * MINUTE;
/// One day in microseconds.
pub const DAY: i64 = 24 * HOUR;
