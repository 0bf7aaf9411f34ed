//! `asim-rules serve` and `asim-rules status`.

use std::path::PathBuf;

use anyhow::{Context, Result};

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
    let path = args.state.join(crate::serve::STATUS_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    if args.json {
        print!("{text}");
        return Ok(());
    }
    let status: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a status file", path.display()))?;
    let text_of = |value: &serde_json::Value| match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    };
    println!(
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
    for tenant in status["tenants"].as_array().into_iter().flatten() {
        let name = text_of(&tenant["tenant"]);
        for rule in tenant["rules"].as_array().into_iter().flatten() {
            println!(
                "{:<12} {:<26} {:<12} {:>8} {:>6} {:>8} {:<21} {:>12} {:>14}  {}",
                name,
                format!("{} {}", text_of(&rule["rule"]), text_of(&rule["version"])),
                text_of(&rule["state"]),
                text_of(&tenant["rows_in"]),
                text_of(&rule["evaluations"]),
                text_of(&rule["alerts"]),
                text_of(&rule["last_evaluation"]),
                format!(
                    "{}/{}",
                    text_of(&rule["memory_mib"]),
                    text_of(&tenant["memory_budget_mib"])
                ),
                format!(
                    "{} ({} per call)",
                    text_of(&rule["busy_ms"]),
                    text_of(&tenant["call_budget_ms"])
                ),
                text_of(&rule["reason"]),
            );
        }
        for refused in tenant["refused"].as_array().into_iter().flatten() {
            println!(
                "{:<12} {:<26} {:<12}  {}",
                name,
                text_of(&refused["component"]),
                "refused",
                text_of(&refused["reason"])
            );
        }
    }
    Ok(())
}
