//! `asim-rules`: see `asim-rules --help`.

use std::process::ExitCode;

use asim_rules::cli::{self, Cli, Command};
use clap::Parser;

fn main() -> ExitCode {
    // clap exits with status 2 on a usage error.
    let cli = Cli::parse();
    cli.init_logging();
    let result = match cli.command {
        Command::Run(args) => cli::run::run(args),
        Command::Replay(args) => cli::replay::run(args),
        Command::Inspect(args) => cli::inspect::run(args),
        Command::Generate(args) => cli::generate::run(args),
        Command::Normalize(args) => cli::normalize::run(args),
        Command::Serve(args) => cli::serve::run(args),
        Command::Status(args) => cli::serve::status(args),
        Command::Swap(args) => cli::swap::run(args),
        #[cfg(feature = "cluster")]
        Command::Publish(args) => cli::cluster::publish(args),
        #[cfg(feature = "cluster")]
        Command::Alerts(args) => cli::cluster::alerts(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`| head`): nothing more to say to anyone.
        Err(error) if closed_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            // One line, whatever the causes print: scripts read the last line.
            let message = format!("{error:#}");
            let line = message.split_whitespace().collect::<Vec<_>>().join(" ");
            eprintln!("error: {}", asim_rules::printable::printable(&line));
            ExitCode::FAILURE
        }
    }
}

/// Whether `error` comes from writing to a pipe whose reader has closed it.
fn closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let kind = cause
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            .or_else(|| {
                cause
                    .downcast_ref::<serde_json::Error>()
                    .and_then(serde_json::Error::io_error_kind)
            });
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}
