//! The deployment's parameters (spec §5): defaults reproduce the original;
//! anything outside a sane range is refused at configure time with the
//! parameter, the value and the allowed range.

use asim_rule_core::{
    time::{DAY, HOUR},
    ParameterSpec,
};

use crate::series::Trend;

#[derive(Clone, Debug, PartialEq)]
pub struct Parameters {
    /// Length of the window, microseconds.
    pub lookback: i64,
    /// Length of one point of the series, microseconds.
    pub bin: i64,
    pub threshold: f64,
    pub min_score: f64,
    pub trend: Trend,
    /// Seasonal period in points of the series.
    pub seasonal_period: Option<usize>,
    /// Distinct values kept per field; more are counted and dropped.
    pub max_values: usize,
}

impl Default for Parameters {
    fn default() -> Parameters {
        Parameters {
            lookback: 14 * DAY,
            bin: DAY,
            threshold: 2.5,
            min_score: 5.0,
            trend: Trend::Linefit,
            seasonal_period: None,
            max_values: 10_000,
        }
    }
}

/// (name, description with the allowed range, default).
const SPECS: [(&str, &str, &str); 7] = [
    (
        "lookback-days",
        "days of history in the series, 2 to 90",
        "14",
    ),
    (
        "bin-hours",
        "hours per point of the series, 1 to 168; lookback must hold 4 to 2160 points",
        "24",
    ),
    (
        "threshold",
        "anomaly flag threshold (Kusto's), above 0 and up to 100",
        "2.5",
    ),
    (
        "min-score",
        "smallest score of the last point that alerts, 0 to 1000",
        "5",
    ),
    ("trend", "trend fitted: linefit, avg or none", "linefit"),
    (
        "seasonal-period",
        "seasonal period in points, none or 2 to half the points",
        "none",
    ),
    (
        "max-values",
        "distinct values kept per field, 1 to 1000000; more are dropped and counted",
        "10000",
    ),
];

pub fn specs() -> Vec<ParameterSpec> {
    SPECS
        .iter()
        .map(|(name, description, default)| ParameterSpec {
            name: (*name).into(),
            description: (*description).into(),
            default_value: (*default).into(),
        })
        .collect()
}

impl Parameters {
    pub fn parse(pairs: &[(String, String)]) -> Result<Parameters, String> {
        let mut p = Parameters::default();
        for (name, value) in pairs {
            let refuse = || {
                let range = SPECS
                    .iter()
                    .find(|(known, _, _)| known == name)
                    .map_or("", |(_, range, _)| range);
                format!("parameter {name}: {value:?} is out of range ({range})")
            };
            let number = |low: f64, high: f64| -> Result<f64, String> {
                value
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|v| (low..=high).contains(v))
                    .ok_or_else(refuse)
            };
            let whole = |low: u64, high: u64| -> Result<u64, String> {
                value
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|v| (low..=high).contains(v))
                    .ok_or_else(refuse)
            };
            match name.as_str() {
                "lookback-days" => p.lookback = whole(2, 90)? as i64 * DAY,
                "bin-hours" => p.bin = whole(1, 168)? as i64 * HOUR,
                "threshold" => p.threshold = number(f64::MIN_POSITIVE, 100.0)?,
                "min-score" => p.min_score = number(0.0, 1000.0)?,
                "trend" => {
                    p.trend = match value.trim() {
                        "linefit" => Trend::Linefit,
                        "avg" => Trend::Average,
                        "none" => Trend::None,
                        _ => return Err(refuse()),
                    }
                }
                "seasonal-period" => {
                    p.seasonal_period = match value.trim() {
                        "none" => None,
                        _ => Some(whole(2, 1080)? as usize),
                    }
                }
                "max-values" => p.max_values = whole(1, 1_000_000)? as usize,
                _ => {
                    let known: Vec<&str> = SPECS.iter().map(|(name, _, _)| *name).collect();
                    return Err(format!(
                        "unknown parameter {name}; known: {}",
                        known.join(", ")
                    ));
                }
            }
        }
        let points = p.lookback / p.bin;
        if p.lookback % p.bin != 0 || !(4..=2160).contains(&points) {
            return Err(format!(
                "parameters lookback-days and bin-hours: {} days in {}-hour points is not a whole number of 4 to 2160 points",
                p.lookback / DAY,
                p.bin / HOUR
            ));
        }
        if let Some(period) = p
            .seasonal_period
            .filter(|&period| period as i64 > points / 2)
        {
            return Err(format!(
                "parameter seasonal-period: {period} is more than half the {points} points of the series"
            ));
        }
        Ok(p)
    }

    /// Points in a series.
    pub fn points(&self) -> usize {
        (self.lookback / self.bin) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<Parameters, String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        Parameters::parse(&pairs)
    }

    #[test]
    fn defaults_reproduce_the_original() {
        let p = parse(&[]).unwrap();
        assert_eq!(
            (p.points(), p.threshold, p.min_score, p.trend),
            (14, 2.5, 5.0, Trend::Linefit)
        );
        assert_eq!(p.seasonal_period, None);
    }

    #[test]
    fn values_are_parsed() {
        let p = parse(&[
            ("threshold", "3"),
            ("trend", "avg"),
            ("lookback-days", "28"),
            ("seasonal-period", "7"),
        ])
        .unwrap();
        assert_eq!(
            (p.threshold, p.trend, p.points(), p.seasonal_period),
            (3.0, Trend::Average, 28, Some(7))
        );
        let hourly = parse(&[("bin-hours", "1")]).unwrap();
        assert_eq!(hourly.points(), 336);
    }

    #[test]
    fn bad_values_are_refused_naming_parameter_value_and_range() {
        let error = parse(&[("threshold", "-1")]).unwrap_err();
        assert!(
            error.contains("threshold") && error.contains("\"-1\"") && error.contains("up to 100"),
            "{error}"
        );
        assert!(parse(&[("trend", "cubic")])
            .unwrap_err()
            .contains("linefit, avg or none"));
        assert!(parse(&[("lookback-days", "1")]).is_err());
        assert!(parse(&[("bin-hours", "5")])
            .unwrap_err()
            .contains("whole number"));
        assert!(parse(&[("seasonal-period", "8")])
            .unwrap_err()
            .contains("half"));
        assert!(parse(&[("max-values", "0")]).is_err());
        assert!(parse(&[("colour", "red")])
            .unwrap_err()
            .contains("unknown parameter colour"));
    }
}
