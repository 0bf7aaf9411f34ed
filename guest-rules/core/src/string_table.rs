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
        let bytes = self.strings.as_bytes();
        // Offsets are checked in fixed-size chunks whose loop the compiler
        // unrolls: in a component every loop back-edge carries the CPU
        // budget's epoch check, and each batch brings tens of thousands.
        let mut previous = 0;
        let in_order = |chunk: &[u32], previous: &mut u32| {
            chunk.iter().fold(true, |ok, &end| {
                let boundary = match bytes.get(end as usize) {
                    Some(&byte) => !is_continuation(byte),
                    None => end as usize == bytes.len(),
                };
                let ok = ok & (end >= *previous) & boundary;
                *previous = end;
                ok
            })
        };
        let mut chunks = self.ends.chunks_exact(CHECKED_TOGETHER);
        let ok = chunks.all(|chunk| in_order(chunk, &mut previous))
            && in_order(chunks.remainder(), &mut previous);
        if ok {
            return Ok(());
        }
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

/// How many offsets or codes one unrolled step checks.
pub(crate) const CHECKED_TOGETHER: usize = 16;

/// Whether `byte` continues a UTF-8 character rather than starting one.
fn is_continuation(byte: u8) -> bool {
    byte & 0xc0 == 0x80
}

/// Whether `a` and `b` are equal, compared in overlapping words rather than
/// by a call to `memcmp`: the texts compared per row (addresses, names, JSON
/// keys) are short.
#[inline]
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    fn word<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
        let mut word = [0; N];
        word.copy_from_slice(&bytes[at..at + N]);
        word
    }
    let length = a.len();
    if length != b.len() {
        return false;
    }
    match length {
        0..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        4..=7 => {
            word::<4>(a, 0) == word::<4>(b, 0)
                && word::<4>(a, length - 4) == word::<4>(b, length - 4)
        }
        _ => {
            let chunks = (0..length / 8).all(|n| word::<8>(a, 8 * n) == word::<8>(b, 8 * n));
            chunks && word::<8>(a, length - 8) == word::<8>(b, length - 8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_texts_compare_as_slices_do() {
        for length in 0..24usize {
            let a: Vec<u8> = (0..length).map(|n| b'a' + (n % 26) as u8).collect();
            assert!(same_bytes(&a, &a.clone()));
            assert!(!same_bytes(&a, &a[..length.saturating_sub(1)]) || length == 0);
            for at in 0..length {
                let mut b = a.clone();
                b[at] ^= 1;
                assert!(!same_bytes(&a, &b), "{length} {at}");
            }
        }
    }
}
