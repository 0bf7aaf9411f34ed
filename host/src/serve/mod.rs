//! `serve`: a long-running host for many tenants, each with its rules in
//! their own sandboxes, its spool of batch files, its alert output and its
//! budgets. One engine (pooling allocator) holds every tenant's instances; a
//! rule that breaks a budget is quarantined for its tenant alone.

#[cfg(feature = "cluster")]
mod cluster;
mod components;
pub mod config;
pub mod deploy;
mod metrics;
pub mod status;
mod tenant;

use std::{
    fs,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::{Duration, Instant, SystemTime},
};

use anyhow::{Context, Result};

use crate::engine::{Budgets, EngineOptions, RuleHost};
use crate::limits::SETTLE;
use crate::printable::printable;
use config::Config;
use status::Status;
use tenant::Tenant;

/// Where the tenants' batches come from and their alerts go.
#[derive(Clone)]
pub enum Io {
    /// Each tenant's spool folder and alert file, as the config names them.
    Files,
    /// The cluster's streams (`serve --nats`).
    #[cfg(feature = "cluster")]
    Cluster(std::sync::Arc<crate::cluster::Connection>),
}

impl Io {
    fn is_cluster(&self) -> bool {
        !matches!(self, Io::Files)
    }
}

/// Runs the configuration at `path`: until stopped, or, with `until_idle`,
/// until every spool (in the cluster mode, every message) has been played;
/// with `metrics`, Prometheus metrics are served at that address.
pub fn run(path: &Path, io: &Io, until_idle: bool, metrics: Option<SocketAddr>) -> Result<()> {
    let config = Config::read(path, io.is_cluster())?;
    let exporter = metrics.map(metrics::Exporter::start).transpose()?;
    fs::create_dir_all(&config.state)
        .with_context(|| format!("{}: cannot create", config.state.display()))?;
    let host = rule_host(&config)?;
    match io {
        Io::Files => run_spools(path, &config, &host, until_idle, exporter.as_ref()),
        #[cfg(feature = "cluster")]
        Io::Cluster(connection) => {
            cluster::run(&config, connection, &host, until_idle, exporter.as_ref())
        }
    }
}

/// One engine for every tenant's rules, its memory cap the largest tenant
/// budget (each instance gets its own tenant's).
fn rule_host(config: &Config) -> Result<RuleHost> {
    let rules: usize = config.tenants.iter().map(|tenant| tenant.rules.len()).sum();
    let memory_bytes = config
        .tenants
        .iter()
        .filter_map(|tenant| tenant.budgets.budgets().ok())
        .map(|budgets| budgets.memory_bytes)
        .max()
        .unwrap_or(Budgets::default().memory_bytes);
    let options = EngineOptions {
        cpu_deadline: true,
        // A swap holds a second instance of a rule beside the running one.
        pooled_instances: Some(u32::try_from(rules + 2).unwrap_or(u32::MAX)),
        ..EngineOptions::default()
    };
    RuleHost::with_options(
        Budgets {
            memory_bytes,
            ..Budgets::default()
        },
        &options,
    )
}

