//! WIT values to core values and back. Vectors are moved, never copied row by
//! row.

use asim_rule_core as core;

use crate::bindings::exports::asim::rules::rule as wit;

pub fn batch(batch: wit::Batch) -> core::Batch {
    core::Batch {
        time_generated: batch.time_generated,
        columns: batch.columns.into_iter().map(column).collect(),
    }
}

fn column(column: wit::Column) -> core::Column {
    let values = match column.values {
        wit::ColumnValues::Text(text) => core::ColumnValues::Text(core::TextColumn {
            dictionary: core::StringTable {
                strings: text.strings,
                ends: text.ends,
            },
            codes: text.codes,
        }),
        wit::ColumnValues::Ip(ip) => core::ColumnValues::Ip(core::IpColumn {
            dictionary: core::StringTable {
                strings: ip.strings,
                ends: ip.ends,
            },
            addr_hi: ip.addr_hi,
            addr_lo: ip.addr_lo,
            prefix_len: ip.prefix_len,
            codes: ip.codes,
        }),
        wit::ColumnValues::Integer(values) => core::ColumnValues::Integer(values),
        wit::ColumnValues::Real(values) => core::ColumnValues::Real(values),
        wit::ColumnValues::Boolean(values) => core::ColumnValues::Boolean(values),
        wit::ColumnValues::Time(values) => core::ColumnValues::Time(values),
    };
    core::Column {
        name: column.name,
        values,
    }
}

pub fn alert(alert: core::Alert) -> wit::Alert {
    wit::Alert {
        name: alert.name,
        description: alert.description,
        start_time: alert.start_time,
        end_time: alert.end_time,
        entities: alert
            .entities
            .into_iter()
            .map(|entity| wit::Entity {
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

fn detail(value: core::DetailValue) -> wit::DetailValue {
    match value {
        core::DetailValue::None => wit::DetailValue::None,
        core::DetailValue::Text(text) => wit::DetailValue::Text(text),
        core::DetailValue::Integer(value) => wit::DetailValue::Integer(value),
        core::DetailValue::Real(value) => wit::DetailValue::Real(value),
        core::DetailValue::Time(value) => wit::DetailValue::Time(value),
    }
}

pub fn metadata(metadata: core::RuleMetadata) -> wit::RuleMetadata {
    wit::RuleMetadata {
        id: metadata.id,
        short_name: metadata.short_name,
        name: metadata.name,
        version: metadata.version,
        description: metadata.description,
        severity: match metadata.severity {
            core::Severity::Informational => wit::Severity::Informational,
            core::Severity::Low => wit::Severity::Low,
            core::Severity::Medium => wit::Severity::Medium,
            core::Severity::High => wit::Severity::High,
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
            .map(|parameter| wit::ParameterSpec {
                name: parameter.name,
                description: parameter.description,
                default_value: parameter.default_value,
            })
            .collect(),
    }
}
