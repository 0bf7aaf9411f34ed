//! `asim-rules serve` and `asim-rules status`.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::serve::{
    status::{RuleState, Status},
    Io,
};

/// `asim-rules serve`'s arguments.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The configuration (TOML): state directory, tenants, their rules,
    /// spools, alert files and budgets.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Play what the spools hold, then exit (instead of watching them).
    #[arg(long)]
    pub until_idle: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics and liveness at
    /// /healthz; without ADDR, on loopback (127.0.0.1:9464).
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = crate::limits::METRICS_ADDRESS)]
    pub metrics: Option<std::net::SocketAddr>,
    /// The cluster mode: batches come from this NATS server's JetStream
    /// (nats://HOST:PORT; `asim-rules publish` sends them) and alerts go to
    /// it; the config's tenants name no spool or alert file.
    #[cfg(feature = "cluster")]
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
    /// With --nats: servers that keep a copy of each stream and bucket this
    /// instance creates (3 in production, on a cluster of 3 or more).
    #[cfg(feature = "cluster")]
    #[arg(long, value_name = "N", default_value_t = 1, requires = "nats", value_parser = clap::value_parser!(u8).range(1..=5))]
    pub replicas: u8,
}

/// `asim-rules status`'s arguments.
#[derive(clap::Args)]
pub struct StatusArgs {
    /// The state directory `serve` writes.
    #[arg(long, value_name = "DIR", required_unless_present = "nats")]
    pub state: Option<PathBuf>,
    /// A cluster's status instead (nats://HOST:PORT; comma-separated, a
    /// cluster's): live instances, and per tenant its holder, epoch, position,
    /// messages behind and watermark.
    #[cfg(feature = "cluster")]
    #[arg(long, value_name = "URL", conflicts_with = "state")]
    pub nats: Option<String>,
    /// Print the status as JSON (the status file as it is).
    #[arg(long)]
    pub json: bool,
}

/// Runs the tenants of the configuration.
pub fn run(args: ServeArgs) -> Result<()> {
    #[cfg(feature = "cluster")]
    let io = match &args.nats {
        Some(url) => {
            let connection = crate::cluster::Connection::open(url, args.replicas.into())?;
            Io::Cluster(std::sync::Arc::new(connection))
        }
        None => Io::Files,
    };
    #[cfg(not(feature = "cluster"))]
    let io = Io::Files;
    crate::serve::run(&args.config, &io, args.until_idle, args.metrics)
}

/// Prints each tenant's rules: state, rows, evaluations, alerts, memory and
/// time used against the budgets.
pub fn status(args: StatusArgs) -> Result<()> {
    #[cfg(feature = "cluster")]
    if let Some(url) = &args.nats {
        return cluster_status(url, args.json);
    }
    let state = args.state.context("--state is required")?;
    let (text, status) = Status::read(&state)?;
    if args.json {
        outln!("{}", text.trim_end_matches('\n'));
        return Ok(());
    }
    let or_dash = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".into());
    outln!(
        "{:<12} {:<26} {:<12} {:>8} {:>6} {:>8} {:<21} {:>12} {:>14}  reason",
        "TENANT",
        "RULE",
        "STATE",
        "ROWS",
        "EVALS",
        "ALERTS",
        "LAST EVALUATION",
        "MEMORY MiB",
        "BUSY ms"
    );
    for tenant in &status.tenants {
        let name = &tenant.tenant;
        for rule in &tenant.rules {
            let state = match rule.state {
                RuleState::Running => "running",
                RuleState::Quarantined => "quarantined",
            };
            outln!(
                "{:<12} {:<26} {:<12} {:>8} {:>6} {:>8} {:<21} {:>12} {:>14}  {}",
                name,
                format!("{} {}", rule.rule, rule.version),
                state,
                tenant.rows_in,
                rule.evaluations,
                rule.alerts,
                or_dash(&rule.last_evaluation),
                format!("{}/{}", rule.memory_mib, tenant.memory_budget_mib),
                format!("{} ({} per call)", rule.busy_ms, tenant.call_budget_ms),
                or_dash(&rule.reason),
            );
            if rule.swapped_at.is_some() || rule.last_swap.is_some() {
                outln!(
                    "{:<12}   swapped {} from {} ({}){}; {}",
                    "",
                    or_dash(&rule.swapped_at),
                    or_dash(&rule.previous_version),
                    or_dash(&rule.previous_component),
                    if rule.on_probation {
                        ", on probation"
                    } else {
                        ""
                    },
                    or_dash(&rule.last_swap),
                );
            }
            if let Some(printed) = &rule.printed {
                let dropped = match printed.dropped {
                    0 => String::new(),
                    more => format!(" ({more} more dropped)"),
                };
                outln!(
                    "{:<12}   printed {} bytes{dropped}; the last lines:",
                    "",
                    printed.bytes
                );
                for line in &printed.last_lines {
                    outln!("{:<12}   | {line}", "");
                }
            }
        }
        for refused in &tenant.refused {
            outln!(
                "{:<12} {:<26} {:<12}  {}",
                name,
                refused.component,
                "refused",
                refused.reason
            );
        }
    }

    Ok(())
}

/// Prints what the cluster at `url` says of its instances and tenants.
#[cfg(feature = "cluster")]
fn cluster_status(url: &str, json: bool) -> Result<()> {
    let connection = crate::cluster::Connection::open(url, 1)?;
    let status = crate::cluster::status::read(&connection)?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    outln!(
        "{} live instances: {}",
        status.instances.len(),
        status.instances.join(", ")
    );
    outln!(
        "{:<16} {:<28} {:>6} {:>10} {:>8}  WATERMARK",
        "TENANT",
        "HOLDER",
        "EPOCH",
        "POSITION",
        "BEHIND"
    );
    let or_dash = |value: Option<String>| value.unwrap_or_else(|| "-".into());
    for tenant in &status.tenants {
        outln!(
            "{:<16} {:<28} {:>6} {:>10} {:>8}  {}",
            tenant.tenant,
            or_dash(tenant.holder.clone()),
            tenant.epoch,
            or_dash(tenant.position.map(|position| position.to_string())),
            tenant.behind,
            or_dash(tenant.watermark.clone()),
        );
    }
    Ok(())
}