/// Plays every tenant's spool as files arrive.
fn run_spools(
    path: &Path,
    config: &Config,
    host: &RuleHost,
    until_idle: bool,
    exporter: Option<&metrics::Exporter>,
) -> Result<()> {
    let mut components = components::Components::default();
    let mut tenants = config
        .tenants
        .iter()
        .map(|tenant| {
            Tenant::start(tenant, &config.state, &Io::Files, host, &mut components)
                .with_context(|| format!("tenant {}", printable(&tenant.name)))
        })
        .collect::<Result<Vec<_>>>()?;
    write_status(&config.state, &tenants, exporter)?;
    let mut watch = Watch::new(path, config);
    loop {
        if let Some(changed) = watch.changed() {
            match changed {
                Ok(changed) => reconfigure(&mut tenants, &changed),
                Err(error) => {
                    let message = format!("{error:#}; the running configuration stays");
                    tracing::warn!("{}", printable(&message));
                }
            }
        }
        let mut played = false;
        for tenant in &mut tenants {
            played |= tenant
                .poll(host, &mut components)
                .with_context(|| format!("tenant {}", tenant.name))?;
        }
        write_status(&config.state, &tenants, exporter)?;
        let compiling = tenants.iter().any(Tenant::swap_compiling);
        if until_idle && !played && !compiling {
            tracing::info!(
                "{} tenants idle{}",
                tenants.len(),
                crate::outputs::peak_memory_note()
            );
            return Ok(());
        }
        if compiling && !played {
            components.wait(Duration::from_millis(config.poll_ms));
        } else if !played {
            std::thread::sleep(Duration::from_millis(config.poll_ms));
        }
    }
}

/// Watches the configuration file and the component files it names.
struct Watch {
    config: PathBuf,
    files: Vec<PathBuf>,
    seen: Vec<Option<(SystemTime, u64)>>,
    taken: Vec<Option<(SystemTime, u64)>>,
    changed_at: Instant,
}

impl Watch {
    fn new(config: &Path, read: &Config) -> Watch {
        let files = watched(config, read);
        let seen = stat(&files);
        Watch {
            config: config.to_owned(),
            files,
            taken: seen.clone(),
            seen,
            changed_at: Instant::now(),
        }
    }

    /// The configuration read again, once a change has settled.
    fn changed(&mut self) -> Option<Result<Config>> {
        let now = stat(&self.files);
        if now != self.seen {
            self.seen = now;
            self.changed_at = Instant::now();
            return None;
        }
        if self.seen == self.taken || self.changed_at.elapsed() < SETTLE {
            return None;
        }
        self.taken = self.seen.clone();
        let config = Config::read(&self.config, false);
        if let Ok(config) = &config {
            self.files = watched(&self.config, config);
            self.seen = stat(&self.files);
            self.taken = self.seen.clone();
        }
        Some(config)
    }
}

fn watched(config: &Path, read: &Config) -> Vec<PathBuf> {
    let components = read
        .tenants
        .iter()
        .flat_map(|tenant| tenant.rules.iter().map(|rule| rule.component.clone()));
    std::iter::once(config.to_owned())
        .chain(components)
        .collect()
}

fn stat(files: &[PathBuf]) -> Vec<Option<(SystemTime, u64)>> {
    files
        .iter()
        .map(|file| {
            let metadata = fs::metadata(file).ok()?;
            Some((metadata.modified().ok()?, metadata.len()))
        })
        .collect()
}

/// Hands each running tenant its entry of the new configuration.
fn reconfigure(tenants: &mut [Tenant], config: &Config) {
    for tenant in tenants.iter_mut() {
        match config
            .tenants
            .iter()
            .find(|entry| entry.name == tenant.name)
        {
            Some(entry) => tenant.reconfigure(entry),
            None => tracing::warn!(
                tenant = %tenant.name,
                "tenant {} is no longer configured: it runs until serve restarts",
                tenant.name
            ),
        }
    }
    for entry in &config.tenants {
        if !tenants.iter().any(|tenant| tenant.name == entry.name) {
            tracing::warn!(
                tenant = %entry.name,
                "tenant {} is new: it starts when serve restarts",
                entry.name
            );
        }
    }
}

/// Rewrites the status file and hands the status to the metrics endpoint.
fn write_status<'a>(
    state: &Path,
    tenants: impl IntoIterator<Item = &'a Tenant>,
    exporter: Option<&metrics::Exporter>,
) -> Result<()> {
    let status = Status {
        tenants: tenants.into_iter().map(Tenant::status).collect(),
    };
    status.write(state)?;
    if let Some(exporter) = exporter {
        exporter.publish(status);
    }
    Ok(())
}
