//! Kusto's `series_decompose_anomalies(x, threshold, period, trend)` with the
//! `ctukey` scores of `series_outliers`, as `specs/network-anomaly.md` §3
//! restates them. Sums are centred (mean first, then deviations) for
//! stability; the order of operations in the score is Kusto's, which matters
//! to the last bit.

/// Tukey's fence constant Kusto scales `ctukey` scores with.
pub const CTUKEY: f64 = 2.772605605507915;

/// How the trend part of the baseline is fitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trend {
    /// Least-squares line over all points.
    Linefit,
    /// The mean.
    Average,
    /// No trend.
    None,
}

/// Baseline, score and flag of every point of a series.
#[derive(Clone, Debug, PartialEq)]
pub struct Decomposition {
    pub baseline: Vec<f64>,
    pub score: Vec<f64>,
    pub flag: Vec<i8>,
}

/// Decomposes `x` into seasonal + trend + residual and scores each residual.
/// `period` is the seasonal period in points (none: no seasonality).
pub fn decompose_anomalies(
    x: &[f64],
    threshold: f64,
    period: Option<usize>,
    trend: Trend,
) -> Decomposition {
    let seasonal = match period {
        Some(period) if period > 0 => seasonal_medians(x, period),
        _ => vec![0.0; x.len()],
    };
    let deseasoned: Vec<f64> = x.iter().zip(&seasonal).map(|(x, s)| x - s).collect();
    let trend = match trend {
        Trend::Linefit => line_fit(&deseasoned),
        Trend::Average => vec![mean(&deseasoned); x.len()],
        Trend::None => vec![0.0; x.len()],
    };
    let baseline: Vec<f64> = seasonal.iter().zip(&trend).map(|(s, t)| s + t).collect();
    let residual: Vec<f64> = x.iter().zip(&baseline).map(|(x, b)| x - b).collect();
    let score = outlier_scores(&residual);
    let flag = score
        .iter()
        .map(|&s| match s {
            s if s > threshold => 1,
            s if s < -threshold => -1,
            _ => 0,
        })
        .collect();
    Decomposition {
        baseline,
        score,
        flag,
    }
}

/// `series_outliers(x, 'ctukey')`: how far each value lies beyond the 10th or
/// 90th percentile, in units of their distance, times [`CTUKEY`].
pub fn outlier_scores(values: &[f64]) -> Vec<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let (p10, p90) = (percentile(&sorted, 0.1), percentile(&sorted, 0.9));
    values
        .iter()
        .map(|&r| {
            if p90 == p10 {
                0.0
            } else if r > p90 {
                ((r - p90) / (p90 - p10)) * CTUKEY
            } else if r < p10 {
                ((r - p10) / (p90 - p10)) * CTUKEY
            } else {
                0.0
            }
        })
        .collect()
}

/// Percentile `q` of sorted values, interpolating linearly between order
/// statistics at rank `(n - 1)·q`.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let Some(&last) = sorted.last() else {
        return 0.0;
    };
    let h = (sorted.len() - 1) as f64 * q;
    let below = h.floor() as usize;
    match sorted.get(below + 1) {
        Some(&above) => sorted[below] + (h - h.floor()) * (above - sorted[below]),
        None => last,
    }
}

