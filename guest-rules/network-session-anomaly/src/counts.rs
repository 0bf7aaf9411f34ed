//! Row counts per 10-minute bin (spec §1): the whole state of the rule.
//!
//! Memory: per 10-minute bin, one total and one counter per distinct value
//! seen in it, so a day of history costs 144 bins × (values per bin × 16
//! bytes + ~80 bytes); with 20 distinct values about 58 KB a day, 0.8 MB for
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

#[derive(Default, Debug, PartialEq, Serialize, Deserialize)]
struct Bin {
    total: u64,
    /// (value id, rows), ids strictly increasing. A list, not a map: every
    /// evaluation reads each bin whole, and a list is read without chasing
    /// pointers (a component's dearest work). Encoded as the map was.
    values: Vec<(u32, u64)>,
}

/// `held` and `added`, both in increasing id order, as one list in that
/// order; the counts of an id in both are summed.
fn merged(held: Vec<(u32, u64)>, added: impl Iterator<Item = (u32, u64)>) -> Vec<(u32, u64)> {
    let mut out = Vec::with_capacity(held.len() + added.size_hint().0);
    let mut held = held.into_iter().peekable();
    for (id, count) in added {
        while let Some(before) = held.next_if(|&(held_id, _)| held_id < id) {
            out.push(before);
        }
        let same = held.next_if(|&(held_id, _)| held_id == id);
        out.push((id, count + same.map_or(0, |(_, held_count)| held_count)));
    }
    out.extend(held);
    out
}

/// Where a dictionary entry of a batch goes.
#[derive(Clone, Copy)]
enum Slot {
    Empty,
    OverCap,
    Value(u32),
}

/// The counts of one run of rows in one bin, not yet added to it.
struct Pending {
    bin: Option<Timestamp>,
    total: u64,
    /// Rows per value id.
    counts: Vec<u64>,
    /// Which ids the run counted (a weight may be zero).
    seen: Vec<bool>,
    touched: Vec<u32>,
}

impl Pending {
    fn add(&mut self, id: u32, weight: u64) {
        let slot = id as usize;
        if !self.seen[slot] {
            self.seen[slot] = true;
            self.touched.push(id);
        }
        self.counts[slot] += weight;
    }

