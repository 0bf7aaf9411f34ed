//! `asim-rules generate`: synthetic data with planted incidents.

use std::{path::PathBuf, time::Instant};

use anyhow::Result;
use asim_rule_core::Timestamp;

use crate::{generate, time};

/// `asim-rules generate`'s arguments.
#[derive(clap::Args)]
pub struct GenerateArgs {
    /// Directory to write into.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Days of traffic (14 or more plants last-day traffic anomalies too).
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..=366))]
    pub days: u32,
    /// Seed of every random choice: same seed, same files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Sessions on a weekday (weekends carry 40% of that).
    #[arg(long, default_value_t = 20_000)]
    pub sessions_per_day: u64,
    /// Threat-intel indicators besides the planted ones.
    #[arg(long, default_value_t = 5_000)]
    pub indicators: u64,
    /// End of the generated traffic; planted TI incidents fall in the hour before.
    #[arg(long, value_parser = super::parse_time, default_value = "2026-03-12T00:00:00Z")]
    pub end: Timestamp,
    /// Also write CSV copies of the JSON lines files.
    #[arg(long)]
    pub csv: bool,
}

/// Writes the synthetic data and says what it planted.
pub fn run(args: GenerateArgs) -> Result<()> {
    let started = Instant::now();
    let plan = generate::Plan {
        end: args.end,
        days: args.days,
        sessions_per_day: args.sessions_per_day,
        indicators: args.indicators,
        seed: args.seed,
        csv: args.csv,
    };
    let written = generate::generate(&plan, &args.out)?;
    tracing::info!(
        "{} sessions, {} indicator rows, {} planted incidents in {} ({:.2}s); \
         evaluate with --at {}",
        written.sessions,
        written.indicators,
        written.planted,
        args.out.display(),
        started.elapsed().as_secs_f64(),
        time::format(args.end)
    );
    Ok(())
}
