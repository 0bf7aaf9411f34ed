//! One test per clause of `specs/ti-map-ip.md`.

use asim_rule_core::{
    batch::Cell,
    schema::{indicator_column, session_column},
    time::{DAY, HOUR, MINUTE},
    Alert, Batch, BatchBuilder, ColumnValues, DetailValue, Rule, Timestamp,
};

use crate::{indicators, sessions, TiMapIp};

/// An evaluation time: 2024-10-01T15:00:00Z.
const T: Timestamp = 19_997 * DAY + 15 * HOUR;

#[derive(Clone)]
struct Indicator {
    id: &'static str,
    time: Timestamp,
    expires: Option<Timestamp>,
    active: Option<bool>,
    network_ip: &'static str,
    destination_ip: &'static str,
    source_ip: &'static str,
    email_ip: &'static str,
    confidence: Option<f64>,
}

fn indicator(id: &'static str, ip: &'static str) -> Indicator {
    Indicator {
        id,
        time: T - DAY,
        expires: Some(T + DAY),
        active: Some(true),
        network_ip: ip,
        destination_ip: "",
        source_ip: "",
        email_ip: "",
        confidence: Some(50.0),
    }
}

fn indicator_batch(indicators: &[Indicator]) -> Batch {
    let columns: Vec<_> = indicators::COLUMNS
        .iter()
        .map(|name| (*name, indicator_column(name).unwrap()))
        .collect();
    let mut builder = BatchBuilder::new(&columns);
    for i in indicators {
        let cells = [
            Cell::Text(i.id),
            i.expires.map_or(Cell::Empty, Cell::Time),
            i.active.map_or(Cell::Empty, Cell::Boolean),
            Cell::Text(i.network_ip),
            Cell::Text(i.destination_ip),
            Cell::Text(i.source_ip),
            Cell::Text(i.email_ip),
            Cell::Text("C2"),
            Cell::Text(i.id),
            Cell::Text("GROUP-1"),
            i.confidence.map_or(Cell::Empty, Cell::Real),
        ];
        builder.push_row(i.time, &cells).unwrap();
    }
    builder.finish()
}

struct Session {
    time: Timestamp,
    src: &'static str,
    dst: &'static str,
    dvc: &'static str,
}

fn session(time: Timestamp, src: &'static str, dst: &'static str) -> Session {
    Session {
        time,
        src,
        dst,
        dvc: "fw1",
    }
}

fn session_batch(sessions: &[Session]) -> Batch {
    let columns: Vec<_> = sessions::COLUMNS
        .iter()
        .map(|name| (*name, session_column(name).unwrap()))
        .collect();
    let mut builder = BatchBuilder::new(&columns);
    for s in sessions {
        let cells = [
            Cell::Text(s.src),
            Cell::Text(s.dst),
            Cell::Text(s.dvc),
            Cell::Text("FortiGate"),
            Cell::Text("Fortinet"),
        ];
        builder.push_row(s.time, &cells).unwrap();
    }
    builder.finish()
}

fn evaluate(indicators: &[Indicator], sessions: &[Session]) -> Vec<Alert> {
    let mut rule = TiMapIp::configure(&[]).unwrap();
    rule.ingest_indicators(indicator_batch(indicators)).unwrap();
    rule.ingest_sessions(session_batch(sessions)).unwrap();
    rule.evaluate(T).unwrap()
}

fn text<'a>(alert: &'a Alert, name: &str) -> &'a str {
    match alert.detail(name) {
        Some(DetailValue::Text(text)) => text,
        other => panic!("{name} is {other:?}"),
    }
}

/// (IoCIP, IoCIPDirection, IndicatorId) of each alert.
fn hits(alerts: &[Alert]) -> Vec<(String, String, String)> {
    alerts
        .iter()
        .map(|a| {
            let field = |name| text(a, name).to_owned();
            (
                field("IoCIP"),
                field("IoCIPDirection"),
                field("IndicatorId"),
            )
        })
        .collect()
}

