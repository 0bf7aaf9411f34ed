//! What a rule instance may use, and how each budget is enforced: the store's
//! resource limiter (memory, tables), an epoch deadline armed before each
//! call (CPU), wasmtime's copy limit (what a call hands the host), counts on
//! return (alerts). A rule that breaks one is quarantined, with the reason.

use std::{fmt, time::Duration};

use wasmtime::{ResourceLimiter, Store, StoreLimits, Trap};

use crate::limits;

/// `value` units of `1 << unit_shift` bytes (20: MiB, 10: KiB) in bytes, or
/// why a budget that large cannot be: it does not fit in a `usize`.
pub fn budget_bytes(value: usize, unit_shift: u32) -> Result<usize, String> {
    value
        .checked_mul(1 << unit_shift)
        .ok_or_else(|| format!("{value} is more bytes than this machine counts"))
}

/// What one rule instance may use. A rule that exceeds any of them is
/// quarantined: its instance is dropped and it is called no more.
#[derive(Clone, Debug)]
pub struct Budgets {
    /// Linear memory and tables, in bytes.
    pub memory_bytes: usize,
    /// Wall time of one call into the rule (measured in epoch ticks of 10 ms).
    pub time_per_call: Duration,
    /// Alerts one evaluation may return.
    pub alerts_per_evaluation: usize,
    /// Text one alert may carry (names, description, entities, details), bytes.
    pub alert_bytes: usize,
    /// Size of a snapshot, bytes.
    pub snapshot_bytes: usize,
    /// Data any other call may hand the host (alerts, counters), bytes:
    /// wasmtime stops copying past it, so a flood never reaches host memory.
    pub output_bytes: usize,
}

impl Default for Budgets {
    fn default() -> Budgets {
        Budgets {
            memory_bytes: limits::MEMORY_BYTES,
            time_per_call: limits::CALL_TIME,
            alerts_per_evaluation: limits::ALERTS_PER_EVALUATION,
            alert_bytes: limits::ALERT_BYTES,
            snapshot_bytes: limits::SNAPSHOT_BYTES,
            output_bytes: limits::OUTPUT_BYTES,
        }
    }
}

/// Why a rule was quarantined: the call and the budget or fault.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Quarantine {
    /// The rule's short name.
    pub rule: String,
    /// The call that failed (`evaluate`, `ingest-sessions`, …).
    pub call: String,
    /// What went wrong, naming the budget when one was exceeded.
    pub reason: String,
}

impl fmt::Display for Quarantine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rule {} quarantined: {}: {}",
            self.rule, self.call, self.reason
        )
    }
}

impl std::error::Error for Quarantine {}

/// What a store carries for the host: its resource limits, the memory the
/// rule holds, and its WASI (which gives no files, environment, network, real
/// clock or real randomness).
pub struct Sandbox {
    pub(super) wasi: super::wasi::RuleWasi,
    pub(super) limits: StoreLimits,
    pub(super) memory_bytes: usize,
    /// Set when the limiter refused to grow memory or a table: a trap that
    /// follows is the memory budget's doing.
    pub(super) refused_growth: bool,
}

impl ResourceLimiter for Sandbox {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if allowed {
            self.memory_bytes += desired.saturating_sub(current);
        } else {
            self.refused_growth = true;
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.table_growing(current, desired, maximum)?;
        self.refused_growth |= !allowed;
        Ok(allowed)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// Arms the CPU budget for the next call.
pub(super) fn set_deadline(store: &mut Store<Sandbox>, budgets: &Budgets) {
    let ticks = budgets.time_per_call.as_millis() / limits::EPOCH_TICK.as_millis();
    store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX).max(1));
}

/// What a failed call means: the budget it broke, or the trap.
pub(super) fn fault(error: &wasmtime::Error, store: &Store<Sandbox>, budgets: &Budgets) -> String {
    // wasmtime's copy limit has no public error type, only this message.
    let copy_limit = format!("{error:#}").contains("fuel allocated for hostcalls");
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => format!(
            "exceeded the CPU budget ({} ms per call)",
            budgets.time_per_call.as_millis()
        ),
        _ if copy_limit => format!(
            "handed the host more than its output budget ({} MiB)",
            store.hostcall_fuel() >> 20
        ),
        _ if store.data().refused_growth => format!(
            "exceeded the memory budget ({} MiB)",
            budgets.memory_bytes >> 20
        ),
        Some(trap) => format!("trapped: {trap}"),
        None => match error.downcast_ref::<wasmtime_wasi::I32Exit>() {
            // WASI's `exit` ends the instance: a fault, not a result.
            Some(exit) => format!("called exit({})", exit.0),
            None => format!("failed: {error:#}"),
        },
    }
}
