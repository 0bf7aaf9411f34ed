//! A tenant's spool: its files are read into a reorder buffer, and rows at
//! or before the watermark (the latest `TimeGenerated` seen minus the
//! lateness) are played in time order, as `replay` plays them.

use std::{collections::BTreeMap, sync::Arc};

use anyhow::Result;
use asim_rule_core::Timestamp;

use super::{Rules, Tenant};
use crate::{
    feed::Table,
    inputs::{reorder::ReorderBuffer, stream::OwnedCell, Rejects},
    limits::BATCH_ROWS,
    printable::printable,
    schedule::Replay,
};

/// The table a spool file feeds, by its name.
pub(super) fn table_of(name: &str) -> Table {
    if name.contains("indicators") {
        Table::Indicators
    } else if name.contains("summaries") {
        Table::Summaries
    } else {
        Table::Sessions
    }
}

/// Rows read from spool files and waiting for the watermark (ranked by
/// table, as `replay` orders the rows of one instant), and how many wait
/// per file.
#[derive(Default)]
pub(super) struct Waiting {
    rows: ReorderBuffer<(Arc<str>, Vec<OwnedCell>)>,
    per_file: BTreeMap<Arc<str>, u64>,
}

impl Waiting {
    /// How many rows wait.
    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Holds a row of `file`, of `table`.
    fn push(&mut self, time: Timestamp, table: Table, file: &Arc<str>, cells: Vec<OwnedCell>) {
        *self.per_file.entry(Arc::clone(file)).or_default() += 1;
        self.rows
            .push(time, table.index(), (Arc::clone(file), cells));
    }

    /// Whether rows of `file` wait.
    fn holds(&self, file: &str) -> bool {
        self.per_file.contains_key(file)
    }

    /// The earliest row at or before `watermark`, with the name of its file
    /// when it was that file's last row waiting.
    fn pop_through(&mut self, watermark: Timestamp) -> Option<Released> {
        let (time, table, (file, cells)) = self.rows.pop_if(|time| time <= watermark)?;
        // Every row pushed counted its file, so the count is there; the row
        // is released whatever.
        let left = self.per_file.get_mut(&file).map(|count| {
            *count -= 1;
            *count
        });
        let finished = (left == Some(0)).then(|| {
            self.per_file.remove(&file);
            file
        });
        Some(Released {
            time,
            table: Table::ALL[table],
            cells,
            finished,
        })
    }
}

/// A row released by the watermark.
struct Released {
    time: Timestamp,
    table: Table,
    cells: Vec<OwnedCell>,
    /// The row's file, when no row of it waits any more.
    finished: Option<Arc<str>>,
}

impl Tenant {
    /// Reads a spool file's rows into the reorder buffer; rows at or before
    /// the watermark of a re-read file were played before the restart.
    pub(super) fn read_file(&mut self, name: &str) -> Result<()> {
        let table = self.source.table_of(name);
        let file: Arc<str> = name.into();
        let reread = self.checkpoint.files_waiting.contains(name);
        let watermark = self.checkpoint.watermark;
        let horizon = self.horizon();
        let mut rejects = Rejects::default();
        let (mut rows, mut too_far_ahead) = (Vec::new(), 0u64);
        let reader = Arc::clone(&self.readers[table.index()]);
        let read = self.source.read(
            name,
            &reader,
            &self.columns[table.index()],
            &mut rejects,
            &mut |time, cells| {
                if time > horizon {
                    too_far_ahead += 1;
                } else if !(reread && watermark.is_some_and(|watermark| time <= watermark)) {
                    rows.push((time, cells.iter().map(OwnedCell::new).collect::<Vec<_>>()));
                }
                Ok(())
            },
        );
        if let Err(error) = read {
            // One bad file does not stop the tenant: it is reported and left.
            let message = format!("tenant {}: {name}: {error:#}", self.name);
            tracing::warn!(tenant = %self.name, "{}", printable(&message));
        }
        if too_far_ahead > 0 {
            let message = format!(
                "tenant {}: {name}: {too_far_ahead} rows dated after {} (the later of this host's clock and the latest row, plus max_ahead {}) refused",
                self.name,
                crate::time::format(horizon),
                self.config.max_ahead
            );
            tracing::warn!(tenant = %self.name, "{}", printable(&message));
        }
        if !reread {
            self.checkpoint.rows_in = self.checkpoint.rows_in.saturating_add(rows.len() as u64);
            self.checkpoint.rejected_rows =
                self.checkpoint.rejected_rows.saturating_add(rejects.count);
            self.checkpoint.rows_too_far_ahead = self
                .checkpoint
                .rows_too_far_ahead
                .saturating_add(too_far_ahead);
        }
        for (time, cells) in rows {
            if !reread && watermark.is_some_and(|watermark| time <= watermark) {
                self.checkpoint.late_rows = self.checkpoint.late_rows.saturating_add(1);
            }
            self.checkpoint.latest = Some(
                self.checkpoint
                    .latest
                    .map_or(time, |latest| latest.max(time)),
            );
            self.waiting.push(time, table, &file, cells);
        }
        if self.waiting.holds(&file) {
            self.checkpoint.files_waiting.insert(name.to_owned());
        } else {
            // Every row of it was played already (or it has none).
            self.checkpoint.files_waiting.remove(name);
            self.checkpoint.files_played.insert(name.to_owned());
        }
        Ok(())
    }

