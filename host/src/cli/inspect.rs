//! `asim-rules inspect`: what a component declares.

use std::path::PathBuf;

use anyhow::Result;
use asim_rule_core::{
    time::{DAY, HOUR, MINUTE, SECOND},
    RuleMetadata,
};

use crate::{
    engine::{Budgets, RuleHost},
    limits,
};

/// `asim-rules inspect`'s arguments.
#[derive(clap::Args)]
pub struct InspectArgs {
    /// The component (.wasm).
    pub component: PathBuf,
}

/// Prints each component's metadata.
pub fn run(args: InspectArgs) -> Result<()> {
    let host = RuleHost::new(Budgets::default())?;
    let (component, description) = host.describe(&args.component)?;
    outln!("component          {}", args.component.display());
    let refused = description.refused_imports();
    if refused.is_empty() {
        let rule = host.load_described(&args.component, &component, &description)?;
        print_metadata(&rule.metadata)?;
    }
    match (description.imports.is_empty(), refused.is_empty()) {
        (true, _) => outln!("imports            (none)"),
        (false, true) => {
            outln!("imports            {}", description.imports.join(", "));
            outln!(
                "                   all WASI 0.2, given without capabilities: no files, \
                 environment, stdin or network; clocks frozen at the evaluation time; random \
                 numbers seeded per deployment; output kept in a log of {} KiB",
                limits::RULE_LOG_BYTES >> 10
            );
        }
        (false, false) => {
            outln!("imports            {}", description.imports.join(", "));
            outln!(
                "metadata           not read: asim-rules does not provide {}",
                refused.join(", ")
            );
        }
    }
    outln!(
        "exports            {}",
        description.exports.join("\n                   ")
    );
    Ok(())
}

fn print_metadata(rule: &RuleMetadata) -> Result<()> {
    outln!("rule id            {}", rule.id);
    outln!("name               {}", rule.name);
    outln!("short name         {}", rule.short_name);
    outln!("version            {}", rule.version);
    outln!("description        {}", rule.description);
    outln!("severity           {}", rule.severity.as_str());
    outln!("tactics            {}", rule.tactics.join(", "));
    outln!("techniques         {}", rule.techniques.join(", "));
    outln!("frequency          {}", duration(rule.frequency));
    outln!("session lookback   {}", duration(rule.session_lookback));
    outln!(
        "session columns    TimeGenerated, {}",
        rule.session_columns.join(", ")
    );
    match rule.indicator_lookback {
        Some(lookback) => {
            outln!("indicator lookback {}", duration(lookback));
            outln!(
                "indicator columns  TimeGenerated, {}",
                rule.indicator_columns.join(", ")
            );
        }
        None => outln!("indicators         (none read)"),
    }
    if rule.parameters.is_empty() {
        outln!("parameters         (none)");
    }
    for parameter in &rule.parameters {
        outln!(
            "parameter          {} = {}  ({})",
            parameter.name,
            parameter.default_value,
            parameter.description
        );
    }
    Ok(())
}

/// `14d`, `1h`, `10m`, `90s`, or microseconds when nothing rounder fits.
pub(crate) fn duration(micros: i64) -> String {
    for (unit, name) in [(DAY, "d"), (HOUR, "h"), (MINUTE, "m"), (SECOND, "s")] {
        if micros % unit == 0 {
            return format!("{}{name}", micros / unit);
        }
    }
    format!("{micros}us")
}
