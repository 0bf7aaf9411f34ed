//! Putting a file's rows in time order before they are played: in memory for
//! small inputs, and otherwise as an external merge sort (sorted runs spilled
//! to a temporary folder, then merged), so memory stays bounded whatever the
//! file's length.

use std::{
    cmp::Reverse,
    collections::BinaryHeap,
    fmt,
    fs::File,
    io::{BufReader, BufWriter, Read, Write},
};

use anyhow::{Context, Result};
use asim_rule_core::{batch::Cell, Timestamp};

use super::{records, stream::Row, Format, InputFile};
use crate::time;

use crate::limits::SORT_RUN_ROWS as RUN_ROWS;

/// Whether `input` goes back in time by more than `lateness` (µs), by the
/// first of `time_columns` that a row has. Standard input (which cannot be
/// read twice) and raw logs (text, or JSON without those columns) count as in
/// order: they are played as read, within the lateness.
pub fn out_of_order(input: &InputFile, time_columns: &[&str], lateness: i64) -> Result<bool> {
    if input.is_stdin() || input.format == Format::Text {
        return Ok(false);
    }
    #[derive(Debug)]
    struct Found;
    impl fmt::Display for Found {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("out of order")
        }
    }
    impl std::error::Error for Found {}
    let mut newest = Timestamp::MIN;
    let scanned = records::read(input, time_columns, |_, fields| {
        let time = fields
            .ok()
            .and_then(|fields| fields.iter().flatten().next())
            .and_then(|text| time::parse(text).ok());
        if let Some(time) = time {
            if newest.saturating_sub(time) > lateness {
                return Err(Found.into());
            }
            newest = newest.max(time);
        }
        Ok(())
    });
    match scanned {
        Ok(()) => Ok(false),
        Err(error) if error.is::<Found>() => Ok(true),
        Err(error) => Err(error),
    }
}

/// Rows pushed in any order, taken out sorted by time; rows of one instant
/// keep the order they were pushed in.
pub struct ExternalSort {
    rows: Vec<Row>,
    /// Where runs are spilled; none sorts in memory only.
    folder: Option<tempfile::TempDir>,
    runs: Vec<File>,
    spilled_bytes: u64,
    pushed: u64,
}

/// What a sort did, for the message that says so.
pub struct SortReport {
    rows: u64,
    runs: usize,
    spilled_bytes: u64,
}

impl fmt::Display for SortReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.runs {
            0 => write!(f, "in memory ({} rows)", self.rows),
            runs => write!(
                f,
                "on disk ({} rows: {runs} runs of up to {RUN_ROWS}, {:.1} MiB in a temporary folder)",
                self.rows,
                self.spilled_bytes as f64 / (1024.0 * 1024.0),
            ),
        }
    }
}

impl ExternalSort {
    /// Sorts in memory, however many rows come.
    pub fn in_memory() -> ExternalSort {
        ExternalSort {
            rows: Vec::new(),
            folder: None,
            runs: Vec::new(),
            spilled_bytes: 0,
            pushed: 0,
        }
    }

    /// Spills sorted runs to a temporary folder past [`RUN_ROWS`] rows.
    pub fn on_disk() -> Result<ExternalSort> {
        let folder = tempfile::Builder::new()
            .prefix("asim-rules-sort")
            .tempdir()
            .context("creating a temporary folder to sort in")?;
        Ok(ExternalSort {
            folder: Some(folder),
            ..ExternalSort::in_memory()
        })
    }

