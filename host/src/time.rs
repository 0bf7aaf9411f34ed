//! Timestamps as ASIM and Sentinel exports write them: RFC 3339 / ISO 8601,
//! `Z` or an offset, no offset meaning UTC, `T` or a space between date and
//! time; also the forms vendor tables hold (see `OTHER_FORMS`).

use asim_rule_core::time::{DAY, SECOND};
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

/// The instants an RFC 3339 text can name, years 0001 to 9999: a time
/// computed outside them (from an epoch of 1e300 seconds) is a bad value.
pub const NAMEABLE: std::ops::RangeInclusive<Timestamp> =
    -62_135_596_800_000_000..=253_402_300_799_999_999;

/// `seconds` (and `micros`) since the epoch in microseconds, when that time
/// is [`NAMEABLE`].
pub fn from_seconds(seconds: i64, micros: i64) -> Option<Timestamp> {
    let time = seconds.checked_mul(1_000_000)?.checked_add(micros)?;
    NAMEABLE.contains(&time).then_some(time)
}

/// `time` plus `seconds` (a duration: finite, not negative), when the sum is
/// [`NAMEABLE`].
pub fn after_seconds(time: Timestamp, seconds: f64) -> Option<Timestamp> {
    let micros = (seconds * 1e6).round();
    let fits = seconds >= 0.0 && micros < (*NAMEABLE.end() - *NAMEABLE.start()) as f64;
    // Within the range's width, the cast is exact enough and cannot wrap.
    let sum = time.checked_add(fits.then_some(micros as i64)?)?;
    NAMEABLE.contains(&sum).then_some(sum)
}

/// The host's clock, in microseconds since the epoch.
pub fn now() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_micros()).unwrap_or(Timestamp::MAX)
        })
}

/// Parses a timestamp into microseconds since the epoch.
pub fn parse(text: &str) -> Result<Timestamp, String> {
    let text = text.trim();
    if let Some(time) = parse_common(text.as_bytes()) {
        return Ok(time);
    }
    // Before chrono's ISO forms, which never read a month-first text.
    if let Some(time) = parse_month_first(text.as_bytes()) {
        return Ok(time);
    }
    if let Some(time) = parse_iso(text) {
        return Ok(time);
    }
    parse_other(text).ok_or_else(|| format!("not a time: {text:?}"))
}

/// [`OTHER_FORMS`], runs of whitespace read as one space.
fn parse_other(text: &str) -> Option<Timestamp> {
    let spaced = text.split_whitespace().collect::<Vec<_>>().join(" ");
    OTHER_FORMS
        .iter()
        .find_map(|form| NaiveDateTime::parse_from_str(&spaced, form).ok())
        .map(|time| time.and_utc().timestamp_micros())
}

/// The digits of `bytes[range]` as a number; none if any is not a digit.
fn digits(bytes: &[u8], range: std::ops::Range<usize>) -> Option<i64> {
    bytes.get(range)?.iter().try_fold(0i64, |value, &byte| {
        byte.is_ascii_digit()
            .then(|| value * 10 + i64::from(byte - b'0'))
    })
}

