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

mod checkpoint;
mod source;
mod spool;
mod swap;

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use asim_rule_core::{schema::ColumnKind, Timestamp};

use super::{
    components::Components,
    config::TenantConfig,
    deploy::{Builds, Deployment, RuleRecord},
    status::{Printed, Refused, RuleState, RuleStatus, TenantStatus},
    Io,
};
use crate::{
    engine::{Budgets, LoadedRule, RuleHost, RuleInstance},
    feed::{Feed, Table},
    histogram::Histogram,
    inputs::stream::Reader,
    limits::{BATCH_ROWS, STATUS_LOG_LINES},
    outputs::AlertSink,
    pipeline::Readers,
    schedule::{Replay, Schedule},
    time,
};
use checkpoint::Checkpoint;
use source::Source;

/// A tenant's rules: waiting for the first rows (when `from` is not known
/// yet, no tick can be placed), then running on the tenant's clock.
enum Rules {
    Idle(Vec<RuleInstance>),
    Running(Replay),
}

impl Rules {
    fn get(&self, index: usize) -> &RuleInstance {
        match self {
            Rules::Idle(rules) => &rules[index],
            Rules::Running(replay) => &replay.rules()[index],
        }
    }

    fn get_mut(&mut self, index: usize) -> &mut RuleInstance {
        match self {
            Rules::Idle(rules) => &mut rules[index],
            Rules::Running(replay) => &mut replay.rules_mut()[index],
        }
    }

    fn replay(&self) -> Option<&Replay> {
        match self {
            Rules::Idle(_) => None,
            Rules::Running(replay) => Some(replay),
        }
    }

    fn replay_mut(&mut self) -> Option<&mut Replay> {
        match self {
            Rules::Idle(_) => None,
            Rules::Running(replay) => Some(replay),
        }
    }
}

/// A tenant's rules, spool, clock and checkpoint.
pub struct Tenant {
    pub name: String,
    config: TenantConfig,
    state_dir: PathBuf,
    io: Io,
    source: Source,
    dir: PathBuf,
    /// The builds the tenant's rules run, kept in its state folder.
    builds: Builds,
    /// The alert file; none in the cluster mode.
    alerts_path: Option<PathBuf>,
    lateness: i64,
    max_ahead: i64,
    rules: Rules,
    /// Components the tenant's config names that could not be loaded.
    refused: Vec<Refused>,
    /// Each rule's builds, in the order of the rules.
    records: Vec<RuleRecord>,
    /// Whether the configuration may name other builds than those running.
    check_config: bool,
    /// Whether a swap waits for its build to compile.
    swap_compiling: bool,
    columns: Vec<Vec<(String, ColumnKind)>>,
    readers: Vec<Reader>,
    sink: AlertSink,
    waiting: spool::Waiting,
    /// What the last checkpoint holds, kept current as files are played.
    checkpoint: Checkpoint,
    budgets: Budgets,
}

