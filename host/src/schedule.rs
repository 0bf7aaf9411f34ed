//! When rules are evaluated: on each tick of their own schedule (multiples of
//! their frequency since the Unix epoch), each evaluation at `t` seeing
//! exactly the sessions with `TimeGenerated < t` and the indicator rows with
//! `TimeGenerated <= t`, as a live system would have had them at `t`.

use anyhow::Result;
use asim_rule_core::{batch::Cell, Timestamp};

use crate::{
    engine::RuleInstance,
    feed::{Feed, Table},
    histogram::Histogram,
    outputs::{AlertSink, Evaluation},
};

/// The first tick of a rule with `frequency` strictly after `from`.
pub fn first_tick_after(from: Timestamp, frequency: i64) -> Timestamp {
    from.div_euclid(frequency) * frequency + frequency
}

/// Where a rule stands on its schedule.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Schedule {
    /// Its next tick; none once it is done or quarantined.
    pub next_tick: Option<Timestamp>,
    /// Evaluations so far.
    pub evaluations: u64,
    /// Alerts those evaluations returned.
    pub alerts: u64,
    /// The time of its last evaluation.
    pub last_evaluated: Option<Timestamp>,
    /// How long its evaluations took, since the process started.
    pub evaluation_times: Histogram,
}

/// Rows played in time order, rules evaluated on their ticks in `(from, to]`.
pub struct Replay {
    /// The rules, apart from their schedules: the feeds hand them batches.
    rules: Vec<RuleInstance>,
    /// Each rule's schedule, in the rules' order.
    schedules: Vec<Schedule>,
    /// One feed per table, in [`Table::ALL`] order.
    feeds: Vec<Feed>,
    to: Timestamp,
    tenant: String,
}

impl Replay {
    /// A replay of `(from, to]`. Each rule is fed from its first tick minus
    /// its lookback; earlier rows could not change any of its evaluations.
    pub fn new(
        rules: Vec<RuleInstance>,
        from: Timestamp,
        to: Timestamp,
        tenant: &str,
        batch_rows: usize,
    ) -> Replay {
        let schedules = rules
            .iter()
            .map(|rule| Schedule {
                next_tick: Some(first_tick_after(from, rule.metadata().frequency))
                    .filter(|&tick| tick <= to),
                ..Schedule::default()
            })
            .collect();
        Replay::resume(rules, schedules, to, tenant, batch_rows)
    }

    /// A replay whose rules' schedules are known (a restarted `serve`): each
    /// is fed from its next tick minus its lookback.
    pub fn resume(
        rules: Vec<RuleInstance>,
        schedules: Vec<Schedule>,
        to: Timestamp,
        tenant: &str,
        batch_rows: usize,
    ) -> Replay {
        let feeds = Table::ALL
            .iter()
            .map(|&table| {
                let window = |index: usize, rule: &asim_rule_core::RuleMetadata| {
                    let last = to.div_euclid(rule.frequency) * rule.frequency;
                    table.window_over(rule, schedules[index].next_tick?, last)
                };
                Feed::new(table, &rules, window, batch_rows)
            })
            .collect();
        Replay {
            rules,
            schedules,
            feeds,
            to,
            tenant: tenant.to_owned(),
        }
    }

    /// The feed of `table`.
    pub fn feed(&self, table: Table) -> &Feed {
        &self.feeds[table.index()]
    }

    /// The rules, in their order.
    pub fn rules(&self) -> &[RuleInstance] {
        &self.rules
    }

    /// The rules, to snapshot them.
    pub fn rules_mut(&mut self) -> &mut [RuleInstance] {
        &mut self.rules
    }

    /// Each rule's schedule, in the rules' order.
    pub fn schedules(&self) -> &[Schedule] {
        &self.schedules
    }

    /// Sets rule `index`'s next tick (a swapped-in build's schedule).
    pub fn set_next_tick(&mut self, index: usize, tick: Option<Timestamp>) {
        self.schedules[index].next_tick = tick;
    }

    /// Hands every rule the rows pushed so far (before a snapshot).
    pub fn flush(&mut self) {
        for feed in &mut self.feeds {
            feed.flush(&mut self.rules);
        }
    }

    /// Evaluates every tick up to `watermark`: all rows at or before it have
    /// been played.
    pub fn advance_to(&mut self, watermark: Timestamp, sink: &mut AlertSink) -> Result<()> {
        self.evaluate_due(|tick| tick <= watermark, sink)
    }

    /// Whether every tick has been evaluated: later rows change nothing.
    pub fn is_done(&self) -> bool {
        self.schedules
            .iter()
            .all(|schedule| schedule.next_tick.is_none())
    }

    /// Plays one row: first every evaluation the row must not be part of.
    pub fn row(
        &mut self,
        table: Table,
        time: Timestamp,
        cells: &[Cell],
        sink: &mut AlertSink,
    ) -> Result<()> {
        let due = |tick| match table {
            Table::Indicators => time > tick,
            Table::Sessions | Table::Summaries => time >= tick,
        };
        self.evaluate_due(due, sink)?;
        self.feeds[table.index()].push(&mut self.rules, time, cells)
    }

    /// Evaluates every tick left, once all rows are played.
    pub fn finish(&mut self, sink: &mut AlertSink) -> Result<()> {
        self.evaluate_due(|_| true, sink)
    }

    /// Evaluates due ticks in time order (rule order within one instant).
    fn evaluate_due(
        &mut self,
        due: impl Fn(Timestamp) -> bool,
        sink: &mut AlertSink,
    ) -> Result<()> {
        loop {
            let earliest = self
                .schedules
                .iter()
                .enumerate()
                .filter_map(|(rule, schedule)| {
                    schedule
                        .next_tick
                        .filter(|&tick| due(tick))
                        .map(|tick| (tick, rule))
                })
                .min();
            let Some((tick, rule)) = earliest else {
                return Ok(());
            };
            for feed in &mut self.feeds {
                feed.flush_rule(&mut self.rules, rule);
            }
            let next = tick + self.rules[rule].metadata().frequency;
            self.schedules[rule].next_tick = (next <= self.to).then_some(next);
            let started = std::time::Instant::now();
            let evaluated = self.rules[rule].evaluate(tick);
            self.schedules[rule]
                .evaluation_times
                .record(started.elapsed());
            let alerts = match evaluated {
                Ok(alerts) => alerts,
                Err(quarantine) => {
                    // Contained: this rule is done, the others go on.
                    tracing::warn!(tenant = %self.tenant, "tenant {}: {quarantine}", self.tenant);
                    self.schedules[rule].next_tick = None;
                    continue;
                }
            };
            let evaluation = Evaluation {
                rule: self.rules[rule].metadata(),
                at: tick,
                tenant: &self.tenant,
            };
            sink.write(&evaluation, &alerts)?;
            // Counts read back from a checkpoint may be anything.
            let schedule = &mut self.schedules[rule];
            schedule.evaluations = schedule.evaluations.saturating_add(1);
            schedule.alerts = schedule.alerts.saturating_add(alerts.len() as u64);
            schedule.last_evaluated = Some(tick);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asim_rule_core::time::{DAY, HOUR};

    #[test]
    fn ticks_fall_on_multiples_of_the_frequency_strictly_after_from() {
        assert_eq!(first_tick_after(10 * DAY, DAY), 11 * DAY);
        assert_eq!(first_tick_after(10 * DAY + 1, DAY), 11 * DAY);
        assert_eq!(first_tick_after(10 * DAY - 1, DAY), 10 * DAY);
        assert_eq!(first_tick_after(5 * HOUR + 30, HOUR), 6 * HOUR);
    }
}
