//! A tenant's checkpoint (`checkpoint.json` beside the rules' snapshots),
//! written after every spool file and read back after a restart. What is
//! read back is checked before the tenant trusts it: a damaged file must be
//! refused with its name, never index past the rules, name files outside
//! the spool or components outside the store, or set a clock that would
//! evaluate ticks for ever.

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use asim_rule_core::Timestamp;
use serde::{Deserialize, Serialize};

use super::Tenant;
use crate::{
    engine::Quarantine, histogram::Histogram, schedule::Schedule, serve::deploy::RuleRecord,
    time::NAMEABLE,
};

/// What a checkpoint holds besides the snapshots (`rule-N-GEN.state`).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Checkpoint {
    pub generation: u64,
    pub from: Option<Timestamp>,
    pub latest: Option<Timestamp>,
    pub watermark: Option<Timestamp>,
    pub next_ticks: Vec<Option<Timestamp>>,
    pub evaluations: Vec<(u64, u64)>,
    pub last_evaluated: Vec<Option<Timestamp>>,
    pub quarantines: Vec<Option<Quarantine>>,
    /// Files whose every row was played.
    #[serde(rename = "done")]
    pub files_played: BTreeSet<String>,
    /// Files with rows still waiting for the watermark.
    #[serde(rename = "open")]
    pub files_waiting: BTreeSet<String>,
    pub alert_bytes: u64,
    pub rows_in: u64,
    pub late_rows: u64,
    pub rejected_rows: u64,
    /// Rows refused as dated too far ahead (`max_ahead`).
    #[serde(default)]
    pub rows_too_far_ahead: u64,
    /// Each rule's builds, in the order of the rules.
    pub records: Vec<RuleRecord>,
    /// The lateness the watermark followed when written (none in
    /// checkpoints of earlier versions).
    #[serde(default)]
    pub lateness: Option<i64>,
}

/// Where rule `rule`'s snapshot of checkpoint `generation` is, in a
/// tenant's folder.
pub(super) fn snapshot_path(dir: &Path, rule: usize, generation: u64) -> PathBuf {
    dir.join(format!("rule-{rule}-{generation}.state"))
}

/// Where the rollback point keeps rule `rule`'s snapshot.
pub(super) fn rollback_snapshot(rollback: &Path, rule: usize) -> PathBuf {
    rollback.join(format!("rule-{rule}.state"))
}

/// The checkpoint's file in a tenant's folder.
pub fn path(dir: &Path) -> PathBuf {
    dir.join("checkpoint.json")
}

impl Checkpoint {
    /// Each rule's schedule, from the per-rule lists of the file (of one
    /// length: [`Checkpoint::read`] checks it).
    pub fn schedules(&self) -> Vec<Schedule> {
        self.next_ticks
            .iter()
            .zip(&self.evaluations)
            .zip(&self.last_evaluated)
            .map(
                |((&next_tick, &(evaluations, alerts)), &last_evaluated)| Schedule {
                    next_tick,
                    evaluations,
                    alerts,
                    last_evaluated,
                    // Times are not checkpointed: they count from the start.
                    evaluation_times: Histogram::default(),
                },
            )
            .collect()
    }

    /// Keeps `schedules` in the per-rule lists of the file (its format
    /// since the first checkpoints).
    pub fn set_schedules(&mut self, schedules: &[Schedule]) {
        self.next_ticks = schedules
            .iter()
            .map(|schedule| schedule.next_tick)
            .collect();
        self.evaluations = schedules
            .iter()
            .map(|schedule| (schedule.evaluations, schedule.alerts))
            .collect();
        self.last_evaluated = schedules
            .iter()
            .map(|schedule| schedule.last_evaluated)
            .collect();
    }