impl Tenant {
    /// Loads the tenant's rules (`components` are shared by every tenant)
    /// and resumes from its checkpoint when there is one. Each rule runs the
    /// build its record names (the configured one the first time).
    pub fn start(
        config: &TenantConfig,
        state_dir: &Path,
        io: &Io,
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
            .map(time::parse)
            .transpose()
            .map_err(|why| anyhow::anyhow!("tenant {tenant}: from: {why}"))?;
        let mut checkpoint =
            Checkpoint::read(&checkpoint::path(&dir), config.rules.len())?.unwrap_or_default();
        if checkpoint.watermark.is_none() {
            // Nothing played yet: evaluations follow the configuration.
            checkpoint.from = from;
        }
        let builds = Builds::of_tenant(&dir);
        let mut rules = Vec::new();
        let mut records = Vec::new();
        let mut refused = Vec::new();
        // A rule whose record comes from the checkpoint may be configured
        // otherwise now; one taken from the configuration just now is not.
        let mut restored = false;
        for (entry, rule) in config.rules.iter().enumerate() {
            let record = match checkpoint.records.iter().find(|record| record.entry == entry) {
                Some(record) => {
                    restored = true;
                    Ok(record.clone())
                }
                None if checkpoint.watermark.is_some() => Err(
                    "it was not running when the tenant's checkpoint was written, and a rule cannot join mid-stream: \
                     start the tenant afresh (move its state folder away) to run it"
                        .to_owned(),
                ),
                None => builds
                    .configured(rule)
                    .map(|configured| RuleRecord {
                        entry,
                        current: Deployment::configured(rule, &configured),
                        configured,
                        previous: None,
                        probation_until: None,
                        last_swap: None,
                        swaps: 0,
                        swap_pauses: Histogram::default(),
                    })
                    .map_err(|error| format!("{error:#}")),
            };
            let instance = record.and_then(|record| {
                instantiate(host, components, &builds, &record.current, &budgets)
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
                    tracing::warn!(%tenant, "tenant {tenant}: rule refused: {reason}");
                    refused.push(Refused {
                        component: rule.component.display().to_string(),
                        reason,
                    });
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
            .map(|&table| Readers::default().of(table))
            .collect();

        let (source, sink) = match io {
            Io::Files => {
                // The config was checked: without the cluster, both are there.
                let spool = config.spool.clone().context("no spool")?;
                let alerts = config.alerts.as_deref().context("no alerts file")?;
                let sink = AlertSink::append(alerts, checkpoint.alert_bytes, config.alert_format)?;
                (Source::Spool(spool), sink)
            }
            #[cfg(feature = "cluster")]
            Io::Cluster(connection) => {
                use crate::cluster::{alerts::AlertPublisher, Owner};
                let owner = Owner::tenant(tenant)?;
                let seen = checkpoint
                    .files_played
                    .iter()
                    .chain(&checkpoint.files_waiting);
                let stream = source::stream::StreamSource::new(
                    std::sync::Arc::clone(connection),
                    connection.input_stream()?,
                    &owner,
                    seen,
                );
                connection.alert_stream()?;
                let publisher = AlertPublisher::new(std::sync::Arc::clone(connection), &owner);
                let sink = AlertSink::messages(Box::new(publisher), config.alert_format)?;
                (Source::Stream(Box::new(stream)), sink)
            }
        };
        let lateness = time::parse_duration(&config.lateness)
            .map_err(|why| anyhow::anyhow!("tenant {tenant}: lateness: {why}"))?;
        let max_ahead = time::parse_duration(&config.max_ahead)
            .map_err(|why| anyhow::anyhow!("tenant {tenant}: max_ahead: {why}"))?;
        let mut tenant = Tenant {
            name: tenant.clone(),
            config: config.clone(),
            state_dir: state_dir.to_owned(),
            io: io.clone(),
            source,
            dir,
            builds,
            alerts_path: config.alerts.clone(),
            lateness,
            max_ahead,
            rules: Rules::Idle(Vec::new()),
            refused,
            records,
            check_config: restored,
            swap_compiling: false,
            columns,
            readers,
            sink,
            waiting: spool::Waiting::default(),
            checkpoint,
            budgets,
        };
        if tenant.checkpoint.watermark.is_none() {
            // Nothing played yet: there is no state to restore.
            tenant.rules = Rules::Idle(rules);
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
        let kept = &self.checkpoint.records;
        let places = self
            .records
            .iter()
            .map(|record| kept.iter().position(|kept| kept.entry == record.entry))
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(|| checkpoint::damaged(&path, "a rule running has no state in it"))?;
        let mut schedules = self.checkpoint.schedules();
        pick(&mut schedules, &places);
        pick(&mut self.checkpoint.quarantines, &places);
        for (index, rule) in rules.iter_mut().enumerate() {
            if let Some(quarantine) = self.checkpoint.quarantines[index].clone() {
                rule.keep_quarantined(quarantine);
                continue;
            }
            let path = self.snapshot_file(places[index], self.checkpoint.generation);
            let snapshot =
                fs::read(&path).with_context(|| format!("{}: cannot read", path.display()))?;
            if let Err(quarantine) = rule.restore(&snapshot) {
                tracing::warn!(tenant = %self.name, "tenant {}: {quarantine}", self.name);
            }
        }
        let replay = Replay::resume(rules, schedules, Timestamp::MAX, &self.name, BATCH_ROWS);
        self.rules = Rules::Running(replay);
        let reopen: Vec<String> = self.checkpoint.files_waiting.iter().cloned().collect();
        for name in reopen {
            self.read_file(&name)
                .with_context(|| format!("{}: a file with rows waiting", path.display()))?;
        }
        Ok(())
    }

    /// The generation of its latest checkpoint (0: none written yet).
    #[cfg(feature = "cluster")]
    pub fn generation(&self) -> u64 {
        self.checkpoint.generation
    }

    /// The last message its checkpoint names (played, or with rows waiting),
    /// and its watermark: where the cluster's status says it stands.
    #[cfg(feature = "cluster")]
    pub fn position(&self) -> (Option<u64>, Option<Timestamp>) {
        let names = &self.checkpoint;
        let last = names
            .files_played
            .last()
            .into_iter()
            .chain(names.files_waiting.last())
            .max();
        (
            last.and_then(|name| source::stream::sequence_of(name)),
            self.checkpoint.watermark,
        )
    }

    /// Whether a swap waits for its build to compile beside the tenants.
    pub fn swap_compiling(&self) -> bool {
        self.swap_compiling
    }

    /// Rule `rule`'s snapshot of checkpoint `generation`.
    fn snapshot_file(&self, rule: usize, generation: u64) -> PathBuf {
        checkpoint::snapshot_path(&self.dir, rule, generation)
    }

    /// Plays the spool's new files in name order, checkpointing after each,
    /// with swaps between files; whether there was anything to do.
    pub fn poll(&mut self, host: &RuleHost, components: &mut Components) -> Result<bool> {
        if self.swap_next(host, components)? {
            return Ok(true);
        }
        let checkpoint = &self.checkpoint;
        let seen = |name: &str| {
            checkpoint.files_played.contains(name) || checkpoint.files_waiting.contains(name)
        };
        let names = self.source.new_names(&seen)?;
        for name in &names {
            self.read_file(name)?;
            self.play_to_watermark()?;
            if let Some((rule, reason)) = self.failed_probation() {
                self.roll_back(rule, &reason, host, components)?;
                return Ok(true);
            }
            self.end_probations();
            self.write_checkpoint()?;
            if self.swap_next(host, components)? {
                return Ok(true);
            }
        }
        Ok(!names.is_empty())
    }

    /// Takes the configuration anew (it or a component file changed): a
    /// rule entry that names another build is swapped at the next boundary.
    pub fn reconfigure(&mut self, config: &TenantConfig) {
        self.config = config.clone();
        self.check_config = true;
    }

    /// Starts the tenant again from its checkpoint.
    fn reload(&mut self, host: &RuleHost, components: &mut Components) -> Result<()> {
        let config = self.config.clone();
        *self = Tenant::start(
            &config,
            &self.state_dir.clone(),
            &self.io.clone(),
            host,
            components,
        )?;
        Ok(())
    }

    /// The tenant's entry in the status file.
    pub fn status(&self) -> TenantStatus {
        let schedule = |index: usize| match &self.rules {
            Rules::Idle(_) => Schedule::default(),
            Rules::Running(replay) => replay.schedules()[index],
        };
        let rules = self
            .records
            .iter()
            .enumerate()
            .map(|(index, record)| rule_status(self.rules.get(index), record, &schedule(index)))
            .collect();
        TenantStatus {
            tenant: self.name.clone(),
            watermark: self.checkpoint.watermark.map(time::format),
            rows_in: self.checkpoint.rows_in,
            late_rows: self.checkpoint.late_rows,
            rejected_rows: self.checkpoint.rejected_rows,
            rows_too_far_ahead: self.checkpoint.rows_too_far_ahead,
            files_played: self.checkpoint.files_played.len(),
            files_waiting: self.checkpoint.files_waiting.len(),
            rows_waiting: self.waiting.len(),
            rules,
            refused: self.refused.clone(),
            memory_budget_mib: self.budgets.memory_bytes >> 20,
            call_budget_ms: self.budgets.time_per_call.as_millis(),
        }
    }
}

/// Keeps the elements of `list` at `places`, in that order.
fn pick<T: Clone>(list: &mut Vec<T>, places: &[usize]) {
    *list = places.iter().map(|&place| list[place].clone()).collect();
}

/// The kept component `deployment` names, loaded once for every tenant.
fn component<'a>(
    host: &RuleHost,
    components: &'a mut Components,
    builds: &Builds,
    deployment: &Deployment,
) -> Result<&'a LoadedRule, String> {
    components
        .load(host, &builds.path(&deployment.digest))
        .as_ref()
        .map_err(|error| format!("{}: {error}", deployment.source.display()))
}

/// A deployment of the kept component `deployment` names, under `budgets`.
fn instantiate(
    host: &RuleHost,
    components: &mut Components,
    builds: &Builds,
    deployment: &Deployment,
    budgets: &Budgets,
) -> Result<RuleInstance, String> {
    let component = component(host, components, builds, deployment)?;
    let parameters: Vec<(String, String)> = deployment
        .parameters
        .iter()
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    component
        .instantiate_with(host, &parameters, budgets)
        .map_err(|error| format!("{error:#}"))
}

fn rule_status(rule: &RuleInstance, record: &RuleRecord, schedule: &Schedule) -> RuleStatus {
    let metadata = rule.metadata();
    let previous = record.previous.as_ref();
    RuleStatus {
        rule: metadata.short_name.clone(),
        version: metadata.version.clone(),
        component: record.current.source.display().to_string(),
        digest: record.current.digest.clone(),
        parameters: record.current.parameters.clone(),
        swapped_at: record.current.since.clone(),
        previous_version: previous.map(|previous| previous.version.clone()),
        previous_component: previous.map(|previous| previous.source.display().to_string()),
        on_probation: record.probation_until.is_some(),
        last_swap: record.last_swap.clone(),
        state: match rule.quarantine() {
            Some(_) => RuleState::Quarantined,
            None => RuleState::Running,
        },
        reason: rule.quarantine().map(ToString::to_string),
        evaluations: schedule.evaluations,
        alerts: schedule.alerts,
        last_evaluation: schedule.last_evaluated.map(time::format),
        memory_mib: rule.memory_bytes() >> 20,
        memory_bytes: rule.memory_bytes(),
        busy_ms: rule.busy().as_millis(),
        evaluation_seconds: schedule.evaluation_times,
        swaps: record.swaps,
        swap_pause_seconds: record.swap_pauses,
        printed: Printed::of(rule.log_tail(STATUS_LOG_LINES)),
    }
}
