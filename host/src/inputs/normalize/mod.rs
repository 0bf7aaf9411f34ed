//! Raw logs to ASIM NetworkSession, at read time, as Sentinel's ASIM parsers
//! do at query time: each source a module that maps its records field by
//! field (docs/NORMALIZERS.md has the tables). A normalizer hands over the
//! same thing a reader of ASIM files does, the text of the wanted ASIM
//! columns per record, so rules never see raw logs.
//!
//! One file past 500 lines: what every normalizer shares (the formats and
//! their detection, the issue counts, the session being built, protocol
//! names, the read loop), each part too small for a module of its own.

/// An enum whose variants index a list of names, and that list, in one
/// order: `values[Column::SrcIpAddr as usize]`, no lookup by name per record.
macro_rules! indexed_names {
    ($(#[$meta:meta])* $vis:vis enum $enum:ident, $list_vis:vis const $list:ident = [$($name:ident),* $(,)?]) => {
        $(#[$meta])*
        #[allow(non_camel_case_types, clippy::enum_variant_names)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        $vis enum $enum { $($name),* }
        impl From<$enum> for usize {
            fn from(name: $enum) -> usize {
                name as usize
            }
        }
        /// The names, in the enum's order.
        $list_vis const $list: &[&str] = &[$(stringify!($name)),*];
    };
}

pub mod aws_vpc;
pub mod common_security_log;
pub mod nta;
pub mod suricata;
pub mod zeek;

use std::{borrow::Cow, collections::BTreeMap};

use anyhow::Result;
use asim_rule_core::IpPrefix;

pub use super::records::Fields;
use super::{records::OnRecord, Format, InputFile};
use crate::time;

/// What a session file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionFormat {
    /// ASIM NetworkSession columns already.
    Asim,
    /// Zeek `conn.log`, TSV with its `#fields` header.
    ZeekTsv,
    /// Zeek `conn.log`, JSON lines.
    ZeekJson,
    /// AWS VPC flow logs (default or custom format).
    AwsVpc,
    /// Suricata EVE JSON (flow events).
    SuricataEve,
    /// Sentinel `CommonSecurityLog` (CEF): FortiGate, Cisco ASA, Palo Alto.
    CommonSecurityLog,
    /// Sentinel `NTANetAnalytics` (Azure NSG / VNet flow traffic analytics).
    NtaNetAnalytics,
}

impl SessionFormat {
    /// The format as messages name it.
    pub fn name(self) -> &'static str {
        match self {
            SessionFormat::Asim => "ASIM NetworkSession",
            SessionFormat::ZeekTsv => "Zeek conn.log (TSV)",
            SessionFormat::ZeekJson => "Zeek conn.log (JSON)",
            SessionFormat::AwsVpc => "AWS VPC flow log",
            SessionFormat::SuricataEve => "Suricata EVE",
            SessionFormat::CommonSecurityLog => "CommonSecurityLog",
            SessionFormat::NtaNetAnalytics => "NTANetAnalytics",
        }
    }

    /// Every format, in the order `--sessions-format` lists them.
    pub const ALL: [SessionFormat; 7] = [
        SessionFormat::Asim,
        SessionFormat::ZeekTsv,
        SessionFormat::ZeekJson,
        SessionFormat::AwsVpc,
        SessionFormat::SuricataEve,
        SessionFormat::CommonSecurityLog,
        SessionFormat::NtaNetAnalytics,
    ];

    /// The format as `--sessions-format` names it.
    pub fn flag(self) -> &'static str {
        match self {
            SessionFormat::Asim => "asim",
            SessionFormat::ZeekTsv => "zeek-tsv",
            SessionFormat::ZeekJson => "zeek-json",
            SessionFormat::AwsVpc => "aws-vpc",
            SessionFormat::SuricataEve => "suricata-eve",
            SessionFormat::CommonSecurityLog => "common-security-log",
            SessionFormat::NtaNetAnalytics => "nta-net-analytics",
        }
    }

    /// What files of the format hold, for help texts.
    pub fn about(self) -> &'static str {
        match self {
            SessionFormat::Asim => "ASIM NetworkSession columns already",
            SessionFormat::ZeekTsv => "Zeek `conn.log`, TSV with its `#fields` header",
            SessionFormat::ZeekJson => "Zeek `conn.log`, JSON lines",
            SessionFormat::AwsVpc => "AWS VPC flow logs (default or custom format)",
            SessionFormat::SuricataEve => "Suricata EVE JSON (flow events)",
            SessionFormat::CommonSecurityLog => {
                "Sentinel `CommonSecurityLog` (CEF): FortiGate, Cisco ASA, Palo Alto"
            }
            SessionFormat::NtaNetAnalytics => {
                "Sentinel `NTANetAnalytics` (Azure NSG / VNet flow traffic analytics)"
            }
        }
    }

    /// The ASIM columns the format's normalizer writes; none for ASIM.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            SessionFormat::Asim => &[],
            SessionFormat::ZeekTsv | SessionFormat::ZeekJson => zeek::COLUMNS,
            SessionFormat::AwsVpc => &aws_vpc::COLUMNS,
            SessionFormat::SuricataEve => &suricata::COLUMNS,
            SessionFormat::CommonSecurityLog => common_security_log::COLUMNS,
            SessionFormat::NtaNetAnalytics => nta::COLUMNS,
        }
    }

    /// Recognises the format from the start of the file: Zeek's `#separator`
    /// header, a first JSON record with Zeek's `id.orig_h`, a flow log header
    /// or record, a Sentinel table's columns; anything else is taken for ASIM.
    pub fn detect(head: &[u8]) -> SessionFormat {
        let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
        let text = String::from_utf8_lossy(&head[..head.len().min(1 << 16)]);
        let first_line = text.lines().map(str::trim).find(|line| !line.is_empty());
        match first_line {
            Some(line) if line.starts_with("#separator") => SessionFormat::ZeekTsv,
            Some(line) if line.starts_with('{') && line.contains("\"id.orig_h\"") => {
                SessionFormat::ZeekJson
            }
            Some(line) if suricata::looks_like(line) => SessionFormat::SuricataEve,
            Some(line) if aws_vpc::looks_like(line) => SessionFormat::AwsVpc,
            Some(line) if common_security_log::looks_like(line) => SessionFormat::CommonSecurityLog,
            Some(line) if nta::looks_like(line) => SessionFormat::NtaNetAnalytics,
            _ => SessionFormat::Asim,
        }
    }
}

