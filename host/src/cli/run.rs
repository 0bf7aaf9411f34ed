//! `asim-rules run`: one evaluation of each rule at `--at`.

use std::time::Instant;

use anyhow::{bail, Result};
use asim_rule_core::Timestamp;

use crate::{
    cli::{AlertArgs, IndicatorArgs, SandboxArgs},
    engine::{RuleHost, RuleInstance},
    feed::Table,
    inputs::{normalize::SessionFormat, InputFile, Rejects},
    pipeline::{self, Outcome, Readers},
};

/// `asim-rules run`'s arguments.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The rules and their budgets.
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    /// Session files: ASIM NetworkSession (JSON lines or CSV) or raw logs the
    /// host normalizes (Zeek conn.log, AWS VPC flow logs, Suricata EVE); optionally .gz; - for stdin.
    #[arg(long, value_name = "FILE")]
    pub sessions: Vec<String>,
    /// What the session files hold; default: recognised from each file.
    #[arg(long, value_name = "FORMAT", value_parser = super::session_format())]
    pub sessions_format: Option<SessionFormat>,
    /// The threat-intel files.
    #[command(flatten)]
    pub indicators: IndicatorArgs,
    /// NetworkSummary_Protocol_CL or NetworkCustomAnalytics_protocol_CL exports.
    #[arg(long, value_name = "FILE")]
    pub summaries: Vec<String>,
    /// Evaluation time (RFC 3339, e.g. 2026-03-14T15:00:00Z).
    #[arg(long, value_parser = super::parse_time)]
    pub at: Timestamp,
    /// Threads per session file.
    #[command(flatten)]
    pub threads: super::ThreadArgs,
    /// How many lines of each file are read, and how long one may be.
    #[command(flatten)]
    pub lines: super::LineArgs,
    /// Where alerts go and how they are written.
    #[command(flatten)]
    pub alerts: AlertArgs,
}

/// Feeds every file to the rules, evaluates each once at `--at`, writes the alerts.
pub fn run(args: RunArgs) -> Result<()> {
    let started = Instant::now();
    // Files are read one after the other: a bar for each on a terminal.
    let bar = |files: Vec<InputFile>| -> Vec<InputFile> {
        let bar = super::progress_bar();
        files
            .into_iter()
            .map(|file| file.with_progress(bar.clone()))
            .collect()
    };
    let sessions = bar(super::session_files(
        &args.sessions,
        args.threads.count(),
        &args.lines,
    ));
    let indicators = bar(args.indicators.files(&args.lines));
    let summaries = bar(args
        .summaries
        .iter()
        .map(|name| InputFile::new(name).map(|input| args.lines.limit(input)))
        .collect::<Result<Vec<_>>>()?);
    let host = RuleHost::new(args.sandbox.budgets())?;
    let mut rules = load_rules(&host, &args.sandbox)?;
    let loaded = started.elapsed();
    for rule in &rules {
        let metadata = rule.metadata();
        if args.at.rem_euclid(metadata.frequency) != 0 {
            // Sentinel runs a rule by hand at any time, too: the windows end at
            // --at as they would at a tick, but a scheduled run never does this.
            tracing::warn!(
                "--at {} is not a tick of {} (every {}): evaluated over the windows ending then, as a run by hand would be; replay and serve evaluate only on ticks",
                crate::time::format(args.at),
                metadata.short_name,
                super::inspect::duration(metadata.frequency),
            );
        }
    }

    let readers = Readers {
        indicators: args.indicators.list_options(),
        sessions_format: args.sessions_format,
    };
    let mut rejects = Rejects::default();
    let mut tables = vec![(Table::Indicators, &indicators[..])];
    // Summaries are optional history: no line for them when none are given.
    if !summaries.is_empty() {
        tables.push((Table::Summaries, &summaries[..]));
    }
    tables.push((Table::Sessions, &sessions[..]));
    let batch_rows = args.sandbox.batch_rows as usize;
    let read = pipeline::feed_at(
        &mut rules,
        &tables,
        &readers,
        args.at,
        batch_rows,
        &mut rejects,
    )?;
    let fed = started.elapsed();

    let mut sink = args.alerts.sink()?;
    let outcomes = pipeline::evaluate_at(&mut rules, args.at, &args.alerts.tenant, &mut sink)?;
    let mut counts = Vec::new();
    for (rule, outcome) in rules.iter_mut().zip(outcomes) {
        let name = &rule.metadata().short_name;
        match outcome {
            Outcome::Alerts(alerts) => counts.push(format!("{name} {alerts}")),
            Outcome::Quarantined(_) => {
                counts.push(format!("{name} quarantined"));
                continue;
            }
        }
        let stats: Vec<String> = rule
            .stats()?
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        tracing::info!(
            "{} state: {} memory={} MiB",
            rule.metadata().short_name,
            stats.join(" "),
            rule.memory_bytes() >> 20
        );
    }
    sink.finish()?;
    if rejects.not_shown() > 0 {
        tracing::warn!("{} more rejected rows not shown", rejects.not_shown());
    }
    let read: Vec<String> = read
        .iter()
        .map(|table| {
            format!(
                "{} {} rows ({} rejected, {} outside every rule's window)",
                table.rows,
                table.table.name(),
                table.rejected,
                table.outside_windows
            )
        })
        .collect();
    tracing::info!(
        "{}; alerts: {}; load {:.2}s, read {:.2}s, evaluate {:.2}s{}",
        read.join(", "),
        counts.join(", "),
        loaded.as_secs_f64(),
        (fed - loaded).as_secs_f64(),
        (started.elapsed() - fed).as_secs_f64(),
        crate::outputs::peak_memory_note(),
    );
    super::report_rule_output(&rules, args.sandbox.verbose);
    super::check_quarantines(&rules)
}

/// Loads and configures every `--rule`, giving each its `--param`s.
pub fn load_rules(host: &RuleHost, args: &SandboxArgs) -> Result<Vec<RuleInstance>> {
    let loaded = args
        .rules
        .iter()
        .map(|path| host.load(path))
        .collect::<Result<Vec<_>>>()?;
    for (rule, name, _) in &args.parameters {
        if !loaded
            .iter()
            .any(|l| l.metadata.short_name == *rule || l.metadata.id == *rule)
        {
            bail!("--param {rule}.{name}: no loaded rule is called {rule}");
        }
    }
    loaded
        .iter()
        .map(|rule| {
            let parameters: Vec<(String, String)> = args
                .parameters
                .iter()
                .filter(|(name, _, _)| {
                    *name == rule.metadata.short_name || *name == rule.metadata.id
                })
                .map(|(_, name, value)| (name.clone(), value.clone()))
                .collect();
            rule.instantiate(host, &parameters)
        })
        .collect()
}
