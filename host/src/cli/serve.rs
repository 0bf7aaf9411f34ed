//! `asim-rules serve` and `asim-rules status`.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::serve::status::{RuleState, Status};

#[derive(clap::Args)]
pub struct ServeArgs {
    /// The configuration (TOML): state directory, tenants, their rules,
    /// spools, alert files and budgets.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Play what the spools hold, then exit (instead of watching them).
    #[arg(long)]
    pub until_idle: bool,
}

#[derive(clap::Args)]
pub struct StatusArgs {
    /// The state directory `serve` writes.
    #[arg(long, value_name = "DIR")]
    pub state: PathBuf,
    /// Print the status file as it is (JSON).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ServeArgs) -> Result<()> {
    crate::serve::run(&args.config, args.until_idle)
}

/// Prints each tenant's rules: state, rows, evaluations, alerts, memory and
/// time used against the budgets.
pub fn status(args: StatusArgs) -> Result<()> {
    let (text, status) = Status::read(&args.state)?;
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
pub fn swap(args: SwapArgs) -> Result<()> {
    use crate::serve::deploy::{SwapAnswer, SwapRequest, ANSWERS_DIR, SWAPS_DIR};
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
    let dir = tenant.join(SWAPS_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let name = format!("{stamp:024}-{}.json", std::process::id());
    let temporary = dir.join(format!(".{name}"));
    std::fs::write(&temporary, serde_json::to_vec_pretty(&request)?)
        .with_context(|| format!("{}: cannot write", temporary.display()))?;
    std::fs::rename(&temporary, dir.join(&name))
        .with_context(|| format!("{}: cannot write", dir.display()))?;
    if args.wait == 0 {
        eprintln!("asim-rules swap: queued {}", dir.join(&name).display());
        return Ok(());
    }
    let answer_path = tenant.join(ANSWERS_DIR).join(&name);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(args.wait);
    while std::time::Instant::now() < deadline {
        if let Ok(bytes) = std::fs::read(&answer_path) {
            let answer: SwapAnswer = serde_json::from_slice(&bytes)
                .with_context(|| format!("{}: not an answer", answer_path.display()))?;
            outln!("{}", answer.outcome);
            anyhow::ensure!(answer.applied, "the swap was not applied");
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    anyhow::bail!(
        "serve did not answer within {} s (is it running?); the request stays queued in {}",
        args.wait,
        dir.display()
    )
}
