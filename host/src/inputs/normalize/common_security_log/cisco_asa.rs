//! Cisco ASA connection and access-list events, as
//! `ASimNetworkSessionCiscoASA` (v1.1.0) maps them: the CEF columns when the
//! connector filled them, else what the event's message says (per message
//! id); docs/NORMALIZERS.md has the table and the deliberate differences.
//!
//! One file past 500 lines: the message-id table and the parsing of each
//! message family read together, as Microsoft's parser does; the tests are
//! ASA messages of each kind (built, teardown, access list).

use super::{has_term, resolve_protocol, Column, Raw, Record, Session};

/// The message ids the parser keeps, with the DvcAction and EventResult
/// each implies (empty: decided from the message).
const EVENTS: [(&str, &str, &str); 27] = [
    ("106001", "Deny", "Failure"),
    ("106002", "Deny", "Failure"),
    ("106006", "Deny", "Failure"),
    ("106007", "Deny", "Failure"),
    ("106010", "Deny", "Failure"),
    ("106012", "Deny", "Failure"),
    ("106013", "Drop", "Failure"),
    ("106014", "Deny", "Failure"),
    ("106015", "Deny", "Failure"),
    ("106016", "Deny", "Failure"),
    ("106017", "Deny", "Failure"),
    ("106018", "Deny", "Failure"),
    ("106020", "Deny", "Failure"),
    ("106021", "Deny", "Failure"),
    ("106022", "Deny", "Failure"),
    ("106023", "Deny", "Failure"),
    ("106100", "", ""),
    ("302013", "Allow", "Success"),
    ("302014", "", ""),
    ("302015", "Allow", "Success"),
    ("302016", "Allow", "Success"),
    ("302020", "Allow", "Success"),
    ("302021", "Allow", "Success"),
    ("710002", "Allow", "Success"),
    ("710003", "Deny", "Failure"),
    ("710004", "Drop", "Failure"),
    ("710005", "Drop", "Failure"),
];

/// A teardown's reason (302014) → DvcAction, EventResult, EventResultDetails.
const TEARDOWN_REASONS: [(&str, &str, &str, &str); 35] = [
    ("Conn-timeout", "", "Success", "Timeout"),
    ("Deny Terminate", "Deny", "Failure", "Terminated"),
    ("Failover primary closed", "", "Success", "Failover"),
    ("FIN Timeout", "", "Success", "Timeout"),
    ("Flow closed by inspection", "Deny", "Failure", "Terminated"),
    ("Flow terminated by IPS", "Deny", "Failure", "Terminated"),
    ("Flow reset by IPS", "Reset", "Failure", "Terminated"),
    (
        "Flow terminated by TCP Intercept",
        "TCP Intercept",
        "Failure",
        "Terminated",
    ),
    ("Flow timed out", "", "Success", "Timeout"),
    ("Flow timed out with reset", "Reset", "Failure", "Timeout"),
    (
        "Free the flow created as result of packet injection",
        "",
        "Success",
        "Simulation",
    ),
    ("Invalid SYN", "", "Failure", "Invalid TCP"),
    ("IPS fail-close", "Deny", "Failure", "Terminated"),
    (
        "No interfaces associated with zone",
        "",
        "Failure",
        "Routing issue",
    ),
    ("No valid adjacency", "Drop", "Failure", "Routing issue"),
    ("Pinhole Timeout", "", "Failure", "Timeout"),
    (
        "Probe maximum retries of retransmission exceeded",
        "",
        "Failure",
        "Maximum Retry",
    ),
    (
        "Probe maximum retransmission time elapsed",
        "",
        "Failure",
        "Maximum Retry",
    ),
    ("Probe received RST", "", "Failure", "Reset"),
    ("Probe received FIN", "", "Success", ""),
    ("Probe completed", "", "Success", ""),
    ("Route change", "", "Success", ""),
    ("SYN Control", "", "Failure", "Invalid TCP"),
    ("SYN Timeout", "", "Failure", "Timeout"),
    ("TCP bad retransmission", "", "Success", "Invalid TCP"),
    ("TCP FINs", "", "Success", ""),
    ("TCP Invalid SYN", "", "Failure", "Invalid TCP"),
    ("TCP Reset-APPLIANCE", "", "Failure", "Reset"),
    ("TCP Reset-I", "", "Failure", "Reset"),
    ("TCP Reset-O", "", "Failure", "Reset"),
    ("TCP segment partial overlap", "", "Failure", "Invalid TCP"),
    (
        "TCP unexpected window size variation",
        "",
        "Failure",
        "Invalid TCP",
    ),
    ("Tunnel has been torn down", "", "Failure", "Invalid Tunnel"),
    ("Unknown", "Deny", "Failure", "Terminated"),
    ("Xlate Clear", "", "", ""),
];

