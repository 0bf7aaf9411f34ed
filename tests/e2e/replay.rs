//! `asim-rules replay` and the anomaly rule on generated data.

use std::fs;

use crate::support::{asim_rules, component, generated, json_lines, success, GENERATED_AT};

fn file(name: &str) -> String {
    generated().join(name).to_str().unwrap().to_owned()
}

fn rules() -> Vec<String> {
    ["ti-map-ip", "network-session-anomaly"]
        .iter()
        .flat_map(|name| {
            [
                "--rule".to_owned(),
                component(name).to_str().unwrap().to_owned(),
            ]
        })
        .collect()
}

fn run_at(at: &str, sessions: &str, indicators: &str) -> Vec<String> {
    let mut args = vec!["run".to_owned(), "--at".into(), at.into()];
    args.extend(rules());
    args.extend([
        "--sessions".into(),
        sessions.into(),
        "--indicators".into(),
        indicators.into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    success(&args).lines().map(str::to_owned).collect()
}

fn replay(from: &str, to: &str) -> Vec<String> {
    let mut args = vec![
        "replay".to_owned(),
        "--from".into(),
        from.into(),
        "--to".into(),
        to.into(),
    ];
    args.extend(rules());
    args.extend([
        "--sessions".into(),
        file("sessions.jsonl"),
        "--indicators".into(),
        file("indicators.jsonl"),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    success(&args).lines().map(str::to_owned).collect()
}

/// Alerts grouped by (rule, evaluation time), each group sorted.
fn by_evaluation(lines: &[String]) -> Vec<((String, String), Vec<String>)> {
    let mut groups: std::collections::BTreeMap<(String, String), Vec<String>> = Default::default();
    for line in lines {
        let alert = &json_lines(line)[0];
        let key = (
            alert["RuleId"].as_str().unwrap().to_owned(),
            alert["EvaluatedAt"].as_str().unwrap().to_owned(),
        );
        groups.entry(key).or_default().push(line.clone());
    }
    groups
        .into_iter()
        .map(|(key, mut lines)| {
            (key, {
                lines.sort();
                lines
            })
        })
        .collect()
}

#[test]
fn replay_over_fifteen_days_equals_run_at_each_tick_of_both_rules() {
    // Every daily tick (both rules are due) and the last hours (TI only).
    let mut ticks: Vec<String> = (26..=28)
        .map(|day| format!("2026-02-{day}T00:00:00Z"))
        .chain((1..=12).map(|day| format!("2026-03-{day:02}T00:00:00Z")))
        .collect();
    ticks.extend((20..=23).map(|hour| format!("2026-03-11T{hour}:00:00Z")));
    let replayed = replay("2026-02-25T00:00:00Z", GENERATED_AT);
    let mut expected = Vec::new();
    for at in &ticks {
        expected.extend(run_at(
            at,
            &file("sessions.jsonl"),
            &file("indicators.jsonl"),
        ));
    }
    // Replay evaluates TI at every hour in between too, and `run` evaluates
    // the anomaly rule at any time asked: compare at each rule's own ticks.
    let anomaly = "cd6def0d-3ef0-4d55-a7e3-faa96c46ba12";
    let on_schedule = |((rule, at), _): &((String, String), Vec<String>)| {
        ticks.contains(at) && (rule != anomaly || at.ends_with("T00:00:00Z"))
    };
    let replayed: Vec<_> = by_evaluation(&replayed)
        .into_iter()
        .filter(on_schedule)
        .collect();
    let expected: Vec<_> = by_evaluation(&expected)
        .into_iter()
        .filter(on_schedule)
        .collect();
    assert_eq!(replayed, expected);
    assert!(replayed.iter().any(|((rule, _), _)| rule == anomaly));
}

#[test]
fn the_planted_anomalies_alert_and_nothing_they_did_not_touch() {
    let alerts = json_lines(
        &run_at(
            GENERATED_AT,
            &file("sessions.jsonl"),
            &file("indicators.jsonl"),
        )
        .join("\n"),
    );
    let anomalies: Vec<(String, String)> = alerts
        .iter()
        .filter(|a| a["RuleId"] == "cd6def0d-3ef0-4d55-a7e3-faa96c46ba12")
        .map(|a| {
            let d = &a["CustomDetails"];
            (
                d["AnomalyFieldType"].as_str().unwrap().to_owned(),
                d["AnomalyFieldValue"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let planted = json_lines(&fs::read_to_string(generated().join("planted.jsonl")).unwrap());
    let expected: Vec<(String, String)> = planted
        .iter()
        .filter(|p| p["Rule"] == "network-session-anomaly" && p["ExpectAlert"] == true)
        .map(|p| {
            (
                p["AnomalyFieldType"].as_str().unwrap().to_owned(),
                p["AnomalyFieldValue"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(expected.len() >= 2);
    for pair in &expected {
        assert!(anomalies.contains(pair), "{pair:?} not in {anomalies:?}");
    }
    // The plants are refused inbound TCP scans and allowed outbound GRE: any
    // other series alerting would be a false positive.
    let touched = ["Deny", "Inbound", "TCP", "GRE", "Overall"];
    for (_, value) in &anomalies {
        assert!(
            touched.contains(&value.as_str()),
            "unexpected anomaly on {value}"
        );
    }
    let alert = alerts
        .iter()
        .find(|a| a["CustomDetails"]["AnomalyFieldValue"] == "GRE")
        .unwrap();
    assert_eq!(alert["CustomDetails"]["Score"], 5);
    assert_eq!(alert["CustomDetails"]["EventTime"], "2026-03-11T00:00:00Z");
    assert_eq!(alert["StartTime"], "2026-03-11T00:00:00Z");
    assert_eq!(alert["EndTime"], GENERATED_AT);
    assert!(alert["Tactics"].as_array().unwrap().len() == 4);
}

#[test]
fn both_rules_give_identical_alerts_from_json_lines_and_csv() {
    let from_json = run_at(
        GENERATED_AT,
        &file("sessions.jsonl"),
        &file("indicators.jsonl"),
    );
    let from_csv = run_at(GENERATED_AT, &file("sessions.csv"), &file("indicators.csv"));
    assert!(from_json
        .iter()
        .any(|line| line.contains("AnomalyFieldType")));
    assert_eq!(from_json, from_csv);
}

#[test]
fn anomaly_parameters_are_applied_and_bad_ones_refused_at_load() {
    let rule = component("network-session-anomaly");
    let rule = rule.to_str().unwrap();
    let sessions = file("sessions.jsonl");
    let strict = success(&[
        "run",
        "--rule",
        rule,
        "--at",
        GENERATED_AT,
        "--sessions",
        &sessions,
        "--param",
        "network-session-anomaly.min-score=5.9",
    ]);
    assert_eq!(
        json_lines(&strict).len(),
        1,
        "only the new protocol scores 5.9"
    );
    let output = asim_rules(&[
        "run",
        "--rule",
        rule,
        "--at",
        GENERATED_AT,
        "--sessions",
        &sessions,
        "--param",
        "network-session-anomaly.threshold=-3",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("parameter threshold: \"-3\" is out of range"),
        "{stderr}"
    );
}

#[test]
fn replay_refuses_an_inverted_range() {
    let rule = component("ti-map-ip");
    let output = asim_rules(&[
        "replay",
        "--rule",
        rule.to_str().unwrap(),
        "--sessions",
        &file("sessions.jsonl"),
        "--from",
        GENERATED_AT,
        "--to",
        "2026-03-01T00:00:00Z",
    ]);
    assert_eq!(output.status.code(), Some(1));
}

/// The generated sessions before `cut` summarised into `bin`-minute rows of
/// the newer table (JSON lines) or the older one (CSV), and the raw rows from
/// three hours before `cut` on (an overlap that must not count twice).
fn split_history(dir: &std::path::Path, cut: &str, bin: i64) -> (String, String) {
    use std::collections::BTreeMap;
    let cut = asim_rules::time::parse(cut).unwrap();
    let overlap = cut - 3 * 3_600_000_000;
    let bin_micros = bin * 60_000_000;
    let mut groups: BTreeMap<(i64, String, String, String, String, String), u64> = BTreeMap::new();
    let mut recent = String::new();
    for line in fs::read_to_string(generated().join("sessions.jsonl"))
        .unwrap()
        .lines()
    {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let time = asim_rules::time::parse(row["TimeGenerated"].as_str().unwrap()).unwrap();
        if time >= overlap {
            recent.push_str(line);
            recent.push('\n');
        }
        if time < cut {
            let text = |name: &str| row[name].as_str().unwrap_or_default().to_owned();
            let port = row["DstPortNumber"]
                .as_i64()
                .map(|p| p.to_string())
                .unwrap_or_default();
            let key = (
                time.div_euclid(bin_micros) * bin_micros,
                text("NetworkProtocol"),
                port,
                text("DstAppName"),
                text("NetworkDirection"),
                text("DvcAction"),
            );
            *groups.entry(key).or_default() += 1;
        }
    }
    let recent_path = dir.join(format!("recent-{bin}.jsonl"));
    fs::write(&recent_path, recent).unwrap();
    let format = asim_rules::time::format;
    let summary_path = if bin == 20 {
        let path = dir.join("NetworkSummary_Protocol_CL.jsonl");
        let lines: Vec<String> = groups
            .into_iter()
            .map(|((time, protocol, port, app, direction, action), count)| {
                serde_json::json!({"EventTime": format(time), "NetworkProtocol": protocol, "DstPortNumber": port,
                    "DstAppName": app, "NetworkDirection": direction, "DvcAction": action, "count_": count})
                .to_string()
            })
            .collect();
        fs::write(&path, lines.join("\n")).unwrap();
        path
    } else {
        let path = dir.join("NetworkCustomAnalytics_protocol_CL.csv");
        let mut text = "EventTime_t,NetworkProtocol_s,DstPortNumber_d,DstAppName_s,NetworkDirection_s,DvcAction_s,count__d\n".to_owned();
        for ((time, protocol, port, app, direction, action), count) in groups {
            text.push_str(&format!(
                "{},{protocol},{port},{app},{direction},{action},{count}.0\n",
                format(time)
            ));
        }
        fs::write(&path, text).unwrap();
        path
    };
    (
        summary_path.to_str().unwrap().into(),
        recent_path.to_str().unwrap().into(),
    )
}

#[test]
fn summarised_history_plus_raw_recent_rows_alert_as_raw_rows_alone() {
    let rule = component("network-session-anomaly");
    let rule = rule.to_str().unwrap();
    let raw_only = success(&[
        "run",
        "--rule",
        rule,
        "--at",
        GENERATED_AT,
        "--sessions",
        &file("sessions.jsonl"),
    ]);
    assert!(raw_only.contains("GRE"), "{raw_only}");
    let dir = tempfile::tempdir().unwrap();
    for bin in [20, 10] {
        let (summaries, recent) = split_history(dir.path(), "2026-03-10T00:00:00Z", bin);
        let args = [
            "run",
            "--rule",
            rule,
            "--at",
            GENERATED_AT,
            "--summaries",
            &summaries,
            "--sessions",
            &recent,
        ];
        assert_eq!(success(&args), raw_only, "{bin}-minute summaries");
        let replayed = success(&[
            "replay",
            "--rule",
            rule,
            "--from",
            "2026-03-11T12:00:00Z",
            "--to",
            GENERATED_AT,
            "--summaries",
            &summaries,
            "--sessions",
            &recent,
        ]);
        assert_eq!(replayed, raw_only, "replay with {bin}-minute summaries");
    }
}

#[test]
fn a_replay_that_ends_before_its_files_counts_the_rows_it_read() {
    // The data runs to 2026-03-12; the replay stops at 03-02, with most of
    // the sessions file unread. The summary counts what was read, not 0.
    let mut args = vec![
        "replay",
        "--from",
        "2026-03-01T00:00:00Z",
        "--to",
        "2026-03-02T00:00:00Z",
    ];
    let rules = rules();
    args.extend(rules.iter().map(String::as_str));
    let (sessions, indicators) = (file("sessions.jsonl"), file("indicators.jsonl"));
    args.extend(["--sessions", &sessions, "--indicators", &indicators]);
    let output = asim_rules(&args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let summary = stderr.lines().last().unwrap();
    let count_before = |label: &str| -> u64 {
        summary
            .split(label)
            .next()
            .and_then(|before| before.rsplit(' ').next())
            .and_then(|count| count.parse().ok())
            .unwrap()
    };
    let read = count_before(" session rows");
    let played_sessions = count_before(" rows played") - count_before(" indicator rows");
    // At least every session played was read, and not the whole file.
    let total = fs::read_to_string(&sessions).unwrap().lines().count() as u64;
    assert!(played_sessions > 0, "{summary}");
    assert!(read >= played_sessions && read < total, "{summary}");
}

#[test]
fn replay_gives_the_same_alerts_whatever_the_order_of_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    // About 330 000 sessions: more than one run of the on-disk sort.
    success(&["generate", "--out", out, "--sessions-per-day", "25000"]);
    let sorted = dir.path().join("sessions.jsonl");
    let text = std::fs::read_to_string(&sorted).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Newest first, as Sentinel's portal exports; and in no order at all.
    let newest_first = dir.path().join("newest-first.jsonl");
    let reversed: Vec<&str> = lines.iter().rev().copied().collect();
    std::fs::write(&newest_first, reversed.join("\n") + "\n").unwrap();
    let shuffled = dir.path().join("shuffled.csv.gz");
    let mut order: Vec<usize> = (0..lines.len()).collect();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for at in (1..order.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(at, (state % (at as u64 + 1)) as usize);
    }
    write_csv_gz(&shuffled, order.iter().map(|&at| lines[at]));
    let indicators = dir.path().join("indicators.jsonl");
    let replay = |sessions: &std::path::Path| {
        let mut args: Vec<String> = vec![
            "replay".into(),
            "--from".into(),
            "2026-03-11T00:00:00Z".into(),
            "--to".into(),
            GENERATED_AT.into(),
        ];
        args.extend(rules());
        args.extend([
            "--rule".into(),
            component("port-scan").to_str().unwrap().to_owned(),
            "--sessions".into(),
            sessions.to_str().unwrap().to_owned(),
            "--indicators".into(),
            indicators.to_str().unwrap().to_owned(),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = asim_rules(&args);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{stderr}");
        let mut alerts: Vec<String> = String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        alerts.sort();
        (alerts, stderr)
    };
    let (expected, stderr) = replay(&sorted);
    assert!(!stderr.contains("not in time order"), "{stderr}");
    let rules_alerting: std::collections::BTreeSet<String> = json_lines(&expected.join("\n"))
        .iter()
        .map(|alert| alert["RuleName"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(rules_alerting.len(), 3, "{rules_alerting:?}");
    for file in [&newest_first, &shuffled] {
        let (alerts, stderr) = replay(file);
        assert_eq!(alerts, expected, "{}", file.display());
        let name = file.to_str().unwrap();
        assert!(
            stderr.contains(&format!(
                "asim-rules: {name}: not in time order: sorted first on disk ({} rows: 2 runs of up to 262144,",
                lines.len()
            )),
            "{stderr}"
        );
        assert!(stderr.contains("(0 out of time order)"), "{stderr}");
    }
}

/// JSON lines rewritten as gzip CSV, with every column any of them has.
fn write_csv_gz<'a>(path: &std::path::Path, lines: impl Iterator<Item = &'a str>) {
    let rows: Vec<serde_json::Map<String, serde_json::Value>> = lines
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let names: std::collections::BTreeSet<&String> =
        rows.iter().flat_map(|row| row.keys()).collect();
    let gzip = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    );
    let mut csv = csv::Writer::from_writer(gzip);
    csv.write_record(&names).unwrap();
    for row in &rows {
        let cells: Vec<String> = names
            .iter()
            .map(|name| match row.get(*name) {
                None | Some(serde_json::Value::Null) => String::new(),
                Some(serde_json::Value::String(text)) => text.clone(),
                Some(other) => other.to_string(),
            })
            .collect();
        csv.write_record(&cells).unwrap();
    }
    csv.into_inner().unwrap().finish().unwrap();
}
