//! Exports of Sentinel's newer STIX-based `ThreatIntelIndicators` table (JSON
//! lines or CSV), one row per observable. Mapping, as Sentinel's own rules on
//! this table read it: rows whose `ObservableKey` is an IP address
//! (`ipv4-addr:value`, `ipv6-addr:value`, `network-traffic:src_ref.value`,
//! `network-traffic:dst_ref.value`); `Id` → IndicatorId, `ObservableValue` →
//! NetworkIP, `IsActive` and neither `Revoked` nor `IsDeleted` → Active,
//! `ValidUntil` → ExpirationDateTime (empty: never), `Confidence` →
//! ConfidenceScore; from `Data` (the STIX object) `description` (else `name`),
//! `indicator_types` and `ActivityGroup:NAME` labels, as in STIX bundles. When `Pattern` names several addresses the id is
//! `{Id}#{ObservableValue}`, as for STIX bundles.

use std::borrow::Cow;

use anyhow::Result;
use asim_rule_core::IpPrefix;
use serde::Deserialize;

use super::{deliver, pattern, types_and_groups, Indicator, Input, SourceReport, NEVER_EXPIRES};
use crate::inputs::{records, InputFile, Rejects};
use crate::time;

const COLUMNS: [&str; 11] = [
    "TimeGenerated",
    "Id",
    "ObservableKey",
    "ObservableValue",
    "IsActive",
    "Revoked",
    "IsDeleted",
    "ValidUntil",
    "Confidence",
    "Data",
    "Pattern",
];

const ADDRESS_KEYS: [&str; 4] = [
    "ipv4-addr:value",
    "ipv6-addr:value",
    "network-traffic:src_ref.value",
    "network-traffic:dst_ref.value",
];

/// What the mapping reads from `Data`.
#[derive(Deserialize, Default)]
struct Data {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    indicator_types: Option<Vec<String>>,
    #[serde(default)]
    labels: Option<Vec<String>>,
}

/// Reads the table, handing each IP indicator to `emit`.
pub fn read(
    input: &InputFile,
    reader: Input,
    report: &mut SourceReport,
    rejects: &mut Rejects,
    emit: &mut dyn FnMut(&Indicator) -> Result<()>,
) -> Result<()> {
    records::read_from(input, reader, &COLUMNS, |line, fields| {
        report.records += 1;
        let indicator = fields.and_then(|fields| {
            let field = |name: &str| {
                COLUMNS
                    .iter()
                    .position(|column| *column == name)
                    .and_then(|at| fields[at].as_deref())
            };
            let key = field("ObservableKey").unwrap_or("");
            if !ADDRESS_KEYS
                .iter()
                .any(|known| known.eq_ignore_ascii_case(key))
            {
                return Ok(None);
            }
            to_indicator(&field).map(Some)
        });
        match indicator {
            Ok(Some(indicator)) => deliver(report, emit, &indicator),
            Ok(None) => {
                report.skip("observable is not an IP address");
                Ok(())
            }
            Err(reason) => {
                rejects.reject(input, line, &reason);
                Ok(())
            }
        }
    })
}

fn to_indicator<'a>(field: &dyn Fn(&str) -> Option<&'a str>) -> Result<Indicator<'a>, String> {
    let time = time::parse(field("TimeGenerated").ok_or("TimeGenerated: missing")?)
        .map_err(|why| format!("TimeGenerated: {why}"))?;
    let id = field("Id").ok_or("Id: missing")?;
    let address = field("ObservableValue").ok_or("ObservableValue: missing")?;
    if IpPrefix::parse_network(address).is_none() {
        return Err(format!(
            "ObservableValue: not an IP address or network: {address:?}"
        ));
    }
    let flag = |name: &str| -> Result<bool, String> {
        match field(name)
            .map(|text| text.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("false" | "0") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(other) => Err(format!("{name}: not true or false: {other:?}")),
        }
    };
    let active = flag("IsActive")? && !flag("Revoked")? && !flag("IsDeleted")?;
    let expiration = match field("ValidUntil") {
        Some(text) => time::parse(text).map_err(|why| format!("ValidUntil: {why}"))?,
        None => NEVER_EXPIRES,
    };
    let confidence = field("Confidence")
        .map(|text| text.trim().parse::<f64>())
        .transpose()
        .map_err(|_| "Confidence: not a number".to_owned())?;
    let data: Data = match field("Data") {
        Some(text) => serde_json::from_str(text).map_err(|why| format!("Data: {why}"))?,
        None => Data::default(),
    };
    let several = match field("Pattern") {
        Some(text) => pattern::addresses(text)
            .map_err(|why| format!("Pattern: {why}"))?
            .is_ok_and(|addresses| addresses.len() > 1),
        None => false,
    };
    let (threat_types, groups) =
        types_and_groups(data.indicator_types.as_deref(), data.labels.as_deref());
    Ok(Indicator {
        time,
        id: match several {
            true => Cow::Owned(format!("{id}#{address}")),
            false => Cow::Borrowed(id),
        },
        address: Cow::Borrowed(address),
        expiration,
        active,
        threat_type: threat_types.map(Cow::Owned),
        activity_groups: groups.map(Cow::Owned),
        description: data.description.or(data.name).map(Cow::Owned),
        confidence,
        external_id: several.then_some(Cow::Borrowed(id)),
    })
}
