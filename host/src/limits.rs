//! Every limit and default the host applies, in one place, each with why it
//! is what it is. The command line's and `serve`'s config defaults are taken
//! from here.

use std::time::Duration;

// What one rule instance may use unless configured otherwise (`Budgets`).

/// Linear memory one rule instance may grow to. A day of TI matching over a
/// million sessions an hour stays far below it.
pub const MEMORY_BYTES: usize = 4 << 30;
/// Wall time of one call into a rule: a day's evaluation of a million
/// sessions takes well under a second; a minute means a loop.
pub const CALL_TIME: Duration = Duration::from_secs(60);
/// Alerts one evaluation may return: more is a flood no analyst reads.
pub const ALERTS_PER_EVALUATION: usize = 100_000;
/// Text one alert may carry: a real alert's names, entities and details are
/// a few hundred bytes.
pub const ALERT_BYTES: usize = 64 << 10;
/// A rule's snapshot: TI state for a million indicators is tens of MiB.
pub const SNAPSHOT_BYTES: usize = 1 << 30;
/// Data any other call may hand the host; wasmtime stops copying past it.
pub const OUTPUT_BYTES: usize = 256 << 20;
/// What a rule may print (WASI standard output and error, together) and the
/// host keeps for the operator; the rest is counted and dropped.
pub const RULE_LOG_BYTES: usize = 64 << 10;
/// Lines of a rule's log that `status.json` carries (the last ones): enough
/// to see why a rule went wrong, small enough to rewrite after every pass.
pub const STATUS_LOG_LINES: usize = 10;
/// WASI resources (streams, pollables, sockets) one instance may hold: an
/// interpreter opens a handful.
pub const WASI_RESOURCES: usize = 1024;
/// Core instances one rule component may create: a Rust rule is one module
/// and wit-component's shims; componentize-py's Python, its interpreter and
/// libraries as several.
pub const CORE_INSTANCES: usize = 32;
/// How often the engine's epoch advances: the granularity of the CPU budget,
/// fine enough for it and coarse enough to cost nothing measurable.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

// Inputs.

/// Rows per batch handed to a rule: large enough that a call's fixed cost
/// vanishes, small enough that a batch's cells stay in cache-sized buffers.
pub const BATCH_ROWS: usize = 65_536;
/// Bytes a line may have: far beyond any real record, and small enough that
/// a file with no line end cannot exhaust memory.
pub const LINE_BYTES: usize = 16 << 20;
/// Refused rows described on stderr, per command; the rest are counted.
pub const REJECTS_SHOWN: u64 = 200;
/// Parentheses and brackets a STIX pattern may nest: real ones nest a few;
/// the parser recurses once per level, and a thread's stack is finite.
pub const PATTERN_DEPTH: usize = 64;
/// Rows an on-disk sort holds in memory at once before it spills a run.
pub const SORT_RUN_ROWS: usize = 1 << 18;

// Messages.

/// Characters a message that quotes input keeps; the rest is summed up by
/// its length, so a hostile input cannot flood stderr.
pub const MESSAGE_CHARS: usize = 1000;

// `serve`.

/// Bytes a tenant's name may have: it names a folder and every message.
pub const TENANT_NAME_BYTES: usize = 128;
/// How often spools are looked at, in milliseconds.
pub const POLL_MS: u64 = 1000;

/// How long a tenant's lease lasts in the cluster mode unless renewed: a
/// killed instance's tenants are taken over within it.
pub const LEASE_TIME: Duration = Duration::from_secs(4);

/// How often an instance renews its leases (well within [`LEASE_TIME`]).
pub const RENEW_EVERY: Duration = Duration::from_secs(1);

/// How often a tenant's moving checkpoint is stored in the cluster: what a
/// takeover may have to play again, against an object written per tenant
/// per period.
pub const STORE_EVERY: Duration = Duration::from_secs(2);
/// How late a row may come and still be seen by its evaluations.
pub const LATENESS: &str = "5m";
/// How far a row may lie beyond the later of the host's clock and the latest
/// row played, so that one row from year 9999 cannot move the watermark.
pub const MAX_AHEAD: &str = "1d";
/// Evaluations a swapped-in build must pass before it is trusted.
pub const PROBATION: u64 = 2;
/// How long the configuration and component files must stay unchanged
/// before a change is taken: a file being copied is not read half-written.
pub const SETTLE: Duration = Duration::from_millis(500);
/// `serve --metrics` without an address listens here: loopback, so metrics
/// are not on the network unless asked (9464: Prometheus exporters' range).
pub const METRICS_ADDRESS: &str = "127.0.0.1:9464";
/// `/healthz` fails once serve's loop has not finished a pass for this long:
/// a pass plays whole files, so a short limit would fail a busy host.
pub const HEALTHY_PASS: Duration = Duration::from_secs(60);
/// How long a metrics client may take to send its request.
pub const METRICS_REQUEST_TIME: Duration = Duration::from_secs(2);
