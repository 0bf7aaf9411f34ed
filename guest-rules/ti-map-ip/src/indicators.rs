//! Threat-intel indicators: every version seen, and which are live at `T`
//! (spec §1).

use std::{fmt, hash::BuildHasher, rc::Rc};

use asim_rule_core::{Batch, IpColumn, IpPrefix, Timestamp};
use hashbrown::{DefaultHashBuilder, HashSet, HashTable};
use serde::{
    de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor},
    Deserialize, Serialize,
};

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

/// One row of the indicator table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IndicatorVersion {
    pub time_generated: Timestamp,
    /// Arrival order: of two versions with one `TimeGenerated`, the later
    /// arrival is the latest.
    pub sequence: u64,
    pub expiration: Option<Timestamp>,
    pub active: bool,
    /// The network of the first non-empty IP column; none when there is none
    /// or it does not parse (the indicator then matches nothing).
    pub network: Option<IpPrefix>,
    /// Texts many indicators share are held once (see [`Strings`]).
    pub threat_type: Rc<str>,
    pub description: Rc<str>,
    pub activity_group_names: Rc<str>,
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

/// Every indicator version that may still be chosen. Indicators sit in
/// slots so that a live set can name them by position until the store next
/// changes.
#[derive(Default)]
pub struct IndicatorStore {
    /// Slot of each indicator, keyed by its id (held once, in `indicators`).
    slots: HashTable<u32>,
    hasher: DefaultHashBuilder,
    indicators: Vec<(String, Vec<IndicatorVersion>)>,
    strings: Strings,
    next_sequence: u64,
    /// Bumped by every change: a live set of an earlier generation is stale.
    generation: u64,
}

/// Threat types, descriptions and group names, each held once: feeds repeat
/// them across many indicators.
#[derive(Default)]
struct Strings(HashSet<Rc<str>>);

impl Strings {
    fn get(&mut self, text: &str) -> Rc<str> {
        if let Some(held) = self.0.get(text) {
            return Rc::clone(held);
        }
        let held: Rc<str> = text.into();
        self.0.insert(Rc::clone(&held));
        held
    }

    /// Forgets the texts no indicator uses any more.
    fn forget_unused(&mut self) {
        self.0.retain(|text| Rc::strong_count(text) > 1);
    }
}

/// The live indicators at one evaluation time, by slot and version, and until
/// when that stays true.
pub struct LiveSet {
    pub members: Vec<(u32, u32)>,
    /// The store's generation the set was computed from.
    pub generation: u64,
    /// Evaluation times from the set's own up to (excluding) this one see the
    /// same live indicators, unless the store changes.
    pub stale_at: Timestamp,
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
        self.generation += 1;
        for (row, &time_generated) in batch.time_generated.iter().enumerate() {
            let version = IndicatorVersion {
                time_generated,
                sequence: self.next_sequence,
                expiration: expiration[row],
                active: active[row] == Some(true),
                network: first_non_empty(&ip_columns, row),
                threat_type: self.strings.get(threat_type.text(row)),
                description: self.strings.get(description.text(row)),
                activity_group_names: self.strings.get(groups.text(row)),
                confidence: confidence[row],
            };
            self.next_sequence += 1;
            let id = ids.text(row);
            match self.slot(id) {
                Some(slot) => self.indicators[slot as usize].1.push(version),
                None => self.add(id.to_owned(), vec![version]),
            }
        }
        Ok(())
    }

    fn slot(&self, id: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(id);
        let indicators = &self.indicators;
        let found = self
            .slots
            .find(hash, |&slot| indicators[slot as usize].0 == id);
        found.copied()
    }

    /// Puts a new indicator in the next slot.
    fn add(&mut self, id: String, versions: Vec<IndicatorVersion>) {
        let slot = self.indicators.len() as u32;
        let (hasher, indicators) = (&self.hasher, &self.indicators);
        self.slots
            .insert_unique(hasher.hash_one(&id), slot, |&slot| {
                hasher.hash_one(&indicators[slot as usize].0)
            });
        self.indicators.push((id, versions));
    }

    /// The live indicators at `at` (spec §1) with a network. Versions that no
    /// later evaluation can choose are forgotten on the way, so evaluation
    /// times must not decrease.
    pub fn live_at(&mut self, at: Timestamp, lookback: i64) -> LiveSet {
        self.forget_unreachable(at, lookback);
        let mut members = Vec::new();
        let mut stale_at = Timestamp::MAX;
        for (slot, (_, versions)) in self.indicators.iter().enumerate() {
            let mut latest: Option<(usize, &IndicatorVersion)> = None;
            for (position, version) in versions.iter().enumerate() {
                if version.time_generated > at {
                    // A newer version arrives then.
                    stale_at = stale_at.min(version.time_generated);
                } else if latest.is_none_or(|(_, best)| version.recency() > best.recency()) {
                    latest = Some((position, version));
                }
            }
            let Some((position, version)) = latest else {
                continue;
            };
            // It leaves the window once `at - lookback` passes it.
            stale_at = stale_at.min(version.time_generated.saturating_add(lookback + 1));
            let unexpired = version.expiration.is_some_and(|expiry| expiry > at);
            if version.active && unexpired && version.network.is_some() {
                stale_at = stale_at.min(version.expiration.unwrap_or(Timestamp::MAX));
                members.push((slot as u32, position as u32));
            }
        }
        LiveSet {
            members,
            generation: self.generation,
            stale_at,
        }
    }

    /// Drops the versions no evaluation at `at` or later can choose: those
    /// replaced by a newer version by `at`, or older than the window.
    fn forget_unreachable(&mut self, at: Timestamp, lookback: i64) {
        let oldest = at - lookback;
        let before = self.len();
        for (_, versions) in &mut self.indicators {
            let latest = versions
                .iter()
                .filter(|v| v.time_generated <= at)
                .map(IndicatorVersion::recency)
                .max();
            versions.retain(|v| {
                v.time_generated > at || (Some(v.recency()) == latest && v.time_generated >= oldest)
            });
        }
        if self.len() == before {
            return;
        }
        self.generation += 1;
        let kept: Vec<_> = std::mem::take(&mut self.indicators)
            .into_iter()
            .filter(|(_, versions)| !versions.is_empty())
            .collect();
        self.slots.clear();
        for (id, versions) in kept {
            self.add(id, versions);
        }
        self.strings.forget_unused();
    }

    /// A member of a live set of the current generation.
    pub fn live(&self, (slot, position): (u32, u32)) -> Live<'_> {
        let (id, versions) = &self.indicators[slot as usize];
        let version = &versions[position as usize];
        Live {
            id,
            version,
            // Live sets hold only versions with a network.
            prefix: version.network.unwrap_or(IpPrefix::new(0, 0)),
        }
    }

    /// The store's generation, bumped by every change.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Number of indicator versions held.
    pub fn len(&self) -> usize {
        self.indicators
            .iter()
            .map(|(_, versions)| versions.len())
            .sum()
    }
}