/// What a normalizer left out: fields it could not map (left empty), by ASIM
/// column, records that are no sessions (skipped), by reason, and values it
/// had to take from elsewhere than the record (derived), by what.
#[derive(Debug, Default)]
pub struct FieldIssues {
    /// Mapped fields left empty, by ASIM column.
    pub empty: BTreeMap<&'static str, u64>,
    /// Fields whose values could not be mapped, by ASIM column.
    pub skipped: BTreeMap<&'static str, u64>,
    /// Fields taken from elsewhere than the record, by ASIM column.
    pub derived: BTreeMap<&'static str, u64>,
}

impl FieldIssues {
    fn derive(&mut self, what: &'static str) {
        *self.derived.entry(what).or_default() += 1;
    }

    fn count(&mut self, column: &'static str) {
        *self.empty.entry(column).or_default() += 1;
    }

    fn skip(&mut self, reason: &'static str) {
        *self.skipped.entry(reason).or_default() += 1;
    }

    /// `text` when it is an IP address; else none, counted against `column`.
    fn address(&mut self, text: Option<&str>, column: &'static str) -> Value {
        owned(self.checked_address(text, column))
    }

    /// [`FieldIssues::address`] without a copy.
    fn checked_address<'t>(
        &mut self,
        text: Option<&'t str>,
        column: &'static str,
    ) -> Option<&'t str> {
        let text = text?;
        if IpPrefix::parse_address(text).is_some() {
            return Some(text);
        }
        self.count(column);
        None
    }

    /// `text` as a MAC address as ASIM writes it (`00:0D:3A:1B:2C:3D`), from
    /// colons, dashes or none; else none, counted against `column`.
    fn mac(&mut self, text: Option<&str>, column: &'static str) -> Value {
        let text = text?;
        if !is_mac(text) {
            self.count(column);
            return None;
        }
        Some(Cow::Owned(mac_text(text)))
    }

    /// `text` as a whole number; else none, counted against `column`.
    fn whole(&mut self, text: Option<&str>, column: &'static str) -> Option<u64> {
        let parsed = text?.parse().ok();
        if parsed.is_none() {
            self.count(column);
        }
        parsed
    }

    /// `text` as a port number (at most 65535); else none, counted.
    fn port(&mut self, text: Option<&str>, column: &'static str) -> Option<u64> {
        let port = self.whole(text, column)?;
        if port > u64::from(u16::MAX) {
            self.count(column);
            return None;
        }
        Some(port)
    }

    /// `; skipped: NODATA 1; fields left empty: SrcPortNumber 3, …`, or nothing.
    pub fn describe(&self) -> String {
        let list = |counts: &BTreeMap<&str, u64>| {
            let items: Vec<String> = counts
                .iter()
                .map(|(what, count)| format!("{what} {count}"))
                .collect();
            items.join(", ")
        };
        let mut text = String::new();
        if !self.skipped.is_empty() {
            text.push_str(&format!("; skipped: {}", list(&self.skipped)));
        }
        if !self.empty.is_empty() {
            text.push_str(&format!("; fields left empty: {}", list(&self.empty)));
        }
        if !self.derived.is_empty() {
            text.push_str(&format!("; {}", list(&self.derived)));
        }
        text
    }
}

