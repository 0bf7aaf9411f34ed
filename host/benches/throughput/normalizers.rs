//! Normalizers: records per second of each source's normalizer, read into the
//! TI rule's session columns, against the ASIM JSON lines reader on the same
//! sessions; and normalization's share of a `run` over a raw capture.

use std::{
    fmt::Write as _,
    fs,
    io::{BufWriter, Write},
    path::Path,
    time::{Duration, Instant},
};

use asim_rule_core::schema::ColumnKind;
use asim_rules::inputs::{self, InputFile, Rejects};

use super::{best_of_three, rate, root};

/// Records in each generated file (fewer for the wide CEF tables).
const RECORDS: usize = 1_000_000;
const TABLE_RECORDS: usize = 100_000;

/// Which lines of a sample are its header, by number and text.
type IsHeader = fn(usize, &str) -> bool;

/// A sample of `../shared/data` repeated to `records` records: its header
/// lines (those `is_header` picks, written once) and its records, cycled.
fn repeat_sample(sample: &str, is_header: IsHeader, records: usize, out: &Path) -> Option<()> {
    let text = fs::read_to_string(root().join("../shared/data").join(sample)).ok()?;
    let mut file = BufWriter::new(fs::File::create(out).unwrap());
    let mut body = Vec::new();
    for (at, line) in text.lines().enumerate() {
        if line.starts_with("#close") {
            continue;
        }
        if is_header(at, line) {
            writeln!(file, "{line}").unwrap();
        } else {
            body.push(line);
        }
    }
    for n in 0..records {
        writeln!(file, "{}", body[n % body.len()]).unwrap();
    }
    file.flush().unwrap();
    Some(())
}

/// Best of three reads of `path` into `columns`: the time and the records.
fn read_best(path: &Path, columns: &[(String, ColumnKind)]) -> (Duration, u64) {
    let input = InputFile::by_content(path.to_str().unwrap());
    (0..3)
        .map(|_| {
            let started = Instant::now();
            let records = inputs::read_sessions(
                &input,
                None,
                columns,
                &mut Rejects::default(),
                &mut |_, _| Ok(()),
            )
            .unwrap();
            (started.elapsed(), records)
        })
        .min()
        .unwrap()
}

pub fn report(
    report: &mut String,
    columns: &[(String, ColumnKind)],
    dir: &Path,
    binary: &Path,
    ti_path: &Path,
) {
    let zeek = dir.join("conn.log");
    let zeek_sample = "zeek/stratosphere-008-mixed.conn.log.labeled";
    if repeat_sample(zeek_sample, |_, line| line.starts_with('#'), RECORDS, &zeek).is_none() {
        writeln!(report, "Normalizers skipped: ../shared/data is not there").unwrap();
        return;
    }
    // The baseline: the same sessions as ASIM JSON lines.
    let asim = dir.join("conn.asim.jsonl");
    let normalized = std::process::Command::new(binary)
        .args([
            "normalize",
            zeek.to_str().unwrap(),
            "--out",
            asim.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(normalized.status.success());
    let (baseline, baseline_records) = read_best(&asim, columns);

    writeln!(
        report,
        "\nNormalizers, read into the TI rule's session columns, one thread, best of three; \
         baseline: the ASIM JSON lines reader on the Zeek sessions normalized ({} rows/s).\n",
        rate(baseline_records as usize, baseline)
    )
    .unwrap();
    writeln!(
        report,
        "| source (sample repeated) | records | MB | records/s | MB/s | vs ASIM JSON lines |"
    )
    .unwrap();
    writeln!(report, "|---|---|---|---|---|---|").unwrap();
    let csv_header: IsHeader = |at, _| at == 0;
    let sources: [(&str, &str, IsHeader, usize); 7] = [
        (
            "Zeek conn.log TSV",
            zeek_sample,
            |_, line| line.starts_with('#'),
            RECORDS,
        ),
        (
            "Zeek conn.log JSON",
            "zeek/stratosphere-002-portscan.conn.json",
            |_, _| false,
            RECORDS,
        ),
        (
            "AWS VPC flow log",
            "flows/aws-vpcflow_accept-reject-traffic.log",
            |_, line| line.contains("srcaddr"),
            RECORDS,
        ),
        (
            "Suricata EVE (70 % flow events)",
            "suricata/stratosphere-slips-test6-malicious.eve.json",
            |_, _| false,
            RECORDS,
        ),
        (
            "CommonSecurityLog FortiGate CSV",
            "sentinel-samples/Fortinet_Fortigate_NetworkSession_IngestedLogs.csv",
            csv_header,
            TABLE_RECORDS,
        ),
        (
            "CommonSecurityLog Cisco ASA CSV",
            "sentinel-samples/Cisco_ASA_NetworkSession_IngestedLogs.csv",
            csv_header,
            TABLE_RECORDS,
        ),
        (
            "NTANetAnalytics CSV",
            "sentinel-samples/Microsoft_NSGFlow_NetworkSession_IngestedLogs.csv",
            csv_header,
            TABLE_RECORDS,
        ),
    ];
    for (label, sample, is_header, records) in sources {
        let path = dir.join("source");
        if repeat_sample(sample, is_header, records, &path).is_none() {
            writeln!(report, "| {label} | skipped: {sample} is not there |||||").unwrap();
            continue;
        }
        let bytes = fs::metadata(&path).unwrap().len() as f64;
        let (best, _) = read_best(&path, columns);
        let per_second = records as f64 / best.as_secs_f64();
        writeln!(
            report,
            "| {label} | {records} | {:.0} | {} | {:.0} | {:.2} |",
            bytes / 1e6,
            rate(records, best),
            bytes / best.as_secs_f64() / 1e6,
            per_second / (baseline_records as f64 / baseline.as_secs_f64()),
        )
        .unwrap();
        fs::remove_file(&path).unwrap();
    }

    // Normalization's share of a run: the TI rule over the 1 M Zeek records,
    // raw and pre-normalized; `read` is the reading (and normalizing) phase.
    let list = dir.join("listed.txt");
    fs::write(&list, "147.32.80.0/22\n40.74.108.123\n").unwrap();
    let run = |sessions: &Path| {
        best_of_three(
            binary,
            &[
                "run",
                "--rule",
                ti_path.to_str().unwrap(),
                "--sessions",
                sessions.to_str().unwrap(),
                "--indicators",
                list.to_str().unwrap(),
                "--list-published",
                "2022-06-12T00:00:00Z",
                "--at",
                "2022-06-13T13:00:00Z",
            ],
        )
    };
    let (raw, raw_phases) = run(&zeek);
    let (normalized, normalized_phases) = run(&asim);
    writeln!(
        report,
        "\n`run` TI rule over 1 M Zeek records: raw conn.log {:.2} s ({raw_phases}); \
         the same as ASIM JSON lines {:.2} s ({normalized_phases}); raw / ASIM {:.2}",
        raw.as_secs_f64(),
        normalized.as_secs_f64(),
        raw.as_secs_f64() / normalized.as_secs_f64()
    )
    .unwrap();
    fs::remove_file(&zeek).unwrap();
    fs::remove_file(&asim).unwrap();
}
