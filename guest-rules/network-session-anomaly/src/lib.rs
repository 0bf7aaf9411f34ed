//! Anomaly found in Network Session Traffic (Sentinel rule
//! `cd6def0d-3ef0-4d55-a7e3-faa96c46ba12`, version 1.3.0), as
//! `../shared/specs/network-anomaly.md` restates it; deliberate differences
//! are listed in this crate's README.
//!
//! Rows are counted per 10-minute bin and per value of DvcAction,
//! NetworkDirection and NetworkProtocol. At `T` the counts of `[T - 14d, T)`
//! become daily series (TotalVolume and one per value); each is decomposed as
//! Kusto's `series_decompose_anomalies(x, 2.5, -1, 'linefit')` does, and the
//! last day alerts when its score reaches 5.

mod counts;
mod parameters;
pub mod series;

#[cfg(target_arch = "wasm32")]
mod component {
    asim_rule_sdk::export_rule!(crate::NetworkSessionAnomaly);
}

use asim_rule_core::{
    state,
    time::{DAY, MINUTE},
    Alert, Batch, DetailValue, Rule, RuleMetadata, Severity, TextColumn, Timestamp,
};
use serde::{Deserialize, Serialize};

use counts::{Counts, SeriesSet, FIELDS};
use parameters::Parameters;

/// The Sentinel analytic rule id.
pub const RULE_ID: &str = "cd6def0d-3ef0-4d55-a7e3-faa96c46ba12";
/// Bumped whenever the snapshot layout changes.
const STATE_FORMAT: u32 = 2;

/// The summary tables, in order of precedence, by their bin in minutes:
/// `NetworkSummary_Protocol_CL` (20) wins over the older
/// `NetworkCustomAnalytics_protocol_CL` (10) as soon as it has any row.
const SUMMARY_BINS: [i64; 2] = [20, 10];

/// One deployment of the rule and its counts.
pub struct NetworkSessionAnomaly {
    parameters: Parameters,
    state: State,
}

#[derive(Default, Serialize, Deserialize)]
struct State {
    /// Raw session rows.
    counts: Counts,
    /// Summary rows, per table of [`SUMMARY_BINS`].
    summaries: [Counts; 2],
    /// Per summary table, the end of the summarised time: the latest
    /// `EventTime` plus the table's bin (spec §1).
    summarised_until: [Option<Timestamp>; 2],
    last_evaluation: Option<Timestamp>,
    rows_too_old: u64,
}

impl State {
    /// Rows older than the window of the latest evaluation can never count.
    fn oldest(&self, lookback: i64) -> Timestamp {
        self.last_evaluation
            .map_or(i64::MIN, |last| last.saturating_sub(lookback))
    }
}

fn fields(batch: &mut Batch) -> Result<[TextColumn; 3], String> {
    Ok([
        batch.take_text(FIELDS[0])?,
        batch.take_text(FIELDS[1])?,
        batch.take_text(FIELDS[2])?,
    ])
}

impl Rule for NetworkSessionAnomaly {
    fn metadata() -> RuleMetadata {
        metadata(&Parameters::default())
    }

    fn describe(&self) -> RuleMetadata {
        metadata(&self.parameters)
    }

    fn configure(parameters: &[(String, String)]) -> Result<Self, String> {
        Ok(NetworkSessionAnomaly {
            parameters: Parameters::parse(parameters)?,
            state: State::default(),
        })
    }

    fn ingest_sessions(&mut self, mut sessions: Batch) -> Result<(), String> {
        let fields = fields(&mut sessions)?;
        let oldest = self.state.oldest(self.parameters.lookback);
        let max_values = self.parameters.max_values;
        let times = &sessions.time_generated;
        let too_old = self
            .state
            .counts
            .ingest(times, &fields, oldest, max_values, |_| Some(1));
        self.state.rows_too_old += too_old;
        Ok(())
    }

    fn ingest_summaries(&mut self, mut summaries: Batch) -> Result<(), String> {
        let fields = fields(&mut summaries)?;
        let counts = summaries.take_integer("count_")?;
        let bins = summaries.take_integer("SummaryBinMinutes")?;
        if let Some(row) = bins.iter().position(|bin| !bins_known(*bin)) {
            return Err(format!(
                "summary row {row}: SummaryBinMinutes {:?} is neither 20 nor 10",
                bins[row]
            ));
        }
        if let Some(row) = counts.iter().position(|count| count.is_some_and(|c| c < 0)) {
            return Err(format!(
                "summary row {row}: negative count_ {:?}",
                counts[row]
            ));
        }
        let oldest = self.state.oldest(self.parameters.lookback);
        let max_values = self.parameters.max_values;
        let times = &summaries.time_generated;
        for (table, minutes) in SUMMARY_BINS.iter().enumerate() {
            let mine = |row: usize| bins[row] == Some(*minutes);
            let weight = |row: usize| mine(row).then(|| counts[row].unwrap_or(0) as u64);
            let too_old =
                self.state.summaries[table].ingest(times, &fields, oldest, max_values, weight);
            self.state.rows_too_old += too_old;
            let latest = (0..times.len())
                .filter(|&row| mine(row))
                .map(|row| times[row])
                .max();
            if let Some(end) = latest.map(|latest| latest + minutes * MINUTE) {
                let until = &mut self.state.summarised_until[table];
                *until = Some(until.map_or(end, |until| until.max(end)));
            }
        }
        Ok(())
    }

