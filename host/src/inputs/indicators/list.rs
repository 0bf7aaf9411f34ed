//! Plain lists: one IP address or CIDR network per line (FireHOL `.ipset` and
//! `.netset`, Spamhaus DROP, abuse.ch and most blocklists). `#` and `;` start
//! comments, also after an entry (`1.10.16.0/20 ; SBL256894`), and such a
//! trailing comment becomes the indicator's description. Lists carry no
//! dates: the publication time is an option (default: the file's modification
//! time) and indicators expire a set time after it.

use std::borrow::Cow;

use anyhow::{Context, Result};
use asim_rule_core::{IpPrefix, Timestamp};

use super::{deliver, Indicator, Input, SourceReport};
use crate::inputs::{records, InputFile, Rejects};

/// How list entries become indicators.
#[derive(Clone, Debug)]
pub struct ListOptions {
    /// ThreatType of the entries of lists not named in `threat_types`.
    pub threat_type: String,
    /// ThreatType by list file name (without directories and `.gz`).
    pub threat_types: Vec<(String, String)>,
    /// TimeGenerated of every entry; none: the file's modification time.
    pub published: Option<Timestamp>,
    /// How long after publication entries expire, in microseconds.
    pub valid_for: i64,
}

impl Default for ListOptions {
    fn default() -> ListOptions {
        ListOptions {
            threat_type: "WatchList".into(),
            threat_types: Vec::new(),
            published: None,
            valid_for: 30 * 86_400_000_000,
        }
    }
}

/// Reads a list; each entry's IndicatorId is `{file name}:{entry}`.
pub fn read(
    input: &InputFile,
    reader: Input,
    options: &ListOptions,
    report: &mut SourceReport,
    rejects: &mut Rejects,
    emit: &mut dyn FnMut(&Indicator) -> Result<()>,
) -> Result<()> {
    let published = match options.published {
        Some(time) => time,
        None => input.modified().with_context(|| {
            format!(
                "{}: a list needs --list-published when its file time cannot be read",
                input.name
            )
        })?,
    };
    let list_name = input.base_name();
    let threat_type = Some(Cow::Borrowed(options.threat_type_of(&list_name)));
    records::for_each_line(input, reader, |number, line| {
        let line = match line {
            Ok(line) => line,
            Err(reason) => {
                report.records += 1;
                rejects.reject(input, number, &reason);
                return Ok(());
            }
        };
        let (entry, comment) = match line.find(['#', ';']) {
            Some(at) => (&line[..at], line[at + 1..].trim()),
            None => (line, ""),
        };
        let mut words = entry.split_whitespace();
        let Some(address) = words.next() else {
            return Ok(());
        };
        report.records += 1;
        if IpPrefix::parse_network(address).is_none() {
            let reason = format!("not an IP address or network: {address:?}");
            rejects.reject(input, number, &reason);
            return Ok(());
        }
        if let Some(extra) = words.next() {
            let reason = format!("{extra:?} after the address {address:?}");
            rejects.reject(input, number, &reason);
            return Ok(());
        }
        let description = match comment {
            "" => list_name.clone(),
            comment => format!("{list_name}: {comment}"),
        };
        let indicator = Indicator {
            time: published,
            id: Cow::Owned(format!("{list_name}:{address}")),
            address: Cow::Borrowed(address),
            expiration: published.saturating_add(options.valid_for),
            active: true,
            threat_type: threat_type.clone(),
            description: Some(Cow::Owned(description)),
            activity_groups: None,
            confidence: None,
            external_id: None,
        };
        deliver(report, emit, &indicator)
    })
}

impl ListOptions {
    /// The ThreatType of the entries of the list file `name`.
    pub fn threat_type_of(&self, name: &str) -> &str {
        let named = self
            .threat_types
            .iter()
            .rev()
            .find(|(file, _)| file == name);
        named.map_or(self.threat_type.as_str(), |(_, threat_type)| threat_type)
    }
}
