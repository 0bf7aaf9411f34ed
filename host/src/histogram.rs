//! A fixed-bucket histogram of durations, as Prometheus reads one: how long
//! evaluations and swap pauses took (`serve --metrics`, `status.json`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Upper bounds of the buckets, seconds: from half a millisecond (a small
/// evaluation) to five seconds (near the default call budget).
pub const BOUNDS: [f64; 10] = [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// Durations counted per bucket (not cumulative), with their sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Durations at or under each bound and over the one before.
    pub buckets: [u64; BOUNDS.len()],
    /// How many durations, over the last bound too.
    pub count: u64,
    /// Their sum, seconds.
    pub sum: f64,
}

impl Histogram {
    /// Counts one duration.
    pub fn record(&mut self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        if let Some(bucket) = BOUNDS.iter().position(|&bound| seconds <= bound) {
            self.buckets[bucket] = self.buckets[bucket].saturating_add(1);
        }
        self.count = self.count.saturating_add(1);
        self.sum += seconds;
    }

    /// Each bound with the durations at or under it (Prometheus' `le`).
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut total = 0u64;
        BOUNDS
            .iter()
            .zip(self.buckets)
            .map(|(&bound, count)| {
                total = total.saturating_add(count);
                (bound, total)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_fall_in_the_first_bucket_that_holds_them_and_all_are_counted() {
        let mut histogram = Histogram::default();
        for millis in [0, 1, 3, 1_000, 60_000] {
            histogram.record(Duration::from_millis(millis));
        }
        let cumulative = histogram.cumulative();
        assert_eq!(cumulative[0], (0.0005, 1));
        assert_eq!(cumulative[1], (0.001, 2));
        assert_eq!(cumulative[2], (0.005, 3));
        assert_eq!(cumulative[8], (1.0, 4));
        assert_eq!(cumulative[9], (5.0, 4));
        // The minute over every bound counts in `count` and `sum` alone.
        assert_eq!(histogram.count, 5);
        assert!((histogram.sum - 61.004).abs() < 1e-9);
    }
}