/// Whether the parser keeps message id `id`.
pub(super) fn is_session(id: &str) -> bool {
    EVENTS.iter().any(|(known, ..)| *known == id)
}

/// What the message of an event says, as the parser's `parse` steps read it.
#[derive(Default)]
struct Parsed<'m> {
    action: Option<&'m str>,
    direction: Option<&'m str>,
    protocol: Option<&'m str>,
    src: Option<&'m str>,
    src_port: Option<&'m str>,
    dst: Option<&'m str>,
    dst_port: Option<&'m str>,
    src_interface: Option<&'m str>,
    dst_interface: Option<&'m str>,
    src_nat: Option<&'m str>,
    src_nat_port: Option<&'m str>,
    dst_nat: Option<&'m str>,
    dst_nat_port: Option<&'m str>,
    src_user: Option<&'m str>,
    dst_user: Option<&'m str>,
    session_id: Option<&'m str>,
    duration: Option<&'m str>,
    bytes: Option<&'m str>,
    reason: Option<&'m str>,
    details: Option<&'m str>,
    rule: Option<&'m str>,
    icmp_type: Option<&'m str>,
    icmp_code: Option<&'m str>,
    count: Option<&'m str>,
    sub_type: Option<&'static str>,
}

/// Fills `session` from an ASA event.
pub(super) fn map<'r>(record: &Record<'r, '_>, session: &mut Session<'_, 'r>) {
    use Column::*;
    let id = record.get(Raw::DeviceEventClassID).unwrap_or("");
    let message = record.get(Raw::Message).unwrap_or("");
    // The connector fills SourceIP and friends for most events; when it did
    // not, the addresses come out of the message.
    let columns_filled = record.get(Raw::SourceIP).is_some();
    let parsed = if columns_filled {
        parse_filled(id, message)
    } else {
        parse_unfilled(id, message)
    };
    let (mut action, mut result) = EVENTS
        .iter()
        .find(|(known, ..)| *known == id)
        .map_or(("", ""), |(_, action, result)| (*action, *result));
    if id == "106100" {
        (action, result) = if has_term(message, "denied") {
            ("Deny", "Failure")
        } else {
            ("Allow", "Success")
        };
    }
    if let Some(reason) = parsed.reason {
        let known = TEARDOWN_REASONS
            .iter()
            .find(|(original, ..)| *original == reason);
        let (reason_action, reason_result, details) = known
            .map_or(("", "", ""), |(_, action, result, details)| {
                (*action, *result, *details)
            });
        (action, result) = (reason_action, reason_result);
        session.text(EventResultDetails, Some(details));
        session.text(EventOriginalResultDetails, Some(reason));
    }
    if parsed.details.is_some() {
        session.text(EventOriginalResultDetails, parsed.details);
    }
    session.text(DvcAction, Some(action));
    session.text(EventResult, Some(result));
    let severity = if result.is_empty() || result == "Success" {
        "Informational"
    } else {
        "Low"
    };
    session.fixed(EventSeverity, severity);

    if columns_filled {
        session.address(SrcIpAddr, record.get(Raw::SourceIP));
        session.port(SrcPortNumber, record.get(Raw::SourcePort));
        session.address(DstIpAddr, record.get(Raw::DestinationIP));
        session.port(DstPortNumber, record.get(Raw::DestinationPort));
        session.text(NetworkRuleName, record.get(Raw::DeviceCustomString2));
    } else {
        session.address(SrcIpAddr, parsed.src);
        session.port(SrcPortNumber, parsed.src_port);
        session.address(DstIpAddr, parsed.dst);
        session.port(DstPortNumber, parsed.dst_port);
    }
    if parsed.rule.is_some() {
        session.text(NetworkRuleName, parsed.rule);
    }
    let lower = |text: Option<&str>| text.map(str::to_lowercase);
    session.owned_text(SrcInterfaceName, lower(parsed.src_interface));
    session.owned_text(DstInterfaceName, lower(parsed.dst_interface));
    session.address(SrcNatIpAddr, parsed.src_nat);
    session.port(SrcNatPortNumber, parsed.src_nat_port);
    session.address(DstNatIpAddr, parsed.dst_nat);
    session.port(DstNatPortNumber, parsed.dst_nat_port);
    session.username(SrcUsername, SrcUsernameType, parsed.src_user);
    session.username(DstUsername, DstUsernameType, parsed.dst_user);
    session.text(NetworkSessionId, parsed.session_id);
    if let Some(duration) = parsed.duration {
        match milliseconds(duration) {
            Some(ms) => session.number(NetworkDuration, Some(ms)),
            None => session.issues.count("NetworkDuration"),
        }
    }
    session.whole(NetworkBytes, parsed.bytes);
    session.text(NetworkIcmpType, parsed.icmp_type);
    session.whole(NetworkIcmpCode, parsed.icmp_code);
    session.text(EventSubType, parsed.sub_type);
    match id {
        "106007" => session.fixed(DstAppName, "DNS"),
        "106017" => session.fixed(ThreatName, "Land Attack"),
        _ => {}
    }
    match parsed.count {
        Some(count) => {
            session.whole(EventCount, Some(count));
        }
        None => session.fixed(EventCount, "1"),
    }

    let protocol = parsed.protocol.or_else(|| record.get(Raw::Protocol));
    session.set(NetworkProtocol, resolve_protocol(protocol));
    // The message's own direction (302013/302015) when the column is empty.
    let direction = record.get(Raw::CommunicationDirection).or(parsed.direction);
    session.text(NetworkDirection, direction);
    let original_action = parsed.action.or_else(|| record.get(Raw::DeviceAction));
    session.text(DvcOriginalAction, original_action);
    session.copy(TimeGenerated, EventStartTime);
    session.copy(TimeGenerated, EventEndTime);
    session.text(EventProductVersion, record.get(Raw::DeviceVersion));
    session.text(EventOriginalType, Some(id));
    session.text(EventOriginalSeverity, record.get(Raw::OriginalLogSeverity));
    session.text(EventMessage, Some(message));
    session.text(Dvc, record.get(Raw::Computer));
    session.fixed(EventVendor, "Cisco");
    session.fixed(EventProduct, "ASA");
    session.fixed(EventType, "NetworkSession");
    session.fixed(EventSchema, "NetworkSession");
    session.fixed(EventSchemaVersion, "0.2.4");
}

