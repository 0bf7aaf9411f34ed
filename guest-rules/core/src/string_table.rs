//! A dictionary's distinct strings in one buffer.

use serde::{Deserialize, Serialize};

/// Distinct strings in one buffer: value `k` is `strings[ends[k-1]..ends[k]]`
/// (from 0 for `k = 0`). One allocation for a whole dictionary, so it crosses
/// the component boundary in two copies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StringTable {
    /// The values, concatenated.
    pub strings: String,
    /// Where each value ends in `strings`.
    pub ends: Vec<u32>,
}

impl StringTable {
    /// A table of `values`, in order.
    pub fn of<'a>(values: impl IntoIterator<Item = &'a str>) -> StringTable {
        let mut table = StringTable::default();
        for value in values {
            table.push(value);
        }
        table
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the table holds no value.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Value `k`.
    pub fn get(&self, k: usize) -> &str {
        let start = if k == 0 { 0 } else { self.ends[k - 1] as usize };
        &self.strings[start..self.ends[k] as usize]
    }

    /// Value `k`'s bytes: for comparing, without the character-boundary
    /// checks of [`StringTable::get`].
    pub fn get_bytes(&self, k: usize) -> &[u8] {
        let start = if k == 0 { 0 } else { self.ends[k - 1] as usize };
        &self.strings.as_bytes()[start..self.ends[k] as usize]
    }

    /// The values, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|k| self.get(k))
    }

    /// Appends a value; returns its index.
    pub fn push(&mut self, value: &str) -> u32 {
        self.strings.push_str(value);
        self.ends.push(self.strings.len() as u32);
        (self.ends.len() - 1) as u32
    }

    /// Refuses offsets that would slice outside `strings`, backwards, or
    /// inside a UTF-8 character: a hostile host must not make a rule panic.
    pub(crate) fn check(&self, name: &str) -> Result<(), String> {
        let mut start = 0;
        for &end in &self.ends {
            let end = end as usize;
            if end < start || end > self.strings.len() || !self.strings.is_char_boundary(end) {
                return Err(format!(
                    "column {name}: string table offset {end} is not a value boundary"
                ));
            }
            start = end;
        }
        Ok(())
    }
}