/// The snapshot form: indicators by id, in id order, so that equal state gives
/// equal bytes.
#[derive(Serialize, Deserialize)]
struct Stored<V> {
    versions: V,
    next_sequence: u64,
}

impl Serialize for IndicatorStore {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut by_id: Vec<(&String, &Vec<IndicatorVersion>)> = self
            .indicators
            .iter()
            .map(|(id, versions)| (id, versions))
            .collect();
        by_id.sort_unstable_by_key(|(id, _)| *id);
        Stored {
            versions: InIdOrder(by_id),
            next_sequence: self.next_sequence,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for IndicatorStore {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = Stored::<InSlots>::deserialize(deserializer)?;
        let mut store = stored.versions.0;
        store.next_sequence = stored.next_sequence;
        Ok(store)
    }
}

/// The store read from a snapshot's map, each indicator straight into its
/// slot and each text borrowed from the snapshot until [`Strings`] holds it:
/// a restore happens inside a swap's pause, and allocations are what cost
/// there (an intermediate map, three texts per version).
struct InSlots(IndicatorStore);

impl<'de> Deserialize<'de> for InSlots {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(InSlots(IndicatorStore::default()))
    }
}

impl<'de> Visitor<'de> for InSlots {
    type Value = InSlots;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("indicator versions by id")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<InSlots, A::Error> {
        let store = &mut self.0;
        let mut previous: Option<&str> = None;
        while let Some(id) = map.next_key::<&str>()? {
            // Snapshots are written in id order: anything else is not one.
            if previous.is_some_and(|previous| previous >= id) {
                return Err(A::Error::custom("indicator ids out of order"));
            }
            previous = Some(id);
            let versions = map.next_value_seed(Versions(&mut store.strings))?;
            store.add(id.to_owned(), versions);
        }
        Ok(self)
    }
}

/// An indicator's versions from a snapshot, their texts held by `Strings`.
struct Versions<'s>(&'s mut Strings);

impl<'de> DeserializeSeed<'de> for Versions<'_> {
    type Value = Vec<IndicatorVersion>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Versions<'_> {
    type Value = Vec<IndicatorVersion>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("indicator versions")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut versions = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
        while let Some(stored) = seq.next_element::<StoredVersion>()? {
            versions.push(IndicatorVersion {
                time_generated: stored.time_generated,
                sequence: stored.sequence,
                expiration: stored.expiration,
                active: stored.active,
                network: stored.network,
                threat_type: self.0.get(stored.threat_type),
                description: self.0.get(stored.description),
                activity_group_names: self.0.get(stored.activity_group_names),
                confidence: stored.confidence,
            });
        }
        Ok(versions)
    }
}

/// [`IndicatorVersion`] as a snapshot holds it (the same fields in the same
/// order), its texts borrowed.
#[derive(Deserialize)]
struct StoredVersion<'a> {
    time_generated: Timestamp,
    sequence: u64,
    expiration: Option<Timestamp>,
    active: bool,
    network: Option<IpPrefix>,
    threat_type: &'a str,
    description: &'a str,
    activity_group_names: &'a str,
    confidence: Option<f64>,
}

/// Serialises as a map, the form snapshots have always had.
struct InIdOrder<'a>(Vec<(&'a String, &'a Vec<IndicatorVersion>)>);

impl Serialize for InIdOrder<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().copied())
    }
}

/// The network of the first non-empty IP column, when it parses (spec §1:
/// emptiness decides which column, not validity).
fn first_non_empty(columns: &[&IpColumn], row: usize) -> Option<IpPrefix> {
    let column = columns.iter().find(|column| !column.text(row).is_empty())?;
    column.address(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_texts_are_held_once_and_forgotten_with_their_last_user() {
        let mut strings = Strings::default();
        let (first, second) = (strings.get("C2"), strings.get("C2"));
        assert!(Rc::ptr_eq(&first, &second));
        let kept = strings.get("Botnet");
        drop((first, second));
        strings.forget_unused();
        assert_eq!(strings.0.len(), 1);
        assert!(strings.0.contains(&*kept));
    }
}
