//! `asim-rules swap`: asks a running `serve` to swap a tenant's rule for
//! another build or other parameters, and waits for its answer. The request
//! and answer files are `serve::deploy`'s.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

use crate::serve::deploy::{self, SwapRequest};

/// `asim-rules swap`'s arguments.
#[derive(clap::Args)]
pub struct SwapArgs {
    /// The state directory of the running `serve`.
    #[arg(long, value_name = "DIR", required_unless_present = "nats")]
    pub state: Option<PathBuf>,
    /// A cluster instead (nats://HOST:PORT; comma-separated, a cluster's):
    /// the request goes to its key-value store, and whichever instance holds
    /// the tenant applies it.
    #[cfg(feature = "cluster")]
    #[arg(long, value_name = "URL", conflicts_with = "state")]
    pub nats: Option<String>,
    /// The tenant whose rule changes.
    #[arg(long)]
    pub tenant: String,
    /// The rule: its id or short name.
    #[arg(long)]
    pub rule: String,
    /// The new build; default: the one running (a parameter-only change).
    #[arg(long, value_name = "FILE")]
    pub component: Option<PathBuf>,
    /// A parameter of the new deployment, NAME=VALUE; giving any replaces
    /// all of them (none given: the running ones stay).
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_name_value)]
    pub parameters: Vec<(String, String)>,
    /// Seconds to wait for serve's answer (0: queue the request and return).
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub wait: u64,
}

fn parse_name_value(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not NAME=VALUE"))?;
    Ok((name.to_owned(), value.to_owned()))
}

/// Queues a swap for `serve` (a request file in the tenant's state) and
/// waits for its answer: exit 0 when applied, 1 when refused.
pub fn run(args: SwapArgs) -> Result<()> {
    #[cfg(feature = "cluster")]
    if let Some(url) = &args.nats {
        return run_on_cluster(url, &args);
    }
    let state = args.state.as_ref().context("--state is required")?;
    let tenant = state.join(&args.tenant);
    anyhow::ensure!(
        tenant.is_dir(),
        "{}: no such tenant state (is the state directory right?)",
        tenant.display()
    );
    let component = args
        .component
        .as_ref()
        .map(|path| {
            std::path::absolute(path).with_context(|| format!("{}: bad path", path.display()))
        })
        .transpose()?;
    if let Some(component) = &component {
        anyhow::ensure!(component.is_file(), "{}: no such file", component.display());
    }
    let request = SwapRequest {
        rule: args.rule.clone(),
        component,
        parameters: parameters(&args),
    };
    let queued = deploy::queue(&tenant, &request)?;
    if args.wait == 0 {
        tracing::info!("queued {}", queued.display());
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(args.wait);
    while Instant::now() < deadline {
        if let Some(answer) = deploy::answer_to(&queued)? {
            outln!("{}", answer.outcome);
            anyhow::ensure!(answer.applied, "the swap was not applied");
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    anyhow::bail!(
        "serve did not answer within {} s (is it running?); the request stays queued as {}",
        args.wait,
        queued.display()
    )
}

/// The parameters asked for; none: the running ones stay.
fn parameters(args: &SwapArgs) -> Option<std::collections::BTreeMap<String, String>> {
    (!args.parameters.is_empty()).then(|| args.parameters.iter().cloned().collect())
}

/// Queues the swap in the cluster's key-value store (the build in its
/// object store) and waits for the holder's answer.
#[cfg(feature = "cluster")]
fn run_on_cluster(url: &str, args: &SwapArgs) -> Result<()> {
    use crate::cluster::{
        state::States,
        swaps::{SwapEntry, Swaps},
        Connection, Owner,
    };
    Owner::tenant(&args.tenant)?;
    let connection = Connection::open(url, 1)?;
    let component = match &args.component {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
            Some(States::open(&connection)?.store_build(&connection, &bytes)?)
        }
        None => None,
    };
    let swaps = Swaps::open(&connection)?;
    let entry = SwapEntry {
        rule: args.rule.clone(),
        component,
        parameters: parameters(args),
        answer: None,
    };
    let key = swaps.queue(&connection, &args.tenant, &entry)?;
    if args.wait == 0 {
        tracing::info!("queued swap request {key}");
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(args.wait);
    while Instant::now() < deadline {
        if let Some(answer) = swaps.get(&connection, &key)?.and_then(|entry| entry.answer) {
            swaps.forget(&connection, &key);
            outln!("{}", answer.outcome);
            anyhow::ensure!(answer.applied, "the swap was not applied");
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    anyhow::bail!(
        "no instance answered within {} s (does one hold tenant {}?); the request stays queued as {key}",
        args.wait,
        args.tenant
    )
}