    /// Adds the run to its bin and starts an empty one.
    fn flush_into(&mut self, bins: &mut BTreeMap<Timestamp, Bin>) {
        let Some(start) = self.bin.take() else {
            return;
        };
        let bin = bins.entry(start).or_default();
        bin.total += std::mem::take(&mut self.total);
        // The ids in order: when a run touched many of them (hundreds of
        // values per field), reading the flags in id order is cheaper than
        // sorting the list.
        if self.touched.len() * 16 >= self.seen.len() {
            self.touched.clear();
            let seen = self.seen.iter().enumerate().filter(|(_, &seen)| seen);
            self.touched.extend(seen.map(|(id, _)| id as u32));
        } else {
            self.touched.sort_unstable();
        }
        let (counts, seen) = (&mut self.counts, &mut self.seen);
        let take = |id: u32| {
            seen[id as usize] = false;
            (id, std::mem::take(&mut counts[id as usize]))
        };
        let run = self.touched.drain(..).map(take);
        bin.values = merged(std::mem::take(&mut bin.values), run);
    }
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
        // Rows come mostly in time order: a run of rows in one bin is summed
        // in `pending` and reaches the bin's maps once, not once per row.
        let mut pending = Pending {
            bin: None,
            total: 0,
            counts: vec![0; self.values.len()],
            seen: vec![false; self.values.len()],
            touched: Vec::new(),
        };
        let mut too_old = 0;
        for (row, &time) in times.iter().enumerate() {
            let Some(weight) = weight(row) else { continue };
            if time < oldest {
                too_old += 1;
                continue;
            }
            let bin = time.div_euclid(TEN_MINUTES) * TEN_MINUTES;
            if pending.bin != Some(bin) {
                pending.flush_into(&mut self.bins);
                pending.bin = Some(bin);
            }
            pending.total += weight;
            for (field, column) in fields.iter().enumerate() {
                match slots[field][column.codes[row] as usize] {
                    Slot::Value(id) => pending.add(id, weight),
                    Slot::OverCap => self.over_cap[field] += weight,
                    Slot::Empty => {}
                }
            }
        }
        pending.flush_into(&mut self.bins);
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
        let key = |id: usize| {
            let (field, value) = &self.values[id];
            Some((*field, value.clone()))
        };
        // Each series is taken out of the set once, filled bin by bin in the
        // same order of additions as before, and put back: a lookup and a
        // key per value, not per value and bin.
        let mut total = series.remove(&None).unwrap_or_else(|| vec![0.0; points]);
        let mut taken: Vec<Option<Vec<f64>>> = vec![None; self.values.len()];
        for (&bin_start, counts) in self.bins.range(start.max(from)..end) {
            let k = ((bin_start - start) / bin) as usize;
            total[k] += counts.total as f64;
            for &(id, count) in &counts.values {
                let values = taken[id as usize].get_or_insert_with(|| {
                    series
                        .remove(&key(id as usize))
                        .unwrap_or_else(|| vec![0.0; points])
                });
                values[k] += count as f64;
            }
        }
        series.insert(None, total);
        for (id, values) in taken.into_iter().enumerate() {
            if let Some(values) = values {
                series.insert(key(id), values);
            }
        }
    }

    /// Forgets bins that start before `oldest`, and values no bin uses.
    pub fn evict_before(&mut self, oldest: Timestamp) {
        self.bins = self.bins.split_off(&oldest);
        let mut used = vec![false; self.values.len()];
        for bin in self.bins.values() {
            for &(id, _) in &bin.values {
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
            if let Some((id, _)) = bin.values.iter().find(|&&(id, _)| id as usize >= ids) {
                return Err(format!("a bin counts value {id} of {ids}"));
            }
            if bin.values.windows(2).any(|pair| pair[0].0 >= pair[1].0) {
                return Err("a bin's value ids are not in increasing order".into());
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

    /// The row-by-row counting that runs of rows replaced: the reference.
    fn ingest_row_by_row(
        counts: &mut Counts,
        times: &[Timestamp],
        fields: &[TextColumn; 3],
        oldest: Timestamp,
        weight: impl Fn(usize) -> Option<u64>,
    ) {
        for (row, &time) in times.iter().enumerate() {
            let Some(weight) = weight(row) else { continue };
            if time < oldest {
                continue;
            }
            let bin = counts
                .bins
                .entry(time.div_euclid(TEN_MINUTES) * TEN_MINUTES)
                .or_default();
            bin.total += weight;
            for (field, column) in fields.iter().enumerate() {
                let value = column.text(row);
                match counts.index[field].get(value) {
                    Some(&id) => {
                        let held = std::mem::take(&mut bin.values);
                        bin.values = merged(held, [(id, weight)].into_iter());
                    }
                    None if !value.is_empty() => counts.over_cap[field] += weight,
                    None => {}
                }
            }
        }
    }

    /// The per-bin series filling that taking each series out once replaced.
    fn add_series_per_bin(counts: &Counts, series: &mut SeriesSet, start: Timestamp, bin: i64) {
        let points = 14;
        let end = start + bin * points as i64;
        series.entry(None).or_insert_with(|| vec![0.0; points]);
        for (&bin_start, bin_counts) in counts.bins.range(start..end) {
            let k = ((bin_start - start) / bin) as usize;
            series.get_mut(&None).unwrap()[k] += bin_counts.total as f64;
            for &(id, count) in &bin_counts.values {
                let (field, value) = &counts.values[id as usize];
                let key = Some((*field, value.clone()));
                series.entry(key).or_insert_with(|| vec![0.0; points])[k] += count as f64;
            }
        }
    }

    #[test]
    fn runs_of_rows_count_as_row_by_row_counting_did() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |below: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % below
        };
        let day = 144 * TEN_MINUTES;
        let (mut runs, mut reference) = (Counts::default(), Counts::default());
        for batch in 0..20 {
            let rows = next(3_000) as usize;
            let values = ["", "a", "b", "c", "d", "e", "f", "g"];
            let fields: [TextColumn; 3] = std::array::from_fn(|_| TextColumn {
                dictionary: asim_rule_core::StringTable::of(values),
                codes: (0..rows)
                    .map(|_| next(values.len() as u64) as u32)
                    .collect(),
            });
            // Mostly in order, with rows out of order and some too old.
            let times: Vec<Timestamp> = (0..rows)
                .map(|row| match next(10) {
                    0 => next(20) as i64 * day + next(day as u64) as i64,
                    _ => batch * day + (row as i64 * day) / rows as i64,
                })
                .collect();
            let weights: Vec<Option<u64>> = (0..rows)
                .map(|_| [None, Some(0), Some(1), Some(7)][next(4) as usize])
                .collect();
            let oldest = (batch - 3) * day;
            runs.ingest(&times, &fields, oldest, 5, |row| weights[row]);
            // The reference names values through the index that `ingest`
            // just grew: the ids it gave are the ones under test.
            reference.values = runs.values.clone();
            reference.rebuild_index();
            ingest_row_by_row(&mut reference, &times, &fields, oldest, |row| weights[row]);
        }
        assert_eq!(runs.bins, reference.bins);
        assert_eq!(runs.over_cap, reference.over_cap);
        for bin in [TEN_MINUTES, day] {
            let (mut taken, mut per_bin) = (SeriesSet::new(), SeriesSet::new());
            // A series already holding points, as a summary table leaves it.
            for set in [&mut taken, &mut per_bin] {
                set.insert(Some((0, "a".into())), vec![0.5; 14]);
            }
            runs.add_series(&mut taken, 6 * day, i64::MIN, bin, 14);
            add_series_per_bin(&reference, &mut per_bin, 6 * day, bin);
            assert_eq!(taken, per_bin);
            assert!(taken.len() > 3, "{taken:?}");
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
        let two = vec![allow(), (0, "Deny".into())];
        assert_eq!(
            counts(two, &[1, 0]).check(),
            Err("a bin's value ids are not in increasing order".into())
        );
    }

    #[test]
    fn a_bin_encodes_as_it_did_when_its_values_were_a_map() {
        let values = [(0, 7), (3, 1), (300, 1 << 40)];
        let bin = Bin {
            total: 9,
            values: values.to_vec(),
        };
        let map = (9_u64, BTreeMap::from(values));
        assert_eq!(
            postcard::to_allocvec(&bin).unwrap(),
            postcard::to_allocvec(&map).unwrap()
        );
    }

    #[test]
    fn merging_sums_equal_ids_and_keeps_order() {
        let held = vec![(1, 1), (4, 2), (9, 3)];
        let added = [(0, 5), (4, 1), (7, 1), (12, 2)];
        assert_eq!(
            merged(held, added.into_iter()),
            [(0, 5), (1, 1), (4, 3), (7, 1), (9, 3), (12, 2)]
        );
    }
}
