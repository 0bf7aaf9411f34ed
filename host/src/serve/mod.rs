//! `serve`: a long-running host for many tenants, each with its rules in
//! their own sandboxes, its spool of batch files, its alert output and its
//! budgets. One engine (pooling allocator) holds every tenant's instances; a
//! rule that breaks a budget is quarantined for its tenant alone.

pub mod config;
mod tenant;

use std::{collections::BTreeMap, fs, path::Path, time::Duration};

use anyhow::{Context, Result};

use crate::engine::{Budgets, EngineOptions, RuleHost};
use config::Config;
use tenant::Tenant;

/// The status file `serve` rewrites and `status` reads.
pub const STATUS_FILE: &str = "status.json";

/// Runs the configuration at `path`: until stopped, or, with `until_idle`,
/// until every spool has been played.
pub fn run(path: &Path, until_idle: bool) -> Result<()> {
    let config = Config::read(path)?;
    fs::create_dir_all(&config.state)
        .with_context(|| format!("{}: cannot create", config.state.display()))?;
    let rules: usize = config.tenants.iter().map(|tenant| tenant.rules.len()).sum();
    // The host's memory cap is the largest tenant budget; each instance gets
    // its own tenant's.
    let memory_bytes = config
        .tenants
        .iter()
        .map(|tenant| tenant.budgets.budgets().memory_bytes)
        .max()
        .unwrap_or(Budgets::default().memory_bytes);
    let options = EngineOptions {
        cpu_deadline: true,
        pooled_instances: Some(u32::try_from(rules + 1).unwrap_or(u32::MAX)),
    };
    let host = RuleHost::with_options(
        Budgets {
            memory_bytes,
            ..Budgets::default()
        },
        &options,
    )?;
    let mut loaded = BTreeMap::new();
    let mut tenants = config
        .tenants
        .iter()
        .map(|tenant| Tenant::start(tenant, &config.state, &host, &mut loaded))
        .collect::<Result<Vec<_>>>()?;
    write_status(&config.state, &tenants)?;
    loop {
        let mut played = false;
        for tenant in &mut tenants {
            played |= tenant
                .poll()
                .with_context(|| format!("tenant {}", tenant.name))?;
        }
        write_status(&config.state, &tenants)?;
        if until_idle && !played {
            eprintln!(
                "asim-rules serve: {} tenants idle{}",
                tenants.len(),
                crate::outputs::peak_memory_note()
            );
            return Ok(());
        }
        if !played {
            std::thread::sleep(Duration::from_millis(config.poll_ms));
        }
    }
}

/// Rewrites the status file atomically.
fn write_status(state: &Path, tenants: &[Tenant]) -> Result<()> {
    let status = serde_json::json!({
        "tenants": tenants.iter().map(Tenant::status).collect::<Vec<_>>(),
    });
    let path = state.join(STATUS_FILE);
    let temporary = state.join(format!("{STATUS_FILE}.tmp"));
    fs::write(&temporary, serde_json::to_vec_pretty(&status)?)
        .with_context(|| format!("{}: cannot write", temporary.display()))?;
    fs::rename(&temporary, &path).with_context(|| format!("{}: cannot write", path.display()))
}
