//! CSV feeds that are not Sentinel exports: a header naming an address column
//! and perhaps dates, as abuse.ch's `ipblocklist.csv` (`#` comment block,
//! `first_seen_utc,dst_ip,…,malware`) or Microsoft's published IoC sheets
//! (`DateAdded,IoC,Type,ExpirationDateTime,…,ActivityGroupNames`). Columns are
//! found by name; what a feed does not say comes from the list options, as
//! for plain lists, and ids are `{file name}:{address}` as well.

use std::borrow::Cow;

use anyhow::{bail, Context, Result};
use asim_rule_core::{IpPrefix, Timestamp};
use chrono::{NaiveDate, NaiveDateTime};

use super::{deliver, Indicator, Input, ListOptions, SourceReport};
use crate::inputs::{InputFile, Rejects};
use crate::time;

/// Header names (lower case) of each column the mapping reads, by preference.
const ADDRESS: [&str; 9] = [
    "ioc",
    "indicator",
    "dst_ip",
    "ip",
    "ip_address",
    "ipaddress",
    "address",
    "cidr",
    "network",
];
const KIND: [&str; 3] = ["type", "ioc_type", "indicator_type"];
/// Not `first_seen`: a blocklist that lists an address asserts it as of the
/// file's date, however long ago it was first seen.
const PUBLISHED: [&str; 3] = ["dateadded", "date_added", "published"];
const EXPIRES: [&str; 4] = ["expirationdatetime", "expiration", "expires", "valid_until"];
const DESCRIPTION: [&str; 3] = ["description", "malware", "comment"];
const GROUPS: [&str; 2] = ["activitygroupnames", "threat_actor"];
const CONFIDENCE: [&str; 2] = ["confidence", "confidencescore"];
/// What a type column says of IP indicators.
const IP_KINDS: [&str; 7] = ["ip", "ipv4", "ipv6", "ip-dst", "ip-src", "cidr", "netblock"];

/// Reads a CSV feed, handing each IP indicator to `emit`.
pub fn read(
    input: &InputFile,
    reader: Input,
    options: &ListOptions,
    report: &mut SourceReport,
    rejects: &mut Rejects,
    emit: &mut dyn FnMut(&Indicator) -> Result<()>,
) -> Result<()> {
    let mut csv = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .flexible(true)
        .from_reader(reader);
    let header: Vec<String> = csv
        .headers()
        .with_context(|| format!("{}: reading the CSV header", input.name))?
        .iter()
        .map(|name| {
            let name = name.trim_start_matches('\u{feff}').trim();
            name.trim_end_matches(" [UTC]").to_ascii_lowercase()
        })
        .collect();
    let column = |names: &[&str]| {
        names
            .iter()
            .find_map(|name| header.iter().position(|column| column == name))
    };
    let Some(address_column) = column(&ADDRESS) else {
        bail!(
            "{}: a CSV without an address column (looked for {}) and not a Sentinel export \
             (no IndicatorId or ObservableValue)",
            input.name,
            ADDRESS.join(", ")
        );
    };
    let columns = FeedColumns {
        kind: column(&KIND),
        published: column(&PUBLISHED),
        expires: column(&EXPIRES),
        description: column(&DESCRIPTION),
        groups: column(&GROUPS),
        confidence: column(&CONFIDENCE),
    };
    let default_published = match options.published {
        Some(time) => Ok(time),
        None => input.modified(),
    };
    let feed_name = input.base_name();
    let threat_type = Some(Cow::Borrowed(options.threat_type_of(&feed_name)));
    let mut record = csv::StringRecord::new();
    loop {
        let line = csv.position().line();
        match csv.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(error) if error.is_io_error() => {
                return Err(error).with_context(|| format!("{}:{line}: reading", input.name));
            }
            Err(error) => {
                report.records += 1;
                rejects.reject(input, line, &format!("bad CSV record: {error}"));
                continue;
            }
        }
        // The csv crate takes a comment on a last line without newline
        // (abuse.ch's `# END 28 entries`) for an empty record.
        if record
            .get(0)
            .is_none_or(|first| first.starts_with('#') || first.is_empty())
            && record.iter().skip(1).all(str::is_empty)
        {
            continue;
        }
        report.records += 1;
        let field = |at: Option<usize>| {
            at.and_then(|at| record.get(at))
                .map(str::trim)
                .filter(|text| !text.is_empty())
        };
        let kind = field(columns.kind).map(str::to_ascii_lowercase);
        if kind.is_some_and(|kind| !IP_KINDS.contains(&kind.as_str())) {
            report.skip("not an IP indicator");
            continue;
        }
        let address = field(Some(address_column)).unwrap_or("");
        if IpPrefix::parse_network(address).is_none() {
            let reason = format!("not an IP address or network: {address:?}");
            rejects.reject(input, line, &reason);
            continue;
        }
        let dates = feed_dates(
            field(columns.published),
            field(columns.expires),
            &default_published,
            options,
        );
        let (published, expiration) = match dates {
            Ok(dates) => dates,
            Err(reason) => {
                rejects.reject(input, line, &reason);
                continue;
            }
        };
        let Ok(confidence) = field(columns.confidence).map(str::parse::<f64>).transpose() else {
            rejects.reject(input, line, "confidence: not a number");
            continue;
        };
        let description = match field(columns.description) {
            Some(text) => format!("{feed_name}: {text}"),
            None => feed_name.clone(),
        };
        let indicator = Indicator {
            time: published,
            id: Cow::Owned(format!("{feed_name}:{address}")),
            address: Cow::Borrowed(address),
            expiration,
            active: true,
            threat_type: threat_type.clone(),
            description: Some(Cow::Owned(description)),
            activity_groups: field(columns.groups).map(Cow::Borrowed),
            confidence,
            external_id: None,
        };
        deliver(report, emit, &indicator)?;
    }
}

