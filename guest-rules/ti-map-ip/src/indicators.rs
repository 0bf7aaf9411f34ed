//! Threat-intel indicators: every version seen, and which are live at `T`
//! (spec §1).

use asim_rule_core::{Batch, IpColumn, IpPrefix, Timestamp};
use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

/// The indicator columns the rule reads.
pub const COLUMNS: [&str; 11] = [
    "IndicatorId",
    "ExpirationDateTime",
    "Active",
    "NetworkIP",
    "NetworkDestinationIP",
    "NetworkSourceIP",
    "EmailSourceIpAddress",
    "ThreatType",
    "Description",
    "ActivityGroupNames",
    "ConfidenceScore",
];

/// The IP an indicator is about: the first non-empty of its IP columns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IpEntity {
    /// As the source wrote it.
    pub text: String,
    /// Its address or network; none when unparsable (it then matches nothing).
    pub prefix: Option<IpPrefix>,
}

/// One row of the indicator table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndicatorVersion {
    pub time_generated: Timestamp,
    /// Arrival order: of two versions with one `TimeGenerated`, the later
    /// arrival is the latest.
    pub sequence: u64,
    pub expiration: Option<Timestamp>,
    pub active: bool,
    pub entity: Option<IpEntity>,
    pub threat_type: String,
    pub description: String,
    pub activity_group_names: String,
    pub confidence: Option<f64>,
}

impl IndicatorVersion {
    fn recency(&self) -> (Timestamp, u64) {
        (self.time_generated, self.sequence)
    }
}

/// A live indicator at an evaluation time.
#[derive(Clone, Copy, Debug)]
pub struct Live<'a> {
    pub id: &'a str,
    pub version: &'a IndicatorVersion,
    pub prefix: IpPrefix,
}

impl Live<'_> {
    /// Spec §3: of several indicators on one network, the highest
    /// `ConfidenceScore` (absent lowest), then the latest `TimeGenerated`, then
    /// the smallest `IndicatorId` is chosen.
    pub fn is_better_than(&self, other: &Live) -> bool {
        let confidence = |live: &Live| live.version.confidence.filter(|c| !c.is_nan());
        let by_confidence = match (confidence(self), confidence(other)) {
            (Some(a), Some(b)) => a.total_cmp(&b),
            (a, b) => a.is_some().cmp(&b.is_some()),
        };
        by_confidence
            .then(
                self.version
                    .time_generated
                    .cmp(&other.version.time_generated),
            )
            .then(other.id.cmp(self.id))
            .is_gt()
    }
}

/// Every indicator version that may still be chosen.
#[derive(Default, Debug, Serialize, Deserialize)]
pub struct IndicatorStore {
    #[serde(serialize_with = "in_id_order")]
    versions: HashMap<String, Vec<IndicatorVersion>>,
    next_sequence: u64,
}

impl IndicatorStore {
    /// Adds indicator rows.
    pub fn ingest(&mut self, mut batch: Batch) -> Result<(), String> {
        let ids = batch.take_text("IndicatorId")?;
        let expiration = batch.take_time("ExpirationDateTime")?;
        let active = batch.take_boolean("Active")?;
        let network_ip = batch.take_ip("NetworkIP")?;
        let destination_ip = batch.take_ip("NetworkDestinationIP")?;
        let source_ip = batch.take_ip("NetworkSourceIP")?;
        let email_ip = batch.take_ip("EmailSourceIpAddress")?;
        let threat_type = batch.take_text("ThreatType")?;
        let description = batch.take_text("Description")?;
        let groups = batch.take_text("ActivityGroupNames")?;
        let confidence = batch.take_real("ConfidenceScore")?;
        let ip_columns = [&network_ip, &destination_ip, &source_ip, &email_ip];
        for (row, &time_generated) in batch.time_generated.iter().enumerate() {
            let version = IndicatorVersion {
                time_generated,
                sequence: self.next_sequence,
                expiration: expiration[row],
                active: active[row] == Some(true),
                entity: first_non_empty(&ip_columns, row),
                threat_type: threat_type.text(row).to_owned(),
                description: description.text(row).to_owned(),
                activity_group_names: groups.text(row).to_owned(),
                confidence: confidence[row],
            };
            self.next_sequence += 1;
            let id = ids.text(row);
            match self.versions.get_mut(id) {
                Some(versions) => versions.push(version),
                None => {
                    self.versions.insert(id.to_owned(), vec![version]);
                }
            }
        }
        Ok(())
    }

    /// The live indicators at `at` (spec §1), each with its network. Versions
    /// that no later evaluation can choose are forgotten on the way, so
    /// evaluation times must not decrease.
    pub fn live_at(&mut self, at: Timestamp, lookback: i64) -> Vec<Live<'_>> {
        let oldest = at - lookback;
        self.versions.retain(|_, versions| {
            let latest = versions
                .iter()
                .filter(|v| v.time_generated <= at)
                .map(IndicatorVersion::recency)
                .max();
            versions.retain(|v| {
                v.time_generated > at || (Some(v.recency()) == latest && v.time_generated >= oldest)
            });
            !versions.is_empty()
        });
        self.versions
            .iter()
            .filter_map(|(id, versions)| {
                let version = versions
                    .iter()
                    .filter(|v| v.time_generated <= at)
                    .max_by_key(|v| v.recency())?;
                let live = version.active && version.expiration.is_some_and(|expiry| expiry > at);
                let prefix = version.entity.as_ref()?.prefix?;
                live.then_some(Live {
                    id,
                    version,
                    prefix,
                })
            })
            .collect()
    }

    /// Number of indicator versions held.
    pub fn len(&self) -> usize {
        self.versions.values().map(Vec::len).sum()
    }
}

/// Equal state, equal snapshot bytes, whatever the hash map's order.
fn in_id_order<S: serde::Serializer>(
    versions: &HashMap<String, Vec<IndicatorVersion>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut entries: Vec<_> = versions.iter().collect();
    entries.sort_unstable_by_key(|(id, _)| *id);
    serializer.collect_map(entries)
}

fn first_non_empty(columns: &[&IpColumn], row: usize) -> Option<IpEntity> {
    columns.iter().find_map(|column| {
        let text = column.text(row);
        (!text.is_empty()).then(|| IpEntity {
            text: text.to_owned(),
            prefix: column.address(row),
        })
    })
}
