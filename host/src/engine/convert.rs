//! Core values to WIT values and back (host side). Vectors move; no row is
//! copied.

use anyhow::{bail, Result};
use asim_rule_core as core;

use super::bindings::exports::asim::rules::rule as wit;

pub fn batch(batch: core::Batch) -> wit::Batch {
    wit::Batch {
        time_generated: batch.time_generated,
        columns: batch.columns.into_iter().map(column).collect(),
    }
}

fn column(column: core::Column) -> wit::Column {
    let values = match column.values {
        core::ColumnValues::Text(text) => wit::ColumnValues::Text(wit::TextColumn {
            strings: text.dictionary.strings,
            ends: text.dictionary.ends,
            codes: text.codes,
        }),
        core::ColumnValues::Ip(ip) => wit::ColumnValues::Ip(wit::IpColumn {
            strings: ip.dictionary.strings,
            ends: ip.dictionary.ends,
            addr_hi: ip.addr_hi,
            addr_lo: ip.addr_lo,
            prefix_len: ip.prefix_len,
            codes: ip.codes,
        }),
        core::ColumnValues::Integer(values) => wit::ColumnValues::Integer(values),
        core::ColumnValues::Real(values) => wit::ColumnValues::Real(values),
        core::ColumnValues::Boolean(values) => wit::ColumnValues::Boolean(values),
        core::ColumnValues::Time(values) => wit::ColumnValues::Time(values),
    };
    wit::Column {
        name: column.name,
        values,
    }
}

pub fn alert(alert: wit::Alert) -> core::Alert {
    core::Alert {
        name: alert.name,
        description: alert.description,
        start_time: alert.start_time,
        end_time: alert.end_time,
        entities: alert
            .entities
            .into_iter()
            .map(|entity| core::Entity {
                kind: entity.kind,
                properties: entity.properties,
            })
            .collect(),
        custom_details: alert
            .custom_details
            .into_iter()
            .map(|(name, value)| (name, detail(value)))
            .collect(),
    }
}

fn detail(value: wit::DetailValue) -> core::DetailValue {
    match value {
        wit::DetailValue::None => core::DetailValue::None,
        wit::DetailValue::Text(text) => core::DetailValue::Text(text),
        wit::DetailValue::Integer(value) => core::DetailValue::Integer(value),
        wit::DetailValue::Real(value) => core::DetailValue::Real(value),
        wit::DetailValue::Time(value) => core::DetailValue::Time(value),
    }
}

pub fn metadata(metadata: wit::RuleMetadata) -> Result<core::RuleMetadata> {
    if metadata.id.is_empty() || metadata.short_name.is_empty() {
        bail!("a rule needs an id and a short name");
    }
    Ok(core::RuleMetadata {
        id: metadata.id,
        short_name: metadata.short_name,
        name: metadata.name,
        version: metadata.version,
        description: metadata.description,
        severity: match metadata.severity {
            wit::Severity::Informational => core::Severity::Informational,
            wit::Severity::Low => core::Severity::Low,
            wit::Severity::Medium => core::Severity::Medium,
            wit::Severity::High => core::Severity::High,
        },
        tactics: metadata.tactics,
        techniques: metadata.techniques,
        frequency: metadata.frequency,
        session_lookback: metadata.session_lookback,
        session_columns: metadata.session_columns,
        indicator_lookback: metadata.indicator_lookback,
        indicator_columns: metadata.indicator_columns,
        summary_columns: metadata.summary_columns,
        parameters: metadata
            .parameters
            .into_iter()
            .map(|parameter| core::ParameterSpec {
                name: parameter.name,
                description: parameter.description,
                default_value: parameter.default_value,
            })
            .collect(),
    })
}