/// Whether `name` is a hostname: dot-separated labels of letters, digits and
/// inner hyphens (RFC 1123), as ASIM's tester requires.
fn is_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Whether `text` is six bytes in hex, with colons, dashes or none.
fn is_mac(text: &str) -> bool {
    let mut digits = text.chars().filter(|c| !matches!(c, ':' | '-'));
    digits.clone().count() == 12 && digits.all(|c| c.is_ascii_hexdigit())
}

/// A MAC address that [`is_mac`] as ASIM writes it: `00:0D:3A:1B:2C:3D`.
fn mac_text(text: &str) -> String {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    let pairs: Vec<&str> = digits
        .chunks(2)
        .map(|pair| std::str::from_utf8(pair).unwrap_or_default())
        .collect();
    pairs.join(":")
}

/// The non-empty value of source field `name` in a record read as `names`.
fn raw_field<'r>(names: &[&str], raw: &'r [Option<Cow<str>>], name: &str) -> Option<&'r str> {
    let at = names.iter().position(|known| *known == name)?;
    raw[at].as_deref().filter(|value| !value.is_empty())
}

/// A record's ASIM values as a normalizer fills them, in its `columns`
/// order, each column named by the normalizer's `indexed_names!` enum; what
/// cannot be mapped is left empty and counted in `issues`. Values borrow
/// the record's text, and numbers and times become text only when they are
/// wanted: most columns a normalizer fills, the rules never read.
struct Session<'i, 'r> {
    values: Vec<Slot<'r>>,
    columns: &'static [&'static str],
    issues: &'i mut FieldIssues,
}

/// One ASIM value, kept as it was found until it is wanted as text.
#[derive(Clone, Debug, Default)]
enum Slot<'r> {
    #[default]
    Empty,
    Text(Cow<'r, str>),
    Number(u64),
    Time(asim_rule_core::Timestamp),
    /// A text that [`is_mac`], written as [`mac_text`].
    Mac(&'r str),
}

impl<'r> Slot<'r> {
    /// The value as ASIM text.
    fn into_text(self) -> Option<Cow<'r, str>> {
        match self {
            Slot::Empty => None,
            Slot::Text(text) => Some(text),
            Slot::Number(number) => Some(Cow::Owned(number.to_string())),
            Slot::Time(time) => Some(Cow::Owned(time::format(time))),
            Slot::Mac(text) => Some(Cow::Owned(mac_text(text))),
        }
    }
}