fn hit(ip: &str, direction: &str, id: &str) -> (String, String, String) {
    (ip.into(), direction.into(), id.into())
}

const INSIDE: &str = "10.0.0.5";
const BAD: &str = "198.51.100.7";

#[test]
fn an_indicator_published_exactly_14_days_before_t_is_live_one_microsecond_earlier_is_not() {
    let session = || session(T - MINUTE, INSIDE, BAD);
    let edge = Indicator {
        time: T - 14 * DAY,
        ..indicator("edge", BAD)
    };
    assert_eq!(
        hits(&evaluate(std::slice::from_ref(&edge), &[session()])).len(),
        1
    );
    let older = Indicator {
        time: T - 14 * DAY - 1,
        ..edge
    };
    assert!(evaluate(&[older], &[session()]).is_empty());
}

#[test]
fn an_indicator_expiring_exactly_at_t_is_not_live() {
    let at_t = Indicator {
        expires: Some(T),
        ..indicator("a", BAD)
    };
    assert!(evaluate(&[at_t], &[session(T - MINUTE, INSIDE, BAD)]).is_empty());
    let just_after = Indicator {
        expires: Some(T + 1),
        ..indicator("a", BAD)
    };
    assert_eq!(
        evaluate(&[just_after], &[session(T - MINUTE, INSIDE, BAD)]).len(),
        1
    );
}

#[test]
fn an_indicator_without_expiry_or_active_flag_is_not_live_as_in_kusto() {
    let no_expiry = Indicator {
        expires: None,
        ..indicator("a", BAD)
    };
    let no_flag = Indicator {
        active: None,
        ..indicator("b", BAD)
    };
    assert!(evaluate(&[no_expiry, no_flag], &[session(T - MINUTE, INSIDE, BAD)]).is_empty());
}

#[test]
fn an_indicator_published_after_t_did_not_exist_at_t() {
    let future = Indicator {
        time: T + 1,
        ..indicator("a", BAD)
    };
    assert!(evaluate(&[future], &[session(T - MINUTE, INSIDE, BAD)]).is_empty());
}

#[test]
fn the_latest_version_of_an_indicator_decides() {
    let old_active = Indicator {
        time: T - 2 * DAY,
        ..indicator("a", BAD)
    };
    let new_inactive = Indicator {
        active: Some(false),
        ..indicator("a", BAD)
    };
    let sessions = [session(T - MINUTE, INSIDE, BAD)];
    assert!(evaluate(&[old_active.clone(), new_inactive.clone()], &sessions).is_empty());

    let old_inactive = Indicator {
        time: T - 2 * DAY,
        ..new_inactive
    };
    let new_active = indicator("a", BAD);
    assert_eq!(evaluate(&[new_active, old_inactive], &sessions).len(), 1);
}

#[test]
fn an_expired_newer_version_hides_an_older_live_one() {
    let older_live = Indicator {
        time: T - 3 * DAY,
        ..indicator("a", BAD)
    };
    let newer_expired = Indicator {
        expires: Some(T - HOUR),
        ..indicator("a", BAD)
    };
    assert!(evaluate(
        &[older_live, newer_expired],
        &[session(T - MINUTE, INSIDE, BAD)]
    )
    .is_empty());
}

#[test]
fn the_ip_entity_is_the_first_non_empty_ip_column() {
    let email_only = Indicator {
        network_ip: "",
        email_ip: BAD,
        ..indicator("email", "")
    };
    assert_eq!(
        hits(&evaluate(
            &[email_only],
            &[session(T - MINUTE, INSIDE, BAD)]
        )),
        [hit(BAD, "Destination", "email")]
    );
    let destination_first = Indicator {
        network_ip: "",
        destination_ip: "203.0.113.1",
        source_ip: BAD,
        ..indicator("dst", "")
    };
    let sessions = [session(T - MINUTE, INSIDE, BAD)];
    assert!(evaluate(&[destination_first], &sessions).is_empty());
    let none = indicator("none", "");
    assert!(evaluate(&[none], &sessions).is_empty());
}