    /// The checkpoint at `path`, written for a tenant of `entries`
    /// configured rules; none when there is no file.
    pub fn read(path: &Path, entries: usize) -> Result<Option<Checkpoint>> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(error).with_context(|| format!("{}: cannot read", path.display()))
            }
        };
        let checkpoint: Checkpoint = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: unreadable checkpoint", path.display()))?;
        checkpoint
            .check(entries)
            .map_err(|why| damaged(path, &why))?;
        Ok(Some(checkpoint))
    }

    /// The generation after this one; none is left at the last that reads back.
    pub fn next_generation(&self, path: &Path) -> Result<u64> {
        self.generation
            .checked_add(1)
            .filter(|&next| next < u64::MAX)
            .ok_or_else(|| damaged(path, "its generation leaves no room for the next"))
    }

    /// Writes the checkpoint to `path` atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let temporary = path.with_extension("json.tmp");
        fs::write(&temporary, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("{}: cannot write", temporary.display()))?;
        fs::rename(&temporary, path).with_context(|| format!("{}: cannot write", path.display()))
    }

    /// What a tenant of `entries` configured rules may not take from this
    /// checkpoint.
    fn check(&self, entries: usize) -> Result<(), String> {
        if self.generation == u64::MAX {
            return Err("its generation leaves no room for the next".into());
        }
        let times = [
            ("from", self.from),
            ("latest", self.latest),
            ("watermark", self.watermark),
        ];
        let ticks = self.next_ticks.iter().chain(&self.last_evaluated);
        for (name, time) in times.into_iter().chain(ticks.map(|&tick| ("a tick", tick))) {
            if time.is_some_and(|time| !NAMEABLE.contains(&time)) {
                return Err(format!("{name} lies outside the years 0001 to 9999"));
            }
        }
        // The watermark trails the latest row by the lateness (both are set
        // by the first rows): a latest row far past it would move the clock
        // by years on the first release.
        if self.watermark.is_some() != self.latest.is_some() {
            return Err("it holds a latest row or a watermark without the other".into());
        }
        if let (Some(watermark), Some(latest)) = (self.watermark, self.latest) {
            let trail = latest.saturating_sub(watermark);
            if trail < 0 || self.lateness.is_some_and(|lateness| trail > lateness) {
                return Err("the watermark does not trail the latest row by the lateness".into());
            }
        }
        if let Some(watermark) = self.watermark {
            // Running: each rule with a record has its state.
            let rules = self.records.len();
            let lengths = [
                ("next_ticks", self.next_ticks.len()),
                ("evaluations", self.evaluations.len()),
                ("last_evaluated", self.last_evaluated.len()),
                ("quarantines", self.quarantines.len()),
            ];
            if let Some((name, length)) = lengths.into_iter().find(|&(_, length)| length != rules) {
                return Err(format!(
                    "{name} holds the state of {length} rules where it records {rules}"
                ));
            }
            // Every tick up to the watermark was evaluated; an earlier one
            // would replay the years between.
            if self
                .next_ticks
                .iter()
                .flatten()
                .any(|&tick| tick <= watermark)
            {
                return Err("a next tick lies at or before the watermark".into());
            }
        }
        if let Some(name) = self
            .files_played
            .iter()
            .chain(&self.files_waiting)
            .find(|name| !is_file_name(name))
        {
            return Err(format!("{name:?} is not the name of a spool file"));
        }
        let mut seen = BTreeSet::new();
        for record in &self.records {
            if record.entry >= entries || !seen.insert(record.entry) {
                return Err(format!(
                    "a record names rule entry {} again or of another config",
                    record.entry
                ));
            }
            let mut builds = std::iter::once(&record.current).chain(&record.previous);
            if let Some(build) = builds.find(|build| !is_digest(&build.digest)) {
                return Err(format!("{:?} is not a component digest", build.digest));
            }
        }
        Ok(())
    }
}

/// The refusal of the checkpoint at `path`, for `why`.
pub fn damaged(path: &Path, why: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{}: {why}: the checkpoint is damaged or of another config (move {} away to start the tenant afresh)",
        path.display(),
        path.parent().unwrap_or(path).display()
    )
}