impl<'i, 'r> Session<'i, 'r> {
    /// A session of `columns`, all empty, in `spare`'s allocation.
    fn new(
        columns: &'static [&'static str],
        issues: &'i mut FieldIssues,
        spare: Vec<Slot<'static>>,
    ) -> Session<'i, 'r> {
        let mut values = super::records::recycle(spare);
        values.resize(columns.len(), Slot::Empty);
        Session {
            values,
            columns,
            issues,
        }
    }

    fn name(&self, column: impl Into<usize>) -> &'static str {
        self.columns[column.into()]
    }

    fn set(&mut self, column: impl Into<usize> + Copy, value: Slot<'r>) {
        self.values[column.into()] = value;
    }

    /// Whether `column` has no value yet.
    fn is_empty(&self, column: impl Into<usize> + Copy) -> bool {
        matches!(self.values[column.into()], Slot::Empty)
    }

    /// `to` takes `from`'s value.
    fn copy(&mut self, from: impl Into<usize> + Copy, to: impl Into<usize> + Copy) {
        self.values[to.into()] = self.values[from.into()].clone();
    }

    /// A text as it is.
    fn text(&mut self, column: impl Into<usize> + Copy, text: Option<&'r str>) {
        self.set(column, slot(text.map(Cow::Borrowed)));
    }

    /// A text made from the record's.
    fn owned_text(&mut self, column: impl Into<usize> + Copy, text: Option<String>) {
        self.set(column, slot(text.map(Cow::Owned)));
    }

    /// A constant.
    fn fixed(&mut self, column: impl Into<usize> + Copy, value: &'static str) {
        self.set(column, Slot::Text(Cow::Borrowed(value)));
    }

    /// A user name and, in `type_column`, its ASIM type from its form:
    /// `UPN` (`user@domain`), `Windows` (`DOMAIN\\user`), `DN` (`CN=…`),
    /// else `Simple`, as the parsers' `_ASIM_GetUsernameType` does.
    fn username(
        &mut self,
        column: impl Into<usize> + Copy,
        type_column: impl Into<usize> + Copy,
        text: Option<&'r str>,
    ) {
        let Some(name) = text.filter(|name| !name.is_empty()) else {
            return;
        };
        let kind = if name.contains('@') {
            "UPN"
        } else if name.contains('\\') {
            "Windows"
        } else if name.to_ascii_uppercase().starts_with("CN=") {
            "DN"
        } else {
            "Simple"
        };
        self.text(column, Some(name));
        self.fixed(type_column, kind);
    }

    /// A MAC address as ASIM writes it (`00:0D:3A:1B:2C:3D`) from colons,
    /// dashes or none; left empty (and counted) when it is not six bytes.
    fn mac(&mut self, column: impl Into<usize> + Copy, text: Option<&'r str>) {
        let Some(text) = text else {
            return self.set(column, Slot::Empty);
        };
        if is_mac(text) {
            self.set(column, Slot::Mac(text));
        } else {
            self.issues.count(self.name(column));
            self.set(column, Slot::Empty);
        }
    }

    /// An IP address, left empty (and counted) when it is none.
    fn address(&mut self, column: impl Into<usize> + Copy, text: Option<&'r str>) {
        let address = self.issues.checked_address(text, self.name(column));
        self.set(column, slot(address.map(Cow::Borrowed)));
    }

    /// A port number, left empty (and counted) when it is none.
    fn port(&mut self, column: impl Into<usize> + Copy, text: Option<&str>) -> Option<u64> {
        let port = self.issues.port(text, self.name(column));
        self.number(column, port);
        port
    }

    /// A whole number, left empty (and counted) when it is none.
    fn whole(&mut self, column: impl Into<usize> + Copy, text: Option<&str>) -> Option<u64> {
        let value = self.issues.whole(text, self.name(column));
        self.number(column, value);
        value
    }

    /// A number, or nothing.
    fn number(&mut self, column: impl Into<usize> + Copy, value: Option<u64>) {
        self.set(column, value.map_or(Slot::Empty, Slot::Number));
    }

    /// A duration in seconds as ASIM's milliseconds, left empty (and
    /// counted) when it is no whole number or too long for ASIM's int.
    fn seconds_as_milliseconds(&mut self, column: impl Into<usize> + Copy, text: Option<&str>) {
        let seconds = self.issues.whole(text, self.name(column));
        let milliseconds = seconds.map(|seconds| {
            seconds
                .checked_mul(1000)
                .filter(|ms| i64::try_from(*ms).is_ok())
        });
        if milliseconds == Some(None) {
            self.issues.count(self.name(column));
        }
        self.number(column, milliseconds.flatten());
    }

    /// A time, written as RFC 3339, left empty (and counted) when unreadable.
    fn time(&mut self, column: impl Into<usize> + Copy, text: Option<&str>) {
        let Some(text) = text else { return };
        match time::parse(text) {
            Ok(time) => self.set(column, Slot::Time(time)),
            Err(_) => self.issues.count(self.name(column)),
        }
    }

    /// The sum of two counts, as Kusto's `a + b` (none when either is).
    fn sum(&mut self, column: impl Into<usize> + Copy, a: Option<u64>, b: Option<u64>) {
        self.number(column, sum(a, b));
    }

    /// `NetworkProtocolVersion` from `DstIpAddr`, as the parsers decide it.
    fn protocol_version(&mut self, column: impl Into<usize> + Copy, dst: impl Into<usize> + Copy) {
        let address = match &self.values[dst.into()] {
            Slot::Text(text) => Some(text.as_ref()),
            _ => None,
        };
        let version = protocol_version(address).map_or(Slot::Empty, Slot::Text);
        self.set(column, version);
    }

    /// The wanted values as text, into `picked`, and the values'
    /// allocation for the next session.
    fn pick(
        mut self,
        mapped: &Mapped,
        mut picked: Vec<Option<Cow<'r, str>>>,
    ) -> (Vec<Option<Cow<'r, str>>>, Vec<Slot<'static>>) {
        mapped.pick_into(&mut picked, |at| {
            std::mem::take(&mut self.values[at]).into_text()
        });
        (picked, super::records::recycle(self.values))
    }
}