#[test]
fn an_unparsable_first_ip_matches_nothing_and_does_not_fall_through() {
    let mut batch = indicator_batch(&[Indicator {
        source_ip: BAD,
        ..indicator("garbled", "203.0.113.1")
    }]);
    for column in &mut batch.columns {
        if let (true, ColumnValues::Ip(ip)) = (column.name == "NetworkIP", &mut column.values) {
            // The text stays; its parsed value is what a host reports for
            // text it could not parse.
            ip.prefix_len[0] = asim_rule_core::batch::NOT_AN_ADDRESS;
        }
    }
    let mut rule = TiMapIp::default();
    rule.ingest_indicators(batch).unwrap();
    let sessions = session_batch(&[
        session(T - MINUTE, INSIDE, BAD),
        session(T - MINUTE, INSIDE, "203.0.113.1"),
    ]);
    rule.ingest_sessions(sessions).unwrap();
    assert!(rule.evaluate(T).unwrap().is_empty());
}

#[test]
fn cidr_indicators_match_every_address_inside_v4_and_v6() {
    let indicators = [
        indicator("v4", "198.51.100.0/24"),
        indicator("v6", "2001:db8::/32"),
    ];
    let sessions = [
        session(T - MINUTE, INSIDE, "198.51.100.200"),
        session(T - MINUTE, INSIDE, "198.51.101.1"),
        session(T - MINUTE, "2001:db8:aa::1", "fd00::1"),
        session(T - MINUTE, "2001:db9::1", "fd00::1"),
    ];
    assert_eq!(
        hits(&evaluate(&indicators, &sessions)),
        [
            hit("198.51.100.200", "Destination", "v4"),
            hit("2001:db8:aa::1", "Source", "v6")
        ]
    );
}

#[test]
fn ipv6_matches_by_value_and_ioc_ip_is_the_session_text() {
    let sessions = [
        session(T - MINUTE, "2001:DB8::1", INSIDE),
        session(
            T - MINUTE,
            "2001:0db8:0000:0000:0000:0000:0000:0001",
            INSIDE,
        ),
        session(T - MINUTE, "2001:db8::1", INSIDE),
    ];
    let alerts = evaluate(&[indicator("v6", "2001:0DB8::0001")], &sessions);
    let ips: Vec<_> = hits(&alerts).into_iter().map(|(ip, _, _)| ip).collect();
    assert_eq!(
        ips,
        [
            "2001:0db8:0000:0000:0000:0000:0000:0001",
            "2001:DB8::1",
            "2001:db8::1"
        ]
    );
}

#[test]
fn an_ipv4_mapped_ipv6_address_is_the_ipv4_address() {
    let sessions = [session(T - MINUTE, "::ffff:198.51.100.7", INSIDE)];
    assert_eq!(
        hits(&evaluate(&[indicator("v4", BAD)], &sessions)),
        [hit("::ffff:198.51.100.7", "Source", "v4")]
    );
    let sessions = [session(T - MINUTE, BAD, INSIDE)];
    assert_eq!(
        evaluate(&[indicator("mapped", "::ffff:198.51.100.7")], &sessions).len(),
        1
    );
}

#[test]
fn a_session_without_source_address_is_left_out() {
    assert!(evaluate(&[indicator("a", BAD)], &[session(T - MINUTE, "", BAD)]).is_empty());
}

#[test]
fn the_session_window_is_t_minus_one_hour_inclusive_to_t_exclusive() {
    let alerts = evaluate(
        &[indicator("a", BAD)],
        &[
            session(T - HOUR - 1, INSIDE, BAD),
            session(T - HOUR, INSIDE, BAD),
            session(T, INSIDE, BAD),
        ],
    );
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0].detail("EventStartTime"),
        Some(&DetailValue::Time(T - HOUR))
    );
    assert_eq!(
        alerts[0].detail("EventEndTime"),
        Some(&DetailValue::Time(T - HOUR))
    );
}

#[test]
fn source_wins_when_both_addresses_match() {
    let alerts = evaluate(
        &[indicator("src", BAD), indicator("dst", "203.0.113.1")],
        &[session(T - MINUTE, BAD, "203.0.113.1")],
    );
    assert_eq!(hits(&alerts), [hit(BAD, "Source", "src")]);
}

