//! The cluster mode's commands: `asim-rules publish` (files into NATS
//! JetStream, as batches) and `asim-rules alerts` (a tenant's alerts read back).

use anyhow::{bail, Context, Result};

use crate::{
    cli::IndicatorArgs,
    cluster::{
        alerts::write_alerts,
        publish::{publish_file, Published},
        Connection, Owner,
    },
    feed::Table,
    inputs::{normalize::SessionFormat, InputFile, Rejects},
    pipeline::Readers,
};

/// `asim-rules publish`'s arguments.
#[derive(clap::Args)]
pub struct PublishArgs {
    /// The NATS server (nats://HOST:PORT; comma-separated, a cluster's).
    #[arg(long, value_name = "URL")]
    pub nats: String,
    /// Servers that keep a copy of the streams this creates (3 in production).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub replicas: u8,
    /// The tenant whose rows these are.
    #[arg(
        long,
        value_name = "NAME",
        required_unless_present = "global",
        conflicts_with = "global"
    )]
    pub tenant: Option<String>,
    /// The indicators are every tenant's (asim.global.indicators).
    #[arg(long, conflicts_with_all = ["sessions", "summaries"])]
    pub global: bool,
    /// Session files, in any format `run` reads (raw logs are normalized first).
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
    /// Rows per message at most (fewer when a batch would pass the server's
    /// largest message).
    #[arg(long, value_name = "ROWS", default_value_t = crate::limits::BATCH_ROWS as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_rows: u32,
    /// How long a line of an input file may be.
    #[command(flatten)]
    pub lines: super::LineArgs,
}

/// Sends every file's rows to its table's subject.
pub fn publish(args: PublishArgs) -> Result<()> {
    let owner = match &args.tenant {
        Some(name) => Owner::tenant(name)?,
        None => Owner::Global,
    };
    let mut tables: Vec<(Table, Vec<InputFile>)> = Vec::new();
    tables.push((Table::Indicators, args.indicators.files(&args.lines)));
    let plain = |names: &[String]| {
        names
            .iter()
            .map(|name| InputFile::new(name).map(|input| args.lines.limit(input)))
            .collect::<Result<Vec<_>>>()
    };
    tables.push((Table::Summaries, plain(&args.summaries)?));
    tables.push((
        Table::Sessions,
        super::session_files(&args.sessions, 1, &args.lines),
    ));
    if tables.iter().all(|(_, files)| files.is_empty()) {
        bail!("nothing to publish: give --sessions, --indicators or --summaries files");
    }
    let connection = Connection::open(&args.nats, args.replicas.into())?;
    connection.input_stream()?;
    let readers = Readers {
        indicators: args.indicators.list_options(),
        sessions_format: args.sessions_format,
    };
    let mut rejects = Rejects::default();
    for (table, files) in &tables {
        let reader = readers.of(*table);
        for input in files {
            let rejected_before = rejects.count;
            let Published {
                rows,
                messages,
                duplicates,
            } = publish_file(
                &connection,
                &owner,
                *table,
                input,
                &reader,
                args.batch_rows as usize,
                &mut rejects,
            )?;
            let already = match duplicates {
                0 => String::new(),
                count => format!(" ({count} already in the stream, not stored again)"),
            };
            tracing::info!(
                "{}: {rows} {} rows in {messages} messages to {}{already}; {} rows refused",
                input.name,
                table.name(),
                owner.subject(*table),
                rejects.count - rejected_before
            );
        }
    }
    Ok(())
}

/// `asim-rules alerts`' arguments.
#[derive(clap::Args)]
pub struct AlertsArgs {
    /// The NATS server (nats://HOST:PORT; comma-separated, a cluster's).
    #[arg(long, value_name = "URL")]
    pub nats: String,
    /// The tenant whose alerts are read.
    #[arg(long, value_name = "NAME")]
    pub tenant: String,
}

/// Prints the tenant's alerts stored so far, one record a line.
pub fn alerts(args: AlertsArgs) -> Result<()> {
    let owner = Owner::tenant(&args.tenant)?;
    let connection = Connection::open(&args.nats, 1)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = write_alerts(&connection, &owner, &mut out)?;
    std::io::Write::flush(&mut out).context("writing alerts")?;
    tracing::info!("{written} alerts of tenant {}", args.tenant);
    Ok(())
}