/// A text value, empty when it is.
fn slot(text: Option<Cow<'_, str>>) -> Slot<'_> {
    text.filter(|text| !text.is_empty())
        .map_or(Slot::Empty, Slot::Text)
}

/// One ASIM value as a normalizer writes it.
type Value = Option<Cow<'static, str>>;

/// A number as an ASIM value.
fn number(value: Option<u64>) -> Value {
    value.map(|value| Cow::Owned(value.to_string()))
}

/// A text copied into an ASIM value.
fn owned(text: Option<&str>) -> Value {
    text.map(|text| Cow::Owned(text.to_owned()))
}

/// A constant ASIM value.
fn fixed(value: &'static str) -> Value {
    Some(Cow::Borrowed(value))
}

/// IANA protocol numbers seen in network logs, named as the ASIM parsers'
/// tables name them.
const PROTOCOLS: [(u8, &str); 17] = [
    (1, "ICMP"),
    (2, "IGMP"),
    (4, "IPv4"),
    (6, "TCP"),
    (17, "UDP"),
    (41, "IPv6"),
    (47, "GRE"),
    (50, "ESP"),
    (51, "AH"),
    (58, "IPv6-ICMP"),
    (88, "EIGRP"),
    (89, "OSPFIGP"),
    (103, "PIM"),
    (112, "VRRP"),
    (115, "L2TP"),
    (132, "SCTP"),
    (136, "UDPLite"),
];

/// The name of IANA protocol number `text`, when it is one we name.
fn protocol_name(text: &str) -> Option<&'static str> {
    let code = text.parse::<u8>().ok()?;
    PROTOCOLS
        .iter()
        .find(|(number, _)| *number == code)
        .map(|(_, name)| *name)
}

