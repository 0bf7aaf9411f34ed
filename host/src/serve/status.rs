//! The status file (`status.json` in the state folder) that `serve` rewrites
//! after every pass and `asim-rules status` reads: one type for both sides,
//! so the file's keys are written in one place.

use std::{collections::BTreeMap, fs, path::Path};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::{engine::wasi::RuleLogTail, histogram::Histogram, printable::printable};

/// The status file's name in the state folder.
pub const STATUS_FILE: &str = "status.json";

/// Every tenant's status, in the configuration's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// One entry per tenant.
    pub tenants: Vec<TenantStatus>,
}

/// A tenant's clock, counters, rules and budgets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantStatus {
    /// The tenant's name.
    pub tenant: String,
    /// Rows at or before it have been played (RFC 3339).
    pub watermark: Option<String>,
    /// Rows read from its spool.
    pub rows_in: u64,
    /// Rows that came at or before the watermark: played late.
    pub late_rows: u64,
    /// Lines refused as malformed.
    pub rejected_rows: u64,
    /// Rows dated further ahead than `max_ahead`, refused.
    pub rows_too_far_ahead: u64,
    /// Files whose every row was played.
    pub files_played: usize,
    /// Files with rows still waiting for the watermark.
    pub files_waiting: usize,
    /// Rows read and waiting for the watermark.
    pub rows_waiting: usize,
    /// Its rules, in the configuration's order (refused ones left out).
    pub rules: Vec<RuleStatus>,
    /// Configured rules that could not be loaded.
    pub refused: Vec<Refused>,
    /// Memory one of its rule instances may use.
    pub memory_budget_mib: usize,
    /// Wall time one call may take.
    pub call_budget_ms: u128,
}

/// Whether a rule runs or was quarantined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleState {
    /// It is fed and evaluated.
    Running,
    /// It broke a budget or trapped: it gets no more rows or calls.
    Quarantined,
}

/// A rule of a tenant: its build, its counters and what it used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleStatus {
    /// The rule's short name.
    pub rule: String,
    /// The running build's `metadata().version`.
    pub version: String,
    /// The file the running build was taken from.
    pub component: String,
    /// The running build's digest (its kept copy's name).
    pub digest: String,
    /// The running build's parameters.
    pub parameters: BTreeMap<String, String>,
    /// When the running build was swapped in; none for the first build.
    pub swapped_at: Option<String>,
    /// The version of the build it replaced.
    pub previous_version: Option<String>,
    /// The file of the build it replaced.
    pub previous_component: Option<String>,
    /// Whether a failure now rolls it back.
    pub on_probation: bool,
    /// What the last swap did, or why it was refused or rolled back.
    pub last_swap: Option<String>,
    /// Running or quarantined.
    pub state: RuleState,
    /// Why it was quarantined.
    pub reason: Option<String>,
    /// Evaluations since the tenant started.
    pub evaluations: u64,
    /// Alerts those evaluations returned.
    pub alerts: u64,
    /// The time of the last one (RFC 3339).
    pub last_evaluation: Option<String>,
    /// Memory the instance holds.
    pub memory_mib: usize,
    /// The same, in bytes.
    #[serde(default)]
    pub memory_bytes: usize,
    /// Time spent in calls into the rule.
    pub busy_ms: u128,
    /// How long its evaluations took since the tenant's rules started.
    #[serde(default)]
    pub evaluation_seconds: Histogram,
    /// Swaps applied to it.
    #[serde(default)]
    pub swaps: u64,
    /// How long each swap held the tenant still.
    #[serde(default)]
    pub swap_pause_seconds: Histogram,
    /// What the running build printed (a Python rule's `print`), if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printed: Option<Printed>,
}

/// A rule's log as the status file carries it: its size and its last lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Printed {
    /// Bytes kept in the rule's log.
    pub bytes: usize,
    /// Bytes printed after the log was full, dropped.
    pub dropped: u64,
    /// The log's last lines, escaped and cut for a terminal.
    pub last_lines: Vec<String>,
}

impl Printed {
    /// What `log` holds, or none when the rule printed nothing.
    pub fn of(log: RuleLogTail) -> Option<Printed> {
        if log.bytes == 0 && log.dropped == 0 {
            return None;
        }
        Some(Printed {
            bytes: log.bytes,
            dropped: log.dropped,
            last_lines: log
                .last_lines
                .iter()
                .map(|line| printable(line).into_owned())
                .collect(),
        })
    }
}

/// A configured component that could not be loaded, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refused {
    /// The component file named by the configuration.
    pub component: String,
    /// Why it could not be loaded.
    pub reason: String,
}

impl Status {
    /// Rewrites the status file in `state` atomically.
    pub fn write(&self, state: &Path) -> Result<()> {
        let path = state.join(STATUS_FILE);
        let temporary = state.join(format!("{STATUS_FILE}.tmp"));
        fs::write(&temporary, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("{}: cannot write", temporary.display()))?;
        fs::rename(&temporary, &path).with_context(|| format!("{}: cannot write", path.display()))
    }

    /// The status file in `state`, as text and as read.
    pub fn read(state: &Path) -> Result<(String, Status)> {
        let path = state.join(STATUS_FILE);
        let text = fs::read_to_string(&path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        let status = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a status file", path.display()))?;
        Ok((text, status))
    }
}