/// Fitted values of the least-squares line through `(i, y[i])`.
pub fn line_fit(y: &[f64]) -> Vec<f64> {
    let n = y.len() as f64;
    let x_mean = (n - 1.0) / 2.0;
    let y_mean = mean(y);
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (i, &yi) in y.iter().enumerate() {
        let dx = i as f64 - x_mean;
        sxy += dx * (yi - y_mean);
        sxx += dx * dx;
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (0..y.len())
        .map(|i| y_mean + slope * (i as f64 - x_mean))
        .collect()
}

/// Seasonal part with period `period`: for each phase, the median of the raw
/// values in that phase.
pub fn seasonal_medians(x: &[f64], period: usize) -> Vec<f64> {
    let phases: Vec<f64> = (0..period.min(x.len()))
        .map(|phase| {
            let mut values: Vec<f64> = x.iter().skip(phase).step_by(period).copied().collect();
            values.sort_by(f64::total_cmp);
            median(&values)
        })
        .collect();
    (0..x.len()).map(|i| phases[i % period]).collect()
}

/// Median of sorted values; the mean of the middle two for an even count.
pub fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    // The expected values are the spec's published digits, verbatim.
    #[allow(clippy::excessive_precision)]
    fn ctukey_scores_reproduce_kusto_bit_for_bit() {
        let values = [
            -3.0, 2.4, 15.0, 3.9, 5.0, 6.0, 4.5, 5.2, 3.0, 4.0, 5.0, 16.0, 7.0, 5.0, 5.0, 4.0,
        ];
        let expected = [
            -1.9040785483608571,
            -0.10021466044004519,
            1.3361954725339347,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            1.6702443406674186,
            0.0,
            0.0,
            0.0,
            0.0,
        ];
        assert_eq!(outlier_scores(&values), expected);
    }

    fn last(x: &[f64]) -> (f64, f64) {
        let d = decompose_anomalies(x, 2.5, None, Trend::Linefit);
        (d.baseline[x.len() - 1], d.score[x.len() - 1])
    }

    #[test]
    fn the_spec_worked_examples() {
        let steady = [
            100., 102., 98., 101., 99., 103., 100., 97., 102., 100., 101., 99., 100., 160.,
        ];
        let (baseline, score) = last(&steady);
        assert!((baseline - 115.371429).abs() < 1e-6, "{baseline}");
        assert!((score - 5.637816696035278).abs() < 1e-12, "{score}");

        let mut zeros = [0.0; 14];
        zeros[13] = 100.0;
        let (baseline, score) = last(&zeros);
        assert!((baseline - 25.714286).abs() < 1e-6, "{baseline}");
        assert!((score - 5.945106250271783).abs() < 1e-12, "{score}");

        let ramp = [
            0., 0., 0., 0., 0., 0., 0., 0., 0., 50., 100., 110., 95., 400.,
        ];
        let (_, score) = last(&ramp);
        assert!((score - 3.996403545973564).abs() < 1e-12, "{score}");
    }

    #[test]
    fn the_percentiles_of_the_first_worked_example() {
        let steady = [
            100., 102., 98., 101., 99., 103., 100., 97., 102., 100., 101., 99., 100., 160.,
        ];
        let fitted = line_fit(&steady);
        let mut residual: Vec<f64> = steady.iter().zip(&fitted).map(|(x, f)| x - f).collect();
        residual.sort_by(f64::total_cmp);
        assert!((percentile(&residual, 0.1) - -11.899340659340638).abs() < 1e-9);
        assert!((percentile(&residual, 0.9) - 6.73582417582418).abs() < 1e-9);
    }

    #[test]
    fn flat_series_score_zero_and_flags_follow_the_threshold() {
        let d = decompose_anomalies(&[5.0; 14], 2.5, None, Trend::Linefit);
        assert!(d.score.iter().all(|&s| s == 0.0));
        let spike = [
            10., 12., 9., 11., 10., 13., 8., 10., 11., 9., 12., 10., 11., 100.,
        ];
        let d = decompose_anomalies(&spike, 2.5, None, Trend::None);
        assert_eq!(d.flag[13], 1);
        // The threshold is strict: a score equal to it is not flagged.
        let at_threshold = decompose_anomalies(&spike, d.score[13], None, Trend::None);
        assert_eq!(at_threshold.flag[13], 0);
        assert_eq!(d.flag[6], 0);
    }

    #[test]
    fn line_fit_is_exact_on_a_line_and_medians_pick_the_middle() {
        let line: Vec<f64> = (0..10).map(|i| 3.0 + 2.0 * i as f64).collect();
        assert_eq!(line_fit(&line), line);
        assert_eq!(median(&[1.0, 2.0, 9.0]), 2.0);
        assert_eq!(median(&[1.0, 2.0, 4.0, 9.0]), 3.0);
        assert_eq!(
            seasonal_medians(&[1.0, 10.0, 3.0, 30.0, 2.0, 20.0], 2),
            [2.0, 20.0, 2.0, 20.0, 2.0, 20.0]
        );
    }

    #[test]
    fn average_and_no_trend() {
        let x = [1.0, 2.0, 3.0, 6.0];
        assert_eq!(
            decompose_anomalies(&x, 2.5, None, Trend::Average).baseline,
            [3.0; 4]
        );
        assert_eq!(
            decompose_anomalies(&x, 2.5, None, Trend::None).baseline,
            [0.0; 4]
        );
    }
}