/// `IPv4` or `IPv6` by the look of an address, as the parsers decide
/// `NetworkProtocolVersion` (a `.` or a `:` in it).
fn protocol_version(address: Option<&str>) -> Value {
    let address = address?;
    if address.contains('.') {
        fixed("IPv4")
    } else if address.contains(':') {
        fixed("IPv6")
    } else {
        None
    }
}

/// The sum of two counts, none when either is missing (as Kusto's `null + x`).
fn sum(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    Some(a?.saturating_add(b?))
}

/// Calls `on_record(line, fields)` for every record of a raw log: `fields[i]`
/// is the ASIM value of column `wanted[i]`, or the reason the record cannot
/// be mapped.
pub fn read(
    input: &InputFile,
    mut reader: Box<dyn std::io::BufRead>,
    format: SessionFormat,
    wanted: &[&str],
    issues: &mut FieldIssues,
    on_record: &mut OnRecord,
) -> Result<()> {
    match format {
        SessionFormat::Asim => super::records::read_from(input, reader, wanted, on_record),
        SessionFormat::ZeekTsv => zeek::read_tsv(input, reader, wanted, issues, on_record),
        SessionFormat::AwsVpc => aws_vpc::read(input, reader, wanted, issues, on_record),
        SessionFormat::CommonSecurityLog | SessionFormat::NtaNetAnalytics => {
            // A table export by any name: JSON lines when it starts with `{`.
            let mut input = input.clone();
            if input.format == Format::Text {
                let head = reader.fill_buf()?;
                let json = head.iter().find(|byte| !byte.is_ascii_whitespace()) == Some(&b'{');
                input.format = if json { Format::JsonLines } else { Format::Csv };
            }
            match format {
                SessionFormat::CommonSecurityLog => {
                    common_security_log::read(&input, reader, wanted, issues, on_record)
                }
                _ => nta::read(&input, reader, wanted, issues, on_record),
            }
        }
        SessionFormat::ZeekJson | SessionFormat::SuricataEve => {
            // JSON lines whatever the file is called (`conn.log`, `eve.json`).
            let input = InputFile {
                format: Format::JsonLines,
                ..input.clone()
            };
            match format {
                SessionFormat::ZeekJson => {
                    zeek::read_json(&input, reader, wanted, issues, on_record)
                }
                _ => suricata::read(&input, reader, wanted, issues, on_record),
            }
        }
    }
}

/// What a table normalizer makes of one record.
enum Mapping {
    /// A session: the values its `Session` holds.
    Session,
    /// No session, for this (counted) reason.
    Skip(&'static str),
    /// Unreadable, for this reason (named with file and line).
    Reject(String),
}

/// Reads a table export (CSV or JSON lines) whose records `map` turns into
/// sessions of `columns`, reading the columns `raw` names.
fn read_table(
    input: &InputFile,
    reader: Box<dyn std::io::BufRead>,
    (raw, columns): (&[&str], &'static [&'static str]),
    wanted: &[&str],
    issues: &mut FieldIssues,
    on_record: &mut OnRecord,
    mut map: impl for<'r> FnMut(&'r Fields, &mut Session<'_, 'r>) -> Mapping,
) -> Result<()> {
    let mapped = Mapped::new(columns, wanted);
    // The allocations of the record before, reused: most records map to
    // the same shapes.
    let mut spare_values = Vec::new();
    let mut spare_picked: Vec<Option<Cow<'static, str>>> = Vec::new();
    let on_raw = &mut |number: u64, fields: Result<&Fields, String>| {
        let fields = match fields {
            Ok(fields) => fields,
            Err(reason) => return on_record(number, Err(reason)),
        };
        let mut session = Session::new(columns, issues, std::mem::take(&mut spare_values));
        match map(fields, &mut session) {
            Mapping::Session => {
                let picked = super::records::recycle(std::mem::take(&mut spare_picked));
                let (picked, values) = session.pick(&mapped, picked);
                spare_values = values;
                let handed = on_record(number, Ok(&picked));
                spare_picked = super::records::recycle(picked);
                handed
            }
            Mapping::Skip(reason) => {
                spare_values = super::records::recycle(session.values);
                issues.skip(reason);
                Ok(())
            }
            Mapping::Reject(reason) => {
                spare_values = super::records::recycle(session.values);
                on_record(number, Err(reason))
            }
        }
    };
    super::records::read_from(input, reader, raw, on_raw)
}