/// The message of an event whose CEF columns hold the addresses.
fn parse_filled<'m>(id: &str, message: &'m str) -> Parsed<'m> {
    let mut parsed = Parsed::default();
    match id {
        "106001" | "106006" | "106015" | "106016" | "106021" | "106022" => {
            if let Some([_, dst_interface]) = pieces(message, [" interface "]) {
                parsed.dst_interface = Some(dst_interface);
            }
        }
        "106010" | "106014" => {
            let delimiters = [" src ", ":", " dst ", ":", "(type ", ", code ", ")"];
            if let Some([_, src_if, _, dst_if, _, icmp_type, code, _]) = pieces(message, delimiters)
            {
                parsed.src_interface = Some(src_if);
                parsed.dst_interface = Some(dst_if);
                parsed.icmp_type = Some(icmp_type);
                parsed.icmp_code = Some(code);
            }
        }
        "106018" => {
            if let Some([_, icmp_type, _, rule, _]) =
                pieces(message, [" packet type ", " ", "list ", " "])
            {
                parsed.icmp_type = Some(icmp_type);
                parsed.rule = Some(rule);
            }
        }
        "106023" if !message.contains("protocol 41") => {
            let delimiters = [" src ", ":", " dst ", ":", " by access-group \"", "\" "];
            if let Some([_, src_if, _, dst_if, _, rule, _]) = pieces(message, delimiters) {
                parsed.src_interface = Some(src_if);
                parsed.dst_interface = Some(dst_if);
                parsed.rule = Some(rule);
            }
            icmp(message, &mut parsed);
        }
        "302013" | "302015" => {
            let delimiters = [
                ":",
                " ",
                " ",
                " connection ",
                " for ",
                ":",
                "/",
                " (",
                "/",
                ")",
                "to ",
                ":",
                "/",
                " (",
                "/",
                ")",
            ];
            if let Some(
                [_, _, _, _, session_id, src_if, _, _, src_nat, src_nat_port, src_user, dst_if, _, _, dst_nat, dst_nat_port, dst_user],
            ) = pieces(message, delimiters)
            {
                parsed.session_id = Some(session_id);
                parsed.src_interface = Some(src_if);
                parsed.dst_interface = Some(dst_if);
                parsed.src_nat = Some(src_nat);
                parsed.src_nat_port = Some(src_nat_port);
                parsed.dst_nat = Some(dst_nat);
                parsed.dst_nat_port = Some(dst_nat_port);
                parsed.src_user = user(src_user);
                parsed.dst_user = user(dst_user);
            }
            parsed.sub_type = Some("Start");
        }
        "302014" | "302016" => {
            let delimiters = [
                " connection ",
                " for ",
                ":",
                " to ",
                ":",
                " duration ",
                " bytes ",
            ];
            if let Some([_, session_id, src_if, _, dst_if, _, duration, rest]) =
                pieces(message, delimiters)
            {
                parsed.session_id = Some(session_id);
                parsed.src_interface = Some(src_if);
                parsed.dst_interface = Some(dst_if);
                parsed.duration = Some(duration);
                parsed.bytes = leading_digits(rest);
                if id == "302014" {
                    parsed.reason = Some(teardown_reason(rest));
                }
            }
            parsed.sub_type = Some("End");
        }
        "302020" | "302021" => {
            if let Some([_, src_user, _]) = pieces(message, ["(", ")"]) {
                parsed.src_user = Some(src_user);
            }
            if let Some([_, icmp_type, code]) = pieces(message, ["type ", " code "]) {
                parsed.icmp_type = Some(icmp_type);
                parsed.icmp_code = leading_digits(code);
            }
            parsed.sub_type = Some(if id == "302020" { "Start" } else { "End" });
        }
        "710002" | "710003" | "710004" | "710005" => {
            if let Some([_, dst_if, _]) = pieces(message, [" to ", ":"]) {
                parsed.dst_interface = Some(dst_if);
            }
        }
        "106007" => {
            if let Some([_, details]) = pieces(message, [" due to "]) {
                parsed.details = Some(details);
            }
        }
        "106100" => {
            let delimiters = [
                "access-list ",
                " ",
                " ",
                " ",
                "/",
                ") -> ",
                "/",
                ") hit-cnt ",
            ];
            if let Some([_, _, _, _, src_if, _, dst_if, _, count]) = pieces(message, delimiters) {
                parsed.src_interface = Some(src_if);
                parsed.dst_interface = Some(dst_if);
                parsed.count = leading_digits(count);
            }
        }
        _ => {}
    }
    parsed
}

