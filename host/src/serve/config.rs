//! `serve`'s configuration file (TOML): the state directory, then one
//! `[[tenant]]` table per tenant with its spool, alert output, budgets and
//! `[[tenant.rule]]` entries. Relative paths are relative to the file.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::{engine::Budgets, limits, outputs::AlertFormat};

/// A `serve` configuration, its relative paths resolved.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Checkpoints and the status file.
    pub state: PathBuf,
    /// How often spools are looked at, milliseconds.
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
    /// The tenants, each with its own rules, spool and budgets.
    #[serde(rename = "tenant")]
    pub tenants: Vec<TenantConfig>,
}

/// One tenant's `[[tenant]]` table.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// The tenant's name: its state folder and every message name it.
    pub name: String,
    /// Where batch files appear: files named `*indicators*` hold indicators,
    /// `*summaries*` summaries, any other session rows (ASIM or raw logs).
    /// Not given in the cluster mode, where batches come from the stream.
    #[serde(default)]
    pub spool: Option<PathBuf>,
    /// Alerts, appended one per line; in the cluster mode, not given: they
    /// go to the alert stream.
    #[serde(default)]
    pub alerts: Option<PathBuf>,
    /// The alerts' shape: `jsonl` (with `AlertId`), `ocsf` or `sentinel`.
    #[serde(default = "default_alert_format")]
    pub alert_format: AlertFormat,
    /// First instant evaluations follow (ticks after it); default: the
    /// time of the first row read.
    pub from: Option<String>,
    /// How late a row may come and still be seen by its evaluations.
    #[serde(default = "default_lateness")]
    pub lateness: String,
    /// How far a row may lie beyond the later of the host's clock and the
    /// latest row played: a row dated later is refused and counted, so that
    /// one row from year 9999 cannot move the watermark.
    #[serde(default = "default_max_ahead")]
    pub max_ahead: String,
    /// What each of its rule instances may use.
    #[serde(default)]
    pub budgets: BudgetConfig,
    /// Evaluations a swapped-in build must pass before it is trusted; until
    /// then a failure rolls the rule back to the build it replaced.
    #[serde(default = "default_probation")]
    pub probation: u64,
    /// Its rules (`[[tenant.rule]]`), in order.
    #[serde(rename = "rule")]
    pub rules: Vec<RuleConfig>,
}

/// A tenant's budgets; each one left out takes the host's default.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    /// Memory one instance may use, MiB.
    pub memory_mib: Option<usize>,
    /// Wall time of one call, milliseconds.
    pub call_ms: Option<u64>,
    /// Alerts one evaluation may return.
    pub alerts: Option<usize>,
    /// Text one alert may carry, KiB.
    pub alert_kib: Option<usize>,
    /// Size of a snapshot, MiB.
    pub snapshot_mib: Option<usize>,
    /// Data any other call may hand the host, MiB.
    pub output_mib: Option<usize>,
}

/// One rule of a tenant: a component and its parameters.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// The component file (`.wasm`).
    pub component: PathBuf,
    /// Parameters given to `configure`.
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
}

fn default_alert_format() -> AlertFormat {
    AlertFormat::Jsonl
}

fn default_poll_ms() -> u64 {
    limits::POLL_MS
}

fn default_probation() -> u64 {
    limits::PROBATION
}

fn default_max_ahead() -> String {
    limits::MAX_AHEAD.into()
}

fn default_lateness() -> String {
    limits::LATENESS.into()
}

impl BudgetConfig {
    /// The budgets, or which one does not fit in bytes.
    pub fn budgets(&self) -> Result<Budgets, String> {
        let default = Budgets::default();
        let bytes = |name: &str, value: Option<usize>, unit_shift: u32, default: usize| {
            value.map_or(Ok(default), |value| {
                crate::engine::budget_bytes(value, unit_shift)
                    .map_err(|why| format!("{name} = {why}"))
            })
        };
        Ok(Budgets {
            memory_bytes: bytes("memory_mib", self.memory_mib, 20, default.memory_bytes)?,
            time_per_call: self
                .call_ms
                .map_or(default.time_per_call, std::time::Duration::from_millis),
            alerts_per_evaluation: self.alerts.unwrap_or(default.alerts_per_evaluation),
            alert_bytes: bytes("alert_kib", self.alert_kib, 10, default.alert_bytes)?,
            snapshot_bytes: bytes(
                "snapshot_mib",
                self.snapshot_mib,
                20,
                default.snapshot_bytes,
            )?,
            output_bytes: bytes("output_mib", self.output_mib, 20, default.output_bytes)?,
        })
    }
}

impl Config {
    /// Reads and checks `path`, resolving its relative paths; in the
    /// cluster mode when `cluster`.
    pub fn read(path: &Path, cluster: bool) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        Config::parse(path, &text, cluster)
    }

    /// Checks `text`, the config read from `path` (which relative paths are
    /// resolved against): with `cluster`, tenants name no spool or alert
    /// file and their names are NATS subject tokens; without, they name both.
    pub fn parse(path: &Path, text: &str, cluster: bool) -> Result<Config> {
        let mut config: Config = toml::from_str(text)
            .with_context(|| format!("{}: not a serve config", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |path: &mut PathBuf| {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        };
        resolve(&mut config.state);
        let mut names = std::collections::BTreeSet::new();
        for tenant in &mut config.tenants {
            if !names.insert(tenant.name.clone()) {
                bail!("{}: tenant {} is named twice", path.display(), tenant.name);
            }
            if tenant.name.is_empty()
                || tenant.name.len() > limits::TENANT_NAME_BYTES
                || tenant.name.contains(['/', '\\'])
                || tenant.name.contains(char::is_control)
                || tenant.name.starts_with('.')
            {
                bail!(
                    "{}: tenant name {:?} cannot name a directory (at most {} bytes, no control characters, '/', '\\' or leading '.')",
                    path.display(),
                    tenant.name,
                    limits::TENANT_NAME_BYTES
                );
            }
            tenant.budgets.budgets().map_err(|why| {
                anyhow::anyhow!("{}: tenant {}: budgets: {why}", path.display(), tenant.name)
            })?;
            if tenant.rules.is_empty() {
                bail!("{}: tenant {} has no rule", path.display(), tenant.name);
            }
            let files = [tenant.spool.as_mut(), tenant.alerts.as_mut()];
            match (cluster, files) {
                (false, [Some(spool), Some(alerts)]) => {
                    resolve(spool);
                    resolve(alerts);
                }
                (false, _) => bail!(
                    "{}: tenant {} needs a spool and an alerts file",
                    path.display(),
                    tenant.name
                ),
                (true, [None, None]) => {}
                (true, _) => bail!(
                    "{}: tenant {}: in the cluster mode batches come from the stream and alerts go to it: \
                     no spool or alerts file",
                    path.display(),
                    tenant.name
                ),
            }
            for rule in &mut tenant.rules {
                resolve(&mut rule.component);
            }
        }
        if config.tenants.is_empty() {
            bail!("{}: no [[tenant]]", path.display());
        }
        Ok(config)
    }
}
