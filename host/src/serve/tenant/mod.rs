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
//!
//! Swaps happen between files, right after a checkpoint: the new build is
//! validated, given the old one's state (or a state rebuilt from the spool
//! files its lookback covers), written into a new checkpoint, and the tenant
//! is reloaded from it. The checkpoint before the swap is kept as the
//! rollback point until the new build has passed its probation.

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BinaryHeap},
    fs,
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::{Context, Result};
use asim_rule_core::{schema::ColumnKind, RuleMetadata, Timestamp};

use super::{
    checkpoint::{self, Checkpoint},
    components::Components,
    config::TenantConfig,
    deploy::{self, Deployment, RuleRecord, Swap, SwapAnswer},
};
use crate::{
    engine::{Budgets, LoadedRule, RuleHost, RuleInstance},
    feed::{Feed, Table, Window},
    inputs::{
        self,
        indicators::{self, list::ListOptions},
        stream::{OwnedCell, Reader},
        InputFile, Rejects,
    },
    outputs::AlertSink,
    schedule::{first_tick_after, Replay},
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

/// A tenant's rules, spool, clock and checkpoint.
pub struct Tenant {
    pub name: String,
    config: TenantConfig,
    state_dir: PathBuf,
    spool: PathBuf,
    dir: PathBuf,
    alerts_path: PathBuf,
    lateness: i64,
    max_ahead: i64,
    /// Rules before the first rows are played (`from` not yet known).
    idle_rules: Option<Vec<RuleInstance>>,
    replay: Option<Replay>,
    /// Components the tenant's config names that could not be loaded.
    pub refused: Vec<(PathBuf, String)>,
    /// Each rule's builds, in the order of the rules.
    records: Vec<RuleRecord>,
    /// Whether the configuration may name other builds than those running.
    check_config: bool,
    /// Whether a swap waits for its build to compile.
    swap_compiling: bool,
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
    /// Loads the tenant's rules (`components` are shared by every tenant)
    /// and resumes from its checkpoint when there is one. Each rule runs the
    /// build its record names (the configured one the first time).
    pub fn start(
        config: &TenantConfig,
        state_dir: &Path,
        host: &RuleHost,
        components: &mut Components,
    ) -> Result<Tenant> {
        let tenant = &config.name;
        let dir = state_dir.join(tenant);
        fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
        let budgets = config
            .budgets
            .budgets()
            .map_err(|why| anyhow::anyhow!("tenant {tenant}: budgets: {why}"))?;
        let from = config
            .from
            .as_deref()
            .map(inputs::time::parse)
            .transpose()
            .map_err(|why| anyhow::anyhow!("tenant {tenant}: from: {why}"))?;
        let mut state =
            Checkpoint::read(&checkpoint::path(&dir), config.rules.len())?.unwrap_or_default();
        if state.watermark.is_none() {
            // Nothing played yet: evaluations follow the configuration.
            state.from = from;
        }
        let store = dir.join("components");
        let mut rules = Vec::new();
        let mut records = Vec::new();
        let mut refused = Vec::new();
        // A rule whose record comes from the checkpoint may be configured
        // otherwise now; one taken from the configuration just now is not.
        let mut restored = false;
        for (entry, rule) in config.rules.iter().enumerate() {
            let record = match state.records.iter().find(|record| record.entry == entry) {
                Some(record) => {
                    restored = true;
                    Ok(record.clone())
                }
                None if state.watermark.is_some() => Err(
                    "it was not running when the tenant's checkpoint was written, and a rule cannot join mid-stream: \
                     start the tenant afresh (move its state folder away) to run it"
                        .to_owned(),
                ),
                None => deploy::configured(&store, rule)
                    .map(|configured| RuleRecord {
                        entry,
                        current: Deployment::configured(rule, &configured),
                        configured,
                        previous: None,
                        probation_until: None,
                        last_swap: None,
                    })
                    .map_err(|error| format!("{error:#}")),
            };
            let instance = record.and_then(|record| {
                instantiate(host, components, &store, &record.current, &budgets)
                    .map(|instance| (record, instance))
            });
            match instance {
                Ok((mut record, instance)) => {
                    record
                        .current
                        .version
                        .clone_from(&instance.metadata().version);
                    rules.push(instance);
                    records.push(record);
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

        let sink = AlertSink::append(&config.alerts, state.alert_bytes)?;
        let lateness = crate::cli::parse_duration(&config.lateness)
            .map_err(|why| anyhow::anyhow!("tenant {tenant}: lateness: {why}"))?;
        let max_ahead = crate::cli::parse_duration(&config.max_ahead)
            .map_err(|why| anyhow::anyhow!("tenant {tenant}: max_ahead: {why}"))?;
        let mut tenant = Tenant {
            name: tenant.clone(),
            config: config.clone(),
            state_dir: state_dir.to_owned(),
            spool: config.spool.clone(),
            dir,
            alerts_path: config.alerts.clone(),
            lateness,
            max_ahead,
            idle_rules: None,
            replay: None,
            refused,
            records,
            check_config: restored,
            swap_compiling: false,
            columns,
            readers,
            sink,
            waiting: BinaryHeap::new(),
            open: BTreeMap::new(),
            seq: 0,
            state,
            budgets,
        };
        if tenant.state.watermark.is_none() {
            // Nothing played yet: there is no state to restore.
            tenant.idle_rules = Some(rules);
        } else {
            tenant.resume(rules)?;
        }
        Ok(tenant)
    }

    /// Puts the rules back as the checkpoint left them, and re-reads the
    /// files whose rows were still waiting.
    fn resume(&mut self, mut rules: Vec<RuleInstance>) -> Result<()> {
        // Each rule's place among those the checkpoint was written for: a
        // rule refused now (its component gone) is left out.
        let path = checkpoint::path(&self.dir);
        let kept = &self.state.records;
        let places = self
            .records
            .iter()
            .map(|record| kept.iter().position(|kept| kept.entry == record.entry))
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(|| checkpoint::damaged(&path, "a rule running has no state in it"))?;
        let state = &mut self.state;
        pick(&mut state.next_ticks, &places);
        pick(&mut state.evaluations, &places);
        pick(&mut state.last_evaluated, &places);
        pick(&mut state.quarantines, &places);
        for (index, rule) in rules.iter_mut().enumerate() {
            if let Some(quarantine) = self.state.quarantines[index].clone() {
                rule.keep_quarantined(quarantine);
                continue;
            }
            let path = self.state_file(places[index], self.state.generation);
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
            self.read_file(&name)
                .with_context(|| format!("{}: a file with rows waiting", path.display()))?;
        }
        Ok(())
    }

    /// Whether a swap waits for its build to compile beside the tenants.
    pub fn swap_compiling(&self) -> bool {
        self.swap_compiling
    }

    /// The rule at `index`, running or waiting for the first rows.
    fn rule(&self, index: usize) -> &RuleInstance {
        match (&self.replay, &self.idle_rules) {
            (Some(replay), _) => &replay.rules()[index],
            (None, Some(rules)) => &rules[index],
            (None, None) => unreachable!("a tenant has its rules idle or running"),
        }
    }

    /// The rule at `index`, to call or replace it.
    fn rule_mut(&mut self, index: usize) -> &mut RuleInstance {
        match (&mut self.replay, &mut self.idle_rules) {
            (Some(replay), _) => &mut replay.rules_mut()[index],
            (None, Some(rules)) => &mut rules[index],
            (None, None) => unreachable!("a tenant has its rules idle or running"),
        }
    }

    fn state_file(&self, rule: usize, generation: u64) -> PathBuf {
        self.dir.join(format!("rule-{rule}-{generation}.state"))
    }

    /// Plays the spool's new files in name order, checkpointing after each,
    /// with swaps between files; whether there was anything to do.
    pub fn poll(&mut self, host: &RuleHost, components: &mut Components) -> Result<bool> {
        if self.swap_next(host, components)? {
            return Ok(true);
        }
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
            if let Some((rule, reason)) = self.failed_probation() {
                self.roll_back(rule, &reason, host, components)?;
                return Ok(true);
            }
            self.end_probations();
            self.checkpoint()?;
            if self.swap_next(host, components)? {
                return Ok(true);
            }
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
        let horizon = self.horizon();
        let mut rejects = Rejects::default();
        let (mut rows, mut too_far_ahead) = (Vec::new(), 0u64);
        let reader = Arc::clone(&self.readers[table.index()]);
        let read = reader(
            &input,
            &self.columns[table.index()],
            &mut rejects,
            &mut |time, cells| {
                if time > horizon {
                    too_far_ahead += 1;
                } else if !(reread && watermark.is_some_and(|watermark| time <= watermark)) {
                    rows.push((time, cells.iter().map(OwnedCell::new).collect::<Vec<_>>()));
                }
                Ok(())
            },
        );
        if let Err(error) = read {
            // One bad file does not stop the tenant: it is reported and left.
            let message = format!("tenant {}: {name}: {error:#}", self.name);
            eprintln!(
                "asim-rules serve: {}",
                crate::printable::printable(&message)
            );
        }
        if too_far_ahead > 0 {
            let message = format!(
                "tenant {}: {name}: {too_far_ahead} rows dated after {} (the later of this host's clock and the latest row, plus max_ahead {}) refused",
                self.name,
                inputs::time::format(horizon),
                self.config.max_ahead
            );
            eprintln!(
                "asim-rules serve: {}",
                crate::printable::printable(&message)
            );
        }
        if !reread {
            self.state.rows_in = self.state.rows_in.saturating_add(rows.len() as u64);
            self.state.rejected_rows = self.state.rejected_rows.saturating_add(rejects.count);
            self.state.rows_too_far_ahead =
                self.state.rows_too_far_ahead.saturating_add(too_far_ahead);
        }
        for (time, cells) in rows {
            if !reread && watermark.is_some_and(|watermark| time <= watermark) {
                self.state.late_rows = self.state.late_rows.saturating_add(1);
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

    /// The latest time a row may have: `max_ahead` beyond the later of the
    /// host's clock and the latest row read.
    fn horizon(&self) -> Timestamp {
        let latest = self.state.latest.unwrap_or(Timestamp::MIN);
        inputs::time::now()
            .max(latest)
            .saturating_add(self.max_ahead)
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
        let generation = self.state.next_generation(&checkpoint::path(&self.dir))?;
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
        self.state.records.clone_from(&self.records);
        self.sink.flush()?;
        self.state.alert_bytes = fs::metadata(&self.alerts_path)
            .with_context(|| format!("{}: cannot read", self.alerts_path.display()))?
            .len();
        self.state.generation = generation;
        self.state.lateness = Some(self.lateness);
        self.state.write(&checkpoint::path(&self.dir))?;
        for index in 0..self.records.len() {
            let _ = fs::remove_file(self.state_file(index, generation - 1));
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

    /// Takes the configuration anew (it or a component file changed): a
    /// rule entry that names another build is swapped at the next boundary.
    pub fn reconfigure(&mut self, config: &TenantConfig) {
        self.config = config.clone();
        self.check_config = true;
    }

    /// The swaps asked for: configuration entries that name another build
    /// (when it may have changed), then `asim-rules swap` requests, oldest first.
    fn wanted_swaps(&mut self) -> Result<Vec<Swap>> {
        let store = self.dir.join("components");
        let mut swaps = Vec::new();
        if std::mem::take(&mut self.check_config) {
            for (index, record) in self.records.iter().enumerate() {
                let Some(rule) = self.config.rules.get(record.entry) else {
                    continue;
                };
                match deploy::configured(&store, rule) {
                    Ok(configured) if configured != record.configured => swaps.push(Swap {
                        rule: index,
                        target: Deployment::configured(rule, &configured),
                        request: None,
                        configured: Some(configured),
                    }),
                    Ok(_) => {}
                    Err(error) => eprintln!(
                        "asim-rules serve: tenant {}: {error:#}; the running build stays",
                        self.name
                    ),
                }
            }
        }
        for (path, request) in deploy::requests(&self.dir)? {
            let swap = request.and_then(|request| {
                let index = (0..self.records.len())
                    .find(|&index| {
                        let metadata = self.rule(index).metadata();
                        metadata.id == request.rule || metadata.short_name == request.rule
                    })
                    .with_context(|| {
                        format!("tenant {} has no rule {}", self.name, request.rule)
                    })?;
                let current = &self.records[index].current;
                let (source, digest) = match &request.component {
                    Some(component) => (component.clone(), deploy::keep(&store, component)?),
                    None => (current.source.clone(), current.digest.clone()),
                };
                Ok(Swap {
                    rule: index,
                    target: Deployment {
                        source,
                        digest,
                        parameters: request
                            .parameters
                            .clone()
                            .unwrap_or_else(|| current.parameters.clone()),
                        version: String::new(),
                        since: None,
                    },
                    request: Some(path.clone()),
                    configured: None,
                })
            });
            match swap {
                Ok(swap) => swaps.push(swap),
                Err(error) => deploy::answer(
                    &path,
                    &SwapAnswer {
                        applied: false,
                        outcome: format!("refused: {error:#}"),
                    },
                )?,
            }
        }
        Ok(swaps)
    }

    /// Makes the first swap asked for that changes something, answering
    /// those before it; whether the tenant was reloaded with a new build.
    fn swap_next(&mut self, host: &RuleHost, components: &mut Components) -> Result<bool> {
        self.swap_compiling = false;
        let store = self.dir.join("components");
        for swap in self.wanted_swaps()? {
            let current = &self.records[swap.rule].current;
            let build = deploy::kept(&store, &swap.target.digest);
            if !current.same_build(&swap.target) && !components.is_ready(host, &build) {
                // The tenant plays on while its build compiles; asked again
                // next time (a request stays until it is answered).
                self.swap_compiling = true;
                self.check_config |= swap.configured.is_some();
                continue;
            }
            let started = std::time::Instant::now();
            let rule = self.rule(swap.rule).metadata().short_name.clone();
            // Whether the rule now runs what was asked, and whether it changed.
            let (runs, applied, mut outcome) = if self.records[swap.rule]
                .current
                .same_build(&swap.target)
            {
                (true, false, format!("rule {rule}: that build already runs"))
            } else {
                match self.prepare(swap.rule, &swap.target, host, components) {
                    Ok((instance, how)) => {
                        let same_feed =
                            same_feed(self.rule(swap.rule).metadata(), instance.metadata());
                        let outcome = self.commit(&swap, instance, &how)?;
                        if !same_feed {
                            // Other columns or windows: the feeds and the
                            // rows waiting are rebuilt from the checkpoint.
                            self.reload(host, components)?;
                        }
                        (true, true, outcome)
                    }
                    Err(reason) => (false, false, format!("rule {rule}: swap refused: {reason}")),
                }
            };
            if applied {
                // How long the tenant's processing stood still for it.
                let paused = started.elapsed().as_secs_f64() * 1e3;
                outcome += &format!("; paused {paused:.1} ms");
            }
            eprintln!("asim-rules serve: tenant {}: {outcome}", self.name);
            if !applied {
                let record = &mut self.records[swap.rule];
                if let Some(configured) = &swap.configured {
                    // Not retried until the configuration changes again.
                    record.configured.clone_from(configured);
                    record.last_swap = Some(outcome.clone());
                    self.checkpoint()?;
                }
            }
            if let Some(request) = &swap.request {
                deploy::answer(
                    request,
                    &SwapAnswer {
                        applied: runs,
                        outcome,
                    },
                )?;
            }
            if applied {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A new build for rule `index`, validated and holding the state the
    /// running build has (carried by snapshot/restore, or rebuilt from the
    /// spool), and how the state was obtained; or why it cannot run.
    fn prepare(
        &mut self,
        index: usize,
        target: &Deployment,
        host: &RuleHost,
        components: &mut Components,
    ) -> Result<(RuleInstance, String), String> {
        let store = self.dir.join("components");
        let budgets = self.budgets.clone();
        let running_id = self.rule(index).metadata().id.clone();
        // Compiled beside the tenants before the swap was taken.
        let compiled = components
            .took(&deploy::kept(&store, &target.digest))
            .map_or(String::new(), |took| {
                let took = took.as_secs_f64() * 1e3;
                format!(" (compiled in {took:.1} ms before the pause)")
            });
        let component = component(host, components, &store, target)?;
        if component.metadata.id != running_id {
            return Err(format!(
                "{} is rule {}, not {running_id}",
                target.source.display(),
                component.metadata.id
            ));
        }
        let parameters: Vec<(String, String)> = target
            .parameters
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        let new = || {
            component
                .instantiate_with(host, &parameters, &budgets)
                .map_err(|error| format!("{error:#}"))
        };
        // A smoke evaluation on an empty instance: a build that cannot
        // evaluate at all never gets the state.
        let mut smoke = new()?;
        let smoke_at = first_tick_after(
            self.state.watermark.or(self.state.from).unwrap_or(0),
            smoke.metadata().frequency,
        );
        smoke
            .evaluate(smoke_at)
            .map_err(|quarantine| format!("smoke evaluation: {quarantine}"))?;
        drop(smoke);
        let mut instance = new()?;
        let Some(replay) = self.replay.as_mut() else {
            return Ok((instance, format!("no state yet{compiled}")));
        };
        replay.flush();
        let running = &mut replay.rules_mut()[index];
        let looks_further = Table::ALL.iter().any(|table| {
            table.lookback(instance.metadata()).unwrap_or(0)
                > table.lookback(running.metadata()).unwrap_or(0)
        });
        let carried = if running.quarantine().is_some() {
            Err("the running build is quarantined".to_owned())
        } else if looks_further {
            Err("the new build looks further back than the running one kept".to_owned())
        } else {
            running
                .snapshot()
                .and_then(|state| instance.restore(&state))
                .map_err(|quarantine| quarantine.to_string())
        };
        match carried {
            Ok(()) => Ok((instance, format!("state carried over{compiled}"))),
            Err(reason) => {
                drop(instance);
                let mut fresh = new()?;
                let rows = self.rebuild(index, &mut fresh).map_err(|error| {
                    format!("its state cannot be carried over ({reason}) nor rebuilt: {error:#}")
                })?;
                Ok((
                    fresh,
                    format!("state rebuilt from {rows} retained rows ({reason}){compiled}"),
                ))
            }
        }
    }

    /// The next tick of rule `index` run at `frequency`: the running one's
    /// at the same frequency, else the first after the watermark (every
    /// tick up to it was evaluated) and after `from`; none before any rows.
    fn next_tick(&self, index: usize, frequency: i64) -> Option<Timestamp> {
        let replay = self.replay.as_ref()?;
        let running = &replay.rules()[index];
        match replay.next_ticks()[index] {
            Some(next) if running.metadata().frequency == frequency => Some(next),
            _ => {
                let after = self.state.watermark.max(self.state.from)?;
                Some(first_tick_after(after, frequency))
            }
        }
    }

    /// Feeds `rule` (to replace rule `index`) the rows of the retained spool
    /// files its next evaluation reads, up to the watermark (later rows come
    /// as usual); the rows fed.
    fn rebuild(&self, index: usize, rule: &mut RuleInstance) -> Result<u64> {
        let watermark = self.state.watermark.context("no rows were played")?;
        let next = self
            .next_tick(index, rule.metadata().frequency)
            .context("no rows were played")?;
        let mut fed = 0;
        for table in Table::ALL {
            let Some(lookback) = table.lookback(rule.metadata()) else {
                continue;
            };
            let window = Window {
                from: next - lookback,
                to: watermark,
                to_inclusive: true,
            };
            let rules = std::slice::from_mut(rule);
            let mut feed = Feed::new(table, rules, |_, _| Some(window), BATCH_ROWS);
            let columns = feed.columns().to_vec();
            let reader = Arc::clone(&self.readers[table.index()]);
            let names = self.state.done.iter().chain(&self.state.open);
            let mut rows = 0;
            for name in names.filter(|name| table_of(name) == table) {
                let path = self.spool.join(name);
                anyhow::ensure!(path.exists(), "spool file {name} is gone");
                let input = InputFile::by_content(path.to_str().unwrap_or(name)).without_progress();
                rows += reader(
                    &input,
                    &columns,
                    &mut Rejects::default(),
                    &mut |time, cells| feed.push(rules, time, cells),
                )?;
            }
            feed.flush(rules);
            fed += rows - feed.outside_windows;
        }
        if let Some(quarantine) = rule.quarantine() {
            anyhow::bail!("{quarantine}");
        }
        Ok(fed)
    }

    /// Puts `instance` in place of rule `swap.rule` and checkpoints, after
    /// keeping the checkpoint before it as the rollback point; what was done.
    fn commit(&mut self, swap: &Swap, instance: RuleInstance, how: &str) -> Result<String> {
        let index = swap.rule;
        if self.state.generation == 0 {
            self.checkpoint()?;
        }
        // One rollback point: a build still on probation is trusted now.
        for record in &mut self.records {
            record.probation_until = None;
        }
        self.keep_rollback_point()?;
        let evaluations = self
            .replay
            .as_ref()
            .map_or(0, |replay| replay.evaluations[index].0);
        let frequency = instance.metadata().frequency;
        let version = instance.metadata().version.clone();
        let next = self.next_tick(index, frequency);
        *self.rule_mut(index) = instance;
        if let (Some(replay), Some(next)) = (self.replay.as_mut(), next) {
            replay.set_next_tick(index, Some(next));
        }
        let short_name = self.rule(index).metadata().short_name.clone();
        let record = &mut self.records[index];
        let current = Deployment {
            version,
            since: Some(deploy::now()),
            ..swap.target.clone()
        };
        let outcome = format!(
            "rule {short_name}: {} replaced by {}: {how}",
            record.current.describe(),
            current.describe()
        );
        let previous = std::mem::replace(&mut record.current, current);
        record.previous = Some(previous);
        record.probation_until = Some(evaluations + self.config.probation);
        record.last_swap = Some(outcome.clone());
        if let Some(configured) = &swap.configured {
            record.configured.clone_from(configured);
        }
        self.checkpoint()?;
        Ok(outcome)
    }

    /// Copies the checkpoint and its snapshots aside (nothing was played
    /// since it was written).
    fn keep_rollback_point(&self) -> Result<()> {
        let rollback = self.dir.join(ROLLBACK_DIR);
        let _ = fs::remove_dir_all(&rollback);
        fs::create_dir_all(&rollback)
            .with_context(|| format!("{}: cannot create", rollback.display()))?;
        for index in 0..self.records.len() {
            let state = self.state_file(index, self.state.generation);
            if state.exists() {
                let copy = rollback.join(format!("rule-{index}.state"));
                fs::copy(&state, &copy)
                    .with_context(|| format!("{}: cannot write", copy.display()))?;
            }
        }
        let copy = checkpoint::path(&rollback);
        fs::copy(checkpoint::path(&self.dir), &copy)
            .with_context(|| format!("{}: cannot write", copy.display()))?;
        Ok(())
    }

    /// A rule on probation that failed, and why.
    fn failed_probation(&self) -> Option<(usize, String)> {
        let replay = self.replay.as_ref()?;
        self.records.iter().enumerate().find_map(|(index, record)| {
            record.probation_until?;
            let quarantine = replay.rules()[index].quarantine()?;
            Some((index, quarantine.to_string()))
        })
    }

    /// Ends the probation of builds that passed their evaluations.
    fn end_probations(&mut self) {
        let Some(replay) = self.replay.as_ref() else {
            return;
        };
        for (index, record) in self.records.iter_mut().enumerate() {
            if record
                .probation_until
                .is_some_and(|until| replay.evaluations[index].0 >= until)
            {
                record.probation_until = None;
            }
        }
    }

    /// Goes back to the rollback point with the build rule `index` had
    /// before: its state, the other rules', the alert file's length; the
    /// files played since are played again by that build.
    fn roll_back(
        &mut self,
        index: usize,
        reason: &str,
        host: &RuleHost,
        components: &mut Components,
    ) -> Result<()> {
        let rollback = self.dir.join(ROLLBACK_DIR);
        let path = checkpoint::path(&rollback);
        let mut state = Checkpoint::read(&path, self.config.rules.len())?
            .with_context(|| format!("{}: cannot read", path.display()))?;
        if state.records.len() != self.records.len() {
            return Err(checkpoint::damaged(
                &path,
                "it holds other rules than those running",
            ));
        }
        let failed = &self.records[index];
        let outcome = format!(
            "rolled back from {} to {}: {reason}",
            failed.current.describe(),
            state.records[index].current.describe()
        );
        let rule = &self.rule(index).metadata().short_name;
        eprintln!(
            "asim-rules serve: tenant {}: rule {rule}: {outcome}",
            self.name
        );
        let record = &mut state.records[index];
        // The configuration that asked for the failed build is not retried.
        record.configured.clone_from(&failed.configured);
        record.last_swap = Some(outcome);
        let generation = self.state.next_generation(&checkpoint::path(&self.dir))?;
        state.generation = generation;
        for rule in 0..state.records.len() {
            let kept = rollback.join(format!("rule-{rule}.state"));
            if kept.exists() {
                let state_file = self.state_file(rule, generation);
                fs::copy(&kept, &state_file)
                    .with_context(|| format!("{}: cannot write", state_file.display()))?;
            }
        }
        state.write(&checkpoint::path(&self.dir))?;
        for rule in 0..self.records.len() {
            let _ = fs::remove_file(self.state_file(rule, generation - 1));
        }
        let _ = fs::remove_dir_all(&rollback);
        self.reload(host, components)
    }

    /// Starts the tenant again from its checkpoint.
    fn reload(&mut self, host: &RuleHost, components: &mut Components) -> Result<()> {
        let config = self.config.clone();
        *self = Tenant::start(&config, &self.state_dir.clone(), host, components)?;
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
                        &self.records[index],
                        evaluations,
                        alerts,
                        replay.last_evaluated[index],
                    )
                })
                .collect(),
            (None, Some(rules)) => rules
                .iter()
                .enumerate()
                .map(|(index, rule)| rule_status(rule, &self.records[index], 0, 0, None))
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
            "rows_too_far_ahead": self.state.rows_too_far_ahead,
            "files_played": self.state.done.len(),
            "files_waiting": self.state.open.len(),
            "rows_waiting": self.waiting.len(),
            "rules": rules,
            "refused": refused,
            "memory_budget_mib": self.budgets.memory_bytes >> 20,
            "call_budget_ms": self.budgets.time_per_call.as_millis(),
        })
    }
}

/// Where the checkpoint before a swap waits while the new build is on probation.
const ROLLBACK_DIR: &str = "rollback";

/// Keeps the elements of `list` at `places`, in that order.
fn pick<T: Clone>(list: &mut Vec<T>, places: &[usize]) {
    *list = places.iter().map(|&place| list[place].clone()).collect();
}

/// Whether a build declaring `new` reads the same rows as one declaring
/// `old`: then it takes the old one's place in the running feeds.
fn same_feed(old: &RuleMetadata, new: &RuleMetadata) -> bool {
    old.session_columns == new.session_columns
        && old.indicator_columns == new.indicator_columns
        && old.summary_columns == new.summary_columns
        && old.session_lookback == new.session_lookback
        && old.indicator_lookback == new.indicator_lookback
        && old.frequency == new.frequency
}

/// The kept component `deployment` names, loaded once for every tenant.
fn component<'a>(
    host: &RuleHost,
    components: &'a mut Components,
    store: &Path,
    deployment: &Deployment,
) -> Result<&'a LoadedRule, String> {
    components
        .load(host, &deploy::kept(store, &deployment.digest))
        .as_ref()
        .map_err(|error| format!("{}: {error}", deployment.source.display()))
}

/// A deployment of the kept component `deployment` names, under `budgets`.
fn instantiate(
    host: &RuleHost,
    components: &mut Components,
    store: &Path,
    deployment: &Deployment,
    budgets: &Budgets,
) -> Result<RuleInstance, String> {
    let component = component(host, components, store, deployment)?;
    let parameters: Vec<(String, String)> = deployment
        .parameters
        .iter()
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    component
        .instantiate_with(host, &parameters, budgets)
        .map_err(|error| format!("{error:#}"))
}

fn rule_status(
    rule: &RuleInstance,
    record: &RuleRecord,
    evaluations: u64,
    alerts: u64,
    last: Option<Timestamp>,
) -> serde_json::Value {
    let metadata = rule.metadata();
    serde_json::json!({
        "rule": metadata.short_name,
        "version": metadata.version,
        "component": record.current.source.display().to_string(),
        "digest": record.current.digest,
        "parameters": record.current.parameters,
        "swapped_at": record.current.since,
        "previous_version": record.previous.as_ref().map(|previous| &previous.version),
        "previous_component": record.previous.as_ref().map(|previous| previous.source.display().to_string()),
        "on_probation": record.probation_until.is_some(),
        "last_swap": record.last_swap,
        "state": if rule.quarantine().is_some() { "quarantined" } else { "running" },
        "reason": rule.quarantine().map(ToString::to_string),
        "evaluations": evaluations,
        "alerts": alerts,
        "last_evaluation": last.map(inputs::time::format),
        "memory_mib": rule.memory_bytes() >> 20,
        "busy_ms": rule.busy().as_millis(),
    })
}