/// A record's `TimeGenerated` into `session`, or why it has none.
fn time_generated(
    text: Option<&str>,
    session: &mut Session,
    column: impl Into<usize> + Copy,
) -> Result<(), String> {
    let text = text.ok_or("TimeGenerated: missing")?;
    let time = time::parse(text).map_err(|why| format!("TimeGenerated: {why}"))?;
    session.set(column, Slot::Time(time));
    Ok(())
}

/// The ASIM columns a normalizer writes, and a record's values for them;
/// `wanted` names are looked up once per file.
pub struct Mapped {
    positions: Vec<Option<usize>>,
    /// By column of the normalizer's output: where its value goes among
    /// the wanted ones (the first place, if a column is wanted twice).
    slots: Vec<Option<usize>>,
}

impl Mapped {
    /// Where each of `wanted` is among `columns` (the normalizer's output).
    pub fn new(columns: &[&str], wanted: &[&str]) -> Mapped {
        Mapped {
            positions: wanted
                .iter()
                .map(|name| columns.iter().position(|column| column == name))
                .collect(),
            slots: columns
                .iter()
                .map(|column| wanted.iter().position(|name| name == column))
                .collect(),
        }
    }

    /// How many values are wanted.
    pub fn wanted(&self) -> usize {
        self.positions.len()
    }

    /// Where column `column` of the normalizer's output goes among the
    /// wanted values, if it is wanted.
    pub fn slot(&self, column: usize) -> Option<usize> {
        self.slots.get(column).copied().flatten()
    }

    /// The wanted values out of a record's `values` (in `columns` order).
    pub fn pick<'a>(&self, values: &mut [Option<Cow<'a, str>>]) -> Vec<Option<Cow<'a, str>>> {
        let mut picked = Vec::with_capacity(self.wanted());
        self.pick_into(&mut picked, |at| values[at].take());
        picked
    }

    /// The wanted values into `picked`, `take(at)` giving the value of
    /// column `at` (in `columns` order).
    fn pick_into<'a>(
        &self,
        picked: &mut Vec<Option<Cow<'a, str>>>,
        mut take: impl FnMut(usize) -> Option<Cow<'a, str>>,
    ) {
        picked.extend(
            self.positions
                .iter()
                .map(|position| position.and_then(&mut take)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_recognised_from_the_first_line() {
        let detect = |head: &str| SessionFormat::detect(head.as_bytes());
        assert_eq!(
            detect("#separator \\x09\n#set_separator\t,\n"),
            SessionFormat::ZeekTsv
        );
        assert_eq!(
            detect("{\"ts\":1664462456.755299,\"uid\":\"C5\",\"id.orig_h\":\"172.16.1.11\"}\n"),
            SessionFormat::ZeekJson
        );
        assert_eq!(
            detect("{\"TimeGenerated\":\"2026-03-01T00:00:00Z\",\"SrcIpAddr\":\"10.0.0.1\"}"),
            SessionFormat::Asim
        );
        assert_eq!(detect("TimeGenerated,SrcIpAddr\n"), SessionFormat::Asim);
    }
}
