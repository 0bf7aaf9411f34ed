//! Routes rows to rules: each rule gets only the columns it declared and only
//! the rows its window asks for, in batches of a bounded number of rows.

use anyhow::Result;
use asim_rule_core::{
    batch::Cell,
    schema::{self, ColumnKind},
    BatchBuilder, RuleMetadata, Timestamp,
};

use crate::engine::RuleInstance;

/// Which table a feed carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// ThreatIntelligenceIndicator rows.
    Indicators,
    /// NetworkSummary_Protocol_CL rows (pre-aggregated session counts).
    Summaries,
    /// ASIM NetworkSession rows.
    Sessions,
}

impl Table {
    /// Every table, in the order rows of one instant are played: an indicator
    /// row at `t` is part of the evaluation at `t`, a session row is not.
    pub const ALL: [Table; 3] = [Table::Indicators, Table::Summaries, Table::Sessions];

    /// The table's position in [`Table::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The table's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Table::Sessions => "session",
            Table::Indicators => "indicator",
            Table::Summaries => "summary",
        }
    }

    fn columns(self, rule: &RuleMetadata) -> &[String] {
        match self {
            Table::Sessions => &rule.session_columns,
            Table::Indicators => &rule.indicator_columns,
            Table::Summaries => &rule.summary_columns,
        }
    }

    fn kind(self, column: &str) -> ColumnKind {
        let kind = match self {
            Table::Sessions => schema::session_column(column),
            Table::Indicators => schema::indicator_column(column),
            Table::Summaries => schema::summary_column(column),
        };
        // Loading checked every declared column against the catalog.
        kind.unwrap_or(ColumnKind::Text)
    }

    /// How far back an evaluation reads this table, per the rule's metadata;
    /// none when the rule reads nothing from it.
    pub fn lookback(self, rule: &RuleMetadata) -> Option<i64> {
        match self {
            Table::Sessions => Some(rule.session_lookback),
            Table::Indicators => rule.indicator_lookback,
            // Summaries are session history: the session window applies.
            Table::Summaries => (!rule.summary_columns.is_empty()).then_some(rule.session_lookback),
        }
    }

    /// The rows an evaluation at `at` reads from this table: `[at - lookback,
    /// at)`, with `at` itself in for indicators.
    pub fn window(self, rule: &RuleMetadata, at: Timestamp) -> Option<Window> {
        self.window_over(rule, at, at)
    }

    /// The rows evaluations from `first` to `last` read from this table.
    pub fn window_over(
        self,
        rule: &RuleMetadata,
        first: Timestamp,
        last: Timestamp,
    ) -> Option<Window> {
        self.lookback(rule).map(|lookback| Window {
            from: first - lookback,
            to: last,
            to_inclusive: self == Table::Indicators,
        })
    }
}

/// A span of `TimeGenerated`: `[from, to)`, or `[from, to]` when inclusive.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// First instant in.
    pub from: Timestamp,
    /// Last instant, in or out.
    pub to: Timestamp,
    /// Whether `to` is in.
    pub to_inclusive: bool,
}

impl Window {
    fn contains(&self, time: Timestamp) -> bool {
        time >= self.from && (time < self.to || (self.to_inclusive && time == self.to))
    }
}

struct Target {
    rule: usize,
    window: Window,
    /// For each of the rule's columns, its position in the feed's columns.
    slots: Vec<usize>,
    builder: BatchBuilder,
}

/// Rows of one table on their way to the rules.
pub struct Feed {
    table: Table,
    columns: Vec<(String, ColumnKind)>,
    targets: Vec<Target>,
    batch_rows: usize,
    /// Rows no rule's window wanted.
    pub outside_windows: u64,
}

impl Feed {
    /// A feed of `table` to the rules, each getting the rows of the window
    /// `window_of(position, metadata)` gives it (none: it reads none of them).
    pub fn new(
        table: Table,
        rules: &[RuleInstance],
        window_of: impl Fn(usize, &RuleMetadata) -> Option<Window>,
        batch_rows: usize,
    ) -> Feed {
        let mut columns: Vec<(String, ColumnKind)> = Vec::new();
        let mut targets = Vec::new();
        for (index, rule) in rules.iter().enumerate() {
            let Some(window) = window_of(index, rule.metadata()) else {
                continue;
            };
            let mut slots = Vec::new();
            let mut kinds = Vec::new();
            for name in table.columns(rule.metadata()) {
                let kind = table.kind(name);
                let slot = match columns.iter().position(|(column, _)| column == name) {
                    Some(slot) => slot,
                    None => {
                        columns.push((name.clone(), kind));
                        columns.len() - 1
                    }
                };
                slots.push(slot);
                kinds.push((name.as_str(), kind));
            }
            targets.push(Target {
                rule: index,
                window,
                slots,
                builder: BatchBuilder::new(&kinds),
            });
        }
        Feed {
            table,
            columns,
            targets,
            batch_rows,
            outside_windows: 0,
        }
    }

    /// Whether any rule reads this table.
    pub fn is_wanted(&self) -> bool {
        !self.targets.is_empty()
    }

    /// The columns to read: the union of what the rules declared.
    pub fn columns(&self) -> &[(String, ColumnKind)] {
        &self.columns
    }

    /// Offers one row (cells in [`Feed::columns`] order) to every rule.
    pub fn push(
        &mut self,
        rules: &mut [RuleInstance],
        time: Timestamp,
        cells: &[Cell],
    ) -> Result<()> {
        let mut wanted = false;
        for target in &mut self.targets {
            if !target.window.contains(time) {
                continue;
            }
            wanted = true;
            // Cells were validated against the same kinds when they were read.
            if let Err(error) = target.builder.push_picked(time, cells, &target.slots) {
                anyhow::bail!(
                    "{} row refused by the batch builder: {}: {}",
                    self.table.name(),
                    error.column,
                    error.reason
                );
            }
            if target.builder.rows() >= self.batch_rows {
                send(self.table, &mut rules[target.rule], &mut target.builder);
            }
        }
        if !wanted {
            self.outside_windows += 1;
        }
        Ok(())
    }

    /// Sends every partly filled batch.
    pub fn flush(&mut self, rules: &mut [RuleInstance]) {
        (0..rules.len()).for_each(|rule| self.flush_rule(rules, rule));
    }

    /// Sends rule `rule`'s partly filled batch, so it has every row pushed so far.
    pub fn flush_rule(&mut self, rules: &mut [RuleInstance], rule: usize) {
        for target in self.targets.iter_mut().filter(|target| target.rule == rule) {
            if target.builder.rows() > 0 {
                send(self.table, &mut rules[target.rule], &mut target.builder);
            }
        }
    }
}

/// Hands a batch to a rule. A rule that fails is quarantined by the engine
/// (its instance keeps the reason, which the schedule reports); a quarantined
/// rule gets no more batches.
fn send(table: Table, rule: &mut RuleInstance, builder: &mut BatchBuilder) {
    let batch = builder.take();
    if rule.quarantine().is_some() {
        return;
    }
    // The error is the instance's quarantine, kept there.
    let _quarantined = match table {
        Table::Sessions => rule.ingest_sessions(batch),
        Table::Indicators => rule.ingest_indicators(batch),
        Table::Summaries => rule.ingest_summaries(batch),
    };
}
