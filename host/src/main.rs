//! `asim-rules`: see `asim-rules --help`.

use std::process::ExitCode;

use asim_rules::cli::{self, Cli, Command};
use clap::Parser;

fn main() -> ExitCode {
    // clap exits with status 2 on a usage error.
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => cli::run::run(args),
        Command::Replay(args) => cli::replay::run(args),
        Command::Inspect(args) => cli::inspect::run(args),
        Command::Generate(args) => cli::generate::run(args),
        Command::Normalize(args) => cli::normalize::run(args),
        Command::Serve(args) => cli::serve::run(args),
        Command::Status(args) => cli::serve::status(args),
        Command::Swap(args) => cli::serve::swap(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line, whatever the causes print: scripts read the last line.
            let message = format!("{error:#}");
            eprintln!(
                "error: {}",
                message.split_whitespace().collect::<Vec<_>>().join(" ")
            );
            ExitCode::FAILURE
        }
    }
}
