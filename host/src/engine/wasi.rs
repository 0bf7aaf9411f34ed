//! WASI with nothing behind it, for rule components built from interpreted
//! languages (componentize-py's Python): their runtime imports WASI, but a
//! rule still gets no capability. No preopened directory, environment,
//! arguments, stdin or network; clocks frozen at the evaluation time and
//! random numbers from a seed fixed per deployment, so that the same inputs
//! give the same alerts and snapshots in every run; what the rule prints kept
//! in a bounded log. Any import outside [`ALLOWED`] is refused by name.

use std::{
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc, Mutex, PoisonError,
    },
    task::{Context, Poll},
    time::Duration,
};

use rand::{rngs::StdRng, SeedableRng};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{
    cli::{IsTerminal, StdoutStream},
    p2::{OutputStream, Pollable, StreamResult},
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView,
};

use super::budgets::Sandbox;
use crate::limits;

/// The WASI 0.2 interfaces a rule may import. Each gives nothing the rule
/// could reach the world or the host with: the file system has no directory,
/// the sockets no address, `exit` ends the call as a fault.
pub const ALLOWED: &[&str] = &[
    "wasi:io/poll",
    "wasi:io/error",
    "wasi:io/streams",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/stdin",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:sockets/network",
    "wasi:sockets/instance-network",
    "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket",
    "wasi:sockets/tcp",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/ip-name-lookup",
];

/// Whether the host satisfies `import` (`wasi:io/poll@0.2.9`) with its WASI:
/// an allowed interface at a 0.2 version.
pub fn is_allowed(import: &str) -> bool {
    import
        .split_once("@0.2.")
        .is_some_and(|(interface, patch)| {
            ALLOWED.contains(&interface) && patch.bytes().all(|byte| byte.is_ascii_digit())
        })
}

/// The seed of a deployment's random numbers: its rule's short name and its
/// parameters (FNV-1a), the same in every run and every host.
pub fn deployment_seed(rule: &str, parameters: &[(String, String)]) -> u64 {
    let texts = std::iter::once(rule).chain(
        parameters
            .iter()
            .flat_map(|(name, value)| [name.as_str(), value.as_str()]),
    );
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for text in texts {
        // The length first, so that ("ab", "c") and ("a", "bc") differ.
        for byte in (text.len() as u64)
            .to_le_bytes()
            .iter()
            .chain(text.as_bytes())
        {
            hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// One instance's WASI: its context, its resources, its clock and its log.
pub struct RuleWasi {
    ctx: WasiCtx,
    table: ResourceTable,
    clock: FrozenClock,
    log: RuleLog,
}

impl RuleWasi {
    /// WASI for a deployment whose random numbers come from `seed`.
    pub fn new(seed: u64) -> RuleWasi {
        let clock = FrozenClock::default();
        let log = RuleLog::default();
        let ctx = WasiCtx::builder()
            .stdout(log.clone())
            .stderr(log.clone())
            .wall_clock(clock.clone())
            .monotonic_clock(clock.clone())
            .secure_random(StdRng::seed_from_u64(seed))
            .insecure_random(StdRng::seed_from_u64(seed.rotate_left(32)))
            .insecure_random_seed(u128::from(seed))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let mut table = ResourceTable::new();
        // Every stream, pollable or socket a rule opens is a host allocation.
        table.set_max_capacity(limits::WASI_RESOURCES);
        RuleWasi {
            ctx,
            table,
            clock,
            log,
        }
    }

    /// Stops the clocks at `at` (microseconds since the Unix epoch).
    pub fn set_time(&self, at: i64) {
        self.clock.0.store(at, Ordering::Relaxed);
    }

    /// Where the rule's standard output and error go; it outlives the
    /// instance, so a quarantined rule's last words can still be read.
    pub fn log(&self) -> RuleLog {
        self.log.clone()
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi.ctx,
            table: &mut self.wasi.table,
        }
    }
}

/// A wall and a monotonic clock that read the time the host set: the
/// evaluation's, or the last one's between evaluations (0 before any).
#[derive(Clone, Default)]
struct FrozenClock(Arc<AtomicI64>);

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_micros(1)
    }

    fn now(&self) -> Duration {
        Duration::from_micros(self.0.load(Ordering::Relaxed).max(0).unsigned_abs())
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000
    }

    fn now(&self) -> u64 {
        let micros = self.0.load(Ordering::Relaxed).max(0).unsigned_abs();
        micros.saturating_mul(1_000)
    }
}

/// What a rule printed: the first [`limits::RULE_LOG_BYTES`], and a count of
/// the bytes after them, dropped (writing never fails, so printing never
/// stops a rule).
#[derive(Clone, Default)]
pub struct RuleLog(Arc<Mutex<LogBuffer>>);

#[derive(Default)]
struct LogBuffer {
    bytes: Vec<u8>,
    dropped: u64,
}

