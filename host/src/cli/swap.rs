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
    #[arg(long, value_name = "DIR")]
    pub state: PathBuf,
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
    let tenant = args.state.join(&args.tenant);
    anyhow::ensure!(
        tenant.is_dir(),
        "{}: no such tenant state (is the state directory right?)",
        tenant.display()
    );
    let component = args
        .component
        .map(|path| {
            std::path::absolute(&path).with_context(|| format!("{}: bad path", path.display()))
        })
        .transpose()?;
    if let Some(component) = &component {
        anyhow::ensure!(component.is_file(), "{}: no such file", component.display());
    }
    let request = SwapRequest {
        rule: args.rule,
        component,
        parameters: (!args.parameters.is_empty()).then(|| args.parameters.into_iter().collect()),
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
