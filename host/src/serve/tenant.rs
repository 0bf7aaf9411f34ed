//! One tenant of `serve`: its rules (each in its own sandbox, under the
//! tenant's budgets), its spool, event-time evaluation and its checkpoint.
//!
//! Rows of new spool files wait in a reorder buffer; the watermark is the
//! latest `TimeGenerated` seen minus the lateness. Rows at or before it are
//! played in time order (as `replay` plays them), then every tick at or
//! before it is evaluated. After each file the tenant checkpoints: the rules'
//! snapshots, their next ticks, the watermark, the files played whole, the
//! files with rows still waiting (re-read after a restart, their rows at or
//! before the watermark skipped) and the length of the alert file (cut back
//! to it after a restart, so alerts written after the checkpoint are not
//! written twice).

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BTreeSet, BinaryHeap},
    fs,
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::{Context, Result};
use asim_rule_core::{schema::ColumnKind, Timestamp};
use serde::{Deserialize, Serialize};

use super::config::TenantConfig;
use crate::{
    engine::{Budgets, LoadedRule, Quarantine, RuleHost, RuleInstance},
    feed::{Feed, Table},
    inputs::{
        self,
        indicators::{self, list::ListOptions},
        stream::{OwnedCell, Reader},
        InputFile, Rejects,
    },
    outputs::AlertSink,
    schedule::Replay,
};

/// Rows per batch handed to a rule.
const BATCH_ROWS: usize = 65_536;

/// A row waiting for the watermark, ordered by time, then table (the order
/// within an instant `replay` uses), then arrival.
struct Waiting {
    time: Timestamp,
    table: usize,
    seq: u64,
    file: Arc<str>,
    cells: Vec<OwnedCell>,
}

