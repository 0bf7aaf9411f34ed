//! The command line: one module per subcommand, each thin over the library.

pub mod generate;
pub mod inspect;
pub mod replay;
pub mod run;

use std::path::PathBuf;

use asim_rule_core::Timestamp;
use clap::{Parser, Subcommand};

/// Security analytic rules over ASIM network sessions, run as sandboxed
/// WebAssembly components.
#[derive(Parser)]
#[command(name = "asim-rules", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Evaluates each rule once at --at over the given files.
    Run(run::RunArgs),
    /// Plays the inputs in time order, evaluating each rule on its schedule.
    Replay(replay::ReplayArgs),
    /// Prints what a rule component declares.
    Inspect(inspect::InspectArgs),
    /// Writes synthetic ASIM sessions and indicators with planted incidents.
    Generate(generate::GenerateArgs),
}

/// Options every command that runs rules shares.
#[derive(clap::Args)]
pub struct SandboxArgs {
    /// Memory one rule instance may use, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = crate::engine::DEFAULT_MEMORY_LIMIT >> 20)]
    pub max_memory_mib: usize,
    /// A rule parameter: RULE.NAME=VALUE, RULE being the rule's short name or id.
    #[arg(long = "param", value_name = "RULE.NAME=VALUE", value_parser = parse_parameter)]
    pub parameters: Vec<(String, String, String)>,
    /// Rows per batch handed to a rule.
    #[arg(long, value_name = "ROWS", default_value_t = 65_536, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_rows: u32,
    /// Rule components (.wasm).
    #[arg(long = "rule", value_name = "R.wasm", required = true)]
    pub rules: Vec<PathBuf>,
}

/// Where alerts go and whom they are for; `run` and `replay` share them.
#[derive(clap::Args)]
pub struct AlertArgs {
    /// Tenant the evaluations run for.
    #[arg(long, default_value = "default")]
    pub tenant: String,
    /// Write alerts here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Alert format.
    #[arg(long, value_enum, default_value_t = crate::outputs::OutputFormat::Jsonl)]
    pub format: crate::outputs::OutputFormat,
}

/// `--at` and friends: an RFC 3339 time.
pub fn parse_time(text: &str) -> Result<Timestamp, String> {
    crate::inputs::time::parse(text)
}

fn parse_parameter(text: &str) -> Result<(String, String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not RULE.NAME=VALUE"))?;
    let (rule, name) = key
        .split_once('.')
        .ok_or_else(|| format!("{key:?} is not RULE.NAME"))?;
    Ok((rule.to_owned(), name.to_owned(), value.to_owned()))
}
