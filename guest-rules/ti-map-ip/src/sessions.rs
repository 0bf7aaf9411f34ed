//! The session window and the matching of its summaries (spec §2, §3).

use asim_rule_core::{Batch, IpColumn, TextColumn, Timestamp};
use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

use crate::index::PrefixIndex;
use crate::indicators::Live;

/// The session columns the rule reads.
pub const COLUMNS: [&str; 5] = [
    "SrcIpAddr",
    "DstIpAddr",
    "Dvc",
    "EventProduct",
    "EventVendor",
];

/// One ingested batch, kept columnar as it arrived.
#[derive(Debug, Serialize, Deserialize)]
struct Chunk {
    latest: Timestamp,
    time: Vec<Timestamp>,
    src: IpColumn,
    dst: IpColumn,
    dvc: TextColumn,
    product: TextColumn,
    vendor: TextColumn,
}

/// Sessions that later evaluations may still read.
#[derive(Default, Debug, Serialize, Deserialize)]
pub struct SessionWindow {
    chunks: Vec<Chunk>,
}

/// Which side of a summary matched, and the indicator chosen for it.
#[derive(Clone, Copy, Debug)]
pub enum Side {
    Source,
    Destination,
}

/// A session summary (spec §2) that matched a live indicator (spec §3).
#[derive(Debug)]
pub struct Match<'a> {
    pub src: &'a str,
    pub dst: &'a str,
    pub dvc: &'a str,
    pub product: &'a str,
    pub vendor: &'a str,
    pub start: Timestamp,
    pub end: Timestamp,
    pub side: Side,
    pub indicator: Live<'a>,
}

impl SessionWindow {
    /// Keeps the batch's columns as they are: no per-row work at ingest.
    pub fn ingest(&mut self, mut batch: Batch) -> Result<(), String> {
        let Some(&latest) = batch.time_generated.iter().max() else {
            return Ok(());
        };
        let chunk = Chunk {
            latest,
            src: batch.take_ip("SrcIpAddr")?,
            dst: batch.take_ip("DstIpAddr")?,
            dvc: batch.take_text("Dvc")?,
            product: batch.take_text("EventProduct")?,
            vendor: batch.take_text("EventVendor")?,
            time: batch.time_generated,
        };
        self.chunks.push(chunk);
        Ok(())
    }

    /// Forgets batches whose every session is older than `oldest`.
    pub fn evict_before(&mut self, oldest: Timestamp) {
        self.chunks.retain(|chunk| chunk.latest >= oldest);
    }

    /// Refuses restored sessions that do not hold together (a snapshot is
    /// untrusted bytes): each column one value per row, codes inside their
    /// dictionaries, dictionaries that slice well.
    pub fn check(&self) -> Result<(), String> {
        for chunk in &self.chunks {
            let rows = chunk.time.len();
            chunk.src.check(COLUMNS[0], rows)?;
            chunk.dst.check(COLUMNS[1], rows)?;
            chunk.dvc.check(COLUMNS[2], rows)?;
            chunk.product.check(COLUMNS[3], rows)?;
            chunk.vendor.check(COLUMNS[4], rows)?;
        }
        Ok(())
    }

    /// Session rows held.
    pub fn len(&self) -> usize {
        self.chunks.iter().map(|chunk| chunk.time.len()).sum()
    }

    /// Summaries of the sessions in `[from, to)` that match a live indicator,
    /// ordered by their group key. Each distinct address is looked up once per
    /// batch; only sessions whose address matched are grouped.
    pub fn matches<'a>(
        &'a self,
        from: Timestamp,
        to: Timestamp,
        index: &PrefixIndex<u32>,
        resolve: &impl Fn(u32) -> Live<'a>,
    ) -> Vec<Match<'a>> {
        type Key<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str);
        let mut groups: HashMap<Key<'a>, (Timestamp, Timestamp, Side, Live<'a>)> = HashMap::new();
        for chunk in self.chunks.iter().filter(|chunk| chunk.latest >= from) {
            let src_hits = Hits::of(&chunk.src, index, resolve);
            let dst_hits = Hits::of(&chunk.dst, index, resolve);
            if src_hits.is_empty() && dst_hits.is_empty() {
                continue;
            }
            for (row, &time) in chunk.time.iter().enumerate() {
                if time < from || time >= to {
                    continue;
                }
                let src_code = chunk.src.codes[row] as usize;
                let dst_code = chunk.dst.codes[row] as usize;
                // Source wins when both sides match (spec §3).
                let (side, indicator) = match (src_hits.get(src_code), dst_hits.get(dst_code)) {
                    (Some(hit), _) => (Side::Source, hit),
                    (None, Some(hit)) => (Side::Destination, hit),
                    (None, None) => continue,
                };
                // Read only for the few rows that matched: most do not.
                let src = chunk.src.dictionary.get(src_code);
                if src.is_empty() {
                    continue;
                }
                let key = (
                    src,
                    chunk.dst.dictionary.get(dst_code),
                    chunk.dvc.text(row),
                    chunk.product.text(row),
                    chunk.vendor.text(row),
                );
                groups
                    .entry(key)
                    .and_modify(|group| {
                        group.0 = group.0.min(time);
                        group.1 = group.1.max(time);
                    })
                    .or_insert((time, time, side, indicator));
            }
        }
        let mut matches: Vec<Match> = groups
            .into_iter()
            .map(
                |((src, dst, dvc, product, vendor), (start, end, side, indicator))| Match {
                    src,
                    dst,
                    dvc,
                    product,
                    vendor,
                    start,
                    end,
                    side,
                    indicator,
                },
            )
            .collect();
        matches.sort_unstable_by_key(|m| (m.src, m.dst, m.dvc, m.product, m.vendor));
        matches
    }
}

/// The indicators chosen for the dictionary entries of an IP column: one bit
/// per entry, tested per row, and the few that matched. A list of options,
/// one per entry, was tens of bytes per entry written at every evaluation
/// and read at random per row.
struct Hits<'a> {
    matched: Vec<u64>,
    /// (entry, indicator), in entry order.
    found: Vec<(u32, Live<'a>)>,
}

impl<'a> Hits<'a> {
    fn of(
        column: &IpColumn,
        index: &PrefixIndex<u32>,
        resolve: &impl Fn(u32) -> Live<'a>,
    ) -> Hits<'a> {
        // First only the index's bitmap, for every entry: these loads do not
        // depend on each other, so the CPU overlaps their cache misses (in a
        // component, a loop with the whole lookup in it ran 2.5x slower than
        // natively). The full lookup is for the few entries left.
        let mut candidates = Vec::new();
        for (code, parsed) in column.parsed_all().enumerate() {
            if parsed.is_some_and(|prefix| !index.surely_misses(prefix.addr)) {
                candidates.push(code);
            }
        }
        let mut hits = Hits {
            matched: vec![0; column.dictionary.len().div_ceil(64)],
            found: Vec::new(),
        };
        for code in candidates {
            let position = column
                .parsed(code)
                .and_then(|prefix| index.lookup(prefix.addr));
            if let Some(&position) = position {
                hits.matched[code / 64] |= 1 << (code % 64);
                hits.found.push((code as u32, resolve(position)));
            }
        }
        hits
    }

    fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    fn get(&self, code: usize) -> Option<Live<'a>> {
        if self.matched[code / 64] & (1 << (code % 64)) == 0 {
            return None;
        }
        let at = self
            .found
            .binary_search_by_key(&(code as u32), |&(entry, _)| entry)
            .ok()?;
        Some(self.found[at].1)
    }
}
