//! Rows of several files merged in time order. Each file is read on its own
//! thread into chunks of owned rows over a bounded channel, so memory stays
//! bounded whatever the length of the inputs. A file is first checked for time
//! order; one that goes back in time by more than the lateness (an export
//! written newest first, or in no order) is sorted on disk before it is played
//! ([`super::sort`]). Rows that go back in time within the lateness are put
//! back in order as they are read.

use std::{
    cmp::Reverse,
    collections::BinaryHeap,
    sync::{
        mpsc::{sync_channel, Receiver},
        Arc,
    },
    thread::JoinHandle,
};

use anyhow::{anyhow, Result};
use asim_rule_core::{batch::Cell, schema::ColumnKind, Timestamp};

use super::{reorder::ReorderBuffer, sort::ExternalSort, InputFile, Rejects};

/// Reads one file's rows ([`super::read_table`], [`super::read_summaries`],
/// [`super::indicators::reader`]); returns the records read.
pub type Reader = Arc<
    dyn Fn(
            &InputFile,
            &[(String, ColumnKind)],
            &mut Rejects,
            &mut dyn FnMut(Timestamp, &[Cell]) -> Result<()>,
        ) -> Result<u64>
        + Send
        + Sync,
>;

/// A cell that owns its text.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum OwnedCell {
    /// No value.
    Empty,
    /// Text.
    Text(Box<str>),
    /// A whole number.
    Integer(i64),
    /// A real number.
    Real(f64),
    /// True or false.
    Boolean(bool),
    /// An instant.
    Time(Timestamp),
}

impl OwnedCell {
    /// The owned copy of `cell`.
    pub fn new(cell: &Cell) -> OwnedCell {
        match *cell {
            Cell::Empty => OwnedCell::Empty,
            Cell::Text(text) => OwnedCell::Text(text.into()),
            Cell::Integer(value) => OwnedCell::Integer(value),
            Cell::Real(value) => OwnedCell::Real(value),
            Cell::Boolean(value) => OwnedCell::Boolean(value),
            Cell::Time(value) => OwnedCell::Time(value),
        }
    }

    /// The borrowed cell.
    pub fn cell(&self) -> Cell<'_> {
        match self {
            OwnedCell::Empty => Cell::Empty,
            OwnedCell::Text(text) => Cell::Text(text),
            OwnedCell::Integer(value) => Cell::Integer(*value),
            OwnedCell::Real(value) => Cell::Real(*value),
            OwnedCell::Boolean(value) => Cell::Boolean(*value),
            OwnedCell::Time(value) => Cell::Time(*value),
        }
    }
}

/// One row of one table.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Row {
    /// The row's `TimeGenerated`.
    pub time: Timestamp,
    /// The row's cells, in the group's column order.
    pub cells: Vec<OwnedCell>,
}

impl Row {
    /// The row of `cells` at `time`, owning its texts.
    pub fn new(time: Timestamp, cells: &[Cell]) -> Row {
        Row {
            time,
            cells: cells.iter().map(OwnedCell::new).collect(),
        }
    }
}

/// Files read alike.
pub struct Group {
    /// The files, played as one stream.
    pub files: Vec<InputFile>,
    /// The columns to read from them.
    pub columns: Vec<(String, ColumnKind)>,
    /// Reads one of the files.
    pub reader: Reader,
    /// How the files' rows are put in time order.
    pub order: Order,
    /// How late (µs) a row may come after a later one of its file and still
    /// be put back in order: logs are written as connections end, not start.
    pub lateness: i64,
}

/// How a group's files are put in time order before their rows are played.
#[derive(Clone, Copy, Debug)]
pub enum Order {
    /// Read each file whole and sort it in memory: for inputs that are small
    /// and seldom in time order (indicator feeds, STIX bundles).
    SortInMemory,
    /// Check each file's order by its first time column present among these
    /// (`TimeGenerated`, a summary's `EventTime`); sort it on disk when it is
    /// not in order beyond the lateness. Standard input and raw logs are
    /// played as read, within the lateness.
    SortWhenOutOfOrder(&'static [&'static str]),
}

/// What a file's reader thread reports when it ends.
pub struct FileReport {
    /// Records read.
    pub records: u64,
    /// Rows refused, and why.
    pub rejects: Rejects,
}

