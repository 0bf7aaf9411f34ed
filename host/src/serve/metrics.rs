//! `serve --metrics ADDR`: Prometheus' text format at `/metrics` and a
//! liveness answer at `/healthz`, on a thread of their own. serve's loop
//! publishes its status after every pass; a scrape renders the last one, so
//! scraping never waits for a tenant. docs/OUTPUTS.md lists the metrics.

use std::{
    fmt::Write as _,
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{Arc, Mutex},
    time::Instant,
};

use anyhow::{Context, Result};

use super::status::{RuleState, Status};
use crate::{histogram::Histogram, limits, time};

/// The last status serve's loop published, and when.
struct Published {
    status: Option<Status>,
    at: Instant,
}

/// The endpoint's side in serve's loop.
pub struct Exporter {
    published: Arc<Mutex<Published>>,
}

impl Exporter {
    /// Listens on `address` and answers on a thread of its own.
    pub fn start(address: SocketAddr) -> Result<Exporter> {
        let listener = TcpListener::bind(address)
            .with_context(|| format!("metrics: cannot listen on {address}"))?;
        let bound = listener
            .local_addr()
            .context("metrics: the bound address")?;
        let published = Arc::new(Mutex::new(Published {
            status: None,
            at: Instant::now(),
        }));
        let read = Arc::clone(&published);
        std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    if let Err(error) = answer(stream, &read) {
                        tracing::debug!("metrics: a request failed: {error}");
                    }
                }
            })
            .context("metrics: cannot start its thread")?;
        tracing::info!("metrics on http://{bound}/metrics, liveness on http://{bound}/healthz");
        Ok(Exporter { published })
    }

    /// The status of the pass that just ended.
    pub fn publish(&self, status: Status) {
        if let Ok(mut published) = self.published.lock() {
            published.status = Some(status);
            published.at = Instant::now();
        }
    }
}

/// Reads one request and answers it; the connection then closes.
fn answer(mut stream: TcpStream, published: &Mutex<Published>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(limits::METRICS_REQUEST_TIME))?;
    stream.set_write_timeout(Some(limits::METRICS_REQUEST_TIME))?;
    let mut request = Vec::new();
    let mut buffer = [0u8; 1024];
    // The request line and headers; a body is not expected.
    while !request.windows(4).any(|window| window == b"\r\n\r\n") && request.len() < 8192 {
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        request.extend_from_slice(&buffer[..read]);
    }
    let line = String::from_utf8_lossy(&request);
    let mut words = line.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (status, kind, body) = match (method, path) {
        ("GET", "/metrics") => {
            let body = match published.lock() {
                Ok(published) => published.status.as_ref().map(render).unwrap_or_default(),
                Err(_) => String::new(),
            };
            ("200 OK", "text/plain; version=0.0.4; charset=utf-8", body)
        }
        ("GET", "/healthz") => {
            let age = published
                .lock()
                .ok()
                .filter(|published| published.status.is_some())
                .map(|published| published.at.elapsed());
            match age {
                Some(age) if age < limits::HEALTHY_PASS => ("200 OK", "text/plain", "ok\n".into()),
                Some(age) => (
                    "503 Service Unavailable",
                    "text/plain",
                    format!("stale: the last pass ended {} s ago\n", age.as_secs()),
                ),
                None => (
                    "503 Service Unavailable",
                    "text/plain",
                    "starting: no pass has ended yet\n".into(),
                ),
            }
        }
        ("GET", _) => (
            "404 Not Found",
            "text/plain",
            "/metrics or /healthz\n".into(),
        ),
        _ => ("405 Method Not Allowed", "text/plain", "GET only\n".into()),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// A label value as Prometheus' text format escapes it.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One metric family: its help, type and samples.
struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn start(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &str, value: impl std::fmt::Display) {
        let _ = writeln!(self.out, "{name}{{{labels}}} {value}");
    }

    fn histogram(&mut self, name: &str, labels: &str, histogram: &Histogram) {
        for (bound, count) in histogram.cumulative() {
            self.sample(
                &format!("{name}_bucket"),
                &format!("{labels},le=\"{bound}\""),
                count,
            );
        }
        self.sample(
            &format!("{name}_bucket"),
            &format!("{labels},le=\"+Inf\""),
            histogram.count,
        );
        self.sample(&format!("{name}_sum"), labels, histogram.sum);
        self.sample(&format!("{name}_count"), labels, histogram.count);
    }
}

type TenantValue = fn(&super::status::TenantStatus) -> f64;
type RuleValue = fn(&super::status::RuleStatus) -> f64;
type RuleHistogram = fn(&super::status::RuleStatus) -> &Histogram;

