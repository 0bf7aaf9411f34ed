//! One deployment of a rule: its own store, its window state, its budgets.
//! Every call into the rule goes through one method that arms the deadline,
//! counts the time, and turns a fault into a quarantine.

use std::time::Duration;

use asim_rule_core::{Alert, Batch, DetailValue, RuleMetadata, Timestamp};
use wasmtime::Store;

use super::{
    bindings::{self, Detection},
    budgets::{fault, set_deadline, Budgets, Quarantine, Sandbox},
    convert,
};

/// One deployment of a rule, with its own store and state; once quarantined,
/// its store is dropped and every later call is refused.
pub struct RuleInstance {
    pub(super) live: Option<(Store<Sandbox>, Detection)>,
    pub(super) metadata: RuleMetadata,
    pub(super) budgets: Budgets,
    pub(super) memory_bytes: usize,
    /// Wall time spent in calls into the rule.
    pub(super) busy: Duration,
    pub(super) quarantine: Option<Quarantine>,
    /// What the rule printed (WASI standard output and error).
    pub(super) log: super::wasi::RuleLog,
}

impl RuleInstance {
    /// What the rule declares.
    pub fn metadata(&self) -> &RuleMetadata {
        &self.metadata
    }

    /// Linear memory the rule has grown to, in bytes (it never shrinks).
    pub fn memory_bytes(&self) -> usize {
        match &self.live {
            Some((store, _)) => store.data().memory_bytes,
            None => self.memory_bytes,
        }
    }

    /// What the rule printed so far (a Python rule's `print`), kept after a
    /// quarantine too.
    pub fn log(&self) -> super::wasi::RuleLogText {
        self.log.text()
    }

    /// The size of the rule's log and its last `count` lines.
    pub fn log_tail(&self, count: usize) -> super::wasi::RuleLogTail {
        self.log.tail(count)
    }

    /// Why the rule was taken out of service, if it was.
    pub fn quarantine(&self) -> Option<&Quarantine> {
        self.quarantine.as_ref()
    }

    /// Takes the rule out of service for a reason found earlier (a restarted
    /// host keeps what it quarantined).
    pub fn keep_quarantined(&mut self, quarantine: Quarantine) {
        self.live = None;
        self.quarantine = Some(quarantine);
    }

    /// The budgets the instance runs under.
    pub fn budgets(&self) -> &Budgets {
        &self.budgets
    }

    /// Wall time spent in calls into the rule so far.
    pub fn busy(&self) -> Duration {
        self.busy
    }

    /// Feeds session rows.
    pub fn ingest_sessions(&mut self, batch: Batch) -> Result<(), Quarantine> {
        let batch = convert::batch(batch);
        self.call("ingest-sessions", |rule, store| {
            rule.call_ingest_sessions(store, &batch)
        })
        .and_then(|result| self.refused("ingest-sessions", result))
    }

    /// Feeds indicator rows.
    pub fn ingest_indicators(&mut self, batch: Batch) -> Result<(), Quarantine> {
        let batch = convert::batch(batch);
        self.call("ingest-indicators", |rule, store| {
            rule.call_ingest_indicators(store, &batch)
        })
        .and_then(|result| self.refused("ingest-indicators", result))
    }

    /// Feeds pre-aggregated session counts.
    pub fn ingest_summaries(&mut self, batch: Batch) -> Result<(), Quarantine> {
        let batch = convert::batch(batch);
        self.call("ingest-summaries", |rule, store| {
            rule.call_ingest_summaries(store, &batch)
        })
        .and_then(|result| self.refused("ingest-summaries", result))
    }

    /// Evaluates the rule at `at`, within its alert budgets; a quarantined
    /// rule answers with its quarantine.
    pub fn evaluate(&mut self, at: Timestamp) -> Result<Vec<Alert>, Quarantine> {
        let result = self.call("evaluate", |rule, store| {
            // A rule that reads WASI clocks reads the evaluation's time.
            store.data().wasi.set_time(at);
            rule.call_evaluate(store, at)
        })?;
        let alerts = self.refused("evaluate", result)?;
        let budgets = &self.budgets;
        if alerts.len() > budgets.alerts_per_evaluation {
            let reason = format!(
                "returned {} alerts, over the budget of {} per evaluation",
                alerts.len(),
                budgets.alerts_per_evaluation
            );
            return Err(self.quarantined("evaluate", reason));
        }
        let alerts: Vec<Alert> = alerts.into_iter().map(convert::alert).collect();
        if let Some(size) = alerts
            .iter()
            .map(alert_bytes)
            .find(|&size| size > budgets.alert_bytes)
        {
            let reason = format!(
                "returned an alert of {size} bytes, over the budget of {} bytes",
                budgets.alert_bytes
            );
            return Err(self.quarantined("evaluate", reason));
        }
        Ok(alerts)
    }

