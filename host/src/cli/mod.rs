//! The command line: one module per subcommand, each thin over the library.

/// `println!` that returns an error instead of panicking when standard output
/// is a closed pipe or a full disk (`main` stops quietly on the first).
macro_rules! outln {
    ($($arg:tt)*) => {
        std::io::Write::write_fmt(
            &mut std::io::stdout().lock(),
            format_args!("{}\n", format_args!($($arg)*)),
        )
        .map_err(|error| anyhow::Error::new(error).context("writing to standard output"))?
    };
}

#[cfg(feature = "cluster")]
pub mod cluster;
pub mod generate;
pub mod inspect;
pub mod normalize;
pub mod replay;
pub mod run;
pub mod serve;
pub mod swap;

use std::path::PathBuf;

use asim_rule_core::Timestamp;
use clap::{
    builder::{PossibleValue, PossibleValuesParser, TypedValueParser},
    Parser, Subcommand,
};

use crate::{
    engine::{Budgets, RuleInstance},
    inputs::normalize::SessionFormat,
    limits,
    logging::LogFormat,
    outputs::{AlertFormat, AlertSink, SecurityLakeTarget},
};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::inputs::{indicators::ListOptions, InputFile, Progress};

/// Security analytic rules over ASIM network sessions, run as sandboxed
/// WebAssembly components.
#[derive(Parser)]
#[command(name = "asim-rules", version, about)]
pub struct Cli {
    /// The subcommand and its arguments.
    #[command(subcommand)]
    pub command: Command,
    /// How messages on stderr are written: lines for a person, or one JSON
    /// object per event (time, level, message, and fields such as tenant).
    #[arg(long, global = true, value_enum, default_value_t = LogFormatArg::Human)]
    pub log_format: LogFormatArg,
    /// The least severe messages written.
    #[arg(long, global = true, value_enum, default_value_t = LogLevelArg::Info)]
    pub log_level: LogLevelArg,
}

/// `--log-format` (the library's [`LogFormat`] knows nothing of clap).
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum LogFormatArg {
    /// A line per message.
    Human,
    /// A JSON object per message.
    Json,
}

/// `--log-level`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum LogLevelArg {
    /// Warnings only: refused rows, quarantines, refusals.
    Warn,
    /// Warnings and what each step read, played and wrote.
    Info,
}

impl Cli {
    /// Sends the library's events to stderr as the flags say.
    pub fn init_logging(&self) {
        let format = match self.log_format {
            LogFormatArg::Human => LogFormat::Human,
            LogFormatArg::Json => LogFormat::Json,
        };
        let level = match self.log_level {
            LogLevelArg::Warn => tracing::Level::WARN,
            LogLevelArg::Info => tracing::Level::INFO,
        };
        crate::logging::init(format, level);
    }
}

/// The subcommands.
#[derive(Subcommand)]
pub enum Command {
    /// Evaluates each rule once at --at over the given files.
    Run(run::RunArgs),
    /// Plays the inputs in time order, evaluating each rule on its schedule.
    Replay(replay::ReplayArgs),
    /// Prints what a rule component declares.
    Inspect(inspect::InspectArgs),
    /// Writes raw logs (Zeek, AWS VPC, Suricata, Sentinel vendor tables) as ASIM NetworkSession JSON lines.
    Normalize(normalize::NormalizeArgs),
    /// Writes synthetic ASIM sessions and indicators with planted incidents.
    Generate(generate::GenerateArgs),
    /// Runs many tenants' rules from a config, playing their spools as files arrive.
    Serve(serve::ServeArgs),
    /// Prints what `serve` reports per tenant and rule.
    Status(serve::StatusArgs),
    /// Asks a running `serve` to swap a tenant's rule for another build or parameters.
    Swap(swap::SwapArgs),
    /// Sends session, indicator or summary files to a NATS JetStream cluster as batches.
    #[cfg(feature = "cluster")]
    Publish(cluster::PublishArgs),
    /// Prints a tenant's alerts from a NATS JetStream cluster, one record a line.
    #[cfg(feature = "cluster")]
    Alerts(cluster::AlertsArgs),
}

/// Options every command that runs rules shares.
#[derive(clap::Args)]
pub struct SandboxArgs {
    /// Memory one rule instance may use, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = limits::MEMORY_BYTES >> 20, value_parser = parse_mib)]
    pub max_memory_mib: usize,
    /// Wall time one call into a rule may take, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = limits::CALL_TIME.as_millis() as u64)]
    pub max_call_ms: u64,
    /// Alerts one evaluation may return.
    #[arg(long, value_name = "N", default_value_t = limits::ALERTS_PER_EVALUATION)]
    pub max_alerts: usize,
    /// Text one alert may carry, in KiB.
    #[arg(long, value_name = "KIB", default_value_t = limits::ALERT_BYTES >> 10, value_parser = parse_kib)]
    pub max_alert_kib: usize,
    /// Size of a rule's snapshot, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = limits::SNAPSHOT_BYTES >> 20, value_parser = parse_mib)]
    pub max_snapshot_mib: usize,
    /// Data any other call into a rule may hand the host, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = limits::OUTPUT_BYTES >> 20, value_parser = parse_mib)]
    pub max_output_mib: usize,
    /// A rule parameter: RULE.NAME=VALUE, RULE being the rule's short name or id.
    #[arg(long = "param", value_name = "RULE.NAME=VALUE", value_parser = parse_parameter)]
    pub parameters: Vec<(String, String, String)>,
    /// Rows per batch handed to a rule.
    #[arg(long, value_name = "ROWS", default_value_t = limits::BATCH_ROWS as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_rows: u32,
    /// Rule components (.wasm).
    #[arg(long = "rule", value_name = "R.wasm", required = true)]
    pub rules: Vec<PathBuf>,
    /// Show what each rule printed (a Python rule's `print`), at the end.
    #[arg(long)]
    pub verbose: bool,
}

