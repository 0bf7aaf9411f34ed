//! The smallest program that embeds the `asim-rules` host as a library: load
//! rule components, feed them an indicators file and a sessions file, evaluate
//! each rule once at a given time, print the alerts as JSON lines (the same
//! lines `asim-rules run` prints).
//!
//! `rust-embed-example AT INDICATORS SESSIONS RULE.wasm...`

use std::path::Path;

use anyhow::{bail, Result};
use asim_rules::{
    engine::{Budgets, RuleHost, RuleInstance},
    feed::Table,
    inputs::{InputFile, Rejects},
    limits,
    logging::{self, Level, LogFormat},
    outputs::{AlertFormat, AlertSink},
    pipeline::{self, Readers},
};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [at, indicators, sessions, rules @ ..] = args.as_slice() else {
        bail!("usage: rust-embed-example AT INDICATORS SESSIONS RULE.wasm...");
    };
    let at = asim_rules::time::parse(at).map_err(anyhow::Error::msg)?;
    // The library prints nothing itself: its messages (rows refused, what
    // each file gave) go where the program says.
    logging::init(LogFormat::Human, Level::INFO);

    // One engine per process; one instance per rule deployment.
    let host = RuleHost::new(Budgets::default())?;
    let mut rules = rules
        .iter()
        .map(|path| host.load(Path::new(path))?.instantiate(&host, &[]))
        .collect::<Result<Vec<RuleInstance>>>()?;

    // Each table's rows go to the rules whose window at `at` wants them, in
    // batches; the feed reads only the columns the rules declared.
    let (indicators, sessions) = (
        [InputFile::by_content(indicators)],
        [InputFile::by_content(sessions)],
    );
    let tables = [
        (Table::Indicators, &indicators[..]),
        (Table::Sessions, &sessions[..]),
    ];
    let mut rejects = Rejects::default();
    let readers = Readers::default();
    pipeline::feed_at(
        &mut rules,
        &tables,
        &readers,
        at,
        limits::BATCH_ROWS,
        &mut rejects,
    )?;

    // Each rule evaluated once; a rule that broke its budgets is reported
    // and the others' alerts are written all the same.
    let mut alerts_out = AlertSink::create(None, AlertFormat::Jsonl)?;
    pipeline::evaluate_at(&mut rules, at, "default", &mut alerts_out)?;
    alerts_out.finish()
}