impl PartialEq for Waiting {
    fn eq(&self, other: &Waiting) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Waiting {}

impl PartialOrd for Waiting {
    fn partial_cmp(&self, other: &Waiting) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Waiting {
    fn cmp(&self, other: &Waiting) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl Waiting {
    fn key(&self) -> (Timestamp, usize, u64) {
        (self.time, self.table, self.seq)
    }
}

/// What a checkpoint holds besides the snapshots (`rule-N-GEN.state`).
#[derive(Default, Serialize, Deserialize)]
struct Checkpoint {
    generation: u64,
    from: Option<Timestamp>,
    latest: Option<Timestamp>,
    watermark: Option<Timestamp>,
    next_ticks: Vec<Option<Timestamp>>,
    evaluations: Vec<(u64, u64)>,
    last_evaluated: Vec<Option<Timestamp>>,
    quarantines: Vec<Option<Quarantine>>,
    /// Files whose every row was played.
    done: BTreeSet<String>,
    /// Files with rows still waiting for the watermark.
    open: BTreeSet<String>,
    alert_bytes: u64,
    rows_in: u64,
    late_rows: u64,
    rejected_rows: u64,
}

/// A tenant's rules, spool, clock and checkpoint.
pub struct Tenant {
    pub name: String,
    spool: PathBuf,
    dir: PathBuf,
    alerts_path: PathBuf,
    lateness: i64,
    /// Rules before the first rows are played (`from` not yet known).
    idle_rules: Option<Vec<RuleInstance>>,
    replay: Option<Replay>,
    /// Components the tenant's config names that could not be loaded.
    pub refused: Vec<(PathBuf, String)>,
    components: Vec<PathBuf>,
    columns: Vec<Vec<(String, ColumnKind)>>,
    readers: Vec<Reader>,
    sink: AlertSink,
    waiting: BinaryHeap<Reverse<Waiting>>,
    /// Rows waiting, per file.
    open: BTreeMap<Arc<str>, u64>,
    seq: u64,
    state: Checkpoint,
    budgets: Budgets,
}

/// The table a spool file feeds, by its name.
fn table_of(name: &str) -> Table {
    if name.contains("indicators") {
        Table::Indicators
    } else if name.contains("summaries") {
        Table::Summaries
    } else {
        Table::Sessions
    }
}

impl Tenant {
    /// Loads the tenant's rules (`loaded` caches components across tenants)
    /// and resumes from its checkpoint when there is one.
    pub fn start(
        config: &TenantConfig,
        state_dir: &Path,
        host: &RuleHost,
        loaded: &mut BTreeMap<PathBuf, Result<LoadedRule, String>>,
    ) -> Result<Tenant> {
        let tenant = &config.name;
        let dir = state_dir.join(tenant);
        fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
        let budgets = config.budgets.budgets();
        let mut rules = Vec::new();
        let mut refused = Vec::new();
        let mut components = Vec::new();
        for rule in &config.rules {
            let component = loaded.entry(rule.component.clone()).or_insert_with(|| {
                host.load(&rule.component)
                    .map_err(|error| format!("{error:#}"))
            });
            let parameters: Vec<(String, String)> = rule
                .parameters
                .iter()
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect();
            let instance = match component {
                Ok(component) => component
                    .instantiate_with(host, &parameters, &budgets)
                    .map_err(|error| format!("{error:#}")),
                Err(error) => Err(error.clone()),
            };
            match instance {
                Ok(instance) => {
                    rules.push(instance);
                    components.push(rule.component.clone());
                }
                Err(reason) => {
                    eprintln!("asim-rules serve: tenant {tenant}: rule refused: {reason}");
                    refused.push((rule.component.clone(), reason));
                }
            }
        }
        let columns: Vec<Vec<(String, ColumnKind)>> = Table::ALL
            .iter()
            .map(|&table| {
                Feed::new(table, &rules, |_, rule| table.window(rule, 0), 1)
                    .columns()
                    .to_vec()
            })
            .collect();
        let readers: Vec<Reader> = Table::ALL
            .iter()
            .map(|table| match table {
                Table::Indicators => indicators::reader(ListOptions::default()),
                Table::Summaries => Arc::new(inputs::read_summaries) as Reader,
                Table::Sessions => crate::cli::session_reader(None),
            })
            .collect();

        let checkpoint_path = dir.join("checkpoint.json");
        let state: Checkpoint = match fs::read(&checkpoint_path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{}: unreadable checkpoint", checkpoint_path.display()))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Checkpoint {
                from: config
                    .from
                    .as_deref()
                    .map(inputs::time::parse)
                    .transpose()
                    .map_err(|why| anyhow::anyhow!("tenant {tenant}: from: {why}"))?,
                ..Checkpoint::default()
            },
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("{}: cannot read", checkpoint_path.display()))
            }
        };
        let sink = AlertSink::append(&config.alerts, state.alert_bytes)?;
        let lateness = crate::cli::parse_duration(&config.lateness)
            .map_err(|why| anyhow::anyhow!("tenant {tenant}: lateness: {why}"))?;
        let mut tenant = Tenant {
            name: tenant.clone(),
            spool: config.spool.clone(),
            dir,
            alerts_path: config.alerts.clone(),
            lateness,
            idle_rules: None,
            replay: None,
            refused,
            components,
            columns,
            readers,
            sink,
            waiting: BinaryHeap::new(),
            open: BTreeMap::new(),
            seq: 0,
            state,
            budgets,
        };
        if tenant.state.generation == 0 {
            tenant.idle_rules = Some(rules);
        } else {
            tenant.resume(rules)?;
        }
        Ok(tenant)
    }

    /// Puts the rules back as the checkpoint left them, and re-reads the
    /// files whose rows were still waiting.
    fn resume(&mut self, mut rules: Vec<RuleInstance>) -> Result<()> {
        for (index, rule) in rules.iter_mut().enumerate() {
            if let Some(quarantine) = self.state.quarantines.get(index).cloned().flatten() {
                rule.keep_quarantined(quarantine);
                continue;
            }
            let path = self.state_file(index, self.state.generation);
            let state =
                fs::read(&path).with_context(|| format!("{}: cannot read", path.display()))?;
            if let Err(quarantine) = rule.restore(&state) {
                eprintln!("asim-rules serve: tenant {}: {quarantine}", self.name);
            }
        }
        let mut replay = Replay::resume(
            rules,
            self.state.next_ticks.clone(),
            Timestamp::MAX,
            &self.name,
            BATCH_ROWS,
        );
        replay.evaluations.clone_from(&self.state.evaluations);
        replay.last_evaluated.clone_from(&self.state.last_evaluated);
        self.replay = Some(replay);
        let reopen: Vec<String> = self.state.open.iter().cloned().collect();
        for name in reopen {
            self.read_file(&name)?;
        }
        Ok(())
    }

    fn state_file(&self, rule: usize, generation: u64) -> PathBuf {
        self.dir.join(format!("rule-{rule}-{generation}.state"))
    }