impl SandboxArgs {
    /// The budgets each rule instance gets; a rule that breaks one is
    /// quarantined and the others go on.
    pub fn budgets(&self) -> Budgets {
        Budgets {
            memory_bytes: self.max_memory_mib << 20,
            time_per_call: std::time::Duration::from_millis(self.max_call_ms),
            alerts_per_evaluation: self.max_alerts,
            alert_bytes: self.max_alert_kib << 10,
            snapshot_bytes: self.max_snapshot_mib << 20,
            output_bytes: self.max_output_mib << 20,
        }
    }
}

/// What each rule printed (WASI standard output and error: a Python rule's
/// `print`), after a run: its size, or with `--verbose` its lines, made safe
/// for a terminal.
pub fn report_rule_output(rules: &[RuleInstance], verbose: bool) {
    for rule in rules {
        let log = rule.log();
        if log.text.is_empty() && log.dropped == 0 {
            continue;
        }
        let name = &rule.metadata().short_name;
        let printed = match log.dropped {
            0 => format!("{name} printed {} bytes", log.text.len()),
            more => format!(
                "{name} printed {} bytes ({more} more dropped: a rule's log keeps {} KiB)",
                log.text.len(),
                crate::limits::RULE_LOG_BYTES >> 10
            ),
        };
        if !verbose {
            tracing::info!("{printed}: --verbose shows them");
            continue;
        }
        tracing::info!("{printed}:");
        for line in log.text.lines() {
            tracing::info!("{name}| {}", crate::printable::printable(line));
        }
    }
}

/// Fails when a rule was quarantined (each was reported when it happened):
/// the other rules' alerts are written, but the run was not whole.
pub fn check_quarantines(rules: &[RuleInstance]) -> anyhow::Result<()> {
    let quarantined: Vec<String> = rules
        .iter()
        .filter_map(|rule| rule.quarantine())
        .map(ToString::to_string)
        .collect();
    if quarantined.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "{} rule(s) quarantined, the others' alerts written: {}",
        quarantined.len(),
        quarantined.join("; ")
    )
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
    /// The alerts' shape (`--format` is its older name). With `--out
    /// FILE.parquet`, a Parquet file of that shape (not `table`).
    #[arg(long, alias = "format", value_name = "FORMAT", default_value = "jsonl", value_parser = alert_format())]
    pub alert_format: AlertFormat,
    /// Write OCSF findings as an Amazon Security Lake custom source under
    /// this folder (Parquet, one file per day): DIR/ext/SOURCE/region=…/
    /// accountId=…/eventDay=YYYYMMDD/.
    #[arg(long, value_name = "DIR", conflicts_with = "out", requires_all = ["lake_region", "lake_account_id"])]
    pub security_lake: Option<PathBuf>,
    /// The custom source's name in the lake.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "asim-rules",
        requires = "security_lake"
    )]
    pub lake_source: String,
    /// The AWS region of the lake's partition.
    #[arg(long, value_name = "REGION", requires = "security_lake")]
    pub lake_region: Option<String>,
    /// The AWS account id of the lake's partition.
    #[arg(long, value_name = "ID", requires = "security_lake")]
    pub lake_account_id: Option<String>,
}

impl AlertArgs {
    /// Where the alerts go, as these arguments say.
    pub fn sink(&self) -> anyhow::Result<AlertSink> {
        let Some(dir) = &self.security_lake else {
            return AlertSink::create(self.out.as_deref(), self.alert_format);
        };
        if self.alert_format != AlertFormat::Ocsf {
            anyhow::bail!(
                "--security-lake holds OCSF findings: --alert-format {} does not fit it",
                self.alert_format.flag()
            );
        }
        AlertSink::security_lake(SecurityLakeTarget {
            dir: dir.clone(),
            source: self.lake_source.clone(),
            region: self.lake_region.clone().unwrap_or_default(),
            account_id: self.lake_account_id.clone().unwrap_or_default(),
        })
    }
}