#[test]
fn of_several_covering_indicators_the_spec_order_chooses() {
    let sessions = [session(T - MINUTE, INSIDE, BAD)];
    let choose = |indicators: &[Indicator]| hits(&evaluate(indicators, &sessions))[0].2.clone();
    // Most specific prefix first, even against a higher confidence.
    let wide = Indicator {
        confidence: Some(100.0),
        ..indicator("wide", "198.51.100.0/24")
    };
    assert_eq!(choose(&[wide, indicator("host", BAD)]), "host");
    // Then the highest confidence; an absent score ranks lowest.
    let high = Indicator {
        confidence: Some(90.0),
        ..indicator("high", BAD)
    };
    let absent = Indicator {
        confidence: None,
        ..indicator("absent", BAD)
    };
    assert_eq!(
        choose(&[indicator("low", BAD), high, absent.clone()]),
        "high"
    );
    assert_eq!(choose(&[absent, indicator("low", BAD)]), "low");
    // Then the latest TimeGenerated.
    let newer = Indicator {
        time: T - HOUR,
        ..indicator("newer", BAD)
    };
    assert_eq!(choose(&[indicator("older", BAD), newer]), "newer");
    // Then the smallest IndicatorId.
    assert_eq!(choose(&[indicator("b", BAD), indicator("a", BAD)]), "a");
}

#[test]
fn sessions_are_summarised_per_source_destination_device_product_vendor() {
    let other_dvc = Session {
        dvc: "fw2",
        ..session(T - 30 * MINUTE, INSIDE, BAD)
    };
    let alerts = evaluate(
        &[indicator("a", BAD)],
        &[
            session(T - 10 * MINUTE, INSIDE, BAD),
            session(T - 50 * MINUTE, INSIDE, BAD),
            session(T - 20 * MINUTE, INSIDE, BAD),
            other_dvc,
        ],
    );
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0].start_time, T - 50 * MINUTE);
    assert_eq!(alerts[0].end_time, T - 10 * MINUTE);
    assert_eq!(text(&alerts[0], "Dvc"), "fw1");
    assert_eq!(text(&alerts[1], "Dvc"), "fw2");
}

#[test]
fn the_alert_carries_the_spec_text_and_every_custom_detail() {
    let alerts = evaluate(
        &[indicator("ind-1", BAD)],
        &[session(T - MINUTE, INSIDE, BAD)],
    );
    let alert = &alerts[0];
    assert_eq!(
        alert.name,
        "A network session Destination address 198.51.100.7 matched an IoC."
    );
    assert_eq!(
        alert.description,
        "The Destination address 198.51.100.7 of a network session matched a known indicator of \
         compromise of C2. Consult the threat intelligence blade for more information on the indicator."
    );
    assert_eq!(alert.entities, [asim_rule_core::Entity::ip(BAD)]);
    let names: Vec<_> = alert
        .custom_details
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "EventStartTime",
            "EventEndTime",
            "IoCDescription",
            "ActivityGroupNames",
            "IndicatorId",
            "ThreatType",
            "IoCExpirationTime",
            "IoCConfidenceScore",
            "IoCIPDirection",
            "SrcIpAddr",
            "DstIpAddr",
            "IoCIP",
            "Dvc",
            "EventVendor",
            "EventProduct"
        ]
    );
    assert_eq!(
        alert.detail("IoCExpirationTime"),
        Some(&DetailValue::Time(T + DAY))
    );
    assert_eq!(
        alert.detail("IoCConfidenceScore"),
        Some(&DetailValue::Real(50.0))
    );
    assert_eq!(text(alert, "IoCDescription"), "ind-1");
    assert_eq!(text(alert, "ActivityGroupNames"), "GROUP-1");
    assert_eq!(text(alert, "EventVendor"), "Fortinet");
    assert_eq!(text(alert, "EventProduct"), "FortiGate");
}

