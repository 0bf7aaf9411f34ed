//! Row counts per 10-minute bin (spec §1): the whole state of the rule.
//!
//! Memory: per 10-minute bin, one total and one counter per distinct value
//! seen in it, so a day of history costs 144 bins × (values per bin × ~40
//! bytes + ~60 bytes); with 20 distinct values about 120 KB a day, 1.7 MB for
//! 14 days. Values are capped per field (`max-values`) so hostile data cannot
//! grow it without bound; rows over the cap still count in TotalVolume.

use std::collections::BTreeMap;

use asim_rule_core::{time::MINUTE, TextColumn, Timestamp};
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
pub type SeriesKey = Option<(usize, String)>;

/// Series by key, TotalVolume first, then by field and value.
pub type SeriesSet = BTreeMap<SeriesKey, Vec<f64>>;

impl Counts {
    /// Counts rows with `TimeGenerated >= oldest`, each `weight(row)` times
    /// (none: the row is not for this store); `fields` are the columns of
    /// [`FIELDS`]. Returns how many rows were older than `oldest`.
    pub fn ingest(
        &mut self,
        times: &[Timestamp],
        fields: &[TextColumn; 3],
        oldest: Timestamp,
        max_values: usize,
        weight: impl Fn(usize) -> Option<u64>,
    ) -> u64 {
        let slots: Vec<Vec<Slot>> = fields
            .iter()
            .enumerate()
            .map(|(field, column)| {
                column
                    .dictionary
                    .iter()
                    .map(|value| self.slot(field, value, max_values))
                    .collect()
            })
            .collect();
        let mut too_old = 0;
        for (row, &time) in times.iter().enumerate() {
            let Some(weight) = weight(row) else { continue };
            if time < oldest {
                too_old += 1;
                continue;
            }
            let bin = self
                .bins
                .entry(time.div_euclid(TEN_MINUTES) * TEN_MINUTES)
                .or_default();
            bin.total += weight;
            for (field, column) in fields.iter().enumerate() {
                match slots[field][column.codes[row] as usize] {
                    Slot::Value(id) => *bin.values.entry(id).or_default() += weight,
                    Slot::OverCap => self.over_cap[field] += weight,
                    Slot::Empty => {}
                }
            }
        }
        too_old
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

    /// Adds to `series` the counts of the window `[start, start + points·bin)`
    /// whose 10-minute bin starts at or after `from`: point `k` of a series
    /// holds the 10-minute counts whose start lies in `[start + k·bin, start +
    /// (k+1)·bin)`.
    pub fn add_series(
        &self,
        series: &mut SeriesSet,
        start: Timestamp,
        from: Timestamp,
        bin: i64,
        points: usize,
    ) {
        let end = start + bin * points as i64;
        series.entry(None).or_insert_with(|| vec![0.0; points]);
        for (&bin_start, counts) in self.bins.range(start.max(from)..end) {
            let k = ((bin_start - start) / bin) as usize;
            if let Some(total) = series.get_mut(&None) {
                total[k] += counts.total as f64;
            }
            for (&id, &count) in &counts.values {
                let (field, value) = &self.values[id as usize];
                let key = Some((*field, value.clone()));
                series.entry(key).or_insert_with(|| vec![0.0; points])[k] += count as f64;
            }
        }
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

    /// Whether restored counts hold together: each value of a known field,
    /// each bin's value ids among the values. A snapshot is untrusted bytes.
    pub fn check(&self) -> Result<(), String> {
        if let Some((field, _)) = self.values.iter().find(|(field, _)| *field >= FIELDS.len()) {
            return Err(format!(
                "a value of field {field}, of {} fields",
                FIELDS.len()
            ));
        }
        let ids = self.values.len();
        for bin in self.bins.values() {
            if let Some(id) = bin.values.keys().find(|&&id| id as usize >= ids) {
                return Err(format!("a bin counts value {id} of {ids}"));
            }
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(values: Vec<(usize, String)>, ids_in_a_bin: &[u32]) -> Counts {
        let bin = Bin {
            total: 1,
            values: ids_in_a_bin.iter().map(|&id| (id, 1)).collect(),
        };
        Counts {
            bins: BTreeMap::from([(0, bin)]),
            values,
            ..Counts::default()
        }
    }

    #[test]
    fn restored_counts_must_name_known_fields_and_values() {
        let allow = || (0, "Allow".to_owned());
        assert_eq!(counts(vec![allow()], &[0]).check(), Ok(()));
        assert_eq!(
            counts(vec![allow()], &[0, 13]).check(),
            Err("a bin counts value 13 of 1".into())
        );
        assert_eq!(
            counts(vec![allow(), (3, "x".into())], &[0]).check(),
            Err("a value of field 3, of 3 fields".into())
        );
    }
}
