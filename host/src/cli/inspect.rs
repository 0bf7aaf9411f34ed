//! `asim-rules inspect`: what a component declares.

use std::path::PathBuf;

use anyhow::Result;
use asim_rule_core::{
    time::{DAY, HOUR, MINUTE, SECOND},
    RuleMetadata,
};

use crate::engine::{Budgets, RuleHost};

#[derive(clap::Args)]
pub struct InspectArgs {
    /// The component (.wasm).
    pub component: PathBuf,
}

pub fn run(args: InspectArgs) -> Result<()> {
    let host = RuleHost::new(Budgets::default())?;
    let (_, description) = host.describe(&args.component)?;
    println!("component          {}", args.component.display());
    if description.imports.is_empty() {
        print_metadata(&host.load(&args.component)?.metadata);
        println!("imports            (none)");
    } else {
        println!("imports            {}", description.imports.join(", "));
        println!("metadata           not read: asim-rules refuses components that import anything");
    }
    println!(
        "exports            {}",
        description.exports.join("\n                   ")
    );
    Ok(())
}

fn print_metadata(rule: &RuleMetadata) {
    println!("rule id            {}", rule.id);
    println!("name               {}", rule.name);
    println!("short name         {}", rule.short_name);
    println!("version            {}", rule.version);
    println!("description        {}", rule.description);
    println!("severity           {}", rule.severity.as_str());
    println!("tactics            {}", rule.tactics.join(", "));
    println!("techniques         {}", rule.techniques.join(", "));
    println!("frequency          {}", duration(rule.frequency));
    println!("session lookback   {}", duration(rule.session_lookback));
    println!(
        "session columns    TimeGenerated, {}",
        rule.session_columns.join(", ")
    );
    match rule.indicator_lookback {
        Some(lookback) => {
            println!("indicator lookback {}", duration(lookback));
            println!(
                "indicator columns  TimeGenerated, {}",
                rule.indicator_columns.join(", ")
            );
        }
        None => println!("indicators         (none read)"),
    }
    if rule.parameters.is_empty() {
        println!("parameters         (none)");
    }
    for parameter in &rule.parameters {
        println!(
            "parameter          {} = {}  ({})",
            parameter.name, parameter.default_value, parameter.description
        );
    }
}

/// `14d`, `1h`, `10m`, `90s`, or microseconds when nothing rounder fits.
fn duration(micros: i64) -> String {
    for (unit, name) in [(DAY, "d"), (HOUR, "h"), (MINUTE, "m"), (SECOND, "s")] {
        if micros % unit == 0 {
            return format!("{}{name}", micros / unit);
        }
    }
    format!("{micros}us")
}