    /// The latest time a row may have: `max_ahead` beyond the later of the
    /// host's clock and the latest row read.
    fn horizon(&self) -> Timestamp {
        let latest = self.checkpoint.latest.unwrap_or(Timestamp::MIN);
        crate::time::now()
            .max(latest)
            .saturating_add(self.max_ahead)
    }

    /// Plays the rows at or before the watermark and evaluates every tick
    /// up to it.
    pub(super) fn play_to_watermark(&mut self) -> Result<()> {
        let Some(latest) = self.checkpoint.latest else {
            return Ok(());
        };
        let watermark = latest.saturating_sub(self.lateness);
        let watermark = self
            .checkpoint
            .watermark
            .map_or(watermark, |old| old.max(watermark));
        if let Rules::Idle(rules) = &mut self.rules {
            let Some(first) = self.waiting.rows.earliest() else {
                return Ok(());
            };
            let from = *self.checkpoint.from.get_or_insert(first);
            let rules = std::mem::take(rules);
            let replay = Replay::new(rules, from, Timestamp::MAX, &self.name, BATCH_ROWS);
            self.rules = Rules::Running(replay);
        }
        let Rules::Running(replay) = &mut self.rules else {
            return Ok(());
        };
        while let Some(row) = self.waiting.pop_through(watermark) {
            let cells: Vec<_> = row.cells.iter().map(OwnedCell::cell).collect();
            replay.row(row.table, row.time, &cells, &mut self.sink)?;
            if let Some(file) = row.finished {
                self.checkpoint.files_waiting.remove(&*file);
                self.checkpoint.files_played.insert(file.to_string());
            }
        }
        replay.advance_to(watermark, &mut self.sink)?;
        self.sink.flush()?;
        self.checkpoint.watermark = Some(watermark);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spool_file_is_finished_when_its_last_row_is_released() {
        let (early, late): (Arc<str>, Arc<str>) =
            ("0001-sessions.jsonl".into(), "0002-indicators.jsonl".into());
        let mut waiting = Waiting::default();
        for (time, table, file) in [
            (30, Table::Sessions, &early),
            (10, Table::Sessions, &early),
            (20, Table::Indicators, &late),
            (20, Table::Sessions, &late),
            (40, Table::Indicators, &late),
        ] {
            waiting.push(time, table, file, vec![OwnedCell::Integer(time)]);
        }
        assert!(waiting.holds(&early) && waiting.holds(&late));
        let mut released = Vec::new();
        while let Some(row) = waiting.pop_through(30) {
            released.push((row.time, row.table, row.finished));
        }
        // In time order, indicators before sessions within an instant (as
        // `replay`), and the first file finished with its last row.
        assert_eq!(
            released,
            [
                (10, Table::Sessions, None),
                (20, Table::Indicators, None),
                (20, Table::Sessions, None),
                (30, Table::Sessions, Some(Arc::clone(&early))),
            ]
        );
        assert!(!waiting.holds(&early) && waiting.holds(&late));
        assert_eq!(waiting.len(), 1);
        let last = waiting.pop_through(Timestamp::MAX).map(|row| row.finished);
        assert_eq!(last, Some(Some(late)));
        assert_eq!(waiting.len(), 0);
    }

    #[test]
    fn spool_files_feed_the_table_their_name_says() {
        assert_eq!(table_of("0003-indicators.jsonl.gz"), Table::Indicators);
        assert_eq!(table_of("0003-summaries.csv"), Table::Summaries);
        assert_eq!(table_of("0003-conn.log"), Table::Sessions);
    }
}
