//! Timestamps as ASIM and Sentinel exports write them: RFC 3339 / ISO 8601,
//! `Z` or an offset, no offset meaning UTC, `T` or a space between date and
//! time; also the forms vendor tables hold (see [`OTHER_FORMS`]).

use asim_rule_core::Timestamp;
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};

/// Forms besides ISO 8601, all UTC: the Sentinel portal's CSV export
/// (`9/25/2023, 11:40:20.066 AM`), `NTANetAnalytics` samples
/// (`06-14-2025  07:17:01`, runs of spaces read as one) and PAN-OS
/// (`Feb 27 2021 20:16:17`).
const OTHER_FORMS: [&str; 3] = [
    "%m/%d/%Y, %I:%M:%S%.f %p",
    "%m-%d-%Y %H:%M:%S%.f",
    "%b %d %Y %H:%M:%S",
];

/// Parses a timestamp into microseconds since the epoch.
pub fn parse(text: &str) -> Result<Timestamp, String> {
    let text = text.trim();
    if let Some(time) = parse_iso(text) {
        return Ok(time);
    }
    let spaced = text.split_whitespace().collect::<Vec<_>>().join(" ");
    OTHER_FORMS
        .iter()
        .find_map(|form| NaiveDateTime::parse_from_str(&spaced, form).ok())
        .map(|time| time.and_utc().timestamp_micros())
        .ok_or_else(|| format!("not a time: {text:?}"))
}

/// RFC 3339 / ISO 8601 as [`parse`] takes them.
fn parse_iso(text: &str) -> Option<Timestamp> {
    let with_t = normalise_separator(text);
    let text = with_t.as_deref().unwrap_or(text);
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.timestamp_micros());
    }
    // An offset without its colon, as Suricata writes it: `+0200`.
    if let Ok(time) = DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(time.timestamp_micros());
    }
    if let Ok(time) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(time.and_utc().timestamp_micros());
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(
        date.and_time(chrono::NaiveTime::MIN)
            .and_utc()
            .timestamp_micros(),
    )
}

/// `2026-03-14 15:00:00` → `2026-03-14T15:00:00`.
fn normalise_separator(text: &str) -> Option<String> {
    (text.len() > 10 && text.as_bytes()[10] == b' ').then(|| {
        let mut owned = text.to_owned();
        owned.replace_range(10..11, "T");
        owned
    })
}

/// Formats an instant as RFC 3339 UTC with `Z`, with fractional seconds only
/// when there are any.
pub fn format(time: Timestamp) -> String {
    match DateTime::<Utc>::from_timestamp_micros(time) {
        Some(time) => time.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        None => time.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOON: Timestamp = 1_773_489_600_000_000; // 2026-03-14T12:00:00Z

    #[test]
    fn accepts_the_forms_exports_use() {
        for text in [
            "2026-03-14T12:00:00Z",
            "2026-03-14T12:00:00.000Z",
            "2026-03-14T12:00:00.0000000Z",
            "2026-03-14T13:00:00+01:00",
            "2026-03-14T14:00:00.000000+0200",
            "2026-03-14T12:00:00",
            "2026-03-14 12:00:00",
            "2026-03-14 12:00:00Z",
            " 2026-03-14T12:00:00Z ",
        ] {
            assert_eq!(parse(text), Ok(NOON), "{text}");
        }
        assert_eq!(parse("2026-03-14T12:00:00.1234567Z"), Ok(NOON + 123_456));
        assert_eq!(parse("2026-03-14"), Ok(NOON - 12 * 3_600_000_000));
    }

    #[test]
    fn accepts_the_forms_vendor_tables_hold() {
        for text in [
            "3/14/2026, 12:00:00.000 PM",
            "3/14/2026, 12:00:00 PM",
            "03-14-2026  12:00:00",
            "Mar 14 2026 12:00:00",
        ] {
            assert_eq!(parse(text), Ok(NOON), "{text}");
        }
        assert_eq!(
            parse("3/14/2026, 12:00:00.066 AM"),
            Ok(NOON - 12 * 3_600_000_000 + 66_000)
        );
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        for text in ["", "yesterday", "2026-13-01T00:00:00Z", "1773489600"] {
            assert!(parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn formats_utc_with_z() {
        assert_eq!(format(NOON), "2026-03-14T12:00:00Z");
        assert_eq!(format(NOON + 1_500), "2026-03-14T12:00:00.001500Z");
    }
}
