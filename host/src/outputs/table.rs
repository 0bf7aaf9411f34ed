//! Aligned text for a person at a terminal: one line per alert, its custom
//! details wrapped below it.

use std::io::Write;

use anyhow::Result;
use asim_rule_core::{Alert, DetailValue};

use super::Evaluation;
use crate::time;

pub fn write_table_row(out: &mut dyn Write, evaluation: &Evaluation, alert: &Alert) -> Result<()> {
    writeln!(
        out,
        "{}  {:<8} {:<26} {}",
        time::format(alert.start_time),
        evaluation.rule.severity.as_str(),
        evaluation.rule.short_name,
        alert.name
    )?;
    let details: Vec<String> = alert
        .custom_details
        .iter()
        .filter_map(|(name, value)| match value {
            DetailValue::None => None,
            DetailValue::Text(text) if text.is_empty() => None,
            DetailValue::Text(text) => Some(format!("{name}={text}")),
            DetailValue::Integer(value) => Some(format!("{name}={value}")),
            DetailValue::Real(value) => Some(format!("{name}={value}")),
            DetailValue::Time(value) => Some(format!("{name}={}", time::format(*value))),
        })
        .collect();
    // Details wrap at about 100 columns, indented under the alert.
    let mut line = String::new();
    for detail in details {
        if !line.is_empty() && line.len() + detail.len() > 100 {
            writeln!(out, "    {line}")?;
            line.clear();
        }
        if !line.is_empty() {
            line.push_str("  ");
        }
        line.push_str(&detail);
    }
    writeln!(out, "    {line}")?;
    Ok(())
}
