//! A reorder buffer: rows held back until they may be played, earliest
//! first. `replay`'s streams and `serve`'s spool both put rows that arrive a
//! little out of time order back in order with it.

use std::{cmp::Reverse, collections::BinaryHeap};

use asim_rule_core::Timestamp;

/// Items waiting, ordered by time, then rank (the lower first among items of
/// one instant: a table's place in `replay`), then arrival.
pub struct ReorderBuffer<T> {
    waiting: BinaryHeap<Reverse<Waiting<T>>>,
    arrived: u64,
}

struct Waiting<T> {
    time: Timestamp,
    rank: usize,
    arrival: u64,
    item: T,
}

impl<T> Waiting<T> {
    fn key(&self) -> (Timestamp, usize, u64) {
        (self.time, self.rank, self.arrival)
    }
}

impl<T> PartialEq for Waiting<T> {
    fn eq(&self, other: &Waiting<T>) -> bool {
        self.key() == other.key()
    }
}

impl<T> Eq for Waiting<T> {}

impl<T> PartialOrd for Waiting<T> {
    fn partial_cmp(&self, other: &Waiting<T>) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Waiting<T> {
    fn cmp(&self, other: &Waiting<T>) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl<T> Default for ReorderBuffer<T> {
    fn default() -> Self {
        ReorderBuffer {
            waiting: BinaryHeap::new(),
            arrived: 0,
        }
    }
}

impl<T> ReorderBuffer<T> {
    /// Holds `item`, dated `time`, of rank `rank`.
    pub fn push(&mut self, time: Timestamp, rank: usize, item: T) {
        self.arrived += 1;
        self.waiting.push(Reverse(Waiting {
            time,
            rank,
            arrival: self.arrived,
            item,
        }));
    }

    /// The time of the earliest item waiting.
    pub fn earliest(&self) -> Option<Timestamp> {
        self.waiting.peek().map(|Reverse(head)| head.time)
    }

    /// The earliest item with its time and rank, if `ready` says its time
    /// may be played.
    pub fn pop_if(
        &mut self,
        ready: impl FnOnce(Timestamp) -> bool,
    ) -> Option<(Timestamp, usize, T)> {
        if !ready(self.earliest()?) {
            return None;
        }
        self.pop()
    }

    /// The earliest item with its time and rank, whatever its time.
    pub fn pop(&mut self) -> Option<(Timestamp, usize, T)> {
        let Reverse(head) = self.waiting.pop()?;
        Some((head.time, head.rank, head.item))
    }

    /// How many items wait.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_leave_by_time_then_rank_then_arrival() {
        let mut buffer = ReorderBuffer::default();
        for (time, rank, name) in [
            (5, 1, "a"),
            (3, 0, "b"),
            (5, 0, "c"),
            (5, 1, "d"),
            (9, 0, "e"),
        ] {
            buffer.push(time, rank, name);
        }
        assert_eq!(buffer.len(), 5);
        assert_eq!(buffer.pop_if(|time| time <= 5), Some((3, 0, "b")));
        let order: Vec<&str> = std::iter::from_fn(|| buffer.pop_if(|time| time <= 5))
            .map(|(_, _, name)| name)
            .collect();
        assert_eq!(order, ["c", "a", "d"]);
        assert_eq!(buffer.earliest(), Some(9));
        assert_eq!(buffer.pop(), Some((9, 0, "e")));
        assert!(buffer.is_empty());
    }
}
