//! TI map IP entity to Network Session Events (Sentinel rule
//! `e2399891-383c-4caf-ae67-68a008b9f89e`), as `../shared/specs/ti-map-ip.md`
//! restates it; deliberate differences are listed in this crate's README.
//!
//! At each evaluation time `T`: the indicators live at `T` are indexed by
//! network; the sessions of `[T - 1h, T)` are matched address by address
//! (each distinct address once per batch); only matching sessions are grouped
//! into summaries, and each summary raises one alert.

mod index;
mod indicators;
mod sessions;

#[cfg(target_arch = "wasm32")]
mod component {
    asim_rule_sdk::export_rule!(crate::TiMapIp);
}

use asim_rule_core::{
    state,
    time::{DAY, HOUR},
    Alert, Batch, DetailValue, Entity, Rule, RuleMetadata, Severity, Timestamp,
};
use serde::{Deserialize, Serialize};

use index::PrefixIndex;
use indicators::{IndicatorStore, LiveSet};
use sessions::{Match, SessionWindow, Side};

/// The Sentinel analytic rule id.
pub const RULE_ID: &str = "e2399891-383c-4caf-ae67-68a008b9f89e";
const SESSION_LOOKBACK: i64 = HOUR;
const INDICATOR_LOOKBACK: i64 = 14 * DAY;
/// Bumped whenever the snapshot layout changes.
const STATE_FORMAT: u32 = 2;

/// One deployment of the rule and its window.
#[derive(Default)]
pub struct TiMapIp {
    state: State,
    /// The index of the live indicators, kept while they stay the same.
    live: Option<LiveIndex>,
    /// Times the index was built: a figure for operators and tests.
    index_builds: u64,
}

/// Live indicators indexed by network; values are positions in `set.members`.
struct LiveIndex {
    set: LiveSet,
    index: PrefixIndex<u32>,
}

#[derive(Default, Serialize, Deserialize)]
struct State {
    indicators: IndicatorStore,
    sessions: SessionWindow,
    last_evaluation: Option<Timestamp>,
}

impl Rule for TiMapIp {
    fn metadata() -> RuleMetadata {
        RuleMetadata {
            id: RULE_ID.into(),
            short_name: "ti-map-ip".into(),
            name: "TI map IP entity to Network Session Events (ASIM Network Session schema)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "A network session whose source or destination IP address is a live \
                          threat-intelligence indicator (an address or a network containing it)."
                .into(),
            severity: Severity::Medium,
            tactics: vec!["CommandAndControl".into()],
            techniques: vec!["T1071".into()],
            frequency: HOUR,
            session_lookback: SESSION_LOOKBACK,
            session_columns: sessions::COLUMNS.map(String::from).to_vec(),
            indicator_lookback: Some(INDICATOR_LOOKBACK),
            indicator_columns: indicators::COLUMNS.map(String::from).to_vec(),
            summary_columns: Vec::new(),
            parameters: Vec::new(),
        }
    }

    fn configure(parameters: &[(String, String)]) -> Result<Self, String> {
        match parameters.first() {
            Some((name, _)) => Err(format!("unknown parameter {name}: this rule takes none")),
            None => Ok(TiMapIp::default()),
        }
    }

    fn ingest_sessions(&mut self, sessions: Batch) -> Result<(), String> {
        self.state.sessions.ingest(sessions)
    }

    fn ingest_indicators(&mut self, indicators: Batch) -> Result<(), String> {
        self.state.indicators.ingest(indicators)
    }