#[test]
fn later_evaluations_forget_old_sessions_and_refuse_going_back() {
    let mut rule = TiMapIp::default();
    rule.ingest_indicators(indicator_batch(&[indicator("a", BAD)]))
        .unwrap();
    rule.ingest_sessions(session_batch(&[session(T - MINUTE, INSIDE, BAD)]))
        .unwrap();
    assert_eq!(rule.evaluate(T).unwrap().len(), 1);
    assert!(rule.evaluate(T + HOUR).unwrap().is_empty());
    assert!(rule.evaluate(T).unwrap_err().contains("must not decrease"));
    rule.evaluate(T + 2 * HOUR).unwrap();
    assert_eq!(stat(&rule, "indicator-versions-held"), 1);
    assert_eq!(stat(&rule, "session-rows-held"), 0);
}

fn stat(rule: &TiMapIp, name: &str) -> u64 {
    let stats = rule.stats();
    let found = stats.iter().find(|(stat, _)| stat == name);
    found.map(|(_, value)| *value).unwrap()
}

/// Evaluates hourly from `T`, a session to `BAD` in each hour, and reports
/// for each evaluation whether it alerted.
fn hourly_alerts(rule: &mut TiMapIp, hours: i64) -> Vec<bool> {
    (0..hours)
        .map(|hour| {
            let at = T + hour * HOUR;
            rule.ingest_sessions(session_batch(&[session(at - MINUTE, INSIDE, BAD)]))
                .unwrap();
            !rule.evaluate(at).unwrap().is_empty()
        })
        .collect()
}

#[test]
fn the_index_is_built_once_while_the_live_indicators_stay_the_same() {
    let mut rule = TiMapIp::default();
    rule.ingest_indicators(indicator_batch(&[indicator("a", BAD)]))
        .unwrap();
    assert_eq!(hourly_alerts(&mut rule, 5), [true; 5]);
    assert_eq!(stat(&rule, "index-builds"), 1);
    assert_eq!(stat(&rule, "live-indicators-indexed"), 1);
    assert!(stat(&rule, "index-bytes") > 0);
    // New indicator rows make it stale.
    rule.ingest_indicators(indicator_batch(&[indicator("b", "203.0.113.1")]))
        .unwrap();
    rule.evaluate(T + 5 * HOUR).unwrap();
    assert_eq!(stat(&rule, "index-builds"), 2);
    assert_eq!(stat(&rule, "live-indicators-indexed"), 2);
}

#[test]
fn a_kept_index_still_sees_indicators_expire_arrive_and_age_out() {
    // Expires between the second and third evaluation.
    let mut expiring = TiMapIp::default();
    let mut short = indicator("a", BAD);
    short.expires = Some(T + HOUR + 30 * MINUTE);
    expiring
        .ingest_indicators(indicator_batch(&[short]))
        .unwrap();
    assert_eq!(hourly_alerts(&mut expiring, 4), [true, true, false, false]);
    // Ingested early but published between the first and second evaluation.
    let mut arriving = TiMapIp::default();
    let mut later = indicator("a", BAD);
    later.time = T + 30 * MINUTE;
    arriving
        .ingest_indicators(indicator_batch(&[later]))
        .unwrap();
    assert_eq!(hourly_alerts(&mut arriving, 3), [false, true, true]);
    // Leaves the 14-day window between the first and second evaluation.
    let mut aging = TiMapIp::default();
    let mut old = indicator("a", BAD);
    old.time = T - 14 * DAY + 30 * MINUTE;
    aging.ingest_indicators(indicator_batch(&[old])).unwrap();
    assert_eq!(hourly_alerts(&mut aging, 3), [true, false, false]);
    // A newer version published later replaces the live one then.
    let mut replaced = TiMapIp::default();
    let mut revoked = indicator("a", BAD);
    revoked.time = T + 90 * MINUTE;
    revoked.active = Some(false);
    replaced
        .ingest_indicators(indicator_batch(&[indicator("a", BAD), revoked]))
        .unwrap();
    assert_eq!(hourly_alerts(&mut replaced, 4), [true, true, false, false]);
}

