//! `asim-rules replay`: the inputs in time order, every rule evaluated at each
//! tick of its own schedule in `(from, to]`.

use std::time::Instant;

use anyhow::{bail, Result};
use asim_rule_core::Timestamp;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::{
    cli::{run::load_rules, AlertArgs, IndicatorArgs, SandboxArgs},
    engine::RuleHost,
    feed::Table,
    inputs::{
        normalize::SessionFormat,
        stream::{Group, Merged, Order},
        InputFile,
    },
    pipeline::Readers,
    schedule::Replay,
    time,
};

/// `asim-rules replay`'s arguments.
#[derive(clap::Args)]
pub struct ReplayArgs {
    /// The rules and their budgets.
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    /// Session files, each in time order: ASIM NetworkSession (JSON lines or
    /// CSV) or raw logs the host normalizes (Zeek conn.log, AWS VPC flow logs, Suricata EVE); optionally .gz.
    #[arg(long, value_name = "FILE", required = true)]
    pub sessions: Vec<String>,
    /// What the session files hold; default: recognised from each file.
    #[arg(long, value_name = "FORMAT", value_parser = super::session_format())]
    pub sessions_format: Option<SessionFormat>,
    // Indicator files and list options, as for `run`.
    /// The threat-intel files.
    #[command(flatten)]
    pub indicators: IndicatorArgs,
    /// NetworkSummary_Protocol_CL or NetworkCustomAnalytics_protocol_CL exports, each in time order.
    #[arg(long, value_name = "FILE")]
    pub summaries: Vec<String>,
    /// Evaluations happen at ticks after this time (rows before it fill windows).
    #[arg(long, value_parser = super::parse_time)]
    pub from: Timestamp,
    /// Last time an evaluation may happen.
    #[arg(long, value_parser = super::parse_time)]
    pub to: Timestamp,
    /// How far a row may lag a later row of its file and still be played in
    /// time order as it is read (logs are written when connections end): 5m,
    /// 30s, 0s. A file that lags more (an export newest first, or in no
    /// order) is sorted on disk before it is played.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = crate::time::parse_duration)]
    pub lateness: i64,
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

/// Progress is redrawn every this many rows.
const PROGRESS_EVERY: u64 = 1 << 16;

/// Plays the inputs in time order and evaluates each rule at each tick.
pub fn run(args: ReplayArgs) -> Result<()> {
    if args.to < args.from {
        bail!("--to is before --from");
    }
    let started = Instant::now();
    // Every file is read at once, in time order: no bar per file (the
    // replay shows its own progress).
    let summary = |name: &String| InputFile::new(name).map(|input| args.lines.limit(input));
    let files = [
        args.indicators.files(&args.lines),
        args.summaries
            .iter()
            .map(summary)
            .collect::<Result<Vec<_>>>()?,
        super::session_files(&args.sessions, args.threads.count(), &args.lines),
    ];
    let host = RuleHost::new(args.sandbox.budgets())?;
    let rules = load_rules(&host, &args.sandbox)?;
    let mut sink = args.alerts.sink()?;
    let names: Vec<String> = rules
        .iter()
        .map(|rule| rule.metadata().short_name.clone())
        .collect();

    let readers = Readers {
        indicators: args.indicators.list_options(),
        sessions_format: args.sessions_format,
    };
    let mut replay = Replay::new(
        rules,
        args.from,
        args.to,
        &args.alerts.tenant,
        args.sandbox.batch_rows as usize,
    );
    // Groups follow Table::ALL, whose order is the order within an instant.
    let groups = Table::ALL
        .iter()
        .zip(files)
        .map(|(&table, files)| {
            let reader = readers.of(table);
            Group {
                files,
                columns: replay.feed(table).columns().to_vec(),
                reader,
                order: match table {
                    // Small next to sessions and seldom in time order (STIX
                    // bundles, feeds): each is sorted whole.
                    Table::Indicators => Order::SortInMemory,
                    Table::Summaries => Order::SortWhenOutOfOrder(&["EventTime", "EventTime_t"]),
                    Table::Sessions => Order::SortWhenOutOfOrder(&["TimeGenerated"]),
                },
                lateness: args.lateness,
            }
        })
        .collect();
    let mut merged = Merged::start(groups);
    let progress = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    progress.set_style(
        ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let mut played = 0u64;
    while let Some((group, row)) = merged.next_row() {
        if replay.is_done() {
            break;
        }
        let cells: Vec<_> = row.cells.iter().map(|cell| cell.cell()).collect();
        replay.row(Table::ALL[group], row.time, &cells, &mut sink)?;
        played += 1;
        if played.is_multiple_of(PROGRESS_EVERY) {
            let rate = played as f64 / started.elapsed().as_secs_f64();
            progress.set_message(format!(
                "{played} rows, {rate:.0} rows/s, event time {}",
                time::format(row.time)
            ));
        }
    }
    replay.finish(&mut sink)?;
    progress.finish_and_clear();
    sink.finish()?;
    let schedules = replay.schedules().to_vec();
    let out_of_order = merged.out_of_order;
    if out_of_order > 0 {
        tracing::warn!(
            "{out_of_order} rows were earlier than the row before them in their file; evaluations before they arrived did not see them (sort each input by TimeGenerated)"
        );
    }
    let reports = merged.finish(Table::ALL.len())?;
    let read: Vec<String> = Table::ALL
        .iter()
        .zip(&reports)
        .map(|(table, report)| {
            format!(
                "{} {} rows ({} rejected)",
                report.records,
                table.name(),
                report.rejects.count
            )
        })
        .collect();
    let per_rule: Vec<String> = names
        .iter()
        .zip(&schedules)
        .map(|(name, schedule)| {
            format!(
                "{name} {} evaluations, {} alerts",
                schedule.evaluations, schedule.alerts
            )
        })
        .collect();
    tracing::info!(
        "{}; {played} rows played ({out_of_order} out of time order); {}; {:.2}s{}",
        read.join(", "),
        per_rule.join("; "),
        started.elapsed().as_secs_f64(),
        crate::outputs::peak_memory_note(),
    );
    super::report_rule_output(replay.rules(), args.sandbox.verbose);
    super::check_quarantines(replay.rules())
}