/// The message of an event whose CEF columns are empty: the connection
/// events and access lists, whose messages name both ends. The text read is
/// what follows the `%ASA-6-302013:` tag and its space.
fn parse_unfilled<'m>(id: &str, message: &'m str) -> Parsed<'m> {
    let mut parsed = Parsed::default();
    let message = message
        .split_once(':')
        .map_or(message, |(_, rest)| rest.trim_start());
    match id {
        "302013" | "302015" => {
            let delimiters = [
                " ",
                " ",
                " connection ",
                " for ",
                ":",
                "/",
                " (",
                "/",
                ")",
                "to ",
                ":",
                "/",
                " (",
                "/",
                ")",
            ];
            if let Some(
                [action, direction, protocol, session_id, src_if, src, src_port, src_nat, src_nat_port, src_user, dst_if, dst, dst_port, dst_nat, dst_nat_port, dst_user],
            ) = pieces(message, delimiters)
            {
                parsed.action = Some(action);
                parsed.direction = match direction {
                    "inbound" => Some("Inbound"),
                    "outbound" => Some("Outbound"),
                    _ => None,
                };
                parsed.protocol = Some(protocol);
                parsed.session_id = Some(session_id);
                parsed.src_interface = Some(src_if);
                parsed.src = Some(src);
                parsed.src_port = Some(src_port);
                parsed.src_nat = Some(src_nat);
                parsed.src_nat_port = Some(src_nat_port);
                parsed.src_user = user(src_user);
                parsed.dst_interface = Some(dst_if);
                parsed.dst = Some(dst);
                parsed.dst_port = Some(dst_port);
                parsed.dst_nat = Some(dst_nat);
                parsed.dst_nat_port = Some(dst_nat_port);
                parsed.dst_user = user(dst_user);
            }
            parsed.sub_type = Some("Start");
        }
        "302014" | "302016" => {
            let delimiters = [
                " ",
                " connection ",
                " for ",
                " to ",
                " duration ",
                " bytes ",
            ];
            if let Some([action, protocol, session_id, src_info, dst_info, duration, rest]) =
                pieces(message, delimiters)
            {
                parsed.action = Some(action);
                parsed.protocol = Some(protocol);
                parsed.session_id = Some(session_id);
                (
                    parsed.src_interface,
                    parsed.src,
                    parsed.src_port,
                    parsed.src_user,
                ) = end(src_info);
                (
                    parsed.dst_interface,
                    parsed.dst,
                    parsed.dst_port,
                    parsed.dst_user,
                ) = end(dst_info);
                parsed.duration = Some(duration);
                parsed.bytes = leading_digits(rest);
                if id == "302014" {
                    parsed.reason = Some(teardown_reason(rest));
                }
            }
            parsed.sub_type = Some("End");
        }
        "106100" => {
            let delimiters = [
                "access-list ",
                " ",
                " ",
                " ",
                "/",
                "(",
                ") -> ",
                "/",
                "(",
                ") hit-cnt ",
            ];
            if let Some(
                [_, rule, action, protocol, src_if, src, src_port, dst_if, dst, dst_port, count],
            ) = pieces(message, delimiters)
            {
                parsed.rule = Some(rule);
                parsed.action = Some(action);
                parsed.protocol = Some(protocol);
                parsed.src_interface = Some(src_if);
                parsed.src = Some(src);
                parsed.src_port = Some(src_port);
                parsed.dst_interface = Some(dst_if);
                parsed.dst = Some(dst);
                parsed.dst_port = Some(dst_port);
                parsed.count = leading_digits(count);
            }
        }
        _ => {}
    }
    parsed
}

