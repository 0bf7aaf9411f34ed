//! The pipeline read → feed → evaluate that every command running rules
//! shares: which reader reads a table's files (`run`, `replay`, `serve` and
//! the embedding example all take their readers from here), and the one
//! evaluation of `run` (and of an embedding program): [`feed_at`], then
//! [`evaluate_at`]. `replay` and `serve` evaluate on ticks instead
//! ([`crate::schedule::Replay`]).

use std::sync::Arc;

use anyhow::Result;
use asim_rule_core::Timestamp;

use crate::{
    engine::{Quarantine, RuleInstance},
    feed::{Feed, Table},
    inputs::{
        self,
        indicators::{self, ListOptions},
        normalize::SessionFormat,
        stream::Reader,
        InputFile, Rejects,
    },
    outputs::{AlertSink, Evaluation},
};

/// How each table's files are read.
#[derive(Clone, Debug, Default)]
pub struct Readers {
    /// How plain IP lists and CSV feeds are dated and typed.
    pub indicators: ListOptions,
    /// The session files' format; none: recognised per file.
    pub sessions_format: Option<SessionFormat>,
}

impl Readers {
    /// The reader of `table`'s files.
    pub fn of(&self, table: Table) -> Reader {
        match table {
            Table::Indicators => indicators::reader(self.indicators.clone()),
            Table::Summaries => Arc::new(inputs::read_summaries),
            Table::Sessions => {
                let format = self.sessions_format;
                Arc::new(move |input, columns, rejects, on_row| {
                    inputs::read_sessions(input, format, columns, rejects, on_row)
                })
            }
        }
    }
}

/// What [`feed_at`] read of one table.
#[derive(Clone, Debug)]
pub struct TableRead {
    /// The table.
    pub table: Table,
    /// Rows read from its files.
    pub rows: u64,
    /// Rows refused as malformed.
    pub rejected: u64,
    /// Rows no rule's window wanted.
    pub outside_windows: u64,
}

/// Feeds each table's files to the rules whose windows at `at` want their
/// rows, in batches of `batch_rows`, each rule only the columns it declared:
/// what `run` reads before it evaluates once. Files of a table no rule reads
/// are not read (a warning says so).
pub fn feed_at(
    rules: &mut [RuleInstance],
    tables: &[(Table, &[InputFile])],
    readers: &Readers,
    at: Timestamp,
    batch_rows: usize,
    rejects: &mut Rejects,
) -> Result<Vec<TableRead>> {
    let mut read = Vec::new();
    for &(table, files) in tables {
        let mut feed = Feed::new(table, rules, |_, rule| table.window(rule, at), batch_rows);
        let (mut rows, rejected_before) = (0, rejects.count);
        if feed.is_wanted() {
            let columns = feed.columns().to_vec();
            let reader = readers.of(table);
            for input in files {
                rows += reader(input, &columns, rejects, &mut |time, cells| {
                    feed.push(rules, time, cells)
                })?;
            }
            feed.flush(rules);
        } else if !files.is_empty() {
            tracing::warn!(
                "no rule reads {} rows; {} file(s) not read",
                table.name(),
                files.len()
            );
        }
        read.push(TableRead {
            table,
            rows,
            rejected: rejects.count - rejected_before,
            outside_windows: feed.outside_windows,
        });
    }
    Ok(read)
}

/// What one rule's evaluation came to.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// It returned this many alerts, written out.
    Alerts(usize),
    /// It was quarantined, now or while it was fed.
    Quarantined(Quarantine),
}

/// Evaluates each rule once at `at` for `tenant` and writes its alerts to
/// `sink`. A quarantined rule is reported (a warning naming the tenant) and
/// the others go on.
pub fn evaluate_at(
    rules: &mut [RuleInstance],
    at: Timestamp,
    tenant: &str,
    sink: &mut AlertSink,
) -> Result<Vec<Outcome>> {
    let mut outcomes = Vec::new();
    for rule in rules {
        match rule.evaluate(at) {
            Ok(alerts) => {
                let evaluation = Evaluation {
                    rule: rule.metadata(),
                    at,
                    tenant,
                };
                sink.write(&evaluation, &alerts)?;
                outcomes.push(Outcome::Alerts(alerts.len()));
            }
            Err(quarantine) => {
                tracing::warn!(%tenant, "tenant {tenant}: {quarantine}");
                outcomes.push(Outcome::Quarantined(quarantine));
            }
        }
    }
    Ok(outcomes)
}