/// `HH:MM:SS`, then up to nine fraction digits after a `.`, at the start of
/// `bytes`: the second of the day, the microseconds and the bytes read.
fn clock(bytes: &[u8]) -> Option<(i64, i64, usize)> {
    if bytes.len() < 8 || bytes[2] != b':' || bytes[5] != b':' {
        return None;
    }
    let (hour, minute, second) = (
        digits(bytes, 0..2)?,
        digits(bytes, 3..5)?,
        digits(bytes, 6..8)?,
    );
    if hour >= 24 || minute >= 60 || second >= 60 {
        return None;
    }
    let mut read = 8;
    let mut micros = 0;
    if bytes.get(read) == Some(&b'.') {
        let count = bytes[read + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if !(1..=9).contains(&count) {
            return None;
        }
        let fraction = digits(bytes, read + 1..read + 1 + count)?;
        micros = fraction * 1_000_000 / 10i64.pow(count as u32);
        read += 1 + count;
    }
    Some((hour * 3_600 + minute * 60 + second, micros, read))
}

/// Seconds since the epoch of a date and a second of its day, when the date
/// is one.
fn civil_seconds(year: i64, month: i64, day: i64, second_of_day: i64) -> Option<i64> {
    let real = (1..=12).contains(&month) && (1..=days_in_month(year, month)).contains(&day);
    real.then(|| days_from_civil(year, month, day) * 86_400 + second_of_day)
}

/// `06-14-2025  07:17:01` (month first, spaces, up to nine fraction digits),
/// as `NTANetAnalytics` exports write every time, read by hand: chrono's
/// format parser took a quarter of reading such a table. Anything else is
/// left to [`parse_other`], which then gives the same answer or the error.
fn parse_month_first(bytes: &[u8]) -> Option<Timestamp> {
    if bytes.len() < 19 || bytes[2] != b'-' || bytes[5] != b'-' {
        return None;
    }
    let (month, day, year) = (
        digits(bytes, 0..2)?,
        digits(bytes, 3..5)?,
        digits(bytes, 6..10)?,
    );
    let spaces = bytes[10..].iter().take_while(|&&b| b == b' ').count();
    if spaces == 0 {
        return None;
    }
    let (second_of_day, micros, read) = clock(&bytes[10 + spaces..])?;
    if 10 + spaces + read != bytes.len() {
        return None;
    }
    Some(civil_seconds(year, month, day, second_of_day)? * 1_000_000 + micros)
}

/// The shape almost every export writes, `2026-03-14T15:00:00.123Z` (up to
/// nine fraction digits, `Z`, `±HH:MM` or `±HHMM`), read by hand: this runs per row.
/// Anything else (and any value out of range) is left to chrono, which then
/// gives the same answer or the error.
fn parse_common(bytes: &[u8]) -> Option<Timestamp> {
    let dated = bytes.len() >= 20
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && matches!(bytes[10], b'T' | b' ');
    if !dated {
        return None;
    }
    let (year, month, day) = (
        digits(bytes, 0..4)?,
        digits(bytes, 5..7)?,
        digits(bytes, 8..10)?,
    );
    let (second_of_day, micros, read) = clock(&bytes[11..])?;
    let at = 11 + read;
    // `±HH:MM`, or `±HHMM` as Suricata writes it.
    let offset_minutes = match &bytes[at..] {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), zone @ ..] if matches!(zone, [_, _, b':', _, _] | [_, _, _, _]) => {
            let minutes_at = at + zone.len() - 1;
            let (hours, minutes) = (
                digits(bytes, at + 1..at + 3)?,
                digits(bytes, minutes_at..minutes_at + 2)?,
            );
            if hours > 23 || minutes > 59 {
                return None;
            }
            let minutes = hours * 60 + minutes;
            if *sign == b'-' {
                -minutes
            } else {
                minutes
            }
        }
        _ => return None,
    };
    let seconds = civil_seconds(year, month, day, second_of_day)? - offset_minutes * 60;
    Some(seconds * 1_000_000 + micros)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
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
/// when there are any: three digits for whole milliseconds, else six.
/// Written by hand for years 0 to 9999 (normalizers format a few times per
/// record; chrono's formatter was 4 % of reading Zeek), by chrono otherwise.
pub fn format(time: Timestamp) -> String {
    let (year, month, day) = civil_from_days(time.div_euclid(DAY));
    if !(0..=9999).contains(&year) {
        return format_by_chrono(time);
    }
    let of_day = time.rem_euclid(DAY);
    let (second, micros) = (of_day / SECOND, of_day % SECOND);
    fn put(slot: &mut [u8], mut value: i64) {
        for digit in slot.iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    let mut text = *b"0000-00-00T00:00:00.000000Z";
    put(&mut text[0..4], year);
    put(&mut text[5..7], month);
    put(&mut text[8..10], day);
    put(&mut text[11..13], second / 3_600);
    put(&mut text[14..16], second / 60 % 60);
    put(&mut text[17..19], second % 60);
    let end = match micros {
        0 => 19,
        _ if micros % 1_000 == 0 => {
            put(&mut text[20..23], micros / 1_000);
            23
        }
        _ => {
            put(&mut text[20..26], micros);
            26
        }
    };
    text[end] = b'Z';
    match std::str::from_utf8(&text[..=end]) {
        Ok(text) => text.to_owned(),
        Err(_) => format_by_chrono(time),
    }
}

/// chrono's RFC 3339: for years [`format`] does not write by hand.
fn format_by_chrono(time: Timestamp) -> String {
    match DateTime::<Utc>::from_timestamp_micros(time) {
        Some(time) => time.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        None => time.to_string(),
    }
}

/// The proleptic Gregorian date of a day since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, the inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A duration as a number and a unit, `d`, `h`, `m` or `s` (`30d`), in
/// microseconds: `--list-valid-for`, `--lateness`, serve's `lateness`.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let Ok(number) = number.parse::<i64>() else {
        return Err(format!(
            "{text:?} is not a duration such as 30d, 12h, 90m or 3600s"
        ));
    };
    let seconds = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return Err(format!("{text:?}: the unit must be d, h, m or s")),
    };
    number
        .checked_mul(seconds * 1_000_000)
        .ok_or_else(|| format!("{text:?} is too long"))
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

    /// Xorshift numbers below the bound each call names, from `state`.
    fn numbers_below(mut state: u64) -> impl FnMut(u64) -> u64 {
        move |below| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % below
        }
    }

    /// `.` and one to ten random digits, or nothing.
    fn random_fraction(next: &mut impl FnMut(u64) -> u64) -> String {
        let digits = next(11) as usize;
        if digits == 0 {
            return String::new();
        }
        let fraction: String = (0..digits)
            .map(|_| char::from(b'0' + next(10) as u8))
            .collect();
        format!(".{fraction}")
    }

    #[test]
    fn the_fast_path_agrees_with_chrono() {
        // Dates across leap years, centuries and before 1970; fractions of
        // every length; offsets either way; and shapes it must leave alone.
        let mut next = numbers_below(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let year = 1890 + next(250);
            let (month, day) = (1 + next(12), 1 + next(31));
            let (hour, minute, second) = (next(25), next(61), next(61));
            let fraction = random_fraction(&mut next);
            let zone = match next(4) {
                0 => "Z".to_owned(),
                1 => format!("+{:02}:{:02}", next(25), next(61)),
                2 => format!("-{:02}:{:02}", next(25), next(61)),
                _ => format!(
                    "{}{:02}{:02}",
                    ["+", "-"][next(2) as usize],
                    next(25),
                    next(61)
                ),
            };
            let separator = if next(5) == 0 { ' ' } else { 'T' };
            let text = format!(
                "{year:04}-{month:02}-{day:02}{separator}{hour:02}:{minute:02}:{second:02}{fraction}{zone}"
            );
            let by_chrono = parse_iso(&text);
            if let Some(fast) = parse_common(text.as_bytes()) {
                assert_eq!(Some(fast), by_chrono, "{text}");
            }
            assert_eq!(parse(&text).ok(), by_chrono, "{text}");
        }
    }

    #[test]
    fn the_month_first_fast_path_agrees_with_chrono() {
        // NTANetAnalytics' shape with dates and times in and out of range,
        // fractions of every length, one or more spaces (or a tab, which
        // only chrono's path takes) and stray text after it.
        let mut next = numbers_below(0x2545_f491_4f6c_dd1d);
        let mut fast_taken = 0;
        for _ in 0..20_000 {
            let (month, day, year) = (next(14), next(33), 1890 + next(250));
            let (hour, minute, second) = (next(25), next(61), next(61));
            let fraction = random_fraction(&mut next);
            let gap = ["  ", " ", "   ", "\t"][next(4) as usize];
            let tail = ["", "", "", "Z", " PM"][next(5) as usize];
            let text = format!(
                "{month:02}-{day:02}-{year:04}{gap}{hour:02}:{minute:02}:{second:02}{fraction}{tail}"
            );
            let by_chrono = parse_other(&text);
            if let Some(fast) = parse_month_first(text.as_bytes()) {
                fast_taken += 1;
                assert_eq!(Some(fast), by_chrono, "{text}");
                assert_eq!(parse_iso(&text), None, "{text}");
            }
            assert_eq!(parse(&text).ok(), by_chrono, "{text}");
        }
        assert!(fast_taken > 5_000, "the fast path took {fast_taken}");
    }

    #[test]
    fn offsets_without_their_colon_take_the_fast_path() {
        let text = "2021-06-06T15:57:37.272281+0200";
        assert_eq!(parse_common(text.as_bytes()), parse_iso(text));
        assert_eq!(parse_common(text.as_bytes()), Some(1_622_987_857_272_281));
        assert_eq!(parse_common(b"2021-06-06T15:57:37+02x0"), None);
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        for text in ["", "yesterday", "2026-13-01T00:00:00Z", "1773489600"] {
            assert!(parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn formatting_agrees_with_chrono() {
        // Times from year -300 to 10 300: whole seconds, milliseconds and
        // microseconds, before 1970 too, and years chrono writes with a sign.
        let mut next = numbers_below(0x1656_67b1_9e37_79f9);
        let first = days_from_civil(-300, 1, 1) * DAY;
        let span = (days_from_civil(10_300, 1, 1) * DAY - first) as u64;
        for _ in 0..50_000 {
            let time = first + next(span) as i64;
            let time = match next(3) {
                0 => time - time.rem_euclid(1_000_000),
                1 => time - time.rem_euclid(1_000),
                _ => time,
            };
            assert_eq!(format(time), format_by_chrono(time), "{time}");
        }
        for time in [
            0,
            -1,
            i64::MIN,
            i64::MAX,
            253_402_300_799_999_999,
            253_402_300_800_000_000,
        ] {
            assert_eq!(format(time), format_by_chrono(time), "{time}");
        }
    }

    #[test]
    fn formats_utc_with_z() {
        assert_eq!(format(NOON), "2026-03-14T12:00:00Z");
        assert_eq!(format(NOON + 1_500), "2026-03-14T12:00:00.001500Z");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d").unwrap(), 30 * 86_400_000_000);
        assert_eq!(parse_duration("90m").unwrap(), 90 * 60_000_000);
        for bad in ["", "d", "30", "30w", "-1d", "1.5h", "999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