/// Rows per chunk, and chunks in flight per file: bounds the memory a
/// stream uses to about 4 × 4096 rows per file.
const CHUNK_ROWS: usize = 4096;
const CHUNKS_IN_FLIGHT: usize = 4;

/// One file of a merge: read on its own thread, its rows put back in time
/// order within the lateness.
struct FileStream {
    /// Which group (table) the file belongs to; the lower group comes first
    /// among rows of one instant.
    group: usize,
    receiver: Receiver<Vec<Row>>,
    chunk: std::vec::IntoIter<Row>,
    /// Rows read but not yet played (ties in file order).
    waiting: ReorderBuffer<Row>,
    newest: Timestamp,
    lateness: i64,
    exhausted: bool,
    last_time: Timestamp,
    thread: Option<JoinHandle<Result<FileReport>>>,
}

impl FileStream {
    /// The next row of the file as read, if any.
    fn incoming(&mut self) -> Option<Row> {
        self.chunk.next().or_else(|| loop {
            match self.receiver.recv() {
                Ok(chunk) => {
                    self.chunk = chunk.into_iter();
                    if let Some(row) = self.chunk.next() {
                        break Some(row);
                    }
                }
                Err(_) => break None,
            }
        })
    }

    /// The next row to play: the earliest waiting one once a row `lateness`
    /// newer has been read (or the file has ended).
    fn next_in_order(&mut self) -> Option<Row> {
        loop {
            let (newest, lateness) = (self.newest, self.lateness);
            let ready = self
                .waiting
                .pop_if(|time| newest.saturating_sub(time) >= lateness);
            if ready.is_some() {
                return ready.map(|(_, _, row)| row);
            }
            if self.exhausted {
                return self.waiting.pop().map(|(_, _, row)| row);
            }
            match self.incoming() {
                Some(row) => {
                    self.newest = self.newest.max(row.time);
                    self.waiting.push(row.time, 0, row);
                }
                None => self.exhausted = true,
            }
        }
    }
}

/// Why a reader stopped before its file ended: nobody reads its rows any more.
#[derive(Debug)]
pub struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reading stopped")
    }
}

impl std::error::Error for Stopped {}

/// The merged stream.
pub struct Merged {
    sources: Vec<FileStream>,
    heads: BinaryHeap<Reverse<(Timestamp, usize, usize)>>,
    pending: Vec<Option<Row>>,
    /// Rows delivered earlier in time than the row before them in their file.
    pub out_of_order: u64,
}

impl Merged {
    /// Starts reading every file: `groups[g]` lists the files of group `g`,
    /// the columns to read from them and the reader that reads them.
    pub fn start(groups: Vec<Group>) -> Merged {
        let mut sources = Vec::new();
        for (index, group) in groups.into_iter().enumerate() {
            let Group {
                files,
                columns,
                reader,
                order,
                lateness,
            } = group;
            for input in files {
                let (sender, receiver) = sync_channel::<Vec<Row>>(CHUNKS_IN_FLIGHT);
                let columns = columns.clone();
                let reader = Arc::clone(&reader);
                let thread = std::thread::spawn(move || {
                    let send = |chunk: Vec<Row>| sender.send(chunk).map_err(|_| anyhow!(Stopped));
                    let mut rejects = Rejects::default();
                    let mut rows = 0u64;
                    let read = match order {
                        Order::SortInMemory => {
                            let mut sorter = ExternalSort::in_memory();
                            let records =
                                reader(&input, &columns, &mut rejects, &mut |time, cells| {
                                    rows += 1;
                                    sorter.push(time, cells)
                                })?;
                            sorter.finish(CHUNK_ROWS, send).map(|_| records)
                        }
                        Order::SortWhenOutOfOrder(time_columns)
                            if super::sort::out_of_order(&input, time_columns, lateness)? =>
                        {
                            let mut sorter = ExternalSort::on_disk()?;
                            let records =
                                reader(&input, &columns, &mut rejects, &mut |time, cells| {
                                    rows += 1;
                                    sorter.push(time, cells)
                                })?;
                            let sorted = sorter.finish(CHUNK_ROWS, send);
                            if let Ok(report) = &sorted {
                                tracing::info!(
                                    file = %input.name,
                                    "{}: not in time order: sorted first {report}",
                                    input.name
                                );
                            }
                            sorted.map(|_| records)
                        }
                        Order::SortWhenOutOfOrder(_) => {
                            let mut chunk = Vec::with_capacity(CHUNK_ROWS);
                            reader(&input, &columns, &mut rejects, &mut |time, cells| {
                                rows += 1;
                                chunk.push(Row::new(time, cells));
                                if chunk.len() == CHUNK_ROWS {
                                    send(std::mem::replace(
                                        &mut chunk,
                                        Vec::with_capacity(CHUNK_ROWS),
                                    ))?;
                                }
                                Ok(())
                            })
                            .and_then(|records| send(chunk).map(|()| records))
                        }
                    };
                    match read {
                        Ok(records) => Ok(FileReport { records, rejects }),
                        // The replay ended before the file: what was read until then.
                        Err(error) if error.is::<Stopped>() => Ok(FileReport {
                            records: rows + rejects.count,
                            rejects,
                        }),
                        Err(error) => Err(error),
                    }
                });
                sources.push(FileStream {
                    group: index,
                    receiver,
                    chunk: Vec::new().into_iter(),
                    waiting: ReorderBuffer::default(),
                    newest: Timestamp::MIN,
                    lateness,
                    exhausted: false,
                    last_time: Timestamp::MIN,
                    thread: Some(thread),
                });
            }
        }
        let mut merged = Merged {
            pending: (0..sources.len()).map(|_| None).collect(),
            sources,
            heads: BinaryHeap::new(),
            out_of_order: 0,
        };
        for source in 0..merged.sources.len() {
            merged.advance(source);
        }
        merged
    }