    /// The rule's counters, by name.
    pub fn stats(&mut self) -> Result<Vec<(String, u64)>, Quarantine> {
        self.call("stats", |rule, store| rule.call_stats(store))
    }

    /// The rule's state, within the snapshot budget.
    pub fn snapshot(&mut self) -> Result<Vec<u8>, Quarantine> {
        let state = self.call("snapshot", |rule, store| rule.call_snapshot(store))?;
        if state.len() > self.budgets.snapshot_bytes {
            let reason = format!(
                "returned {} MiB, over the snapshot budget of {} MiB",
                state.len() >> 20,
                self.budgets.snapshot_bytes >> 20
            );
            return Err(self.quarantined("snapshot", reason));
        }
        Ok(state)
    }

    /// Replaces the rule's state.
    pub fn restore(&mut self, state: &[u8]) -> Result<(), Quarantine> {
        self.call("restore", |rule, store| rule.call_restore(store, state))
            .and_then(|result| self.refused("restore", result))
    }

    /// One call into the rule, under its CPU budget; a trap or a broken
    /// budget quarantines it.
    fn call<T>(
        &mut self,
        call: &'static str,
        run: impl FnOnce(
            &bindings::exports::asim::rules::rule::Guest,
            &mut Store<Sandbox>,
        ) -> wasmtime::Result<T>,
    ) -> Result<T, Quarantine> {
        let Some((store, bindings)) = &mut self.live else {
            return Err(self.quarantine.clone().unwrap_or_else(|| Quarantine {
                rule: self.metadata.short_name.clone(),
                call: call.into(),
                reason: "not running".into(),
            }));
        };
        set_deadline(store, &self.budgets);
        store.set_hostcall_fuel(match call {
            "snapshot" => self.budgets.snapshot_bytes,
            _ => self.budgets.output_bytes,
        });
        let started = std::time::Instant::now();
        let result = run(bindings.asim_rules_rule(), store);
        self.busy += started.elapsed();
        match result {
            Ok(value) => Ok(value),
            Err(error) => {
                let reason = fault(&error, store, &self.budgets);
                Err(self.quarantined(call, reason))
            }
        }
    }

    /// The rule's own refusal of a call (`result::err`): it quarantines the
    /// rule as a fault does, with the rule's message.
    fn refused<T>(
        &mut self,
        call: &'static str,
        result: Result<T, String>,
    ) -> Result<T, Quarantine> {
        result.map_err(|message| self.quarantined(call, format!("failed: {message}")))
    }

    /// Takes the rule out of service: its store (and memory) is dropped.
    fn quarantined(&mut self, call: &'static str, reason: String) -> Quarantine {
        self.memory_bytes = self.memory_bytes();
        self.live = None;
        let quarantine = Quarantine {
            rule: self.metadata.short_name.clone(),
            call: call.into(),
            reason,
        };
        self.quarantine = Some(quarantine.clone());
        quarantine
    }
}

/// The text an alert carries, in bytes: what the host writes per alert.
fn alert_bytes(alert: &Alert) -> usize {
    let details: usize = alert
        .custom_details
        .iter()
        .map(|(name, value)| {
            name.len()
                + match value {
                    DetailValue::Text(text) => text.len(),
                    _ => 8,
                }
        })
        .sum();
    let entities: usize = alert
        .entities
        .iter()
        .map(|entity| {
            let properties: usize = entity
                .properties
                .iter()
                .map(|(name, value)| name.len() + value.len())
                .sum();
            entity.kind.len() + properties
        })
        .sum();
    alert.name.len() + alert.description.len() + details + entities
}