/// Where the optional columns are.
struct FeedColumns {
    kind: Option<usize>,
    published: Option<usize>,
    expires: Option<usize>,
    description: Option<usize>,
    groups: Option<usize>,
    confidence: Option<usize>,
}

/// A row's publication and expiry: its own when it has them, else the list
/// options' (publication) and publication plus `--list-valid-for` (expiry).
fn feed_dates(
    published: Option<&str>,
    expires: Option<&str>,
    default_published: &Result<Timestamp>,
    options: &ListOptions,
) -> Result<(Timestamp, Timestamp), String> {
    let published = match published {
        Some(text) => feed_date(text).map_err(|why| format!("publication date: {why}"))?,
        None => match default_published {
            Ok(time) => *time,
            Err(error) => return Err(format!("no publication date and {error:#}")),
        },
    };
    let expiration = match expires {
        Some(text) => feed_date(text).map_err(|why| format!("expiry: {why}"))?,
        None => published.saturating_add(options.valid_for),
    };
    Ok((published, expiration))
}

/// RFC 3339 as everywhere, or the US forms spreadsheets write (`9/16/2020`,
/// `1/21/21 13:34`), read as UTC.
fn feed_date(text: &str) -> Result<Timestamp, String> {
    if let Ok(time) = time::parse(text) {
        return Ok(time);
    }
    // Two-digit years first: %Y would read `21` as the year 21.
    for format in ["%m/%d/%y %H:%M", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S"] {
        if let Ok(time) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(time.and_utc().timestamp_micros());
        }
    }
    for format in ["%m/%d/%y", "%m/%d/%Y"] {
        if let Ok(date) = NaiveDate::parse_from_str(text, format) {
            return Ok(date
                .and_time(chrono::NaiveTime::MIN)
                .and_utc()
                .timestamp_micros());
        }
    }
    Err(format!("not a date: {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_as_feeds_write_them() {
        let day = |text| feed_date(text).map(time::format);
        assert_eq!(day("9/16/2020").unwrap(), "2020-09-16T00:00:00Z");
        assert_eq!(day("1/21/21 13:34").unwrap(), "2021-01-21T13:34:00Z");
        assert_eq!(day("2023-05-23 17:51:44").unwrap(), "2023-05-23T17:51:44Z");
        assert_eq!(day("2024-04-01").unwrap(), "2024-04-01T00:00:00Z");
        assert!(day("16/9/2020").is_err());
        assert!(day("soon").is_err());
    }
}