/// A name a spool's listing can hold: no folder, no way out of it.
fn is_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

/// A digest as [`crate::serve::deploy::digest`] writes it.
fn is_digest(digest: &str) -> bool {
    digest.len() == 16 && digest.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// Where the checkpoint before a swap waits while the new build is on probation.
pub(super) const ROLLBACK_DIR: &str = "rollback";

impl Tenant {
    /// Writes the checkpoint: snapshots first, then the record naming them,
    /// atomically; older snapshots go after.
    pub(super) fn write_checkpoint(&mut self) -> Result<()> {
        let generation = self.checkpoint.next_generation(&path(&self.dir))?;
        if let Some(replay) = self.rules.replay_mut() {
            replay.flush();
            let mut quarantines = Vec::new();
            for index in 0..replay.rules().len() {
                let rule = &mut replay.rules_mut()[index];
                let snapshot = match rule.quarantine() {
                    Some(_) => None,
                    None => rule
                        .snapshot()
                        .inspect_err(|quarantine| {
                            tracing::warn!(tenant = %self.name, "tenant {}: {quarantine}", self.name);
                        })
                        .ok(),
                };
                if let Some(snapshot) = snapshot {
                    let path = snapshot_path(&self.dir, index, generation);
                    fs::write(&path, snapshot)
                        .with_context(|| format!("{}: cannot write", path.display()))?;
                }
                quarantines.push(replay.rules()[index].quarantine().cloned());
            }
            self.checkpoint.quarantines = quarantines;
            self.checkpoint.set_schedules(replay.schedules());
        }
        self.checkpoint.records.clone_from(&self.records);
        self.sink.flush()?;
        if let Some(alerts) = &self.alerts_path {
            self.checkpoint.alert_bytes = fs::metadata(alerts)
                .with_context(|| format!("{}: cannot read", alerts.display()))?
                .len();
        }
        self.checkpoint.generation = generation;
        self.checkpoint.lateness = Some(self.lateness);
        self.checkpoint.write(&path(&self.dir))?;
        for index in 0..self.records.len() {
            let _ = fs::remove_file(self.snapshot_file(index, generation - 1));
        }
        if self
            .records
            .iter()
            .all(|record| record.probation_until.is_none())
        {
            // No build on probation: the rollback point is not needed.
            let _ = fs::remove_dir_all(self.dir.join(ROLLBACK_DIR));
        }
        Ok(())
    }

    /// Copies the checkpoint and its snapshots aside (nothing was played
    /// since it was written).
    pub(super) fn keep_rollback_point(&self) -> Result<()> {
        let rollback = self.dir.join(ROLLBACK_DIR);
        let _ = fs::remove_dir_all(&rollback);
        fs::create_dir_all(&rollback)
            .with_context(|| format!("{}: cannot create", rollback.display()))?;
        for index in 0..self.records.len() {
            let snapshot = self.snapshot_file(index, self.checkpoint.generation);
            if snapshot.exists() {
                let copy = rollback_snapshot(&rollback, index);
                fs::copy(&snapshot, &copy)
                    .with_context(|| format!("{}: cannot write", copy.display()))?;
            }
        }
        let copy = path(&rollback);
        fs::copy(path(&self.dir), &copy)
            .with_context(|| format!("{}: cannot write", copy.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::deploy::Deployment;

    const WATERMARK: Timestamp = 1_773_489_600_000_000;

    /// A running tenant's checkpoint of two rules.
    fn running() -> Checkpoint {
        let record = |entry| RuleRecord {
            entry,
            configured: ("0123456789abcdef".to_owned(), Default::default()).into(),
            current: Deployment {
                source: PathBuf::from("rule.wasm"),
                digest: "0123456789abcdef".into(),
                parameters: Default::default(),
                version: "1.0.0".into(),
                since: None,
            },
            previous: None,
            probation_until: None,
            last_swap: None,
            swaps: 0,
            swap_pauses: Histogram::default(),
        };
        Checkpoint {
            generation: 3,
            from: Some(WATERMARK - 86_400_000_000),
            latest: Some(WATERMARK + 7),
            lateness: Some(7),
            watermark: Some(WATERMARK),
            next_ticks: vec![Some(WATERMARK + 1), None],
            evaluations: vec![(1, 0), (2, 1)],
            last_evaluated: vec![Some(WATERMARK), None],
            quarantines: vec![None, None],
            files_played: ["0001-indicators.jsonl".into()].into(),
            files_waiting: ["0002-sessions.jsonl".into()].into(),
            records: vec![record(0), record(1)],
            ..Checkpoint::default()
        }
    }

    fn refusal(damage: impl FnOnce(&mut Checkpoint)) -> String {
        let mut checkpoint = running();
        damage(&mut checkpoint);
        checkpoint.check(2).expect_err("a damaged checkpoint")
    }

    #[test]
    fn a_checkpoint_written_reads_back_and_none_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = path(dir.path());
        assert!(Checkpoint::read(&path, 2).unwrap().is_none());
        running().write(&path).unwrap();
        let read = Checkpoint::read(&path, 2).unwrap().expect("the checkpoint");
        assert_eq!(read.next_ticks, running().next_ticks);
        let records = |checkpoint: &Checkpoint| serde_json::to_value(&checkpoint.records).unwrap();
        assert_eq!(records(&read), records(&running()));
        let error = format!("{:#}", Checkpoint::read(&path, 1).unwrap_err());
        assert!(
            error.contains("checkpoint.json") && error.contains("entry 1"),
            "{error}"
        );
    }

    #[test]
    fn a_damaged_checkpoint_is_refused_with_what_is_wrong() {
        assert!(running().check(2).is_ok());
        type Damage = fn(&mut Checkpoint);
        let cases: [(&str, Damage); 14] = [
            ("without the other", |c| c.watermark = None),
            ("without the other", |c| c.latest = None),
            ("does not trail", |c| c.latest = Some(WATERMARK + 8)),
            ("does not trail", |c| c.latest = Some(WATERMARK - 1)),
            ("generation", |c| c.generation = u64::MAX),
            ("years", |c| c.latest = Some(i64::MAX)),
            ("years", |c| c.last_evaluated[1] = Some(i64::MIN)),
            ("at or before the watermark", |c| {
                c.next_ticks[0] = Some(WATERMARK - 1)
            }),
            ("not the name of a spool file", |c| {
                c.files_waiting.insert("../serve.toml".into());
            }),
            ("not a component digest", |c| {
                c.records[1].current.digest = "../../x".into()
            }),
            ("rule entry 2", |c| c.records[1].entry = 2),
            ("rule entry 0 again", |c| c.records[1].entry = 0),
            (
                "quarantines holds the state of 1 rules where it records 2",
                |c| drop(c.quarantines.pop()),
            ),
            (
                "next_ticks holds the state of 2 rules where it records 1",
                |c| drop(c.records.pop()),
            ),
        ];
        for (expected, damage) in cases {
            let why = refusal(damage);
            assert!(why.contains(expected), "{why}");
        }
    }

    #[test]
    fn the_last_generation_is_never_written() {
        let path = Path::new("checkpoint.json");
        let mut checkpoint = running();
        assert_eq!(checkpoint.next_generation(path).unwrap(), 4);
        checkpoint.generation = u64::MAX - 1;
        assert!(checkpoint.check(2).is_ok());
        let error = format!("{:#}", checkpoint.next_generation(path).unwrap_err());
        assert!(error.contains("no room"), "{error}");
    }

    #[test]
    fn a_tenant_not_yet_running_has_no_per_rule_state() {
        let idle = Checkpoint {
            from: Some(WATERMARK),
            ..Checkpoint::default()
        };
        assert!(idle.check(2).is_ok());
    }
}
