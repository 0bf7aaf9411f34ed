//! The swap lifecycle: a new build for a rule is validated (a smoke
//! evaluation), given the running build's state (or a state rebuilt from the
//! spool files its lookback covers) and checkpointed, after the checkpoint
//! before it was kept as the rollback point. It stays on probation for the
//! tenant's `probation` evaluations; a build quarantined on probation is
//! rolled back.

use std::{fs, sync::Arc};

use anyhow::{Context, Result};
use asim_rule_core::{RuleMetadata, Timestamp};

use super::{
    checkpoint::{self, Checkpoint, ROLLBACK_DIR},
    component, Tenant,
};
use crate::{
    engine::{RuleHost, RuleInstance},
    feed::{Feed, Table, Window},
    inputs::Rejects,
    limits::BATCH_ROWS,
    schedule::first_tick_after,
    serve::{
        components::Components,
        deploy::{self, Deployment, Swap, SwapAnswer},
    },
};

impl Tenant {
    /// The swaps asked for: configuration entries that name another build
    /// (when it may have changed), then `asim-rules swap` requests, oldest first.
    fn wanted_swaps(&mut self) -> Result<Vec<Swap>> {
        let builds = &self.builds;
        let mut swaps = Vec::new();
        if std::mem::take(&mut self.check_config) {
            for (index, record) in self.records.iter().enumerate() {
                let Some(rule) = self.config.rules.get(record.entry) else {
                    continue;
                };
                match builds.configured(rule) {
                    Ok(configured) if configured != record.configured => swaps.push(Swap {
                        rule: index,
                        target: Deployment::configured(rule, &configured),
                        request: None,
                        configured: Some(configured),
                    }),
                    Ok(_) => {}
                    Err(error) => tracing::warn!(
                        tenant = %self.name,
                        "tenant {}: {error:#}; the running build stays",
                        self.name
                    ),
                }
            }
        }
        for (path, request) in deploy::requests(&self.dir)? {
            let swap = request.and_then(|request| {
                let index = (0..self.records.len())
                    .find(|&index| {
                        let metadata = self.rules.get(index).metadata();
                        metadata.id == request.rule || metadata.short_name == request.rule
                    })
                    .with_context(|| {
                        format!("tenant {} has no rule {}", self.name, request.rule)
                    })?;
                let current = &self.records[index].current;
                let (source, digest) = match &request.component {
                    Some(component) => (component.clone(), builds.keep(component)?),
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
    pub(super) fn swap_next(
        &mut self,
        host: &RuleHost,
        components: &mut Components,
    ) -> Result<bool> {
        self.swap_compiling = false;
        for swap in self.wanted_swaps()? {
            let current = &self.records[swap.rule].current;
            let build = self.builds.path(&swap.target.digest);
            if !current.same_build(&swap.target) && !components.is_ready(host, &build) {
                // The tenant plays on while its build compiles; asked again
                // next time (a request stays until it is answered).
                self.swap_compiling = true;
                self.check_config |= swap.configured.is_some();
                continue;
            }
            let started = std::time::Instant::now();
            let rule = self.rules.get(swap.rule).metadata().short_name.clone();
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
                            same_feed(self.rules.get(swap.rule).metadata(), instance.metadata());
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
                let paused = started.elapsed();
                outcome += &format!("; paused {:.1} ms", paused.as_secs_f64() * 1e3);
                self.records[swap.rule].swap_pauses.record(paused);
            }
            tracing::info!(tenant = %self.name, "tenant {}: {outcome}", self.name);
            if !applied {
                let record = &mut self.records[swap.rule];
                if let Some(configured) = &swap.configured {
                    // Not retried until the configuration changes again.
                    record.configured.clone_from(configured);
                    record.last_swap = Some(outcome.clone());
                    self.write_checkpoint()?;
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
        let builds = self.builds.clone();
        let budgets = self.budgets.clone();
        let running_id = self.rules.get(index).metadata().id.clone();
        // Compiled beside the tenants before the swap was taken.
        let compiled =
            components
                .took(&builds.path(&target.digest))
                .map_or(String::new(), |took| {
                    let took = took.as_secs_f64() * 1e3;
                    format!(" (compiled in {took:.1} ms before the pause)")
                });
        let component = component(host, components, &builds, target)?;
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
            self.checkpoint
                .watermark
                .or(self.checkpoint.from)
                .unwrap_or(0),
            smoke.metadata().frequency,
        );
        smoke
            .evaluate(smoke_at)
            .map_err(|quarantine| format!("smoke evaluation: {quarantine}"))?;
        drop(smoke);
        let mut instance = new()?;
        let Some(replay) = self.rules.replay_mut() else {
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
                .and_then(|snapshot| instance.restore(&snapshot))
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
        let replay = self.rules.replay()?;
        let running = &replay.rules()[index];
        match replay.schedules()[index].next_tick {
            Some(next) if running.metadata().frequency == frequency => Some(next),
            _ => {
                let after = self.checkpoint.watermark.max(self.checkpoint.from)?;
                Some(first_tick_after(after, frequency))
            }
        }
    }

    /// Feeds `rule` (to replace rule `index`) the rows of the retained spool
    /// files its next evaluation reads, up to the watermark (later rows come
    /// as usual); the rows fed.
    fn rebuild(&mut self, index: usize, rule: &mut RuleInstance) -> Result<u64> {
        let watermark = self.checkpoint.watermark.context("no rows were played")?;
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
            let names: Vec<String> = self
                .checkpoint
                .files_played
                .iter()
                .chain(&self.checkpoint.files_waiting)
                .filter(|name| self.source.table_of(name) == table)
                .cloned()
                .collect();
            let mut rows = 0;
            for name in &names {
                rows += self.source.read(
                    name,
                    &reader,
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
        if self.checkpoint.generation == 0 {
            self.write_checkpoint()?;
        }
        // One rollback point: a build still on probation is trusted now.
        for record in &mut self.records {
            record.probation_until = None;
        }
        self.keep_rollback_point()?;
        let evaluations = self
            .rules
            .replay()
            .map_or(0, |replay| replay.schedules()[index].evaluations);
        let frequency = instance.metadata().frequency;
        let version = instance.metadata().version.clone();
        let next = self.next_tick(index, frequency);
        *self.rules.get_mut(index) = instance;
        if let (Some(replay), Some(next)) = (self.rules.replay_mut(), next) {
            replay.set_next_tick(index, Some(next));
        }
        let short_name = self.rules.get(index).metadata().short_name.clone();
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
        record.swaps = record.swaps.saturating_add(1);
        if let Some(configured) = &swap.configured {
            record.configured.clone_from(configured);
        }
        self.write_checkpoint()?;
        Ok(outcome)
    }

    /// A rule on probation that failed, and why.
    pub(super) fn failed_probation(&self) -> Option<(usize, String)> {
        let replay = self.rules.replay()?;
        self.records.iter().enumerate().find_map(|(index, record)| {
            record.probation_until?;
            let quarantine = replay.rules()[index].quarantine()?;
            Some((index, quarantine.to_string()))
        })
    }

    /// Ends the probation of builds that passed their evaluations.
    pub(super) fn end_probations(&mut self) {
        let Some(replay) = self.rules.replay() else {
            return;
        };
        for (index, record) in self.records.iter_mut().enumerate() {
            if record
                .probation_until
                .is_some_and(|until| replay.schedules()[index].evaluations >= until)
            {
                record.probation_until = None;
            }
        }
    }

    /// Goes back to the rollback point with the build rule `index` had
    /// before: its state, the other rules', the alert file's length; the
    /// files played since are played again by that build.
    pub(super) fn roll_back(
        &mut self,
        index: usize,
        reason: &str,
        host: &RuleHost,
        components: &mut Components,
    ) -> Result<()> {
        let rollback = self.dir.join(ROLLBACK_DIR);
        let path = checkpoint::path(&rollback);
        let mut point = Checkpoint::read(&path, self.config.rules.len())?
            .with_context(|| format!("{}: cannot read", path.display()))?;
        if point.records.len() != self.records.len() {
            return Err(checkpoint::damaged(
                &path,
                "it holds other rules than those running",
            ));
        }
        let failed = &self.records[index];
        let outcome = format!(
            "rolled back from {} to {}: {reason}",
            failed.current.describe(),
            point.records[index].current.describe()
        );
        let rule = &self.rules.get(index).metadata().short_name;
        tracing::warn!(
            tenant = %self.name,
            "tenant {}: rule {rule}: {outcome}",
            self.name
        );
        let record = &mut point.records[index];
        // The configuration that asked for the failed build is not retried.
        record.configured.clone_from(&failed.configured);
        record.last_swap = Some(outcome);
        let generation = self
            .checkpoint
            .next_generation(&checkpoint::path(&self.dir))?;
        point.generation = generation;
        for rule in 0..point.records.len() {
            let kept = checkpoint::rollback_snapshot(&rollback, rule);
            if kept.exists() {
                let snapshot_file = self.snapshot_file(rule, generation);
                fs::copy(&kept, &snapshot_file)
                    .with_context(|| format!("{}: cannot write", snapshot_file.display()))?;
            }
        }
        point.write(&checkpoint::path(&self.dir))?;
        for rule in 0..self.records.len() {
            let _ = fs::remove_file(self.snapshot_file(rule, generation - 1));
        }
        let _ = fs::remove_dir_all(&rollback);
        self.reload(host, components)
    }
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

#[cfg(test)]
mod tests {
    use asim_rule_core::Rule;

    use super::*;

    #[test]
    fn a_build_takes_the_running_feeds_only_when_it_reads_the_same_rows() {
        let running = ti_map_ip::TiMapIp::metadata();
        let mut text_only = running.clone();
        text_only.version = "9.9.9".into();
        text_only.description = "another text".into();
        assert!(same_feed(&running, &text_only));
        let changes: [fn(&mut RuleMetadata); 5] = [
            |new| new.session_columns.push("DstPortNumber".into()),
            |new| new.indicator_columns.pop().map_or((), drop),
            |new| new.session_lookback *= 2,
            |new| new.indicator_lookback = None,
            |new| new.frequency /= 2,
        ];
        for change in changes {
            let mut new = running.clone();
            change(&mut new);
            assert!(!same_feed(&running, &new), "{new:?}");
        }
    }
}
