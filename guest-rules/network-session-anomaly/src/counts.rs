//! Row counts per 10-minute bin (spec §1): the whole state of the rule.
//!
//! Memory: per 10-minute bin, one total and one counter per distinct value
//! seen in it, so a day of history costs 144 bins × (values per bin × ~40
//! bytes + ~60 bytes); with 20 distinct values about 120 KB a day, 1.7 MB for
//! 14 days. Values are capped per field (`max-values`) so hostile data cannot
//! grow it without bound; rows over the cap still count in TotalVolume.

use std::collections::BTreeMap;

use asim_rule_core::{time::MINUTE, Batch, Timestamp};
use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

/// The fields that get a series of their own, besides the total.
pub const FIELDS: [&str; 3] = ["DvcAction", "NetworkDirection", "NetworkProtocol"];

/// Kusto's summarising bin.
pub const TEN_MINUTES: i64 = 10 * MINUTE;

#[derive(Default, Debug, Serialize, Deserialize)]
struct Bin {
    total: u64,
    /// Rows per value id.
    values: BTreeMap<u32, u64>,
}

/// Where a dictionary entry of a batch goes.
#[derive(Clone, Copy)]
enum Slot {
    Empty,
    OverCap,
    Value(u32),
}

/// Counts of the window, and the values they are about.
#[derive(Default, Debug, Serialize, Deserialize)]
pub struct Counts {
    bins: BTreeMap<Timestamp, Bin>,
    /// Value id → (field index, value).
    values: Vec<(usize, String)>,
    /// Per field, value → id; rebuilt from `values` after a restore.
    #[serde(skip)]
    index: [HashMap<String, u32>; 3],
    /// Rows per field whose value was over the cap.
    pub over_cap: [u64; 3],
}

/// One series: (field index, value), or none for TotalVolume.
pub type SeriesKey<'a> = Option<(usize, &'a str)>;

impl Counts {
    /// Counts the rows of `batch` with `TimeGenerated >= oldest`; returns how
    /// many were older (outside every future window).
    pub fn ingest(
        &mut self,
        mut batch: Batch,
        oldest: Timestamp,
        max_values: usize,
    ) -> Result<u64, String> {
        let mut slots = Vec::with_capacity(FIELDS.len());
        let mut codes = Vec::with_capacity(FIELDS.len());
        for (field, name) in FIELDS.iter().enumerate() {
            let column = batch.take_text(name)?;
            slots.push(
                column
                    .dictionary
                    .iter()
                    .map(|value| self.slot(field, value, max_values))
                    .collect::<Vec<_>>(),
            );
            codes.push(column.codes);
        }
        let mut too_old = 0;
        for (row, &time) in batch.time_generated.iter().enumerate() {
            if time < oldest {
                too_old += 1;
                continue;
            }
            let bin = self
                .bins
                .entry(time.div_euclid(TEN_MINUTES) * TEN_MINUTES)
                .or_default();
            bin.total += 1;
            for field in 0..FIELDS.len() {
                match slots[field][codes[field][row] as usize] {
                    Slot::Value(id) => *bin.values.entry(id).or_default() += 1,
                    Slot::OverCap => self.over_cap[field] += 1,
                    Slot::Empty => {}
                }
            }
        }
        Ok(too_old)
    }

    fn slot(&mut self, field: usize, value: &str, max_values: usize) -> Slot {
        if value.is_empty() {
            return Slot::Empty;
        }
        if let Some(&id) = self.index[field].get(value) {
            return Slot::Value(id);
        }
        if self.index[field].len() >= max_values {
            return Slot::OverCap;
        }
        let id = self.values.len() as u32;
        self.values.push((field, value.to_owned()));
        self.index[field].insert(value.to_owned(), id);
        Slot::Value(id)
    }

    /// The series of the window `[start, start + points·bin)`: TotalVolume
    /// first, then each value's, ordered by field then value; bin `k` holds the
    /// 10-minute counts whose start lies in `[start + k·bin, start + (k+1)·bin)`.
    pub fn series(
        &self,
        start: Timestamp,
        bin: i64,
        points: usize,
    ) -> Vec<(SeriesKey<'_>, Vec<f64>)> {
        let end = start + bin * points as i64;
        let mut total = vec![0.0; points];
        let mut by_value: BTreeMap<(usize, &str), Vec<f64>> = BTreeMap::new();
        for (&bin_start, counts) in self.bins.range(start..end) {
            let k = ((bin_start - start) / bin) as usize;
            total[k] += counts.total as f64;
            for (&id, &count) in &counts.values {
                let (field, value) = &self.values[id as usize];
                by_value
                    .entry((*field, value.as_str()))
                    .or_insert_with(|| vec![0.0; points])[k] += count as f64;
            }
        }
        std::iter::once((None, total))
            .chain(
                by_value
                    .into_iter()
                    .map(|(key, series)| (Some(key), series)),
            )
            .collect()
    }

    /// Forgets bins that start before `oldest`, and values no bin uses.
    pub fn evict_before(&mut self, oldest: Timestamp) {
        self.bins = self.bins.split_off(&oldest);
        let mut used = vec![false; self.values.len()];
        for bin in self.bins.values() {
            for &id in bin.values.keys() {
                used[id as usize] = true;
            }
        }
        if used.iter().all(|&u| u) {
            return;
        }
        let mut renumbered = vec![0; self.values.len()];
        let mut kept = Vec::new();
        for (id, value) in std::mem::take(&mut self.values).into_iter().enumerate() {
            if used[id] {
                renumbered[id] = kept.len() as u32;
                kept.push(value);
            }
        }
        self.values = kept;
        for bin in self.bins.values_mut() {
            bin.values = std::mem::take(&mut bin.values)
                .into_iter()
                .map(|(id, count)| (renumbered[id as usize], count))
                .collect();
        }
        self.rebuild_index();
    }

    /// Rebuilds the value index (after a restore or a renumbering).
    pub fn rebuild_index(&mut self) {
        self.index = Default::default();
        for (id, (field, value)) in self.values.iter().enumerate() {
            self.index[*field].insert(value.clone(), id as u32);
        }
    }

    /// 10-minute bins held.
    pub fn bins(&self) -> usize {
        self.bins.len()
    }

    /// Distinct values held, all fields.
    pub fn values(&self) -> usize {
        self.values.len()
    }
}