/// An ICMP type and code, `(type 8, code 0)`, where the message has one.
fn icmp<'m>(message: &'m str, parsed: &mut Parsed<'m>) {
    if let Some([_, icmp_type, code, _]) = pieces(message, ["(type ", ", code ", ")"]) {
        parsed.icmp_type = Some(icmp_type);
        parsed.icmp_code = Some(code);
    }
}

/// One end of a teardown, `inside:10.0.0.1/52123(LOCAL\user)`: interface,
/// address, port and user, the user optional.
type End<'m> = (
    Option<&'m str>,
    Option<&'m str>,
    Option<&'m str>,
    Option<&'m str>,
);

fn end(info: &str) -> End<'_> {
    let Some((interface, rest)) = info.split_once(':') else {
        return (None, None, None, None);
    };
    let (address_port, user_part) = match rest.split_once('(') {
        Some((address_port, user_part)) => (address_port, user(user_part)),
        None => (rest, None),
    };
    let (address, port) = match address_port.trim().rsplit_once('/') {
        Some((address, port)) => (Some(address), Some(port)),
        None => (Some(address_port.trim()), None),
    };
    (Some(interface), address, port, user_part)
}

/// A user name without the spaces and parentheses around it.
fn user(text: &str) -> Option<&str> {
    Some(text.trim_matches(|c: char| c.is_whitespace() || c == '(' || c == ')'))
        .filter(|user| !user.is_empty())
}