    /// Plays the spool's new files in name order, checkpointing after each;
    /// whether there was any.
    pub fn poll(&mut self) -> Result<bool> {
        let mut names: Vec<String> = match fs::read_dir(&self.spool) {
            Ok(entries) => entries
                .filter_map(|entry| entry.ok())
                .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
                .filter_map(|entry| entry.file_name().into_string().ok())
                // Writers write `.name` or `name.tmp` and rename when done.
                .filter(|name| !name.starts_with('.') && !name.ends_with(".tmp"))
                .filter(|name| !self.state.done.contains(name) && !self.state.open.contains(name))
                .collect(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(error) => {
                return Err(error).with_context(|| format!("{}: cannot list", self.spool.display()))
            }
        };
        names.sort();
        for name in &names {
            self.read_file(name)?;
            self.release()?;
            self.checkpoint()?;
        }
        Ok(!names.is_empty())
    }

    /// Reads a spool file's rows into the reorder buffer; rows at or before
    /// the watermark of a re-read file were played before the restart.
    fn read_file(&mut self, name: &str) -> Result<()> {
        let table = table_of(name);
        let path = self.spool.join(name);
        let input = InputFile::by_content(path.to_str().unwrap_or(name)).without_progress();
        let file: Arc<str> = name.into();
        let reread = self.state.open.contains(name);
        let watermark = self.state.watermark;
        let mut rejects = Rejects::default();
        let mut rows = Vec::new();
        let reader = Arc::clone(&self.readers[table.index()]);
        let read = reader(
            &input,
            &self.columns[table.index()],
            &mut rejects,
            &mut |time, cells| {
                if !(reread && watermark.is_some_and(|watermark| time <= watermark)) {
                    rows.push((time, cells.iter().map(OwnedCell::new).collect::<Vec<_>>()));
                }
                Ok(())
            },
        );
        if let Err(error) = read {
            // One bad file does not stop the tenant: it is reported and left.
            eprintln!("asim-rules serve: tenant {}: {name}: {error:#}", self.name);
        }
        if !reread {
            self.state.rows_in += rows.len() as u64;
            self.state.rejected_rows += rejects.count;
        }
        for (time, cells) in rows {
            if !reread && watermark.is_some_and(|watermark| time <= watermark) {
                self.state.late_rows += 1;
            }
            self.state.latest = Some(self.state.latest.map_or(time, |latest| latest.max(time)));
            *self.open.entry(Arc::clone(&file)).or_default() += 1;
            self.seq += 1;
            self.waiting.push(Reverse(Waiting {
                time,
                table: table.index(),
                seq: self.seq,
                file: Arc::clone(&file),
                cells,
            }));
        }
        if self.open.contains_key(&file) {
            self.state.open.insert(name.to_owned());
        } else {
            // Every row of it was played already (or it has none).
            self.state.open.remove(name);
            self.state.done.insert(name.to_owned());
        }
        Ok(())
    }

    /// Plays the rows at or before the watermark and evaluates every tick
    /// up to it.
    fn release(&mut self) -> Result<()> {
        let Some(latest) = self.state.latest else {
            return Ok(());
        };
        let watermark = latest.saturating_sub(self.lateness);
        let watermark = self
            .state
            .watermark
            .map_or(watermark, |old| old.max(watermark));
        if self.replay.is_none() {
            let Some(Reverse(first)) = self.waiting.peek() else {
                return Ok(());
            };
            let from = *self.state.from.get_or_insert(first.time);
            let rules = self.idle_rules.take().unwrap_or_default();
            self.replay = Some(Replay::new(
                rules,
                from,
                Timestamp::MAX,
                &self.name,
                BATCH_ROWS,
            ));
        }
        let Some(replay) = self.replay.as_mut() else {
            return Ok(());
        };
        while self
            .waiting
            .peek()
            .is_some_and(|Reverse(row)| row.time <= watermark)
        {
            let Some(Reverse(row)) = self.waiting.pop() else {
                break;
            };
            let cells: Vec<_> = row.cells.iter().map(OwnedCell::cell).collect();
            replay.row(Table::ALL[row.table], row.time, &cells, &mut self.sink)?;
            if let Some(count) = self.open.get_mut(&row.file) {
                *count -= 1;
                if *count == 0 {
                    self.open.remove(&row.file);
                    self.state.open.remove(&*row.file);
                    self.state.done.insert(row.file.to_string());
                }
            }
        }
        replay.advance_to(watermark, &mut self.sink)?;
        self.sink.flush()?;
        self.state.watermark = Some(watermark);
        Ok(())
    }

    /// Writes the checkpoint: snapshots first, then the record naming them,
    /// atomically; older snapshots go after.
    fn checkpoint(&mut self) -> Result<()> {
        let generation = self.state.generation + 1;
        if let Some(replay) = self.replay.as_mut() {
            replay.flush();
            let mut quarantines = Vec::new();
            for index in 0..replay.rules().len() {
                let rule = &mut replay.rules_mut()[index];
                let snapshot = match rule.quarantine() {
                    Some(_) => None,
                    None => rule
                        .snapshot()
                        .inspect_err(|quarantine| {
                            eprintln!("asim-rules: tenant {}: {quarantine}", self.name);
                        })
                        .ok(),
                };
                if let Some(state) = snapshot {
                    let path = self.dir.join(format!("rule-{index}-{generation}.state"));
                    fs::write(&path, state)
                        .with_context(|| format!("{}: cannot write", path.display()))?;
                }
                quarantines.push(replay.rules()[index].quarantine().cloned());
            }
            self.state.quarantines = quarantines;
            self.state.next_ticks = replay.next_ticks().to_vec();
            self.state.evaluations.clone_from(&replay.evaluations);
            self.state.last_evaluated.clone_from(&replay.last_evaluated);
        }
        self.sink.flush()?;
        self.state.alert_bytes = fs::metadata(&self.alerts_path)
            .with_context(|| format!("{}: cannot read", self.alerts_path.display()))?
            .len();
        self.state.generation = generation;
        let path = self.dir.join("checkpoint.json");
        let temporary = self.dir.join("checkpoint.json.tmp");
        fs::write(&temporary, serde_json::to_vec_pretty(&self.state)?)
            .with_context(|| format!("{}: cannot write", temporary.display()))?;
        fs::rename(&temporary, &path)
            .with_context(|| format!("{}: cannot write", path.display()))?;
        for index in 0..self.components.len() {
            let _ = fs::remove_file(self.state_file(index, generation - 1));
        }
        Ok(())
    }

    /// The tenant's line in the status file.
    pub fn status(&self) -> serde_json::Value {
        let rules: Vec<serde_json::Value> = match (&self.replay, &self.idle_rules) {
            (Some(replay), _) => replay
                .rules()
                .iter()
                .enumerate()
                .map(|(index, rule)| {
                    let (evaluations, alerts) = replay.evaluations[index];
                    rule_status(
                        rule,
                        &self.components[index],
                        evaluations,
                        alerts,
                        replay.last_evaluated[index],
                    )
                })
                .collect(),
            (None, Some(rules)) => rules
                .iter()
                .enumerate()
                .map(|(index, rule)| rule_status(rule, &self.components[index], 0, 0, None))
                .collect(),
            (None, None) => Vec::new(),
        };
        let refused: Vec<serde_json::Value> = self
            .refused
            .iter()
            .map(|(component, reason)| {
                serde_json::json!({"component": component.display().to_string(), "reason": reason})
            })
            .collect();
        serde_json::json!({
            "tenant": self.name,
            "watermark": self.state.watermark.map(inputs::time::format),
            "rows_in": self.state.rows_in,
            "late_rows": self.state.late_rows,
            "rejected_rows": self.state.rejected_rows,
            "files_played": self.state.done.len(),
            "rows_waiting": self.waiting.len(),
            "rules": rules,
            "refused": refused,
            "memory_budget_mib": self.budgets.memory_bytes >> 20,
            "call_budget_ms": self.budgets.time_per_call.as_millis(),
        })
    }
}

fn rule_status(
    rule: &RuleInstance,
    component: &Path,
    evaluations: u64,
    alerts: u64,
    last: Option<Timestamp>,
) -> serde_json::Value {
    let metadata = rule.metadata();
    serde_json::json!({
        "rule": metadata.short_name,
        "version": metadata.version,
        "component": component.display().to_string(),
        "state": if rule.quarantine().is_some() { "quarantined" } else { "running" },
        "reason": rule.quarantine().map(ToString::to_string),
        "evaluations": evaluations,
        "alerts": alerts,
        "last_evaluation": last.map(inputs::time::format),
        "memory_mib": rule.memory_bytes() >> 20,
        "busy_ms": rule.busy().as_millis(),
    })
}