#[test]
fn a_restored_snapshot_gives_the_same_alerts() {
    let mut rule = TiMapIp::default();
    rule.ingest_indicators(indicator_batch(&[
        indicator("a", BAD),
        indicator("b", "2001:db8::/32"),
    ]))
    .unwrap();
    rule.ingest_sessions(session_batch(&[
        session(T - MINUTE, INSIDE, BAD),
        session(T - 2 * MINUTE, "2001:db8::5", INSIDE),
    ]))
    .unwrap();
    let mut restored = TiMapIp::default();
    restored.restore(&rule.snapshot()).unwrap();
    // The same state: the same bytes again (texts held once, ids in order).
    assert_eq!(restored.snapshot(), rule.snapshot());
    assert_eq!(restored.evaluate(T).unwrap(), rule.evaluate(T).unwrap());
    assert!(restored.restore(b"garbage").is_err());
}

#[test]
fn a_snapshot_whose_indicators_are_not_in_id_order_is_refused() {
    let mut rule = TiMapIp::default();
    rule.ingest_indicators(indicator_batch(&[
        indicator("ioc-a", BAD),
        indicator("ioc-b", "2001:db8::/32"),
    ]))
    .unwrap();
    let snapshot = rule.snapshot();
    let mut restored = TiMapIp::default();
    restored.restore(&snapshot).unwrap();
    // The two ids swapped, their versions left where they are.
    let at = |id: &[u8]| snapshot.windows(id.len()).position(|w| w == id).unwrap();
    let (a, b) = (at(b"ioc-a"), at(b"ioc-b"));
    let mut bytes = snapshot.clone();
    bytes[a..a + 5].copy_from_slice(b"ioc-b");
    bytes[b..b + 5].copy_from_slice(b"ioc-a");
    // (postcard keeps no custom reason: the refusal says "corrupt".)
    let error = TiMapIp::default().restore(&bytes).unwrap_err();
    assert!(error.starts_with("corrupt snapshot"), "{error}");
}

#[test]
fn a_corrupted_snapshot_is_refused_or_evaluates_without_panicking() {
    let mut rule = TiMapIp::default();
    rule.ingest_indicators(indicator_batch(&[indicator("a", BAD)]))
        .unwrap();
    rule.ingest_sessions(session_batch(&[
        session(T - MINUTE, INSIDE, BAD),
        session(T - 2 * MINUTE, BAD, "2001:db8::5"),
    ]))
    .unwrap();
    let snapshot = rule.snapshot();
    // Every byte changed in turn, to a neighbour and to extremes: lengths,
    // codes and offsets among them.
    for at in 0..snapshot.len() {
        for change in [1u8, 0x80, 0xff] {
            let mut bytes = snapshot.clone();
            bytes[at] ^= change;
            let mut restored = TiMapIp::default();
            if restored.restore(&bytes).is_ok() {
                let _ = restored.evaluate(T);
            }
        }
    }
}

#[test]
fn parameters_are_refused_by_name() {
    let error = TiMapIp::configure(&[("threshold".into(), "3".into())])
        .err()
        .unwrap();
    assert!(error.contains("threshold"), "{error}");
}

#[test]
fn a_batch_missing_a_declared_column_is_an_error() {
    let mut rule = TiMapIp::default();
    let mut batch = session_batch(&[session(T - MINUTE, INSIDE, BAD)]);
    batch.columns.retain(|column| column.name != "Dvc");
    assert!(rule.ingest_sessions(batch).unwrap_err().contains("Dvc"));
}

#[test]
fn of_two_versions_published_at_one_instant_the_later_arrival_is_the_latest() {
    let first = indicator("a", BAD);
    let second = Indicator {
        active: Some(false),
        ..indicator("a", BAD)
    };
    let sessions = [session(T - MINUTE, INSIDE, BAD)];
    assert!(evaluate(&[first.clone(), second.clone()], &sessions).is_empty());
    assert_eq!(evaluate(&[second, first], &sessions).len(), 1);
}