/// A teardown's reason: what follows the byte count, up to ` from ` or a
/// user in parentheses (`TCP FINs from outside (LOCAL\user)` → `TCP FINs`).
fn teardown_reason(after_bytes: &str) -> &str {
    let rest = after_bytes
        .split_once(' ')
        .map_or("", |(_, rest)| rest.trim());
    let rest = rest.split_once(" from ").map_or(rest, |(reason, _)| reason);
    rest.split_once('(')
        .map_or(rest, |(reason, _)| reason)
        .trim()
}

/// `0:01:05` (hours, minutes, seconds) in milliseconds.
fn milliseconds(duration: &str) -> Option<u64> {
    let mut parts = duration
        .trim()
        .split(':')
        .map(|part| part.parse::<u64>().ok());
    let (hours, minutes, seconds) = (parts.next()??, parts.next()??, parts.next()??);
    if parts.next().is_some() {
        return None;
    }
    hours
        .checked_mul(60)?
        .checked_add(minutes)?
        .checked_mul(60)?
        .checked_add(seconds)?
        .checked_mul(1000)
        // ASIM's NetworkDuration is an int: what fits there.
        .filter(|ms| i64::try_from(*ms).is_ok())
}

/// The digits a text starts with.
fn leading_digits(text: &str) -> Option<&str> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    Some(&text[..end]).filter(|digits| !digits.is_empty())
}