/// A rule's log as the host shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleLogText {
    /// The text kept (invalid UTF-8 replaced).
    pub text: String,
    /// Bytes written after the log was full.
    pub dropped: u64,
}

/// A rule's log in short, as `serve`'s status shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleLogTail {
    /// Bytes kept.
    pub bytes: usize,
    /// Bytes written after the log was full.
    pub dropped: u64,
    /// The last lines kept (invalid UTF-8 replaced).
    pub last_lines: Vec<String>,
}

impl RuleLog {
    /// What the rule wrote so far.
    pub fn text(&self) -> RuleLogText {
        let log = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        RuleLogText {
            text: String::from_utf8_lossy(&log.bytes).into_owned(),
            dropped: log.dropped,
        }
    }

    /// The log's size and its last `count` lines (as `str::lines` cuts
    /// them), read in place: `serve` asks at every pass, for every rule.
    pub fn tail(&self, count: usize) -> RuleLogTail {
        let log = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let kept = log.bytes.strip_suffix(b"\n").unwrap_or(&log.bytes);
        let mut last_lines: Vec<String> = match log.bytes.is_empty() {
            true => Vec::new(),
            false => kept
                .rsplit(|&byte| byte == b'\n')
                .take(count)
                .enumerate()
                .map(|(from_end, line)| {
                    // Only a line that a `\n` ends loses its `\r`.
                    let ended = from_end > 0 || kept.len() < log.bytes.len();
                    let line = match ended {
                        true => line.strip_suffix(b"\r").unwrap_or(line),
                        false => line,
                    };
                    String::from_utf8_lossy(line).into_owned()
                })
                .collect(),
        };
        last_lines.reverse();
        RuleLogTail {
            bytes: log.bytes.len(),
            dropped: log.dropped,
            last_lines,
        }
    }

    fn append(&self, bytes: &[u8]) {
        let mut log = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let kept = bytes
            .len()
            .min(limits::RULE_LOG_BYTES.saturating_sub(log.bytes.len()));
        log.bytes.extend_from_slice(&bytes[..kept]);
        log.dropped += (bytes.len() - kept) as u64;
    }
}

impl OutputStream for RuleLog {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(limits::RULE_LOG_BYTES)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for RuleLog {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for RuleLog {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.append(bytes);
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for RuleLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for RuleLog {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allowed_interfaces_at_0_2_are_satisfied() {
        assert!(is_allowed("wasi:io/poll@0.2.9"));
        assert!(is_allowed("wasi:sockets/tcp@0.2.0"));
        assert!(!is_allowed("wasi:io/poll@0.3.0"));
        assert!(!is_allowed("wasi:io/poll@0.2.9x"));
        assert!(!is_allowed("wasi:http/outgoing-handler@0.2.9"));
        assert!(!is_allowed("wasi:io/poll"));
        assert!(!is_allowed("host:evil/wasi:io/poll@0.2.0"));
    }

    #[test]
    fn the_log_keeps_its_first_bytes_and_counts_the_rest() {
        let wasi = RuleWasi::new(1);
        let chunk = vec![b'x'; limits::RULE_LOG_BYTES / 2 + 1];
        wasi.log.append(b"a\xff\n");
        wasi.log.append(&chunk);
        wasi.log.append(&chunk);
        let log = wasi.log().text();
        assert_eq!(
            log.text.len(),
            limits::RULE_LOG_BYTES - 3 + "a\u{fffd}\n".len()
        );
        assert!(log.text.starts_with("a\u{fffd}\nxx"));
        assert_eq!(
            log.dropped,
            (2 * chunk.len() + 3 - limits::RULE_LOG_BYTES) as u64
        );
    }

    #[test]
    fn the_tail_is_the_last_lines_of_the_text() {
        for text in [
            &b""[..],
            b"\n",
            b"one",
            b"one\n",
            b"one\r\ntwo\r",
            b"a\n\nb\r\n\xffc\nd\ne\n",
            b"\n\n\n",
        ] {
            let wasi = RuleWasi::new(1);
            wasi.log.append(text);
            let whole = wasi.log().text();
            let lines: Vec<&str> = whole.text.lines().collect();
            for count in [0, 1, 2, 10] {
                let tail = wasi.log().tail(count);
                let expected = &lines[lines.len().saturating_sub(count)..];
                assert_eq!(tail.last_lines, expected, "{text:?}, {count} lines");
                assert_eq!((tail.bytes, tail.dropped), (text.len(), 0));
            }
        }
    }

    #[test]
    fn clocks_read_the_time_set() {
        let wasi = RuleWasi::new(1);
        wasi.set_time(1_700_000_000_123_456);
        assert_eq!(
            HostWallClock::now(&wasi.clock),
            Duration::from_micros(1_700_000_000_123_456)
        );
        assert_eq!(
            HostMonotonicClock::now(&wasi.clock),
            1_700_000_000_123_456_000
        );
    }
}
