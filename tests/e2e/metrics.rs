//! `serve --metrics`: a scrape during a run shows every tenant's counters
//! moving as its spool grows, in Prometheus' text format, and `/healthz`
//! answers.

use std::{
    collections::HashMap,
    fs,
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use crate::{
    serve::small_spool,
    support::{component, late_session},
};

const TENANTS: [&str; 3] = ["north", "south", "west"];

/// A running `serve`, killed when dropped.
struct Serving {
    child: Child,
    address: String,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts serve with metrics on a free loopback port; its address from the
/// line serve logs.
fn start(config: &Path) -> Serving {
    let child = Command::new(env!("CARGO_BIN_EXE_asim-rules"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .args(["--metrics", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Killed on every way out, a failed assertion too.
    let mut serving = Serving {
        child,
        address: String::new(),
    };
    let stderr = serving.child.stderr.take().unwrap();
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let Ok(line) = received.recv_timeout(Duration::from_secs(1)) else {
            continue;
        };
        if let Some(rest) = line.split("metrics on http://").nth(1) {
            serving.address = rest.split('/').next().unwrap().to_owned();
            // Keep draining stderr so serve never blocks on it.
            std::thread::spawn(move || while received.recv().is_ok() {});
            return serving;
        }
    }
    panic!("serve did not say where its metrics are");
}

/// GET `path`: the status line and the body.
fn get(address: &str, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

/// Every sample of a scrape, by `name{labels}`; each family's HELP and TYPE
/// come before its samples.
fn scrape(address: &str) -> HashMap<String, f64> {
    let (status, body) = get(address, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    let mut typed = Vec::new();
    let mut samples = HashMap::new();
    for line in body.lines() {
        if let Some(family) = line.strip_prefix("# TYPE ") {
            typed.push(family.split(' ').next().unwrap().to_owned());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let name = series.split('{').next().unwrap();
        assert!(
            typed.iter().any(|family| name.starts_with(family.as_str())),
            "{name} has no TYPE before it"
        );
        samples.insert(series.to_owned(), value.parse().unwrap());
    }
    samples
}

/// Polls until `done` holds of a scrape (bounded); that scrape.
fn scrape_until(
    address: &str,
    what: &str,
    done: impl Fn(&HashMap<String, f64>) -> bool,
) -> HashMap<String, f64> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let samples = scrape(address);
        if done(&samples) {
            return samples;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within a minute: {samples:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_scrape_during_serve_shows_every_tenants_counters_moving() {
    let dir = tempfile::tempdir().unwrap();
    let ti = component("ti-map-ip");
    let mut config = "state = \"state\"\npoll_ms = 50\n".to_owned();
    for tenant in TENANTS {
        // Rows to 13:00: the TI rule evaluates to 12:00 and alerts.
        small_spool(dir.path(), tenant);
        config += &format!(
            "[[tenant]]\nname = \"{tenant}\"\nspool = \"spool/{tenant}\"\nalerts = \"{tenant}.jsonl\"\n\
             from = \"2026-03-02T00:00:00Z\"\n[[tenant.rule]]\ncomponent = {:?}\n",
            ti.to_str().unwrap()
        );
    }
    let config_path = dir.path().join("serve.toml");
    fs::write(&config_path, config).unwrap();
    let serving = start(&config_path);
    let address = &serving.address;

    let rows = |tenant: &str| format!("asim_tenant_rows_read_total{{tenant=\"{tenant}\"}}");
    let evaluations = |tenant: &str| {
        format!("asim_rule_evaluations_total{{tenant=\"{tenant}\",rule=\"ti-map-ip\"}}")
    };
    let first = scrape_until(address, "every tenant's first files", |samples| {
        TENANTS
            .iter()
            .all(|tenant| samples.get(&rows(tenant)) == Some(&5.0))
    });
    let (status, body) = get(address, "/healthz");
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("HTTP/1.1 200 OK", "ok\n")
    );

    // Each spool grows: a later session moves each tenant's watermark on.
    for tenant in TENANTS {
        let spool = dir.path().join("spool").join(tenant);
        fs::write(
            spool.join("0004-sessions.jsonl"),
            late_session("2026-03-02T14:00:00Z"),
        )
        .unwrap();
    }
    let later = scrape_until(address, "every tenant's later file", |samples| {
        TENANTS.iter().all(|tenant| {
            samples.get(&rows(tenant)) == Some(&6.0)
                && samples.get(&evaluations(tenant)) > first.get(&evaluations(tenant))
        })
    });
    for tenant in TENANTS {
        let labels = format!("tenant=\"{tenant}\",rule=\"ti-map-ip\"");
        // Each evaluation is timed once, in a bucket and in the count.
        let count = later[&format!("asim_rule_evaluation_seconds_count{{{labels}}}")];
        assert_eq!(count, later[&evaluations(tenant)]);
        assert_eq!(
            count,
            later[&format!("asim_rule_evaluation_seconds_bucket{{{labels},le=\"+Inf\"}}")]
        );
        assert!(later[&format!("asim_rule_memory_bytes{{{labels}}}")] > 0.0);
        assert_eq!(later[&format!("asim_rule_quarantined{{{labels}}}")], 0.0);
        // The TI rule alerts on its tenant's sessions to the IoC.
        assert!(later[&format!("asim_rule_alerts_total{{{labels}}}")] > 0.0);
        let watermark = later[&format!("asim_tenant_watermark_seconds{{tenant=\"{tenant}\"}}")];
        assert!(
            watermark > first[&format!("asim_tenant_watermark_seconds{{tenant=\"{tenant}\"}}")]
        );
    }
    let (status, _) = get(address, "/nowhere");
    assert_eq!(status, "HTTP/1.1 404 Not Found");

    // A client sending garbage, or nothing, is answered or dropped; the next
    // scrape is served, and serve runs on.
    let mut garbage = TcpStream::connect(address).unwrap();
    let _ = garbage.write_all(&[0xff; 100_000]);
    drop(garbage);
    let silent = TcpStream::connect(address).unwrap();
    let (status, _) = get(address, "/healthz");
    assert_eq!(status, "HTTP/1.1 200 OK");
    drop(silent);
    let (status, _) = get(address, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
}
