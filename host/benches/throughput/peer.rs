//! The peer: DuckDB doing each rule's job from the same files, at 1 and 2
//! threads, against `asim-rules run --threads 1|2`, from JSON lines, CSV and
//! gzipped JSON lines, with the peak memory of each process.

use std::{
    fmt::Write as _,
    fs,
    io::{BufRead, BufReader, BufWriter, Write},
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use super::root;

/// One job's files in one format.
pub struct Inputs {
    pub format: &'static str,
    pub sessions: PathBuf,
    /// None for the anomaly job.
    pub indicators: Option<PathBuf>,
}

/// A job: which rule `run` loads, and the SQL DuckDB runs instead.
pub struct Job {
    pub label: String,
    pub rule: &'static str,
    pub at: String,
    pub inputs: Vec<Inputs>,
}

/// A CSV copy of the JSON lines `file`, with the columns of its first record
/// (flat records of strings, numbers and booleans).
pub fn csv_of(file: &Path) -> PathBuf {
    let csv = file.with_extension("csv");
    let mut lines = BufReader::new(fs::File::open(file).unwrap()).lines();
    let first: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let header: Vec<String> = first.keys().cloned().collect();
    let mut out = csv::Writer::from_path(&csv).unwrap();
    out.write_record(&header).unwrap();
    let mut write = |record: &serde_json::Map<String, serde_json::Value>| {
        let row = header.iter().map(|name| match record.get(name) {
            Some(serde_json::Value::String(text)) => text.clone(),
            Some(serde_json::Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        });
        out.write_record(row).unwrap();
    };
    write(&first);
    for line in lines {
        write(&serde_json::from_str(&line.unwrap()).unwrap());
    }
    out.flush().unwrap();
    csv
}

/// A gzipped copy of `file`, beside it.
pub fn gzip_of(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".gz");
    let gzip = PathBuf::from(name);
    let mut gz = flate2::write::GzEncoder::new(
        BufWriter::new(fs::File::create(&gzip).unwrap()),
        flate2::Compression::fast(),
    );
    std::io::copy(&mut fs::File::open(file).unwrap(), &mut gz).unwrap();
    gz.finish().unwrap().flush().unwrap();
    gzip
}

/// The table: every job, format and thread count, `run` and DuckDB.
pub fn report(report: &mut String, binary: &Path, jobs: &[Job]) {
    writeln!(
        report,
        "\n| job | input | threads | `asim-rules run` | its peak memory | DuckDB | its peak memory | asim-rules / DuckDB speed |\n|---|---|---|---|---|---|---|---|"
    )
    .unwrap();
    for job in jobs {
        for inputs in &job.inputs {
            for threads in [1u32, 2] {
                let (run, peak) = run_best_of_three(binary, job, inputs, threads);
                let (duck, duck_peak, ratio) = match duckdb(job, inputs, threads) {
                    Ok((seconds, peak_kib)) => (
                        format!("{seconds:.2} s"),
                        format!("{} MiB", peak_kib / 1024),
                        format!("{:.2}x", seconds / run.as_secs_f64()),
                    ),
                    Err(why) => (format!("skipped ({why})"), "–".into(), "–".into()),
                };
                writeln!(
                    report,
                    "| {} | {} | {threads} | {:.2} s | {peak} | {duck} | {duck_peak} | {ratio} |",
                    job.label,
                    inputs.format,
                    run.as_secs_f64()
                )
                .unwrap();
            }
        }
    }
}

/// Best of three runs, and the peak memory `run` reported for it.
fn run_best_of_three(
    binary: &Path,
    job: &Job,
    inputs: &Inputs,
    threads: u32,
) -> (Duration, String) {
    let rule = root().join(format!("target/rules/{}.wasm", job.rule));
    let mut args = vec![
        "run".to_owned(),
        "--rule".into(),
        rule.to_str().unwrap().into(),
        "--at".into(),
        job.at.clone(),
        "--threads".into(),
        threads.to_string(),
        "--sessions".into(),
        inputs.sessions.to_str().unwrap().into(),
    ];
    if let Some(indicators) = &inputs.indicators {
        args.extend(["--indicators".into(), indicators.to_str().unwrap().into()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (elapsed, last) = super::best_of_three(binary, &args);
    let peak = last.split("peak memory ").nth(1).unwrap_or("?").to_owned();
    (elapsed, peak)
}

/// The SQL of `job` over `inputs`.
fn sql(job: &Job, inputs: &Inputs) -> String {
    let read = |path: &Path| {
        let path = path.to_str().unwrap();
        match inputs.format {
            "CSV" => format!("read_csv('{path}')"),
            _ => format!("read_json_auto('{path}')"),
        }
    };
    let (sessions, at) = (read(&inputs.sessions), &job.at);
    match &inputs.indicators {
        // String equality on addresses, source before destination, as the
        // original rule; two equi-joins, since an `OR` join is a nested loop.
        Some(indicators) => format!(
            "WITH ti AS (SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY IndicatorId ORDER BY TimeGenerated DESC) AS r \
               FROM {} WHERE TimeGenerated BETWEEN TIMESTAMPTZ '{at}' - INTERVAL 14 DAY AND TIMESTAMPTZ '{at}') \
               WHERE r = 1 AND Active AND ExpirationDateTime > TIMESTAMPTZ '{at}'), \
             s AS (SELECT SrcIpAddr, DstIpAddr, Dvc, EventProduct, EventVendor, min(TimeGenerated) AS s0, max(TimeGenerated) AS s1 \
               FROM {sessions} WHERE TimeGenerated >= TIMESTAMPTZ '{at}' - INTERVAL 1 HOUR AND TimeGenerated < TIMESTAMPTZ '{at}' \
               GROUP BY ALL), \
             src AS (SELECT s.*, ti.IndicatorId FROM s JOIN ti ON s.SrcIpAddr = ti.NetworkIP), \
             dst AS (SELECT s.*, ti.IndicatorId FROM s JOIN ti ON s.DstIpAddr = ti.NetworkIP \
               WHERE s.SrcIpAddr NOT IN (SELECT NetworkIP FROM ti)) \
             SELECT count(*) FROM (SELECT * FROM src UNION ALL SELECT * FROM dst)",
            read(indicators)
        ),
        // The daily counts the rule decomposes (the decomposition of a few
        // 14-point series is negligible next to them).
        None => format!(
            "SELECT count(*) FROM (SELECT date_trunc('day', TimeGenerated) AS day, DvcAction, NetworkDirection, NetworkProtocol, count(*) \
               FROM {sessions} WHERE TimeGenerated >= TIMESTAMPTZ '{at}' - INTERVAL 14 DAY AND TimeGenerated < TIMESTAMPTZ '{at}' \
               GROUP BY GROUPING SETS ((day, DvcAction), (day, NetworkDirection), (day, NetworkProtocol), (day)))"
        ),
    }
}

/// DuckDB's best of three on `threads` threads, timed inside Python, and
/// its process's peak memory (KiB: `VmHWM`, which an exec resets, unlike
/// `ru_maxrss`, which keeps the forking bench's), via its Python package (`make bench`
/// installs it in `target/py-tools`); an error when it is not installed.
fn duckdb(job: &Job, inputs: &Inputs, threads: u32) -> Result<(f64, u64), String> {
    let script = format!(
        "import duckdb, time\nbest = None\n\
         for _ in range(3):\n    c = duckdb.connect()\n    c.execute('SET threads={threads}')\n\
         \x20   c.execute('SET enable_progress_bar=false')\n\
         \x20   t = time.perf_counter()\n    c.execute({:?}).fetchall()\n\
         \x20   best = min(best or 1e9, time.perf_counter() - t)\n    c.close()\n\
         hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n\
         print(best, hwm)",
        sql(job, inputs)
    );
    let venv = root().join("target/py-tools/bin/python");
    let python = if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    };
    let output = Command::new(&python)
        .args(["-c", &script])
        .output()
        .map_err(|error| format!("{}: {error}", python.display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(stderr.lines().last().unwrap_or_default().to_owned());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut words = stdout.lines().last().unwrap_or_default().split_whitespace();
    match (
        words.next().and_then(|s| s.parse().ok()),
        words.next().and_then(|s| s.parse().ok()),
    ) {
        (Some(seconds), Some(peak)) => Ok((seconds, peak)),
        _ => Err(format!("unexpected output {stdout:?}")),
    }
}
