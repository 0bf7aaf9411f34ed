//! The status file (`status.json` in the state folder) that `serve` rewrites
//! after every pass and `asim-rules status` reads: one type for both sides,
//! so the file's keys are written in one place.

use std::{collections::BTreeMap, fs, path::Path};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// The status file's name in the state folder.
pub const STATUS_FILE: &str = "status.json";

/// Every tenant's status, in the configuration's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub tenants: Vec<TenantStatus>,
}

/// A tenant's clock, counters, rules and budgets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantStatus {
    pub tenant: String,
    /// Rows at or before it have been played (RFC 3339).
    pub watermark: Option<String>,
    pub rows_in: u64,
    /// Rows that came at or before the watermark: played late.
    pub late_rows: u64,
    /// Lines refused as malformed.
    pub rejected_rows: u64,
    /// Rows dated further ahead than `max_ahead`, refused.
    pub rows_too_far_ahead: u64,
    pub files_played: usize,
    /// Files with rows still waiting for the watermark.
    pub files_waiting: usize,
    pub rows_waiting: usize,
    pub rules: Vec<RuleStatus>,
    /// Configured rules that could not be loaded.
    pub refused: Vec<Refused>,
    pub memory_budget_mib: usize,
    pub call_budget_ms: u128,
}

/// Whether a rule runs or was quarantined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleState {
    Running,
    Quarantined,
}

/// A rule of a tenant: its build, its counters and what it used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleStatus {
    /// The rule's short name.
    pub rule: String,
    pub version: String,
    pub component: String,
    pub digest: String,
    pub parameters: BTreeMap<String, String>,
    /// When the running build was swapped in; none for the first build.
    pub swapped_at: Option<String>,
    pub previous_version: Option<String>,
    pub previous_component: Option<String>,
    pub on_probation: bool,
    /// What the last swap did, or why it was refused or rolled back.
    pub last_swap: Option<String>,
    pub state: RuleState,
    /// Why it was quarantined.
    pub reason: Option<String>,
    pub evaluations: u64,
    pub alerts: u64,
    pub last_evaluation: Option<String>,
    pub memory_mib: usize,
    pub busy_ms: u128,
}

/// A configured component that could not be loaded, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refused {
    pub component: String,
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