    fn evaluate(&mut self, at: Timestamp) -> Result<Vec<Alert>, String> {
        if let Some(last) = self.state.last_evaluation.filter(|&last| at < last) {
            return Err(format!(
                "evaluation time {at} is before the previous one ({last}); times must not decrease"
            ));
        }
        self.state.last_evaluation = Some(at);
        let State {
            indicators,
            sessions,
            ..
        } = &mut self.state;
        sessions.evict_before(at - SESSION_LOOKBACK);
        // The index is rebuilt only when indicators arrived or were forgotten,
        // or when `at` reaches a time at which one enters, expires or ages out.
        let current = self.live.as_ref().is_some_and(|live| {
            live.set.generation == indicators.generation() && at < live.set.stale_at
        });
        if !current {
            let set = indicators.live_at(at, INDICATOR_LOOKBACK);
            let store = &*indicators;
            let index = PrefixIndex::build(
                set.members
                    .iter()
                    .enumerate()
                    .map(|(position, &member)| (store.live(member).prefix, position as u32)),
                |a, b| {
                    let live = |position: &u32| store.live(set.members[*position as usize]);
                    live(a).is_better_than(&live(b))
                },
            );
            self.live = Some(LiveIndex { set, index });
            self.index_builds += 1;
        }
        let Some(live) = &self.live else {
            return Ok(Vec::new());
        };
        let store = &*indicators;
        let resolve = |position: u32| store.live(live.set.members[position as usize]);
        let alerts = sessions
            .matches(at - SESSION_LOOKBACK, at, &live.index, &resolve)
            .into_iter()
            // Spec §3: the chosen indicator must not have expired before the
            // summary started.
            .filter(|m| {
                m.indicator
                    .version
                    .expiration
                    .is_some_and(|expiry| m.start < expiry)
            })
            .map(|m| alert(&m))
            .collect();
        Ok(alerts)
    }

    fn stats(&self) -> Vec<(String, u64)> {
        vec![
            (
                "indicator-versions-held".into(),
                self.state.indicators.len() as u64,
            ),
            ("session-rows-held".into(), self.state.sessions.len() as u64),
            (
                "live-indicators-indexed".into(),
                self.live.as_ref().map_or(0, |live| live.set.members.len()) as u64,
            ),
            ("index-builds".into(), self.index_builds),
            (
                "index-bytes".into(),
                self.live.as_ref().map_or(0, |live| {
                    live.index.heap_bytes() + live.set.members.capacity() * 8
                }) as u64,
            ),
        ]
    }

    fn snapshot(&self) -> Vec<u8> {
        state::encode(RULE_ID, STATE_FORMAT, &self.state)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
        let state: State = state::decode(RULE_ID, STATE_FORMAT, bytes)?;
        state
            .sessions
            .check()
            .map_err(|error| format!("corrupt snapshot: {error}"))?;
        self.state = state;
        self.live = None;
        Ok(())
    }
}

/// The alert of one matching summary (spec §4).
fn alert(m: &Match) -> Alert {
    let (direction, ioc_ip) = match m.side {
        Side::Source => ("Source", m.src),
        Side::Destination => ("Destination", m.dst),
    };
    let indicator = m.indicator.version;
    Alert {
        name: format!("A network session {direction} address {ioc_ip} matched an IoC."),
        description: format!(
            "The {direction} address {ioc_ip} of a network session matched a known indicator of \
             compromise of {}. Consult the threat intelligence blade for more information on the \
             indicator.",
            indicator.threat_type
        ),
        start_time: m.start,
        end_time: m.end,
        entities: vec![Entity::ip(ioc_ip)],
        custom_details: vec![
            ("EventStartTime".into(), DetailValue::Time(m.start)),
            ("EventEndTime".into(), DetailValue::Time(m.end)),
            ("IoCDescription".into(), (&*indicator.description).into()),
            (
                "ActivityGroupNames".into(),
                (&*indicator.activity_group_names).into(),
            ),
            ("IndicatorId".into(), m.indicator.id.into()),
            ("ThreatType".into(), (&*indicator.threat_type).into()),
            ("IoCExpirationTime".into(), indicator.expiration.into()),
            ("IoCConfidenceScore".into(), indicator.confidence.into()),
            ("IoCIPDirection".into(), direction.into()),
            ("SrcIpAddr".into(), m.src.into()),
            ("DstIpAddr".into(), m.dst.into()),
            ("IoCIP".into(), ioc_ip.into()),
            ("Dvc".into(), m.dvc.into()),
            ("EventVendor".into(), m.vendor.into()),
            ("EventProduct".into(), m.product.into()),
        ],
    }
}

#[cfg(test)]
mod tests;
