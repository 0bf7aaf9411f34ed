//! What a rule is: its metadata and the calls a host makes.

use crate::{alert::Alert, batch::Batch, time::Timestamp};

/// Severity of a rule's alerts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Informational.
    Informational,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
}

impl Severity {
    /// The name Sentinel uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "Informational",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
        }
    }
}

/// A parameter a deployment may set.
#[derive(Clone, Debug, PartialEq)]
pub struct ParameterSpec {
    /// Name.
    pub name: String,
    /// What it changes and its allowed range.
    pub description: String,
    /// Default value, as text.
    pub default_value: String,
}

/// What a rule is and what it reads; see the WIT `rule-metadata`.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleMetadata {
    /// Stable id.
    pub id: String,
    /// Short machine-friendly name.
    pub short_name: String,
    /// Display name.
    pub name: String,
    /// Version of the rule's logic.
    pub version: String,
    /// What it detects.
    pub description: String,
    /// Severity of its alerts.
    pub severity: Severity,
    /// MITRE ATT&CK tactics.
    pub tactics: Vec<String>,
    /// MITRE ATT&CK techniques.
    pub techniques: Vec<String>,
    /// Evaluation period, microseconds.
    pub frequency: i64,
    /// Sessions read by an evaluation at `t`: `[t - session_lookback, t)`.
    pub session_lookback: i64,
    /// Session columns read, besides `TimeGenerated`.
    pub session_columns: Vec<String>,
    /// Indicators read at `t`: `[t - lookback, t]`; none if the rule reads none.
    pub indicator_lookback: Option<i64>,
    /// Indicator columns read, besides `TimeGenerated`.
    pub indicator_columns: Vec<String>,
    /// Summary columns read, besides `TimeGenerated` (a summary's EventTime).
    pub summary_columns: Vec<String>,
    /// Parameters.
    pub parameters: Vec<ParameterSpec>,
}

/// A detection rule. One value is one deployment: it keeps its window state
/// between calls. Errors are messages for the operator.
pub trait Rule: Sized {
    /// What the rule is, with its default parameters.
    fn metadata() -> RuleMetadata;

    /// What this deployment is: the metadata with its parameters applied.
    fn describe(&self) -> RuleMetadata {
        Self::metadata()
    }

    /// A fresh deployment with `parameters` (name, value) over the defaults.
    fn configure(parameters: &[(String, String)]) -> Result<Self, String>;

    /// Adds session rows to the window.
    fn ingest_sessions(&mut self, sessions: Batch) -> Result<(), String>;

    /// Adds indicator rows.
    fn ingest_indicators(&mut self, indicators: Batch) -> Result<(), String>;

    /// Adds pre-aggregated session counts; a rule that declares no summary
    /// columns is never sent any.
    fn ingest_summaries(&mut self, _summaries: Batch) -> Result<(), String> {
        Err("this rule reads no summaries".into())
    }

    /// Evaluates at `at`; times must not decrease between calls.
    fn evaluate(&mut self, at: Timestamp) -> Result<Vec<Alert>, String>;

    /// Counters for the operator, by name.
    fn stats(&self) -> Vec<(String, u64)> {
        Vec::new()
    }

    /// The window state, for [`Rule::restore`] in another deployment.
    fn snapshot(&self) -> Vec<u8>;

    /// Replaces the window state with a snapshot.
    fn restore(&mut self, state: &[u8]) -> Result<(), String>;
}