/// Threat-intel inputs; `run` and `replay` share them.
#[derive(clap::Args)]
pub struct IndicatorArgs {
    /// Indicator files, any mix of: Sentinel ThreatIntelligenceIndicator or
    /// ThreatIntelIndicators exports (JSON lines or CSV), STIX 2.1 bundles,
    /// IP/CIDR lists; optionally .gz. Recognised by content.
    #[arg(long, value_name = "FILE")]
    pub indicators: Vec<String>,
    /// ThreatType of the entries of IP lists and CSV feeds: NAME for all, or
    /// FILE=NAME for one (FILE without directories and .gz); repeatable.
    #[arg(long, value_name = "[FILE=]NAME", default_value = "WatchList")]
    pub list_threat_type: Vec<String>,
    /// When IP lists were published (TimeGenerated of their entries); default:
    /// each file's modification time.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub list_published: Option<Timestamp>,
    /// How long IP list entries stay valid after publication (30d, 12h, 90m).
    #[arg(long, value_name = "DURATION", default_value = "30d", value_parser = crate::time::parse_duration)]
    pub list_valid_for: i64,
}

impl IndicatorArgs {
    /// The indicator files, their lines limited as `lines` says.
    pub fn files(&self, lines: &LineArgs) -> Vec<InputFile> {
        self.indicators
            .iter()
            .map(|name| lines.limit(InputFile::by_content(name)))
            .collect()
    }

    /// How the plain lists among the indicator files are read.
    pub fn list_options(&self) -> ListOptions {
        let (per_file, default): (Vec<&String>, Vec<&String>) = self
            .list_threat_type
            .iter()
            .partition(|value| value.contains('='));
        ListOptions {
            threat_type: default
                .last()
                .map_or("WatchList".into(), |name| (*name).clone()),
            threat_types: per_file
                .iter()
                .filter_map(|value| value.split_once('='))
                .map(|(file, name)| (file.to_owned(), name.to_owned()))
                .collect(),
            published: self.list_published,
            valid_for: self.list_valid_for,
        }
    }
}

/// Session files, their format recognised from their content.
pub fn session_files(names: &[String], threads: usize, lines: &LineArgs) -> Vec<InputFile> {
    names
        .iter()
        .map(|name| lines.limit(InputFile::by_content(name).with_threads(threads)))
        .collect()
}

/// `--max-line-mib`: how long a line of an input file may be.
#[derive(clap::Args)]
pub struct LineArgs {
    /// Longest line an input file may have, in MiB: a longer one is refused
    /// (named FILE:LINE) and skipped without being held in memory.
    #[arg(long, value_name = "MIB", default_value_t = (limits::LINE_BYTES >> 20) as u32,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_line_mib: u32,
}

impl LineArgs {
    /// `input` with this limit.
    pub fn limit(&self, input: InputFile) -> InputFile {
        input.with_max_line((self.max_line_mib as usize) << 20)
    }
}

/// `--threads`: how many threads parse one session file.
#[derive(clap::Args)]
pub struct ThreadArgs {
    /// Threads that parse each ASIM JSON lines or CSV session file (default:
    /// one per core; 1 parses on the reading thread). Rows, warnings and
    /// alerts are the same whatever the number.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
}

impl ThreadArgs {
    /// The number asked for, or one per core.
    pub fn count(&self) -> usize {
        self.threads.map(usize::from).unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
    }
}

/// A bar on stderr (drawn on a terminal only) for each file read while it
/// is read.
pub fn progress_bar() -> Progress {
    Progress::new(|name, length, reader| {
        let bar = ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(name.to_owned());
        Box::new(bar.wrap_read(reader))
    })
}

/// `--sessions-format`: a format by its flag name.
fn session_format() -> impl TypedValueParser<Value = SessionFormat> {
    by_flag(
        &SessionFormat::ALL,
        SessionFormat::flag,
        SessionFormat::about,
    )
}

/// `--alert-format`: an alert format by its flag name.
fn alert_format() -> impl TypedValueParser<Value = AlertFormat> {
    by_flag(&AlertFormat::ALL, AlertFormat::flag, AlertFormat::about)
}

/// A parser of one of `all` by its `flag` name, each listed in the help with
/// its `about` (the library's formats know nothing of clap).
fn by_flag<T: Copy + Send + Sync + 'static>(
    all: &'static [T],
    flag: fn(T) -> &'static str,
    about: fn(T) -> &'static str,
) -> impl TypedValueParser<Value = T> {
    let names = all
        .iter()
        .map(|&value| PossibleValue::new(flag(value)).help(about(value)));
    PossibleValuesParser::new(names).try_map(move |name| {
        all.iter()
            .copied()
            .find(|&value| flag(value) == name)
            .ok_or("not one of the possible values")
    })
}

/// `--at` and friends: an RFC 3339 time.
pub fn parse_time(text: &str) -> Result<Timestamp, String> {
    crate::time::parse(text)
}

/// A size in MiB that fits in bytes.
fn parse_mib(text: &str) -> Result<usize, String> {
    parse_size(text, 20)
}

/// A size in KiB that fits in bytes.
fn parse_kib(text: &str) -> Result<usize, String> {
    parse_size(text, 10)
}

fn parse_size(text: &str, unit_shift: u32) -> Result<usize, String> {
    let value: usize = text.parse().map_err(|error| format!("{error}"))?;
    crate::engine::budget_bytes(value, unit_shift).map(|_| value)
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