    /// Adds a row.
    pub fn push(&mut self, time: Timestamp, cells: &[Cell]) -> Result<()> {
        self.rows.push(Row::new(time, cells));
        self.pushed += 1;
        if self.folder.is_some() && self.rows.len() == RUN_ROWS {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> Result<()> {
        let Some(folder) = &self.folder else {
            return Ok(());
        };
        // Stable: rows of one instant keep their order.
        self.rows.sort_by_key(|row| row.time);
        let path = folder.path().join(format!("run-{}", self.runs.len()));
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("{}: creating a sort run", path.display()))?;
        let mut writer = BufWriter::new(file);
        for row in self.rows.drain(..) {
            let bytes = postcard::to_stdvec(&row).context("encoding a row to sort")?;
            let length = u32::try_from(bytes.len()).context("a row too long to sort")?;
            writer.write_all(&length.to_le_bytes())?;
            writer.write_all(&bytes)?;
            self.spilled_bytes += 4 + u64::from(length);
        }
        let mut file = writer
            .into_inner()
            .map_err(|error| error.into_error())
            .with_context(|| format!("{}: writing a sort run", path.display()))?;
        std::io::Seek::rewind(&mut file)?;
        self.runs.push(file);
        Ok(())
    }

    /// Hands the rows over in time order, `chunk_rows` at a time.
    pub fn finish(
        mut self,
        chunk_rows: usize,
        mut send: impl FnMut(Vec<Row>) -> Result<()>,
    ) -> Result<SortReport> {
        let rows = self.pushed;
        let report = |runs, spilled_bytes| SortReport {
            rows,
            runs,
            spilled_bytes,
        };
        if self.runs.is_empty() {
            self.rows.sort_by_key(|row| row.time);
            let report = report(0, 0);
            let mut rows = self.rows.into_iter().peekable();
            while rows.peek().is_some() {
                send(rows.by_ref().take(chunk_rows).collect())?;
            }
            return Ok(report);
        }
        if !self.rows.is_empty() {
            self.spill()?;
        }
        let report = report(self.runs.len(), self.spilled_bytes);
        let mut runs: Vec<RunReader> = self
            .runs
            .into_iter()
            .map(|file| RunReader(BufReader::new(file)))
            .collect();
        // (time, run): among rows of one instant the earlier run, which holds
        // the earlier rows of the file, comes first.
        let mut heads = BinaryHeap::new();
        let mut pending: Vec<Option<Row>> = Vec::with_capacity(runs.len());
        for (index, run) in runs.iter_mut().enumerate() {
            let row = run.next()?;
            if let Some(row) = &row {
                heads.push(Reverse((row.time, index)));
            }
            pending.push(row);
        }
        let mut chunk = Vec::with_capacity(chunk_rows);
        while let Some(Reverse((_, index))) = heads.pop() {
            let Some(row) = pending[index].take() else {
                continue;
            };
            chunk.push(row);
            if let Some(next) = runs[index].next()? {
                heads.push(Reverse((next.time, index)));
                pending[index] = Some(next);
            }
            if chunk.len() == chunk_rows {
                send(std::mem::replace(
                    &mut chunk,
                    Vec::with_capacity(chunk_rows),
                ))?;
            }
        }
        send(chunk)?;
        Ok(report)
    }
}

/// The rows of one spilled run, in order.
struct RunReader(BufReader<File>);

impl RunReader {
    fn next(&mut self) -> Result<Option<Row>> {
        let mut length = [0; 4];
        match self.0.read_exact(&mut length) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(error) => return Err(error).context("reading a sort run"),
        }
        let mut bytes = vec![0; u32::from_le_bytes(length) as usize];
        self.0
            .read_exact(&mut bytes)
            .context("reading a sort run")?;
        postcard::from_bytes(&bytes)
            .map(Some)
            .context("decoding a sorted row")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(mut sorter: ExternalSort, times: &[Timestamp]) -> Vec<(Timestamp, i64)> {
        for (order, time) in times.iter().enumerate() {
            sorter.push(*time, &[Cell::Integer(order as i64)]).unwrap();
        }
        let mut out = Vec::new();
        sorter
            .finish(3, |chunk| {
                assert!(chunk.len() <= 3);
                out.extend(chunk.into_iter().map(|row| match row.cells[0] {
                    super::super::stream::OwnedCell::Integer(order) => (row.time, order),
                    _ => unreachable!(),
                }));
                Ok(())
            })
            .unwrap();
        out
    }

    #[test]
    fn rows_come_out_by_time_and_ties_in_the_order_pushed() {
        let times = [5, 3, 5, 1, 3, 9, 0, 5];
        let expected = vec![
            (0, 6),
            (1, 3),
            (3, 1),
            (3, 4),
            (5, 0),
            (5, 2),
            (5, 7),
            (9, 5),
        ];
        assert_eq!(sorted(ExternalSort::in_memory(), &times), expected);
        assert_eq!(sorted(ExternalSort::on_disk().unwrap(), &times), expected);
    }

    #[test]
    fn runs_spilled_to_disk_merge_in_order_with_ties_kept_stable() {
        // More than two runs, each row's time cycling so that ties span runs.
        let times: Vec<Timestamp> = (0..(2 * RUN_ROWS + 100) as i64)
            .map(|i| (i * 7919) % 1000)
            .collect();
        let mut sorter = ExternalSort::on_disk().unwrap();
        for (order, time) in times.iter().enumerate() {
            sorter.push(*time, &[Cell::Integer(order as i64)]).unwrap();
        }
        assert_eq!(sorter.runs.len(), 2);
        let mut previous = (Timestamp::MIN, -1);
        let mut count = 0;
        let report = sorter
            .finish(4096, |chunk| {
                for row in chunk {
                    let super::super::stream::OwnedCell::Integer(order) = row.cells[0] else {
                        unreachable!()
                    };
                    assert!(
                        (row.time, order) > previous,
                        "{previous:?} then {:?}",
                        (row.time, order)
                    );
                    previous = (row.time, order);
                    count += 1;
                }
                Ok(())
            })
            .unwrap();
        assert_eq!(count, times.len());
        assert_eq!(report.runs, 3);
    }
}