/// Every metric of `status`, per tenant and per tenant's rule.
fn render(status: &Status) -> String {
    let mut out = String::new();
    let mut family = Family { out: &mut out };
    let now = time::now();
    let tenants: [(&str, &str, &str, TenantValue); 8] = [
        (
            "asim_tenant_rows_read_total",
            "counter",
            "Rows read from the tenant's spool.",
            |t| t.rows_in as f64,
        ),
        (
            "asim_tenant_rows_rejected_total",
            "counter",
            "Lines refused as malformed.",
            |t| t.rejected_rows as f64,
        ),
        (
            "asim_tenant_rows_late_total",
            "counter",
            "Rows that came at or before the watermark.",
            |t| t.late_rows as f64,
        ),
        (
            "asim_tenant_rows_too_far_ahead_total",
            "counter",
            "Rows dated beyond max_ahead, refused.",
            |t| t.rows_too_far_ahead as f64,
        ),
        (
            "asim_tenant_rows_waiting",
            "gauge",
            "Rows read and waiting for the watermark.",
            |t| t.rows_waiting as f64,
        ),
        (
            "asim_tenant_files_played_total",
            "counter",
            "Spool files whose every row was played.",
            |t| t.files_played as f64,
        ),
        (
            "asim_tenant_files_waiting",
            "gauge",
            "Spool files with rows still waiting.",
            |t| t.files_waiting as f64,
        ),
        (
            "asim_tenant_rules_refused",
            "gauge",
            "Configured rules that could not be loaded.",
            |t| t.refused.len() as f64,
        ),
    ];
    for (name, kind, help, value) in tenants {
        family.start(name, kind, help);
        for tenant in &status.tenants {
            family.sample(
                name,
                &format!("tenant=\"{}\"", label(&tenant.tenant)),
                value(tenant),
            );
        }
    }
    let watermarks: Vec<(String, i64)> = status
        .tenants
        .iter()
        .filter_map(|tenant| {
            let watermark = time::parse(tenant.watermark.as_deref()?).ok()?;
            Some((format!("tenant=\"{}\"", label(&tenant.tenant)), watermark))
        })
        .collect();
    family.start(
        "asim_tenant_watermark_seconds",
        "gauge",
        "The tenant's watermark, Unix seconds.",
    );
    for (labels, watermark) in &watermarks {
        family.sample(
            "asim_tenant_watermark_seconds",
            labels,
            *watermark as f64 / 1e6,
        );
    }
    family.start(
        "asim_tenant_watermark_lag_seconds",
        "gauge",
        "How far the watermark lies behind the host's clock.",
    );
    for (labels, watermark) in &watermarks {
        family.sample(
            "asim_tenant_watermark_lag_seconds",
            labels,
            (now - watermark) as f64 / 1e6,
        );
    }
    let rules: [(&str, &str, &str, RuleValue); 6] = [
        (
            "asim_rule_evaluations_total",
            "counter",
            "Evaluations of the rule.",
            |r| r.evaluations as f64,
        ),
        (
            "asim_rule_alerts_total",
            "counter",
            "Alerts its evaluations returned.",
            |r| r.alerts as f64,
        ),
        (
            "asim_rule_quarantined",
            "gauge",
            "1 while the rule is quarantined.",
            |r| f64::from(u8::from(r.state == RuleState::Quarantined)),
        ),
        (
            "asim_rule_memory_bytes",
            "gauge",
            "Memory the rule's instance holds.",
            |r| r.memory_bytes as f64,
        ),
        (
            "asim_rule_busy_seconds_total",
            "counter",
            "Time spent in calls into the rule.",
            |r| r.busy_ms as f64 / 1e3,
        ),
        (
            "asim_rule_swaps_total",
            "counter",
            "Swaps applied to the rule.",
            |r| r.swaps as f64,
        ),
    ];
    let rule_labels =
        |tenant: &str, rule: &str| format!("tenant=\"{}\",rule=\"{}\"", label(tenant), label(rule));
    for (name, kind, help, value) in rules {
        family.start(name, kind, help);
        for tenant in &status.tenants {
            for rule in &tenant.rules {
                family.sample(name, &rule_labels(&tenant.tenant, &rule.rule), value(rule));
            }
        }
    }
    let histograms: [(&str, &str, RuleHistogram); 2] = [
        (
            "asim_rule_evaluation_seconds",
            "How long the rule's evaluations took.",
            |r| &r.evaluation_seconds,
        ),
        (
            "asim_rule_swap_pause_seconds",
            "How long each swap held the tenant still.",
            |r| &r.swap_pause_seconds,
        ),
    ];
    for (name, help, histogram) in histograms {
        family.start(name, "histogram", help);
        for tenant in &status.tenants {
            for rule in &tenant.rules {
                family.histogram(
                    name,
                    &rule_labels(&tenant.tenant, &rule.rule),
                    histogram(rule),
                );
            }
        }
    }
    out
}