    fn advance(&mut self, index: usize) {
        let source = &mut self.sources[index];
        if let Some(row) = source.next_in_order() {
            if row.time < source.last_time {
                self.out_of_order += 1;
            }
            source.last_time = source.last_time.max(row.time);
            self.heads.push(Reverse((row.time, source.group, index)));
            self.pending[index] = Some(row);
        }
    }

    /// The earliest row left, with its group.
    pub fn next_row(&mut self) -> Option<(usize, Row)> {
        let Reverse((_, group, index)) = self.heads.pop()?;
        let row = self.pending[index].take()?;
        self.advance(index);
        Some((group, row))
    }

    /// Waits for every reader; returns per group the records read and the
    /// rejects, or the first reader's error.
    pub fn finish(mut self, groups: usize) -> Result<Vec<FileReport>> {
        let mut totals: Vec<FileReport> = (0..groups)
            .map(|_| FileReport {
                records: 0,
                rejects: Rejects::default(),
            })
            .collect();
        let stopped_early = !self.heads.is_empty();
        for source in &mut self.sources {
            // Unblock a reader still sending.
            let (_, closed) = sync_channel(0);
            source.receiver = closed;
            let Some(thread) = source.thread.take() else {
                continue;
            };
            match thread.join() {
                Ok(Ok(report)) => {
                    totals[source.group].records += report.records;
                    totals[source.group].rejects.count += report.rejects.count;
                }
                Ok(Err(_)) if stopped_early => {}
                Ok(Err(error)) => return Err(error),
                Err(_) => return Err(anyhow!("an input reader thread panicked")),
            }
        }
        Ok(totals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_up_to_the_lateness_are_put_back_in_order_and_later_ones_stay_late() {
        let (sender, receiver) = sync_channel(1);
        let rows = [10, 5, 20, 12, 100, 1].map(|time| Row {
            time,
            cells: Vec::new(),
        });
        sender.send(rows.into()).unwrap();
        drop(sender);
        let mut source = FileStream {
            group: 0,
            receiver,
            chunk: Vec::new().into_iter(),
            waiting: ReorderBuffer::default(),
            newest: Timestamp::MIN,
            lateness: 10,
            exhausted: false,
            last_time: Timestamp::MIN,
            thread: None,
        };
        let played: Vec<Timestamp> = std::iter::from_fn(|| source.next_in_order())
            .map(|row| row.time)
            .collect();
        // 1 comes 99 after 100 was read: beyond the lateness, so it stays late.
        assert_eq!(played, [5, 10, 12, 20, 1, 100]);
    }
}