    fn ingest_indicators(&mut self, _: Batch) -> Result<(), String> {
        Err("this rule reads no indicators".into())
    }

    fn evaluate(&mut self, at: Timestamp) -> Result<Vec<Alert>, String> {
        if let Some(last) = self.state.last_evaluation.filter(|&last| at < last) {
            return Err(format!(
                "evaluation time {at} is before the previous one ({last}); times must not decrease"
            ));
        }
        self.state.last_evaluation = Some(at);
        let p = &self.parameters;
        let start = at - p.lookback;
        let points = p.points();
        // Summaries of the table that takes precedence, then raw rows from the
        // end of the summarised time on, so no traffic counts twice (spec §1).
        let mut series = SeriesSet::new();
        let mut raw_from = i64::MIN;
        let summary =
            (0..SUMMARY_BINS.len()).find(|&table| self.state.summarised_until[table].is_some());
        if let Some(table) = summary {
            self.state.summaries[table].add_series(&mut series, start, i64::MIN, p.bin, points);
            raw_from = self.state.summarised_until[table].unwrap_or(i64::MIN);
        }
        self.state
            .counts
            .add_series(&mut series, start, raw_from, p.bin, points);
        let mut alerts = Vec::new();
        for (key, x) in series {
            let decomposition =
                series::decompose_anomalies(&x, p.threshold, p.seasonal_period, p.trend);
            let last = points - 1;
            let score = decomposition.score[last];
            if score >= p.min_score {
                let (field_type, field_value) = match &key {
                    Some((field, value)) => (FIELDS[*field], value.as_str()),
                    None => ("TotalVolume", "Overall"),
                };
                alerts.push(alert(
                    field_type,
                    field_value,
                    x[last],
                    decomposition.baseline[last],
                    score,
                    at,
                    p.bin,
                ));
            }
        }
        self.state.counts.evict_before(start);
        for summaries in &mut self.state.summaries {
            summaries.evict_before(start);
        }
        Ok(alerts)
    }

    fn stats(&self) -> Vec<(String, u64)> {
        let counts = &self.state.counts;
        let mut stats = vec![
            ("ten-minute-bins-held".into(), counts.bins() as u64),
            ("values-held".into(), counts.values() as u64),
            ("rows-older-than-window".into(), self.state.rows_too_old),
        ];
        for (field, over) in FIELDS.iter().zip(counts.over_cap) {
            stats.push((format!("rows-over-value-cap-{field}"), over));
        }
        stats
    }

    fn snapshot(&self) -> Vec<u8> {
        state::encode(RULE_ID, STATE_FORMAT, &self.state)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
        let mut state: State = state::decode(RULE_ID, STATE_FORMAT, bytes)?;
        for counts in std::iter::once(&mut state.counts).chain(&mut state.summaries) {
            counts.check().map_err(|why| format!("snapshot: {why}"))?;
            counts.rebuild_index();
        }
        self.state = state;
        Ok(())
    }
}

fn metadata(parameters: &Parameters) -> RuleMetadata {
    let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
    RuleMetadata {
        id: RULE_ID.into(),
        short_name: "network-session-anomaly".into(),
        name: "Anomaly found in Network Session Traffic (ASIM Network Session schema)".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "Daily session counts, in total and per DvcAction, NetworkDirection and \
                      NetworkProtocol, whose last day is an outlier against the line through \
                      the lookback (Kusto series_decompose_anomalies)."
            .into(),
        severity: Severity::Medium,
        tactics: strings(&[
            "CommandAndControl",
            "Discovery",
            "Exfiltration",
            "LateralMovement",
        ]),
        techniques: strings(&["T1095", "T1071", "T1046", "T1030", "T1210"]),
        frequency: DAY,
        session_lookback: parameters.lookback,
        session_columns: strings(&FIELDS),
        indicator_lookback: None,
        indicator_columns: Vec::new(),
        summary_columns: strings(&[
            "DvcAction",
            "NetworkDirection",
            "NetworkProtocol",
            "count_",
            "SummaryBinMinutes",
        ]),
        parameters: parameters::specs(),
    }
}

fn bins_known(bin: Option<i64>) -> bool {
    bin.is_some_and(|bin| SUMMARY_BINS.contains(&bin))
}

/// The alert of one anomalous last point (spec §4).
fn alert(
    field_type: &str,
    field_value: &str,
    total: f64,
    baseline: f64,
    raw_score: f64,
    at: Timestamp,
    bin: i64,
) -> Alert {
    // The original truncates the score and the baseline to integers.
    let score = raw_score.trunc() as i64;
    Alert {
        name: format!("Anomaly was observed with {field_value} Traffic"),
        description: format!(
            "Based on past data, anomaly was observed in {field_value} Traffic with a score of {score}."
        ),
        start_time: at - bin,
        end_time: at,
        entities: Vec::new(),
        custom_details: vec![
            ("AnomalyFieldType".into(), field_type.into()),
            ("AnomalyFieldValue".into(), field_value.into()),
            ("Score".into(), DetailValue::Integer(score)),
            ("Total".into(), DetailValue::Integer(total as i64)),
            ("Baseline".into(), DetailValue::Integer(baseline.trunc() as i64)),
            ("RawScore".into(), DetailValue::Real(raw_score)),
            ("EventTime".into(), DetailValue::Time(at - bin)),
        ],
    }
}

#[cfg(test)]
mod tests;