/// Kusto's `parse text with * "d1" A "d2" B …`: the texts between the
/// delimiters, each found at its first place after the previous one (no
/// backtracking); the first is what precedes `d1`, the last what follows the
/// last delimiter. None when a delimiter is missing: Kusto then fills no
/// column at all.
fn pieces<'t, const D: usize, const P: usize>(
    text: &'t str,
    delimiters: [&str; D],
) -> Option<[&'t str; P]> {
    const { assert!(P == D + 1) };
    let mut found = [""; P];
    let mut rest = text;
    for (at, delimiter) in delimiters.iter().enumerate() {
        let (before, after) = rest.split_once(delimiter)?;
        found[at] = before;
        rest = after;
    }
    found[D] = rest;
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_milliseconds_when_they_fit_an_int() {
        assert_eq!(milliseconds("0:01:05"), Some(65_000));
        assert_eq!(milliseconds(" 123:00:01 "), Some(442_801_000));
        for bad in [
            "99999999999999999:00:00",
            "2562047788016:00:00",
            "1:2",
            "1:2:3:4",
            "a:0:0",
        ] {
            assert_eq!(milliseconds(bad), None, "{bad}");
        }
    }

    #[test]
    fn pieces_follow_kusto_parse() {
        let message = "106100: Deny UDP access-list Rule-DNSBlock denied udp inside/10.10.30.3(63421) -> outside/8.8.8.8(53) hit-cnt 1 first hit";
        let parsed = parse_filled("106100", message);
        assert_eq!(parsed.src_interface, Some("inside"));
        assert_eq!(parsed.dst_interface, Some("outside"));
        assert_eq!(parsed.count, Some("1"));
        assert_eq!(pieces::<1, 2>("no delimiter", ["->"]), None);
    }

    #[test]
    fn unfilled_connection_events_give_both_ends() {
        let built = "%ASA-6-302013: Built inbound TCP connection 1185 for outside:203.0.113.9/51762 (203.0.113.9/51762)(LOCAL\\alice) to inside:10.1.1.20/443 (192.0.2.20/443) (bob)";
        let parsed = parse_unfilled("302013", built);
        assert_eq!(parsed.action, Some("Built"));
        assert_eq!(parsed.direction, Some("Inbound"));
        assert_eq!(parsed.protocol, Some("TCP"));
        assert_eq!(parsed.session_id, Some("1185"));
        assert_eq!(
            (parsed.src, parsed.src_port),
            (Some("203.0.113.9"), Some("51762"))
        );
        assert_eq!(
            (parsed.dst, parsed.dst_port),
            (Some("10.1.1.20"), Some("443"))
        );
        assert_eq!(
            (parsed.dst_nat, parsed.dst_nat_port),
            (Some("192.0.2.20"), Some("443"))
        );
        assert_eq!(parsed.src_user, Some("LOCAL\\alice"));
        assert_eq!(parsed.dst_user, Some("bob"));

        let teardown = "%ASA-6-302014: Teardown TCP connection 1185 for outside:203.0.113.9/51762(LOCAL\\alice) to inside:10.1.1.20/443 duration 0:01:05 bytes 6120 TCP FINs from outside";
        let parsed = parse_unfilled("302014", teardown);
        assert_eq!(parsed.src_interface, Some("outside"));
        assert_eq!(
            (parsed.src, parsed.src_port),
            (Some("203.0.113.9"), Some("51762"))
        );
        assert_eq!(parsed.src_user, Some("LOCAL\\alice"));
        assert_eq!(
            (parsed.dst, parsed.dst_port),
            (Some("10.1.1.20"), Some("443"))
        );
        assert_eq!(parsed.duration.and_then(milliseconds), Some(65_000));
        assert_eq!(parsed.bytes, Some("6120"));
        assert_eq!(parsed.reason, Some("TCP FINs"));

        let acl = "%ASA-4-106100: access-list outside_in denied tcp outside/198.51.100.7(4431) -> inside/10.1.1.5(22) hit-cnt 3 first hit [0x1, 0x0]";
        let parsed = parse_unfilled("106100", acl);
        assert_eq!(parsed.rule, Some("outside_in"));
        assert_eq!(parsed.action, Some("denied"));
        assert_eq!(
            (parsed.src, parsed.src_port),
            (Some("198.51.100.7"), Some("4431"))
        );
        assert_eq!(
            (parsed.dst, parsed.dst_port),
            (Some("10.1.1.5"), Some("22"))
        );
        assert_eq!(parsed.count, Some("3"));
    }

    #[test]
    fn teardown_reasons_stop_at_from_or_a_user() {
        assert_eq!(teardown_reason("6120 TCP FINs from outside"), "TCP FINs");
        assert_eq!(
            teardown_reason("6120 TCP Reset-O (LOCAL\\bob)"),
            "TCP Reset-O"
        );
        assert_eq!(teardown_reason("6120"), "");
    }
}
